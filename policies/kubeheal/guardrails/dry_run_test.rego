package kubeheal.guardrails.dry_run

import data.kubeheal.testing

test_enforce_mode_executes if {
	count(violation) == 0 with input as testing.base_input
}

test_dry_run_never_executes if {
	testing.guardrails(violation) == {"dry-run"} with input as testing.with_runbook({"mode": "dry-run"})
}

test_dry_run_still_reports_the_other_findings if {
	inp := object.union(testing.with_runbook({"mode": "dry-run"}), {"risk": {"score": 0.95}})
	d := data.kubeheal.decision with input as inp
	not d.allow
	testing.guardrails(d.reasons) == {"dry-run", "risk-threshold"}
}
