"""The policy engine's answer, as a value the controller can record and show.

A :class:`PolicyDecision` is built in exactly two ways: :func:`parse_decision` from OPA's
answer for ``data.kubeheal.decision``, or :meth:`PolicyDecision.unavailable` when there is
no usable answer. Both are pure; the second is how the gate fails closed. Anything that is
not a well-formed answer is "no answer": the action is denied with the reason
``policy engine unavailable: ...``.

>>> d = parse_decision({"allow": True, "requireApproval": True, "violations": [],
...     "reasons": [{"msg": "risk 0.72 exceeds the approval threshold 0.60",
...                  "details": {"guardrail": "risk-threshold"}}],
...     "policyVersion": "3f2a"}, loaded_version="3f2a")
>>> d.outcome, d.condition_reason, d.policy_version
(<Outcome.APPROVAL_REQUIRED: 'approval-required'>, 'ApprovalRequired', '3f2a')
>>> d.message
'approval required: risk 0.72 exceeds the approval threshold 0.60'
>>> down = PolicyDecision.unavailable("connection refused", policy_version="3f2a")
>>> down.allow, down.engine_available, down.message
(False, False, 'denied: policy engine unavailable: connection refused')
>>> parse_decision({"allow": "yes"}, loaded_version=None).message
'denied: policy engine unavailable: malformed decision: allow is not a boolean'
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

UNAVAILABLE = "policy engine unavailable"


class Outcome(enum.StrEnum):
    """What the operator does next."""

    ALLOWED = "allowed"
    APPROVAL_REQUIRED = "approval-required"
    DENIED = "denied"


@dataclass(frozen=True)
class Finding:
    """One reason from a guardrail: a message for people, details for machines."""

    msg: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    @property
    def guardrail(self) -> str | None:
        """The guardrail that produced the finding (``details.guardrail``)."""
        name = self.details.get("guardrail")
        return name if isinstance(name, str) else None

    def to_json(self) -> dict[str, Any]:
        """The finding as the policies write it."""
        return {"msg": self.msg, "details": dict(self.details)}


@dataclass(frozen=True)
class PolicyDecision:
    """Whether an action may run, whether a human must approve it first, and why.

    ``reasons`` explains the decision (what denies it first, then what needs approval);
    ``violations`` is the part of it that denies. ``policy_version`` names the policies and
    data the decision was made under; ``engine_available`` is false when the gate failed
    closed because it had no usable answer.
    """

    allow: bool
    require_approval: bool
    reasons: tuple[Finding, ...]
    violations: tuple[Finding, ...]
    policy_version: str | None
    engine_available: bool = True

    @classmethod
    def unavailable(cls, cause: str, policy_version: str | None = None) -> PolicyDecision:
        """The fail-closed decision: deny, because there is no usable answer."""
        finding = Finding(f"{UNAVAILABLE}: {cause}", {"guardrail": "policy-engine"})
        return cls(
            allow=False,
            require_approval=False,
            reasons=(finding,),
            violations=(finding,),
            policy_version=policy_version,
            engine_available=False,
        )

    @property
    def outcome(self) -> Outcome:
        """Allowed, allowed once approved, or denied."""
        if not self.allow:
            return Outcome.DENIED
        return Outcome.APPROVAL_REQUIRED if self.require_approval else Outcome.ALLOWED

    @property
    def condition_reason(self) -> str:
        """A CamelCase reason for the status condition and the Event."""
        if not self.engine_available:
            return "PolicyEngineUnavailable"
        return {
            Outcome.ALLOWED: "PolicyAllowed",
            Outcome.APPROVAL_REQUIRED: "ApprovalRequired",
            Outcome.DENIED: "PolicyDenied",
        }[self.outcome]

    @property
    def message(self) -> str:
        """One line for the condition message and the Event: the outcome, then why."""
        why = "; ".join(f.msg for f in self.reasons)
        head = {
            Outcome.ALLOWED: "allowed",
            Outcome.APPROVAL_REQUIRED: "approval required",
            Outcome.DENIED: "denied",
        }[self.outcome]
        return f"{head}: {why}" if why else head

    def to_json(self) -> dict[str, Any]:
        """The decision as recorded in the Remediation status."""
        return {
            "allow": self.allow,
            "requireApproval": self.require_approval,
            "reasons": [f.to_json() for f in self.reasons],
            "violations": [f.to_json() for f in self.violations],
            "policyVersion": self.policy_version,
            "engineAvailable": self.engine_available,
        }


class MalformedDecision(ValueError):
    """OPA answered, but not with a decision document."""


def _findings(answer: Mapping[str, Any], key: str) -> tuple[Finding, ...]:
    items = answer.get(key)
    if not isinstance(items, list):
        raise MalformedDecision(f"{key} is not a list")
    found = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("msg"), str):
            raise MalformedDecision(f"{key} holds an entry without a msg: {item!r}")
        details = item.get("details", {})
        if not isinstance(details, Mapping):
            raise MalformedDecision(f"{key} holds an entry whose details are not an object")
        found.append(Finding(item["msg"], details))
    return tuple(found)


def _decision_from(answer: object, loaded_version: str | None) -> PolicyDecision:
    if not isinstance(answer, Mapping):
        raise MalformedDecision(f"expected an object, got {type(answer).__name__}")
    allow, approval = answer.get("allow"), answer.get("requireApproval")
    if not isinstance(allow, bool):
        raise MalformedDecision("allow is not a boolean")
    if not isinstance(approval, bool):
        raise MalformedDecision("requireApproval is not a boolean")
    reasons, violations = _findings(answer, "reasons"), _findings(answer, "violations")
    if allow and violations:
        raise MalformedDecision("allow is true but there are violations")
    if not allow and not violations:
        raise MalformedDecision("allow is false but no violation says why")
    version = answer.get("policyVersion")
    return PolicyDecision(
        allow=allow,
        require_approval=allow and approval,
        reasons=reasons,
        violations=violations,
        policy_version=version if isinstance(version, str) else loaded_version,
    )


def parse_decision(answer: object, loaded_version: str | None) -> PolicyDecision:
    """The decision in OPA's ``result`` for ``data.kubeheal.decision``; never raises.

    The version comes from the answer (the data OPA actually evaluated with) and falls back
    to ``loaded_version``, the one the gate loaded. A malformed answer is a denial.
    """
    try:
        return _decision_from(answer, loaded_version)
    except MalformedDecision as err:
        return PolicyDecision.unavailable(f"malformed decision: {err}", loaded_version)
