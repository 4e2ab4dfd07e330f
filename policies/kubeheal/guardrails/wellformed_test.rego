package kubeheal.guardrails.wellformed

import data.kubeheal.testing

test_complete_input_is_wellformed if {
	count(violation) == 0 with input as testing.base_input
}

test_missing_input_field_is_a_violation if {
	inp := json.remove(testing.base_input, ["target/readyReplicas"])
	v := violation with input as inp
	{f.details.missing | some f in v} == {"target.readyReplicas"}
}

test_null_input_field_is_a_violation if {
	v := violation with input as testing.with_history({"failedLastDay": null})
	{f.details.missing | some f in v} == {"history.failedLastDay"}
}

test_empty_input_denies_everything if {
	d := data.kubeheal.decision with input as {}
	not d.allow
	count(d.violations) >= count(required_input)
}

test_missing_config_key_is_a_violation if {
	cfg := json.remove(data.kubeheal.config, ["rateLimit/cooldownSeconds"])
	v := violation with input as testing.base_input with data.kubeheal.config as cfg
	{f.details.missingConfig | some f in v} == {"rateLimit.cooldownSeconds"}
}

test_missing_config_denies if {
	d := data.kubeheal.decision with input as testing.base_input with data.kubeheal.config as null
	not d.allow
	"kubeheal.config" in {f.details.missingConfig | some f in d.violations}
}

test_unknown_action_kind_is_a_violation if {
	v := violation with input as testing.with_action("delete-namespace", {})
	{f.details.kind | some f in v} == {"delete-namespace"}
}

test_known_action_kinds_pass if {
	every kind in data.kubeheal.config.actionKinds {
		count({f | some f in violation; f.details.kind == kind}) == 0 with input as testing.with_action(kind, {})
	}
}

test_unknown_workload_kind_is_a_violation if {
	v := violation with input as testing.with_target({"kind": "DaemonSet"})
	{f.details.targetKind | some f in v} == {"DaemonSet"}
}

test_statefulsets_and_deployments_pass if {
	every kind in ["Deployment", "StatefulSet"] {
		count(violation) == 0 with input as testing.with_target({"kind": kind})
	}
}

test_malformed_now_is_a_violation if {
	inp := object.union(testing.base_input, {"now": "yesterday"})
	v := violation with input as inp
	{f.details.now | some f in v} == {"yesterday"}
}
