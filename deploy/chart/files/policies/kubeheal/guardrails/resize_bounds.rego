# METADATA
# title: resize bounds
# description: >-
#   A resize raises one container's memory limit, never lowers it, never above the
#   runbook's maximum (action.params.maxBytes), and never by more than
#   config.resize.maxFactorPerStep in one step. A limit already at the maximum has nothing
#   left to raise: denied, so that humans take over. A resize without its parameters, or
#   without that configuration, is denied.
package kubeheal.guardrails.resize_bounds

params := object.get(input.action, "params", {})

is_resize if input.action.kind == "resize"

violation contains {
	"msg": sprintf("resize needs action.params.%s (the container's memory limit now and after, and the runbook's maximum)", [key]),
	"details": {"guardrail": "resize-bounds", "missing": key},
} if {
	is_resize
	some key in ["fromBytes", "toBytes", "maxBytes"]
	not is_number(object.get(params, key, null))
}

violation contains {
	"msg": "guardrail configuration is missing resize.maxFactorPerStep",
	"details": {"guardrail": "resize-bounds", "missingConfig": "resize.maxFactorPerStep"},
} if {
	is_resize
	not is_number(object.get(data.kubeheal.config, ["resize", "maxFactorPerStep"], null))
}

violation contains {
	"msg": sprintf("the memory limit (%d bytes) is at the runbook's maximum of %d bytes already: nothing left to raise", [params.fromBytes, params.maxBytes]),
	"details": {"guardrail": "resize-bounds", "fromBytes": params.fromBytes, "maxBytes": params.maxBytes},
} if {
	is_resize
	params.fromBytes >= params.maxBytes
}

violation contains {
	"msg": sprintf("resize to %d bytes exceeds the runbook's maximum of %d bytes", [params.toBytes, params.maxBytes]),
	"details": {"guardrail": "resize-bounds", "toBytes": params.toBytes, "maxBytes": params.maxBytes},
} if {
	is_resize
	params.toBytes > params.maxBytes
}

violation contains {
	"msg": sprintf("resize from %d to %d bytes does not raise the memory limit", [params.fromBytes, params.toBytes]),
	"details": {"guardrail": "resize-bounds", "fromBytes": params.fromBytes, "toBytes": params.toBytes},
} if {
	is_resize
	params.toBytes <= params.fromBytes
}

violation contains {
	"msg": sprintf(
		"resize from %d to %d bytes is more than a factor of %v in one step",
		[params.fromBytes, params.toBytes, data.kubeheal.config.resize.maxFactorPerStep],
	),
	"details": {
		"guardrail": "resize-step",
		"fromBytes": params.fromBytes,
		"toBytes": params.toBytes,
		"maxFactorPerStep": data.kubeheal.config.resize.maxFactorPerStep,
	},
} if {
	is_resize
	params.fromBytes > 0
	params.toBytes / params.fromBytes > data.kubeheal.config.resize.maxFactorPerStep
}
