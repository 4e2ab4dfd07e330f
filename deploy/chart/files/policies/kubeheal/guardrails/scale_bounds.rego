# METADATA
# title: scale bounds
# description: >-
#   No scale outside the runbook's bounds (action.params.minReplicas and
#   action.params.maxReplicas, copied from the runbook action; a scale without them is
#   denied) nor by more than config.scale.maxFactorPerStep in one step, up or down.
package kubeheal.guardrails.scale_bounds

config := data.kubeheal.config.scale

params := object.get(input.action, "params", {})

is_scale if input.action.kind == "scale"

# Scaling from zero is measured from one pod, so the factor stays finite.
current := max([input.target.replicas, 1])

violation contains {
	"msg": sprintf("scale needs action.params.%s (the runbook's bounds and the target replicas)", [key]),
	"details": {"guardrail": "scale-bounds", "missing": key},
} if {
	is_scale
	some key in ["replicas", "minReplicas", "maxReplicas"]
	not is_number(object.get(params, key, null))
}

violation contains {
	"msg": sprintf("scale to %d replicas exceeds the runbook's maximum of %d", [params.replicas, params.maxReplicas]),
	"details": {"guardrail": "scale-bounds", "replicas": params.replicas, "maxReplicas": params.maxReplicas},
} if {
	is_scale
	params.replicas > params.maxReplicas
}

violation contains {
	"msg": sprintf("scale to %d replicas is below the runbook's minimum of %d", [params.replicas, params.minReplicas]),
	"details": {"guardrail": "scale-bounds", "replicas": params.replicas, "minReplicas": params.minReplicas},
} if {
	is_scale
	params.replicas < params.minReplicas
}

violation contains {
	"msg": sprintf(
		"scale from %d to %d replicas is more than a factor of %v in one step",
		[input.target.replicas, params.replicas, config.maxFactorPerStep],
	),
	"details": {
		"guardrail": "scale-step",
		"from": input.target.replicas,
		"to": params.replicas,
		"maxFactorPerStep": config.maxFactorPerStep,
	},
} if {
	is_scale
	step_factor > config.maxFactorPerStep
}

step_factor := params.replicas / current if params.replicas >= current

step_factor := current / max([params.replicas, 1]) if params.replicas < current
