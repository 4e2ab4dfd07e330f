package kubeheal.guardrails.approvals

import data.kubeheal.testing

production := {"kubeheal.io/tier": "production"}

test_ordinary_action_needs_no_approval if {
	count(approval) == 0 with input as testing.base_input
}

test_rollback_in_production_needs_approval if {
	inp := object.union(testing.with_action("rollback", {}), {"target": {"namespaceLabels": production}})
	testing.guardrails(approval) == {"production-rollback"} with input as inp
}

test_rollback_elsewhere_needs_no_approval if {
	count(approval) == 0 with input as testing.with_action("rollback", {})
}

test_restart_in_production_needs_no_approval if {
	inp := object.union(testing.base_input, {"target": {"namespaceLabels": production}})
	count(approval) == 0 with input as inp
}

test_production_tiers_come_from_data if {
	cfg := json.patch(data.kubeheal.config, [{"op": "replace", "path": "/approval/rollbackTiers", "value": ["staging"]}])
	testing.guardrails(approval) == {"production-rollback"} with input as testing.with_action("rollback", {}) with data.kubeheal.config as cfg
}

test_risk_above_threshold_needs_approval if {
	a := approval with input as testing.with_risk(0.61)
	{f.details.threshold | some f in a} == {0.6}
}

test_risk_at_threshold_needs_no_approval if {
	count(approval) == 0 with input as testing.with_risk(0.6)
}

test_risk_threshold_comes_from_data if {
	cfg := json.patch(data.kubeheal.config, [{"op": "replace", "path": "/approval/riskThreshold", "value": 0.1}])
	testing.guardrails(approval) == {"risk-threshold"} with input as testing.base_input with data.kubeheal.config as cfg
}

test_repeated_failures_need_approval if {
	testing.guardrails(approval) == {"repeated-failures"} with input as testing.with_history({"failedLastDay": 2})
	count(approval) == 0 with input as testing.with_history({"failedLastDay": 1})
}

test_runbook_can_require_approval if {
	testing.guardrails(approval) == {"runbook-approval"} with input as testing.with_runbook({"approval": {"required": true}})
}
