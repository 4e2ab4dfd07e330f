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

test_runbook_can_require_approval_always if {
	a := approval with input as testing.with_runbook({"approval": {"mode": "always"}})
	{[f.details.guardrail, f.details.mode] | some f in a} == {["runbook-approval", "always"]}
}

test_runbook_risk_threshold if {
	above := object.union(testing.with_runbook({"approval": {"mode": "riskAbove", "riskThreshold": 0.1}}), {"risk": {"score": 0.2}})
	a := approval with input as above
	{[f.details.guardrail, f.details.mode] | some f in a} == {["runbook-approval", "riskAbove"]}
	below := object.union(testing.with_runbook({"approval": {"mode": "riskAbove", "riskThreshold": 0.3}}), {"risk": {"score": 0.2}})
	count(approval) == 0 with input as below
}

test_runbook_never_keeps_policy_approvals if {
	inp := object.union(testing.with_runbook({"approval": {"mode": "never"}}), {"risk": {"score": 0.9}})
	testing.guardrails(approval) == {"risk-threshold"} with input as inp
}
