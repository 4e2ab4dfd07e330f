package kubeheal.guardrails.gitops

import data.kubeheal.testing

argo := {
	"tool": "argocd", "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
	"namespace": "argocd", "name": "shop", "via": "annotation argocd.argoproj.io/tracking-id",
}

flux := {
	"tool": "flux", "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
	"namespace": "flux-system", "name": "apps", "via": "labels",
}

test_unmanaged_target_needs_no_approval if {
	count(approval) == 0 with input as testing.base_input
	count(approval) == 0 with input as testing.with_target({"managedBy": null})
}

test_argocd_managed_target_needs_approval if {
	a := approval with input as testing.with_target({"managedBy": argo})
	[f.details | some f in a] == [{"guardrail": "gitops-managed", "tool": "argocd", "kind": "Application", "namespace": "argocd", "name": "shop"}]
}

test_flux_managed_target_needs_approval if {
	a := approval with input as testing.with_target({"managedBy": flux})
	testing.guardrails(a) == {"gitops-managed"}
}

test_the_decision_asks_for_approval if {
	d := data.kubeheal.decision with input as testing.with_target({"managedBy": flux})
	d.allow
	d.requireApproval
}

test_configuration_can_turn_it_off if {
	cfg := json.patch(data.kubeheal.config, [{"op": "add", "path": "/gitops", "value": {"requireApproval": false}}])
	count(approval) == 0 with input as testing.with_target({"managedBy": argo}) with data.kubeheal.config as cfg
}
