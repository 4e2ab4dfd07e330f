"""What ``kubeheal replay`` prints: each incident the runbook would have opened, with its
evidence, cause, action, risk and policy decision, and a summary; as a table or JSON (the
table is drawn from the JSON document, so the two always say the same)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from kubeheal.api.remediation import Phase
from kubeheal.api.runbook import Runbook
from kubeheal.controller.store import rfc3339
from kubeheal.replay.loop import Replay, ReplayedIncident

Json = dict[str, Any]

WOULD = {
    Phase.EXECUTING: "act",
    Phase.AWAITING_APPROVAL: "ask for approval",
    Phase.BLOCKED: "not act (blocked)",
    Phase.DRY_RUN: "record only (dry-run)",
    Phase.ESCALATED: "escalate to humans",
}


def _time(moment: Any) -> str | None:
    return None if moment is None else rfc3339(moment)


def incident_json(number: int, incident: ReplayedIncident) -> Json:
    """One replayed incident as a document."""
    spec, status = incident.remediation.spec, incident.status
    top = spec.diagnosis.candidates[0] if spec.diagnosis.candidates else None
    action = status.action if status is not None else None
    policy = incident.policy
    return {
        "number": number,
        "workload": incident.workload,
        "onset": _time(spec.trigger.started_at),
        "detected": _time(spec.trigger.detected_at),
        "closed": _time(incident.closed_at),
        "evidence": [e.explanation for e in spec.trigger.evidence[:3]],
        "cause": spec.diagnosis.cause.value,
        "confidence": round(top.confidence, 2) if top is not None else None,
        "causeEvidence": list(top.evidence[:3]) if top is not None else [],
        "action": None if action is None else {
            "name": action.name, "kind": action.kind.value, "params": dict(action.params)},
        "risk": None if status is None or status.risk is None else {
            "score": status.risk.score,
            "factors": [f"{f.explanation} (+{f.contribution:.2f})"
                        for f in sorted(status.risk.factors, key=lambda f: -f.contribution)
                        if f.contribution > 0][:3]},
        "policy": None if policy is None else {
            "outcome": policy.outcome.value, "message": policy.message,
            "version": policy.policy_version},
        "would": WOULD.get(status.phase, status.phase.value) if status is not None and
        status.phase is not None else None,
        "decisions": [t.message for t in (status.timeline if status is not None else [])
                      if t.step in ("decided", "gated")],
    }


def replay_json(runbook: Runbook, found: Replay) -> Json:
    """The whole replay as a document."""
    window = found.window
    days = max((window.until - window.since).total_seconds() / 86400, 1 / 1440)
    incidents = [incident_json(n, i) for n, i in enumerate(found.incidents, 1)]
    acting = [i for i in incidents if i["action"] is not None]
    return {
        "runbook": f"{runbook.metadata.namespace}/{runbook.metadata.name}",
        "mode": runbook.spec.mode,
        "since": rfc3339(window.since), "until": rfc3339(window.until),
        "stepSeconds": window.step,
        "incidents": incidents,
        "heldAlarms": [{"at": rfc3339(h.at), "workload": h.workload, "reason": h.reason}
                       for h in found.held],
        "skipped": [{"at": rfc3339(at), "reason": why} for at, why in found.skipped],
        "summary": {
            "steps": found.steps,
            "incidents": len(incidents),
            "alarms": found.alarms,
            "alarmsPerDay": round(found.alarms / days, 2),
            "actionsByKind": dict(Counter(i["action"]["kind"] for i in acting)),
            "approvalsNeeded": sum(1 for i in incidents if (i["policy"] or {}).get("outcome")
                                   == "approval-required"),
            "denied": sum(1 for i in incidents
                          if (i["policy"] or {}).get("outcome") == "denied"),
            "withoutAction": sum(1 for i in incidents if i["action"] is None),
        },
    }


def _table(doc: Json) -> str:
    lines = [f"Replay of runbook {doc['runbook']} ({doc['mode']}) from {doc['since']} to "
             f"{doc['until']}, every {doc['stepSeconds']:g}s"]
    for i in doc["incidents"]:
        lines += ["", f"#{i['number']} {i['workload']}: onset {i['onset']}, detected "
                  f"{i['detected']}, " + (f"recovered {i['closed']}" if i["closed"]
                                          else "still open at the end")]
        lines += [f"  evidence: {e}" for e in i["evidence"]]
        lines.append(f"  cause:    {i['cause']} ({i['confidence']}): "
                     + "; ".join(i["causeEvidence"]))
        action = i["action"]
        if action is not None:
            params = ", ".join(f"{k}={v}" for k, v in action["params"].items())
            lines.append(f"  action:   {action['name']} ({action['kind']} {params})")
        if i["risk"] is not None:
            lines.append(f"  risk:     {i['risk']['score']:.2f}: "
                         + ", ".join(i["risk"]["factors"]))
        if i["policy"] is not None:
            lines.append(f"  policy:   {i['policy']['message']} (policies "
                         f"{i['policy']['version']})")
        if action is None:
            lines += [f"  decided:  {d}" for d in i["decisions"]]
        lines.append(f"  would:    {i['would']}")
    for h in doc["heldAlarms"]:
        lines.append(f"held at {h['at']}: {h['reason']}")
    for s in doc["skipped"]:
        lines.append(f"skipped from {s['at']}: {s['reason']}")
    summary = doc["summary"]
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(summary["actionsByKind"].items())) or "none"
    lines += ["", f"Summary: {summary['incidents']} incidents, {summary['alarms']} alarms "
              f"({summary['alarmsPerDay']:g} per day) over {summary['steps']} steps; "
              f"actions: {kinds}; approvals needed: {summary['approvalsNeeded']}; denied: "
              f"{summary['denied']}; no action fits: {summary['withoutAction']}. Nothing was "
              "executed."]
    return "\n".join(lines)


def render(runbook: Runbook, found: Replay, output: str) -> str:
    """The replay as ``output`` (``table`` or ``json``)."""
    doc = replay_json(runbook, found)
    return json.dumps(doc, indent=2) if output == "json" else _table(doc)
