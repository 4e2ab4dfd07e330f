package kubeheal.guardrails.availability

import data.kubeheal.testing

restart(pods_unavailable, replicas, ready) := object.union(
	testing.with_action("restart", {"podsUnavailable": pods_unavailable}),
	{"target": object.union(testing.base_input.target, {"replicas": replicas, "readyReplicas": ready})},
)

test_restart_above_floor_is_allowed if {
	# 4 replicas, floor ceil(4 * 0.5) = 2; 4 ready - 1 = 3 left.
	count(violation) == 0 with input as restart(1, 4, 4)
}

test_restart_down_to_floor_is_allowed if {
	count(violation) == 0 with input as restart(2, 4, 4)
}

test_restart_below_floor_is_denied if {
	v := violation with input as restart(1, 4, 2)
	{[f.details.readyAfter, f.details.floor] | some f in v} == {[1, 2]}
}

test_restart_of_a_pod_that_is_not_ready_is_allowed if {
	count(violation) == 0 with input as restart(0, 4, 0)
}

test_single_replica_restart_is_denied_by_min_ready_pods if {
	v := violation with input as restart(1, 1, 1)
	{f.details.floor | some f in v} == {1}
}

test_pods_unavailable_defaults_from_data if {
	inp := json.patch(restart(1, 4, 2), [{"op": "replace", "path": "/action/params", "value": {}}])
	count(violation) == 1 with input as inp
	cfg := json.patch(data.kubeheal.config, [{"op": "replace", "path": "/availability/defaultPodsUnavailable", "value": 0}])
	count(violation) == 0 with input as inp with data.kubeheal.config as cfg
}

test_workload_label_sets_the_floor if {
	inp := object.union(restart(1, 4, 4), {"target": {"labels": {"kubeheal.io/min-ready": "4"}}})
	v := violation with input as inp
	{f.details.floor | some f in v} == {4}
}

test_non_numeric_floor_label_keeps_the_default if {
	inp := object.union(restart(1, 4, 2), {"target": {"labels": {"kubeheal.io/min-ready": "many"}}})
	v := violation with input as inp
	{f.details.floor | some f in v} == {2}
}

test_ratio_comes_from_data if {
	cfg := json.patch(data.kubeheal.config, [{"op": "replace", "path": "/availability/minReadyRatio", "value": 1}])
	count(violation) == 1 with input as restart(1, 4, 4) with data.kubeheal.config as cfg
}

test_only_restarts_are_checked if {
	inp := object.union(restart(1, 4, 1), {"action": {"kind": "rollback", "params": {"podsUnavailable": 1}}})
	count(violation) == 0 with input as inp
}

test_resize_below_floor_is_denied_as_a_restart_is if {
	inp := object.union(
		testing.with_action("resize", {"podsUnavailable": 3, "fromBytes": 1, "toBytes": 2, "maxBytes": 4}),
		{"target": object.union(testing.base_input.target, {"replicas": 4, "readyReplicas": 4})},
	)
	v := violation with input as inp
	{[f.details.readyAfter, f.details.floor] | some f in v} == {[1, 2]}
	some f in v
	startswith(f.msg, "resize would leave 1 ready pods")
}
