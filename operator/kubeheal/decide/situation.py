"""The facts a decision is made on: the target workload, its remediation history, the
incident and the runbook. Plain values, built by the controller from what it observed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Literal

from kubeheal.api.remediation import ManagedBy
from kubeheal.decide.actions import JsonValue


def rfc3339(moment: datetime) -> str:
    """An aware datetime as the RFC 3339 UTC text that Rego's time functions parse.

    >>> from datetime import timedelta, timezone
    >>> rfc3339(datetime(2026, 11, 28, 13, 0, tzinfo=timezone(timedelta(hours=1))))
    '2026-11-28T12:00:00Z'
    """
    if moment.tzinfo is None:
        raise ValueError(f"datetime {moment!r} has no time zone; policies need absolute times")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _optional_time(moment: datetime | None) -> str | None:
    return None if moment is None else rfc3339(moment)


@dataclass(frozen=True)
class Target:
    """The workload an action would touch, as observed now; ``managed_by`` is the GitOps
    object (Argo CD Application, Flux Kustomization or HelmRelease) that reconciles it."""

    namespace: str
    name: str
    replicas: int
    ready_replicas: int
    kind: str = "Deployment"
    labels: Mapping[str, str] = field(default_factory=dict)
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    last_rollout_at: datetime | None = None
    managed_by: ManagedBy | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))
        object.__setattr__(self, "namespace_labels", MappingProxyType(dict(self.namespace_labels)))

    def to_json(self) -> dict[str, JsonValue]:
        """The ``target`` part of the policy input."""
        return {
            "namespace": self.namespace,
            "name": self.name,
            "kind": self.kind,
            "replicas": self.replicas,
            "readyReplicas": self.ready_replicas,
            "labels": dict(self.labels),
            "namespaceLabels": dict(self.namespace_labels),
            "lastRolloutAt": _optional_time(self.last_rollout_at),
            "managedBy": self.managed_by.to_api() if self.managed_by is not None else None,
        }


@dataclass(frozen=True)
class RemediationHistory:
    """What kubeheal already did: to this target and in its namespace."""

    actions_last_hour: int = 0
    namespace_actions_last_hour: int = 0
    failed_last_day: int = 0
    last_action_at: datetime | None = None

    def to_json(self) -> dict[str, JsonValue]:
        """The ``history`` part of the policy input."""
        return {
            "actionsLastHour": self.actions_last_hour,
            "namespaceActionsLastHour": self.namespace_actions_last_hour,
            "failedLastDay": self.failed_last_day,
            "lastActionAt": _optional_time(self.last_action_at),
        }


@dataclass(frozen=True)
class Incident:
    """Why kubeheal wants to act: the anomalous signals (name -> calibrated score in [0, 1])
    and the probable cause."""

    signals: Mapping[str, float] = field(default_factory=dict)
    diagnosis: str | None = None
    started_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "signals", MappingProxyType(dict(self.signals)))

    def to_json(self) -> dict[str, JsonValue]:
        """The ``incident`` part of the policy input."""
        return {
            "signals": {name: score for name, score in self.signals.items()},
            "diagnosis": self.diagnosis,
            "startedAt": _optional_time(self.started_at),
        }


@dataclass(frozen=True)
class RunbookRef:
    """The runbook that proposes the action: its mode and its own approval setting
    (as in ``Runbook.spec.approval``: ``never``, ``always`` or ``riskAbove``)."""

    name: str
    mode: Literal["enforce", "dry-run"] = "enforce"
    approval_mode: Literal["never", "always", "riskAbove"] = "never"
    approval_risk_threshold: float | None = None

    def to_json(self) -> dict[str, JsonValue]:
        """The ``runbook`` part of the policy input."""
        approval: dict[str, JsonValue] = {"mode": self.approval_mode}
        if self.approval_risk_threshold is not None:
            approval["riskThreshold"] = self.approval_risk_threshold
        return {"name": self.name, "mode": self.mode, "approval": approval}
