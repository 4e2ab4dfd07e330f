package kubeheal.guardrails.protected_namespaces

import data.kubeheal.testing

test_ordinary_namespace_is_allowed if {
	count(violation) == 0 with input as testing.base_input
}

test_listed_namespace_is_denied if {
	every ns in data.kubeheal.config.protectedNamespaces.names {
		{f.details.by | some f in violation} == {"name"} with input as testing.with_target({"namespace": ns})
	}
}

test_labelled_namespace_is_denied if {
	inp := testing.with_target({"namespaceLabels": {"kubeheal.io/protected": "true"}})
	{f.details.by | some f in violation} == {"label"} with input as inp
}

test_label_other_than_true_is_allowed if {
	inp := testing.with_target({"namespaceLabels": {"kubeheal.io/protected": "false"}})
	count(violation) == 0 with input as inp
}

test_list_comes_from_data if {
	cfg := json.patch(data.kubeheal.config, [{"op": "replace", "path": "/protectedNamespaces/names", "value": ["shop"]}])
	count(violation) == 1 with input as testing.base_input with data.kubeheal.config as cfg
}
