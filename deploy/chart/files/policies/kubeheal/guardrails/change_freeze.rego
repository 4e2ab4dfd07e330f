# METADATA
# title: change freeze
# description: >-
#   Nothing runs during a change-freeze window. Windows live in
#   config.changeFreeze.windows as {"name", "start", "end"} (RFC 3339, start inclusive, end
#   exclusive) with an optional "namespaces" list that limits the window to those namespaces.
package kubeheal.guardrails.change_freeze

windows := data.kubeheal.config.changeFreeze.windows

now_ns := time.parse_rfc3339_ns(input.now)

applies(window) if not window.namespaces

applies(window) if count(window.namespaces) == 0

applies(window) if input.target.namespace in window.namespaces

violation contains {
	"msg": sprintf("change freeze %q is in effect until %s", [window.name, window.end]),
	"details": {"guardrail": "change-freeze", "window": window.name, "start": window.start, "end": window.end},
} if {
	some window in windows
	applies(window)
	time.parse_rfc3339_ns(window.start) <= now_ns
	now_ns < time.parse_rfc3339_ns(window.end)
}
