# METADATA
# title: well-formed input and configuration
# description: >-
#   Fail closed on what the other guardrails cannot judge: a missing input field or a
#   missing configuration key would make their rules undefined, which would read as "no
#   violation". Both are violations here instead, and so is an action kind nobody configured,
#   or a kind of workload (target.kind) nobody configured.
package kubeheal.guardrails.wellformed

config := data.kubeheal.config

# Input fields every guardrail relies on.
required_input := [
	["action", "kind"],
	["target", "namespace"],
	["target", "name"],
	["target", "kind"],
	["target", "replicas"],
	["target", "readyReplicas"],
	["risk", "score"],
	["history", "actionsLastHour"],
	["history", "namespaceActionsLastHour"],
	["history", "failedLastDay"],
	["runbook", "name"],
	["runbook", "mode"],
	["now"],
]

# Configuration keys every guardrail relies on.
required_config := [
	["actionKinds"],
	["targetKinds"],
	["dryRunModes"],
	["tierLabel"],
	["protectedNamespaces", "names"],
	["protectedNamespaces", "label"],
	["availability", "minReadyRatio"],
	["availability", "minReadyPods"],
	["availability", "floorLabel"],
	["availability", "defaultPodsUnavailable"],
	["scale", "maxFactorPerStep"],
	["changeFreeze", "windows"],
	["rateLimit", "perTargetPerHour"],
	["rateLimit", "perNamespacePerHour"],
	["rateLimit", "cooldownSeconds"],
	["approval", "riskThreshold"],
	["approval", "rollbackTiers"],
	["approval", "failedLastDayThreshold"],
]

violation contains {
	"msg": sprintf("input is missing %s", [concat(".", path)]),
	"details": {"guardrail": "wellformed", "missing": concat(".", path)},
} if {
	some path in required_input
	object.get(input, path, null) == null
}

violation contains {
	"msg": sprintf("guardrail configuration is missing %s", [concat(".", path)]),
	"details": {"guardrail": "wellformed", "missingConfig": concat(".", path)},
} if {
	some path in required_config
	object.get(config, path, null) == null
}

violation contains {
	"msg": "guardrail configuration is missing (data.kubeheal.config)",
	"details": {"guardrail": "wellformed", "missingConfig": "kubeheal.config"},
} if {
	not is_object(data.kubeheal.config)
}

violation contains {
	"msg": sprintf("unknown action kind %q", [input.action.kind]),
	"details": {"guardrail": "wellformed", "kind": input.action.kind, "known": config.actionKinds},
} if {
	not input.action.kind in config.actionKinds
}

violation contains {
	"msg": sprintf("unknown workload kind %q", [input.target.kind]),
	"details": {"guardrail": "wellformed", "targetKind": input.target.kind, "known": config.targetKinds},
} if {
	not input.target.kind in config.targetKinds
}

violation contains {
	"msg": sprintf("now %q is not an RFC 3339 time", [input.now]),
	"details": {"guardrail": "wellformed", "now": input.now},
} if {
	not is_time(input.now)
}

is_time(t) if time.parse_rfc3339_ns(t)
