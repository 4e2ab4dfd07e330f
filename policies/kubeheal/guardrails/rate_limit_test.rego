package kubeheal.guardrails.rate_limit

import data.kubeheal.testing

test_quiet_history_is_allowed if {
	count(violation) == 0 with input as testing.base_input
	count(violation) == 0 with input as testing.with_history({"actionsLastHour": 2, "namespaceActionsLastHour": 9})
}

test_target_limit_is_enforced if {
	testing.guardrails(violation) == {"rate-limit-target"} with input as testing.with_history({"actionsLastHour": 3})
}

test_namespace_limit_is_enforced if {
	testing.guardrails(violation) == {"rate-limit-namespace"} with input as testing.with_history({"namespaceActionsLastHour": 10})
}

test_cooldown_is_enforced if {
	testing.guardrails(violation) == {"cooldown"} with input as testing.with_history({"lastActionAt": "2026-11-28T11:58:00Z"})
}

test_after_cooldown_is_allowed if {
	count(violation) == 0 with input as testing.with_history({"lastActionAt": "2026-11-28T11:55:00Z"})
}

test_limits_come_from_data if {
	cfg := json.patch(data.kubeheal.config, [
		{"op": "replace", "path": "/rateLimit/perTargetPerHour", "value": 1},
		{"op": "replace", "path": "/rateLimit/perNamespacePerHour", "value": 1},
		{"op": "replace", "path": "/rateLimit/cooldownSeconds", "value": 3600},
	])
	inp := testing.with_history({"actionsLastHour": 1, "namespaceActionsLastHour": 1, "lastActionAt": "2026-11-28T11:30:00Z"})
	testing.guardrails(violation) == {"rate-limit-target", "rate-limit-namespace", "cooldown"} with input as inp with data.kubeheal.config as cfg
}
