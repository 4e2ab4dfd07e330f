# METADATA
# title: protected namespaces
# description: >-
#   No action in the namespaces that keep the cluster (and kubeheal) running: those listed in
#   config.protectedNamespaces.names, and any namespace that carries the label
#   config.protectedNamespaces.label set to "true".
package kubeheal.guardrails.protected_namespaces

config := data.kubeheal.config.protectedNamespaces

violation contains {
	"msg": sprintf("namespace %q is protected: kubeheal does not act there", [input.target.namespace]),
	"details": {"guardrail": "protected-namespace", "namespace": input.target.namespace, "by": "name"},
} if {
	input.target.namespace in config.names
}

violation contains {
	"msg": sprintf("namespace %q is labelled %s=true: kubeheal does not act there", [input.target.namespace, config.label]),
	"details": {"guardrail": "protected-namespace", "namespace": input.target.namespace, "by": "label"},
} if {
	object.get(input.target, ["namespaceLabels", config.label], "") == "true"
}
