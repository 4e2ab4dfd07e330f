package kubeheal.guardrails.resize_bounds

import data.kubeheal.testing

mib := 1048576

# 256Mi raised to `to` MiB, with a runbook maximum of 1Gi.
resize_to(to) := testing.with_action("resize", {
	"container": "app", "fromBytes": 256 * mib, "toBytes": to * mib, "maxBytes": 1024 * mib,
	"factor": 1.5, "podsUnavailable": 0,
})

test_resize_within_bounds_is_allowed if {
	count(violation) == 0 with input as resize_to(384)
	count(violation) == 0 with input as resize_to(512)
}

test_resize_above_runbook_maximum_is_denied if {
	inp := testing.with_action("resize", {"fromBytes": 768 * mib, "toBytes": 1200 * mib, "maxBytes": 1024 * mib})
	testing.guardrails(violation) == {"resize-bounds"} with input as inp
}

test_resize_at_the_maximum_has_nothing_left_to_raise if {
	inp := testing.with_action("resize", {"fromBytes": 1024 * mib, "toBytes": 1024 * mib, "maxBytes": 1024 * mib})
	v := violation with input as inp
	some f in v
	contains(f.msg, "nothing left to raise")
}

test_resize_never_lowers if {
	v := violation with input as resize_to(128)
	{f.details.toBytes | some f in v} == {128 * mib}
}

test_resize_beyond_factor_is_denied if {
	v := violation with input as resize_to(1024)
	testing.guardrails(v) == {"resize-step"}
}

test_factor_comes_from_data if {
	cfg := json.patch(data.kubeheal.config, [{"op": "replace", "path": "/resize/maxFactorPerStep", "value": 1.25}])
	testing.guardrails(violation) == {"resize-step"} with input as resize_to(384) with data.kubeheal.config as cfg
}

test_resize_without_configuration_is_denied if {
	cfg := json.patch(data.kubeheal.config, [{"op": "remove", "path": "/resize"}])
	v := violation with input as resize_to(384) with data.kubeheal.config as cfg
	{f.details.missingConfig | some f in v} == {"resize.maxFactorPerStep"}
}

test_resize_without_parameters_is_denied if {
	v := violation with input as testing.with_action("resize", {"toBytes": 5})
	{f.details.missing | some f in v} == {"fromBytes", "maxBytes"}
}

test_other_actions_are_not_checked if {
	count(violation) == 0 with input as testing.with_action("scale", {"toBytes": 100, "maxBytes": 1})
}

test_the_decision_allows_a_resize_within_bounds if {
	data.kubeheal.decision.allow with input as resize_to(384)
}
