package kubeheal.guardrails.scale_back

import data.kubeheal
import data.kubeheal.testing

# The base target has 4 replicas, which the scale-out set from 2; the runbook bounds are 2..10.
back(fields) := testing.with_action("scale", object.union(
	{"replicas": 2, "minReplicas": 2, "maxReplicas": 10, "direction": "down", "from": 4, "replicasBefore": 2},
	fields,
))

test_scale_back_to_the_count_before_is_allowed if {
	count(violation) == 0 with input as back({})
	d := kubeheal.decision with input as back({})
	d.allow
}

test_scale_back_below_the_count_before_is_denied if {
	inp := back({"replicas": 1, "minReplicas": 1})
	{f.details.replicasBefore | some f in violation} == {2} with input as inp
	not kubeheal.allow with input as inp
}

test_scale_back_below_the_runbook_minimum_is_denied if {
	d := kubeheal.decision with input as back({"replicas": 2, "minReplicas": 3, "replicasBefore": 2})
	not d.allow
	testing.guardrails(d.violations) == {"scale-bounds"}
}

test_scale_back_never_raises if {
	inp := back({"replicas": 4, "replicasBefore": 4})
	{f.details.from | some f in violation} == {4} with input as inp
}

test_replicas_changed_since_the_scale_out_are_left_alone if {
	inp := object.union(back({}), {"target": object.union(testing.base_input.target, {"replicas": 6, "readyReplicas": 6})})
	{f.details.replicas | some f in violation} == {6} with input as inp
}

test_under_an_hpa_its_floor_is_compared_by_the_operator if {
	inp := object.union(back({"hpa": "checkout"}), {"target": object.union(testing.base_input.target, {"replicas": 7})})
	count(violation) == 0 with input as inp
}

test_scale_back_without_its_counts_is_denied if {
	inp := testing.with_action("scale", {"replicas": 2, "minReplicas": 2, "maxReplicas": 10, "direction": "down"})
	{f.details.missing | some f in violation} == {"from", "replicasBefore"} with input as inp
}

test_scale_back_is_not_held_by_the_cooldown_but_by_the_rate_limit if {
	recent := object.union(back({}), {"history": object.union(testing.base_input.history, {"lastActionAt": "2026-11-28T11:59:00Z"})})
	d := kubeheal.decision with input as recent
	d.allow
	busy := object.union(back({}), {"history": object.union(testing.base_input.history, {"actionsLastHour": 3})})
	testing.guardrails(kubeheal.violations) == {"rate-limit-target"} with input as busy
}

test_a_scale_out_is_still_held_by_the_cooldown if {
	out := testing.with_action("scale", {"replicas": 6, "minReplicas": 2, "maxReplicas": 10})
	recent := object.union(out, {"history": object.union(testing.base_input.history, {"lastActionAt": "2026-11-28T11:59:00Z"})})
	testing.guardrails(kubeheal.violations) == {"cooldown"} with input as recent
}

test_other_actions_are_not_checked if {
	count(violation) == 0 with input as testing.base_input
	count(violation) == 0 with input as testing.with_action("scale", {"replicas": 6, "minReplicas": 2, "maxReplicas": 10})
}
