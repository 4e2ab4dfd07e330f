# METADATA
# title: scale-back floors
# description: >-
#   A scale-back (a scale with action.params.direction "down") undoes a temporary scale-out:
#   it must lower the replicas (never raise them), never below the count before the
#   scale-out (action.params.replicasBefore), and only from what the scale-out set
#   (action.params.from): a Deployment whose replicas differ now was scaled by someone else
#   since, and that choice stands. Under an HPA (action.params.hpa) the counts are its
#   minReplicas, which the operator compares. The runbook's bounds and the step factor of
#   scale_bounds hold as for any scale; the rate limits too, but not the cooldown, which the
#   scale-back's hold replaces (see rate_limit).
package kubeheal.guardrails.scale_back

params := object.get(input.action, "params", {})

is_scale_back if {
	input.action.kind == "scale"
	params.direction == "down"
}

violation contains {
	"msg": sprintf("scale-back needs action.params.%s", [key]),
	"details": {"guardrail": "scale-back", "missing": key},
} if {
	is_scale_back
	some key in ["replicas", "from", "replicasBefore"]
	not is_number(object.get(params, key, null))
}

violation contains {
	"msg": sprintf("scale-back to %d replicas is below the %d before the scale-out", [params.replicas, params.replicasBefore]),
	"details": {"guardrail": "scale-back", "replicas": params.replicas, "replicasBefore": params.replicasBefore},
} if {
	is_scale_back
	params.replicas < params.replicasBefore
}

violation contains {
	"msg": sprintf("scale-back from %d to %d replicas does not lower them", [params.from, params.replicas]),
	"details": {"guardrail": "scale-back", "from": params.from, "replicas": params.replicas},
} if {
	is_scale_back
	params.replicas >= params.from
}

violation contains {
	"msg": sprintf(
		"%s/%s has %d replicas, not the %d the scale-out set: someone changed them since, and a scale-back never undoes that",
		[input.target.namespace, input.target.name, input.target.replicas, params.from],
	),
	"details": {"guardrail": "scale-back", "replicas": input.target.replicas, "from": params.from},
} if {
	is_scale_back
	not params.hpa
	input.target.replicas != params.from
}
