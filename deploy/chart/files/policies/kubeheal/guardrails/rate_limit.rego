# METADATA
# title: rate limits
# description: >-
#   At most config.rateLimit.perTargetPerHour actions on one target and
#   config.rateLimit.perNamespacePerHour in one namespace per hour (history counts the
#   actions already taken in the last hour), and at least config.rateLimit.cooldownSeconds
#   between two incidents' actions on the same target (history.lastActionAt is the last
#   action of an earlier incident: within one, the next action follows a failed one; a
#   scale-back has its hold for a cooldown).
package kubeheal.guardrails.rate_limit

config := data.kubeheal.config.rateLimit

violation contains {
	"msg": sprintf(
		"%s/%s already had %d actions in the last hour (limit %d per target)",
		[input.target.namespace, input.target.name, input.history.actionsLastHour, config.perTargetPerHour],
	),
	"details": {"guardrail": "rate-limit-target", "actionsLastHour": input.history.actionsLastHour, "limit": config.perTargetPerHour},
} if {
	input.history.actionsLastHour >= config.perTargetPerHour
}

violation contains {
	"msg": sprintf(
		"namespace %q already had %d actions in the last hour (limit %d per namespace)",
		[input.target.namespace, input.history.namespaceActionsLastHour, config.perNamespacePerHour],
	),
	"details": {
		"guardrail": "rate-limit-namespace",
		"namespaceActionsLastHour": input.history.namespaceActionsLastHour,
		"limit": config.perNamespacePerHour,
	},
} if {
	input.history.namespaceActionsLastHour >= config.perNamespacePerHour
}

seconds_since_last := (time.parse_rfc3339_ns(input.now) - time.parse_rfc3339_ns(input.history.lastActionAt)) / 1e9

violation contains {
	"msg": sprintf(
		"last action on %s/%s was %ds ago; the cooldown is %ds",
		[input.target.namespace, input.target.name, round(seconds_since_last), config.cooldownSeconds],
	),
	"details": {"guardrail": "cooldown", "lastActionAt": input.history.lastActionAt, "cooldownSeconds": config.cooldownSeconds},
} if {
	seconds_since_last < config.cooldownSeconds
	not scale_back
}

# A scale-back follows its scale-out after the runbook's hold (scaleBack.holdSeconds), its
# own cooldown: the last action on the target is the scale-out it undoes.
scale_back if {
	input.action.kind == "scale"
	input.action.params.direction == "down"
}
