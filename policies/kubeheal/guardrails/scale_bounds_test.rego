package kubeheal.guardrails.scale_bounds

import data.kubeheal.testing

# The base target has 4 replicas; the runbook bounds are 2..10.
scale_to(n) := testing.with_action("scale", {"replicas": n, "minReplicas": 2, "maxReplicas": 10})

test_scale_within_bounds_is_allowed if {
	count(violation) == 0 with input as scale_to(6)
	count(violation) == 0 with input as scale_to(8)
	count(violation) == 0 with input as scale_to(2)
}

test_scale_above_runbook_maximum_is_denied if {
	inp := testing.with_action("scale", {"replicas": 8, "minReplicas": 2, "maxReplicas": 6})
	testing.guardrails(violation) == {"scale-bounds"} with input as inp
}

test_scale_below_runbook_minimum_is_denied if {
	inp := testing.with_action("scale", {"replicas": 3, "minReplicas": 4, "maxReplicas": 10})
	{f.details.minReplicas | some f in violation} == {4} with input as inp
}

test_scale_up_beyond_factor_is_denied if {
	v := violation with input as scale_to(9)
	{[f.details.guardrail, f.details.to] | some f in v} == {["scale-step", 9]}
}

test_scale_down_beyond_factor_is_denied if {
	inp := object.union(scale_to(2), {"target": object.union(testing.base_input.target, {"replicas": 5})})
	testing.guardrails(violation) == {"scale-step"} with input as inp
}

test_scale_from_zero_counts_from_one if {
	from_zero := object.union(scale_to(2), {"target": object.union(testing.base_input.target, {"replicas": 0, "readyReplicas": 0})})
	count(violation) == 0 with input as from_zero
	too_far := object.union(scale_to(3), {"target": object.union(testing.base_input.target, {"replicas": 0, "readyReplicas": 0})})
	testing.guardrails(violation) == {"scale-step"} with input as too_far
}

test_scale_to_zero_is_measured_against_one if {
	inp := object.union(
		testing.with_action("scale", {"replicas": 0, "minReplicas": 0, "maxReplicas": 10}),
		{"target": object.union(testing.base_input.target, {"replicas": 1})},
	)
	count(violation) == 0 with input as inp
}

test_scale_without_bounds_is_denied if {
	v := violation with input as testing.with_action("scale", {"replicas": 5})
	{f.details.missing | some f in v} == {"minReplicas", "maxReplicas"}
}

test_factor_comes_from_data if {
	cfg := json.patch(data.kubeheal.config, [{"op": "replace", "path": "/scale/maxFactorPerStep", "value": 1.25}])
	testing.guardrails(violation) == {"scale-step"} with input as scale_to(6) with data.kubeheal.config as cfg
}

test_other_actions_are_not_checked if {
	count(violation) == 0 with input as testing.with_action("restart", {"replicas": 100})
}
