# METADATA
# title: dry-run runbooks
# description: >-
#   A runbook whose mode is in config.dryRunModes never executes. The other findings are
#   still reported, so a dry run shows what the decision would have been.
package kubeheal.guardrails.dry_run

violation contains {
	"msg": sprintf("runbook %q is in %s mode: actions are recorded, never executed", [input.runbook.name, input.runbook.mode]),
	"details": {"guardrail": "dry-run", "runbook": input.runbook.name, "mode": input.runbook.mode},
} if {
	input.runbook.mode in data.kubeheal.config.dryRunModes
}
