# METADATA
# title: input builders shared by the policy tests
# description: >-
#   A well-formed input that every guardrail allows, and small builders that change one part
#   of it. Loaded by `opa test` only (the operator skips *_test.rego files).
package kubeheal.testing

base_input := {
	"action": {"kind": "restart", "params": {"strategy": "delete-pod", "maxUnavailableShare": 0.25, "podsUnavailable": 1}},
	"target": {
		"namespace": "shop",
		"name": "checkout",
		"kind": "Deployment",
		"replicas": 4,
		"readyReplicas": 4,
		"labels": {"app": "checkout"},
		"namespaceLabels": {"kubeheal.io/tier": "staging"},
	},
	"risk": {"score": 0.2, "factors": []},
	"incident": {"signals": {"latency": 0.97}, "diagnosis": "resource-exhaustion", "startedAt": "2026-11-28T11:50:00Z"},
	"history": {"actionsLastHour": 0, "namespaceActionsLastHour": 0, "failedLastDay": 0, "lastActionAt": null},
	"now": "2026-11-28T12:00:00Z",
	"runbook": {"name": "checkout-latency", "mode": "enforce", "approval": {"mode": "never"}},
}

with_action(kind, params) := object.union(base_input, {"action": {"kind": kind, "params": params}})

with_target(fields) := object.union(base_input, {"target": object.union(base_input.target, fields)})

with_history(fields) := object.union(base_input, {"history": object.union(base_input.history, fields)})

with_runbook(fields) := object.union(base_input, {"runbook": object.union(base_input.runbook, fields)})

with_risk(score) := object.union(base_input, {"risk": {"score": score, "factors": []}})

# The guardrail names in a set of findings.
guardrails(findings) := {f.details.guardrail | some f in findings}
