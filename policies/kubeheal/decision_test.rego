package kubeheal

import data.kubeheal.testing

test_allows_a_safe_restart if {
	d := decision with input as testing.base_input
	d.allow
	not d.requireApproval
	d.reasons == []
	d.violations == []
}

test_denies_with_violations_as_reasons if {
	d := decision with input as testing.with_target({"namespace": "kube-system"})
	not d.allow
	not d.requireApproval
	count(d.violations) > 0
	d.reasons == d.violations
}

test_requires_approval_when_allowed_and_an_approval_applies if {
	d := decision with input as testing.with_risk(0.9)
	d.allow
	d.requireApproval
	d.violations == []
	testing.guardrails(d.reasons) == {"risk-threshold"}
}

test_denial_wins_over_approval if {
	inp := object.union(testing.with_risk(0.9), {"target": object.union(testing.base_input.target, {"namespace": "kube-system"})})
	d := decision with input as inp
	not d.allow
	not d.requireApproval
	"risk-threshold" in testing.guardrails(d.reasons)
	"protected-namespace" in testing.guardrails(d.violations)
}

test_reports_the_loaded_policy_version if {
	d := decision with input as testing.base_input with data.kubeheal.meta as {"version": "abc123"}
	d.policyVersion == "abc123"
}

test_policy_version_defaults_when_unset if {
	d := decision with input as testing.base_input
	d.policyVersion == "unversioned"
}

test_every_finding_has_msg_and_guardrail if {
	inp := object.union(testing.with_risk(0.9), {"target": object.union(testing.base_input.target, {"namespace": "kube-system"})})
	d := decision with input as inp
	every f in d.reasons {
		is_string(f.msg)
		is_string(f.details.guardrail)
	}
}
