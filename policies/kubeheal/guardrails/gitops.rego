# METADATA
# title: GitOps-managed targets
# description: >-
#   A target that Argo CD or Flux reconciles (input.target.managedBy, set by the operator from
#   the workload's tracking annotation or labels) needs a human's approval: acting on it means
#   suspending that reconciliation through the owner's own resource (an Application's automated
#   sync, a Kustomization's or HelmRelease's spec.suspend), and it stays suspended until a human
#   confirms that Git holds the fix. config.gitops.requireApproval (default true) turns this off.
package kubeheal.guardrails.gitops

require := object.get(data.kubeheal.config, ["gitops", "requireApproval"], true)

owner := object.get(input.target, "managedBy", null)

approval contains {
	"msg": sprintf(
		"%s/%s is managed by %s %s %s/%s: acting suspends its reconciliation until a human confirms Git holds the fix",
		[input.target.namespace, input.target.name, owner.tool, owner.kind, owner.namespace, owner.name],
	),
	"details": {
		"guardrail": "gitops-managed",
		"tool": owner.tool,
		"kind": owner.kind,
		"namespace": owner.namespace,
		"name": owner.name,
	},
} if {
	is_object(owner)
	require != false
}
