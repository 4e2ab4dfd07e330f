# METADATA
# title: approval requirements
# description: >-
#   When an allowed action still needs a human: a rollback in a namespace whose tier label
#   (config.tierLabel) is one of config.approval.rollbackTiers; an action whose risk score
#   exceeds config.approval.riskThreshold; a target with config.approval.failedLastDayThreshold
#   or more failed remediations in the last day; a runbook whose approval mode is "always",
#   or "riskAbove" with the risk above its own riskThreshold. A runbook can add approvals,
#   never remove those of the policy.
package kubeheal.guardrails.approvals

config := data.kubeheal.config

tier := object.get(input.target, ["namespaceLabels", config.tierLabel], "")

approval contains {
	"msg": sprintf("rollback in %s-tier namespace %q needs approval", [tier, input.target.namespace]),
	"details": {"guardrail": "production-rollback", "tier": tier, "namespace": input.target.namespace},
} if {
	input.action.kind == "rollback"
	tier in config.approval.rollbackTiers
}

approval contains {
	"msg": sprintf("risk %.2f exceeds the approval threshold %.2f", [input.risk.score, config.approval.riskThreshold]),
	"details": {
		"guardrail": "risk-threshold",
		"score": input.risk.score,
		"threshold": config.approval.riskThreshold,
		"factors": object.get(input.risk, "factors", []),
	},
} if {
	input.risk.score > config.approval.riskThreshold
}

approval contains {
	"msg": sprintf(
		"%s/%s had %d failed remediations in the last day (approval from %d)",
		[input.target.namespace, input.target.name, input.history.failedLastDay, config.approval.failedLastDayThreshold],
	),
	"details": {
		"guardrail": "repeated-failures",
		"failedLastDay": input.history.failedLastDay,
		"threshold": config.approval.failedLastDayThreshold,
	},
} if {
	input.history.failedLastDay >= config.approval.failedLastDayThreshold
}

approval contains {
	"msg": sprintf("runbook %q requires approval for every action", [input.runbook.name]),
	"details": {"guardrail": "runbook-approval", "runbook": input.runbook.name, "mode": "always"},
} if {
	input.runbook.approval.mode == "always"
}

approval contains {
	"msg": sprintf(
		"risk %.2f exceeds runbook %q's approval threshold %.2f",
		[input.risk.score, input.runbook.name, input.runbook.approval.riskThreshold],
	),
	"details": {
		"guardrail": "runbook-approval",
		"runbook": input.runbook.name,
		"mode": "riskAbove",
		"score": input.risk.score,
		"threshold": input.runbook.approval.riskThreshold,
	},
} if {
	input.runbook.approval.mode == "riskAbove"
	input.risk.score > input.runbook.approval.riskThreshold
}
