# METADATA
# title: availability floor for restarts and resizes
# description: >-
#   No restart, nor resize (a rolling update of the pod template, as a rollout restart),
#   that would leave fewer ready pods than the workload's availability floor.
#   The floor is the larger of config.availability.minReadyPods and
#   ceil(replicas * config.availability.minReadyRatio); a workload can set its own floor with
#   the label config.availability.floorLabel (a whole number of pods). The restart's
#   action.params.podsUnavailable says how many *ready* pods it takes down at once (1 for
#   deleting one ready pod, 0 for deleting a pod that is not ready, the Deployment's resolved
#   maxUnavailable for a rollout restart); config.availability.defaultPodsUnavailable applies
#   when the operator does not say.
package kubeheal.guardrails.availability

config := data.kubeheal.config.availability

pods_unavailable := object.get(input.action, ["params", "podsUnavailable"], config.defaultPodsUnavailable)

default_floor := max([config.minReadyPods, ceil(input.target.replicas * config.minReadyRatio)])

# A label that is not a number is ignored: the default floor still holds.
label_floor := to_number(input.target.labels[config.floorLabel])

floor := label_floor

floor := default_floor if not label_floor

ready_after := input.target.readyReplicas - pods_unavailable

violation contains {
	"msg": sprintf(
		"%s would leave %d ready pods of %s/%s, below its availability floor of %d",
		[input.action.kind, ready_after, input.target.namespace, input.target.name, floor],
	),
	"details": {
		"guardrail": "availability-floor",
		"readyReplicas": input.target.readyReplicas,
		"podsUnavailable": pods_unavailable,
		"readyAfter": ready_after,
		"floor": floor,
	},
} if {
	input.action.kind in {"restart", "resize"}
	pods_unavailable > 0
	ready_after < floor
}
