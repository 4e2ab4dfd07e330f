package kubeheal.guardrails.change_freeze

import data.kubeheal.testing

# The base input's now is 2026-11-28T12:00:00Z.
freeze(windows) := json.patch(data.kubeheal.config, [{"op": "replace", "path": "/changeFreeze/windows", "value": windows}])

black_friday := {"name": "black-friday", "start": "2026-11-27T00:00:00Z", "end": "2026-11-30T00:00:00Z"}

test_no_windows_no_violation if {
	count(violation) == 0 with input as testing.base_input
}

test_inside_a_window_is_denied if {
	v := violation with input as testing.base_input with data.kubeheal.config as freeze([black_friday])
	{f.details.window | some f in v} == {"black-friday"}
}

test_outside_a_window_is_allowed if {
	past := {"name": "past", "start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"}
	count(violation) == 0 with input as testing.base_input with data.kubeheal.config as freeze([past])
}

test_start_inclusive_end_exclusive if {
	at_start := {"name": "w", "start": "2026-11-28T12:00:00Z", "end": "2026-11-28T13:00:00Z"}
	count(violation) == 1 with input as testing.base_input with data.kubeheal.config as freeze([at_start])
	at_end := {"name": "w", "start": "2026-11-28T11:00:00Z", "end": "2026-11-28T12:00:00Z"}
	count(violation) == 0 with input as testing.base_input with data.kubeheal.config as freeze([at_end])
}

test_window_limited_to_namespaces if {
	shop_only := object.union(black_friday, {"namespaces": ["shop"]})
	count(violation) == 1 with input as testing.base_input with data.kubeheal.config as freeze([shop_only])
	other := object.union(black_friday, {"namespaces": ["payments"]})
	count(violation) == 0 with input as testing.base_input with data.kubeheal.config as freeze([other])
}

test_empty_namespace_list_means_everywhere if {
	everywhere := object.union(black_friday, {"namespaces": []})
	count(violation) == 1 with input as testing.base_input with data.kubeheal.config as freeze([everywhere])
}
