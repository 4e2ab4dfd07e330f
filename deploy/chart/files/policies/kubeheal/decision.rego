# METADATA
# title: kubeheal remediation decision
# description: >-
#   The single entry document, data.kubeheal.decision, that the operator queries before it
#   acts. Each guardrail lives in its own package under kubeheal.guardrails and contributes
#   `violation` findings (the action is denied) or `approval` findings (a human must
#   approve). Adding a guardrail means adding a package there; this file does not change.
#   Every finding is an object {"msg", "details"}; details.guardrail names its source.
package kubeheal

# Findings that deny the action, from every guardrail package.
violations := [v |
	some name
	some v in data.kubeheal.guardrails[name].violation
]

# Findings that make a human approve the action before it runs.
approvals := [a |
	some name
	some a in data.kubeheal.guardrails[name].approval
]

default allow := false

allow if count(violations) == 0

# Approval only matters for an action that is allowed at all.
default require_approval := false

require_approval if {
	allow
	count(approvals) > 0
}

# Why the decision is what it is: what denies it first, then what needs approval.
reasons := array.concat(violations, approvals)

# Set by the operator when it loads policies and data (a digest of both).
default policy_version := "unversioned"

policy_version := data.kubeheal.meta.version

decision := {
	"allow": allow,
	"requireApproval": require_approval,
	"reasons": reasons,
	"violations": violations,
	"policyVersion": policy_version,
}
