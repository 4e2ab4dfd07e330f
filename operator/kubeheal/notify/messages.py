"""What humans are told, and how each kind of receiver wants it: pure data, no I/O.

A :class:`Notification` is built from a remediation and its status at the moment of the
transition that asks for it: an approval request (an action waits for a human) or an
escalation (the incident is handed to humans). It carries the exact commands to run, so that
whoever reads it can act without looking anything up. Its ``id`` names the incident, the
event and the action's digest: a receiver that sees an id twice (a retried delivery whose
first answer was lost) may drop the second.

>>> import datetime as dt
>>> from kubeheal.api.remediation import Remediation
>>> rem = Remediation.model_validate({
...     "metadata": {"name": "checkout-deployment-3", "namespace": "shop"},
...     "spec": {"runbookRef": {"name": "checkout"},
...              "target": {"namespace": "shop", "name": "checkout"},
...              "trigger": {"startedAt": "2026-11-28T10:00:00Z",
...                          "detectedAt": "2026-11-28T10:00:20Z", "score": 0.99},
...              "diagnosis": {"cause": "change"}},
...     "status": {"phase": "AwaitingApproval",
...                "action": {"name": "undo", "kind": "rollback",
...                           "params": {"toRevision": "1"}, "digest": "ab12"},
...                "risk": {"score": 0.54}}})
>>> n = notification_of(rem, rem.status, NotificationEvent.APPROVAL_REQUESTED, "RequireApproval",
...                     "rollbacks in production need approval", dt.datetime(2026, 11, 28, 10, 1))
>>> n.commands["approve"]
'kubeheal approve checkout-deployment-3 -n shop'
>>> n.summary
'Approval needed: undo (rollback toRevision=1) on deployment shop/checkout, risk 0.54'
"""

from __future__ import annotations

import datetime as dt
import enum
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeheal.api.remediation import ChosenAction, Remediation, RemediationStatus

Json = dict[str, Any]

SLACK_HEADER_LIMIT = 150
"""Characters a Slack header block may hold."""
SLACK_TEXT_LIMIT = 3000
"""Characters a Slack section's text may hold."""


class NotificationEvent(enum.StrEnum):
    """Why humans are told."""

    APPROVAL_REQUESTED = "ApprovalRequested"
    ESCALATED = "Escalated"


@dataclass(frozen=True)
class Notification:
    """One approval request or escalation, with everything a human needs to act on it."""

    event: NotificationEvent
    namespace: str
    remediation: str
    runbook: str
    target: str
    cause: str
    reason: str
    message: str
    at: dt.datetime
    action: ChosenAction | None = None
    risk: float | None = None
    policy_reasons: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    commands: Mapping[str, str] = field(default_factory=dict)
    target_kind: str = "Deployment"

    @property
    def id(self) -> str:
        """Stable across retries: the incident, the event and, for an approval, the digest."""
        parts = [self.namespace, self.remediation, self.event.value]
        if self.event is NotificationEvent.APPROVAL_REQUESTED and self.action is not None:
            parts.append(self.action.digest)
        return "/".join(parts)

    @property
    def summary(self) -> str:
        """One line: what happened and to what."""
        workload = f"{self.target_kind.lower()} {self.namespace}/{self.target}"
        if self.event is NotificationEvent.APPROVAL_REQUESTED and self.action is not None:
            risk = f", risk {self.risk:.2f}" if self.risk is not None else ""
            return f"Approval needed: {_action_text(self.action)} on {workload}{risk}"
        return f"Escalated: {workload} ({self.remediation}): {self.reason}"


def notification_of(rem: Remediation, status: RemediationStatus, event: NotificationEvent,
                    reason: str, message: str, at: dt.datetime) -> Notification:
    """The notification of ``event`` for the remediation in ``status`` (after the transition
    that asked for it)."""
    namespace = rem.metadata.namespace or rem.spec.target.namespace
    name = rem.metadata.name or ""
    where = ["-n", namespace]
    commands = {"inspect": shlex.join(["kubectl", "describe", "remediation", name, *where])}
    if event is NotificationEvent.APPROVAL_REQUESTED:
        commands = {"approve": shlex.join(["kubeheal", "approve", name, *where]),
                    "reject": shlex.join(["kubeheal", "reject", name, *where]), **commands}
    return Notification(
        event=event, namespace=namespace, remediation=name, runbook=rem.spec.runbook_ref.name,
        target=rem.spec.target.name, target_kind=rem.spec.target.kind,
        cause=str(rem.spec.diagnosis.cause), reason=reason,
        message=message, at=at, action=status.action,
        risk=status.risk.score if status.risk is not None else None,
        policy_reasons=tuple(status.policy.reasons) if status.policy is not None else (),
        evidence=tuple(e.explanation or e.signal for e in rem.spec.trigger.evidence),
        commands=commands)


def generic_payload(n: Notification) -> Json:
    """The JSON document a generic webhook receives."""
    return {
        "id": n.id,
        "event": n.event.value,
        "time": n.at.isoformat(),
        "summary": n.summary,
        "remediation": {"namespace": n.namespace, "name": n.remediation},
        "runbook": n.runbook,
        "target": {"kind": n.target_kind, "namespace": n.namespace, "name": n.target},
        "cause": n.cause,
        "evidence": list(n.evidence),
        "action": None if n.action is None else {
            "name": n.action.name, "kind": n.action.kind.value, "params": dict(n.action.params),
            "digest": n.action.digest},
        "risk": n.risk,
        "policyReasons": list(n.policy_reasons),
        "reason": n.reason,
        "message": n.message,
        "commands": dict(n.commands),
    }


def slack_payload(n: Notification) -> Json:
    """The message a Slack-compatible incoming webhook receives: ``text`` (what
    notifications and clients without blocks show) and Block Kit ``blocks``."""
    title = ("Approval needed" if n.event is NotificationEvent.APPROVAL_REQUESTED
             else "Incident escalated") + f": deployment {n.namespace}/{n.target}"
    fields = [f"*Remediation*\n`{n.namespace}/{n.remediation}`", f"*Runbook*\n`{n.runbook}`",
              f"*Cause*\n{_escape(n.cause)}", f"*Reason*\n{_escape(n.reason)}"]
    if n.action is not None:
        fields.append(f"*Action*\n{_escape(_action_text(n.action))}")
    if n.risk is not None:
        fields.append(f"*Risk*\n{n.risk:.2f}")
    details = _escape(n.message)
    if n.policy_reasons:
        details += "\n" + "\n".join(f"• {_escape(r)}" for r in n.policy_reasons)
    if n.evidence:
        details += "\n" + "\n".join(f"• {_escape(e)}" for e in n.evidence)
    blocks: list[Json] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(title,
                                                                       SLACK_HEADER_LIMIT)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(details, SLACK_TEXT_LIMIT)}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(
            f"To {what}:\n```{_escape(command)}```" for what, command in n.commands.items())}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"kubeheal · {n.id}"}]},
    ]
    commands = "; ".join(f"{what}: {command}" for what, command in n.commands.items())
    return {"text": _escape(f"{n.summary}. {commands}"), "blocks": blocks}


PAYLOADS = {"webhook": generic_payload, "slack": slack_payload}
"""How each receiver format renders a notification."""


def _action_text(action: ChosenAction) -> str:
    params = ", ".join(f"{k}={v}" for k, v in action.params.items())
    return f"{action.name} ({action.kind.value}{' ' + params if params else ''})"


def _escape(text: str) -> str:
    """Slack's mrkdwn reserves &, < and >."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
