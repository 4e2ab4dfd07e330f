"""An explainable risk score in [0, 1] for one candidate action.

The score is a weighted mean of six factors, each a value in [0, 1] with a sentence that
says where it comes from (a GitOps-managed target adds a seventh that moves the score a share
of the way to 1). Every factor comes back with its contribution (its normalised
weight times its value), and the contributions add up to the score, so a user reading
``kubectl describe remediation`` sees *why* an action counts as risky, not just a number.
The factors also go into the policy input, so that policies can reason about them.

=================  ====================================================================
factor             value
=================  ====================================================================
action_kind        how disruptive the kind is: restart < scale = resize < rollback
pods_touched       share of the workload's pods the action replaces, adds or removes
namespace_tier     how much the namespace matters (production > staging > development)
recent_failures    failed remediations on this target in the last day, saturating
rollout_recency    for restart/scale: a rollout just happened, the workload is settling;
                   for rollback: the last rollout is old, so the previous revision is stale
ready_left         share of replicas *not* ready: acting on a thin workload is riskier
gitops_managed     only for a target that Argo CD or Flux reconciles: the action also
                   suspends that reconciliation until a human restores it, and the live
                   state departs from Git; it moves the score a share of the way to 1
=================  ====================================================================

Example: deleting one ready pod of a healthy four-pod staging workload is a small risk;
rolling back a production workload whose rollout is a week old, with half of its pods
down and two failed remediations today, is a large one.

>>> from datetime import datetime, timedelta, timezone
>>> from kubeheal.decide.actions import Action
>>> from kubeheal.decide.situation import RemediationHistory, Target
>>> now = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
>>> staging = {"kubeheal.io/tier": "staging"}
>>> calm = Target("shop", "checkout", replicas=4, ready_replicas=4, namespace_labels=staging,
...               last_rollout_at=now - timedelta(days=2))
>>> low = score_risk(Action.restart(strategy="delete-pod"), calm, RemediationHistory(), now)
>>> round(low.score, 3)
0.21
>>> for f in low.factors:
...     print(f"{f.name:16} {f.contribution:.3f}  {f.explanation}")
action_kind      0.060  restart: the least disruptive kind
pods_touched     0.050  touches 1 of 4 pods
namespace_tier   0.100  namespace tier 'staging'
recent_failures  0.000  no failed remediations on the target in the last day
rollout_recency  0.000  last rollout 48h ago: the workload has settled
ready_left       0.000  4 of 4 replicas ready
>>> production = {"kubeheal.io/tier": "production"}
>>> thin = Target("shop", "checkout", replicas=4, ready_replicas=2,
...               namespace_labels=production, last_rollout_at=now - timedelta(days=7))
>>> high = score_risk(Action.rollback(), thin, RemediationHistory(failed_last_day=2), now)
>>> round(high.score, 3)
0.857
>>> print(high.explain(2))
risk 0.86: rollback: replaces the running revision (+0.24), rollback replaces all 4 pods (+0.20)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from types import MappingProxyType

from kubeheal.decide.actions import Action, ActionKind, JsonValue
from kubeheal.decide.situation import RemediationHistory, Target


@dataclass(frozen=True)
class RiskWeights:
    """How much each factor counts. Weights are relative: they are normalised to sum to 1.

    Why these defaults:

    - ``action_kind`` 0.30: what the action does bounds what it can break; a rollback
      changes code and configuration, a restart only processes. It is the largest share.
    - ``pods_touched`` 0.20 and ``namespace_tier`` 0.20: the blast radius, inside the
      workload (how many pods change) and outside it (who depends on the namespace).
    - ``recent_failures``, ``rollout_recency``, ``ready_left`` 0.10 each: the workload's
      state. They modulate the risk but should not, alone, push a safe restart of a
      development pod over an approval threshold of 0.6.
    """

    action_kind: float = 0.30
    pods_touched: float = 0.20
    namespace_tier: float = 0.20
    recent_failures: float = 0.10
    rollout_recency: float = 0.10
    ready_left: float = 0.10

    def __post_init__(self) -> None:
        values = [getattr(self, f.name) for f in fields(self)]
        if any(not math.isfinite(v) or v < 0 for v in values):
            raise ValueError(f"risk weights must be finite and non-negative: {self}")
        if sum(values) <= 0:
            raise ValueError("at least one risk weight must be positive")

    def normalised(self) -> dict[str, float]:
        """Each factor's weight over the sum of weights.

        >>> RiskWeights(1, 1, 0, 0, 0, 0).normalised()["action_kind"]
        0.5
        """
        total = sum(getattr(self, f.name) for f in fields(self))
        return {f.name: getattr(self, f.name) / total for f in fields(self)}


def _default_tiers() -> Mapping[str, float]:
    return MappingProxyType(
        {"production": 1.0, "staging": 0.5, "development": 0.1, "dev": 0.1, "test": 0.1}
    )


@dataclass(frozen=True)
class RiskCalibration:
    """How raw facts become factor values in [0, 1].

    - ``*_severity``: restart 0.2 (processes restart, state and code unchanged), scale 0.4
      (capacity and cost change, pods added or removed), resize 0.4 (a container's memory,
      and its cost and scheduling, change; code does not), rollback 0.8 (code and config
      change to an older revision, possibly incompatible with newer data).
    - ``tier_label`` and ``tiers``: the namespace label that names its tier (the same label
      the policies read, ``tierLabel`` in ``policies/kubeheal/config/data.json``) and each
      tier's value; a namespace without a known tier counts as ``unknown_tier`` 0.7 — close
      to production, because an unlabelled namespace is not known to be unimportant.
    - ``failures_saturation`` 3: three failed remediations in a day already mean the
      automation does not understand this workload; more adds nothing.
    - ``settle_seconds`` 1800: after a rollout, half an hour for a workload to settle; a
      restart or scale sooner compounds two changes.
    - ``stale_rollback_seconds`` one week: rolling back a rollout that ran for a week
      returns to a revision that has not seen a week of data and config changes.
    - ``unknown_rollout`` 0.5: when no rollout time is known, neither safe nor unsafe.
    - ``gitops_share`` 0.3: a GitOps-managed target moves the score 30% of the way to 1
      (a restart of a calm staging workload, 0.21, becomes 0.45; a rollback at 0.54 becomes
      0.68): it adds to the six factors instead of diluting them, so that the scores of
      other targets do not change.
    """

    restart_severity: float = 0.2
    scale_severity: float = 0.4
    rollback_severity: float = 0.8
    resize_severity: float = 0.4
    tier_label: str = "kubeheal.io/tier"
    tiers: Mapping[str, float] = field(default_factory=_default_tiers)
    unknown_tier: float = 0.7
    failures_saturation: int = 3
    settle_seconds: float = 1800.0
    stale_rollback_seconds: float = 7 * 86400.0
    unknown_rollout: float = 0.5
    gitops_share: float = 0.3

    def severity(self, kind: ActionKind) -> float:
        """The ``action_kind`` value of ``kind``."""
        return {
            ActionKind.RESTART: self.restart_severity,
            ActionKind.SCALE: self.scale_severity,
            ActionKind.ROLLBACK: self.rollback_severity,
            ActionKind.RESIZE: self.resize_severity,
        }[kind]


@dataclass(frozen=True)
class RiskFactor:
    """One factor of a risk score: its value in [0, 1], its normalised weight, their
    product (the contribution to the score) and a sentence saying why."""

    name: str
    value: float
    weight: float
    contribution: float
    explanation: str

    def to_json(self) -> dict[str, JsonValue]:
        """The factor as it goes into the policy input."""
        return {
            "name": self.name,
            "value": self.value,
            "weight": self.weight,
            "contribution": self.contribution,
            "explanation": self.explanation,
        }


@dataclass(frozen=True)
class RiskScore:
    """A risk score in [0, 1] and the factors that add up to it."""

    score: float
    factors: tuple[RiskFactor, ...]

    def top(self, n: int = 3) -> tuple[RiskFactor, ...]:
        """The ``n`` factors that contribute most, largest first."""
        return tuple(sorted(self.factors, key=lambda f: f.contribution, reverse=True)[:n])

    def explain(self, n: int = 3) -> str:
        """A one-line explanation for a status condition or an Event.

        >>> RiskScore(0.3, (RiskFactor("action_kind", 1.0, 0.3, 0.3, "rollback"),)).explain()
        'risk 0.30: rollback (+0.30)'
        """
        parts = ", ".join(f"{f.explanation} (+{f.contribution:.2f})" for f in self.top(n))
        return f"risk {self.score:.2f}: {parts}"

    def to_json(self) -> dict[str, JsonValue]:
        """The ``risk`` part of the policy input."""
        return {"score": self.score, "factors": [f.to_json() for f in self.factors]}


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def _action_kind(action: Action, cal: RiskCalibration) -> tuple[float, str]:
    why = {
        ActionKind.RESTART: "restart: the least disruptive kind",
        ActionKind.SCALE: "scale: changes capacity, adds or removes pods",
        ActionKind.ROLLBACK: "rollback: replaces the running revision",
        ActionKind.RESIZE: "resize: raises a container's memory, a rolling update",
    }[action.kind]
    return cal.severity(action.kind), why


def _int_param(action: Action, key: str, default: int) -> int:
    value = action.params.get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _pods_touched(action: Action, target: Target) -> tuple[float, str]:
    replicas = target.replicas
    if action.kind in (ActionKind.ROLLBACK, ActionKind.RESIZE):
        return 1.0, f"{action.kind} replaces all {replicas} pods"
    if action.kind is ActionKind.SCALE:
        wanted = _int_param(action, "replicas", replicas)
        changed = abs(wanted - replicas)
        share = changed / max(replicas, wanted, 1)
        return _clamp(share), f"scale {replicas} -> {wanted} changes {changed} pods"
    if action.params.get("strategy", "rollout") == "delete-pod":
        return _clamp(1 / max(replicas, 1)), f"touches 1 of {replicas} pods"
    return 1.0, f"rollout restart replaces all {replicas} pods"


def _namespace_tier(target: Target, cal: RiskCalibration) -> tuple[float, str]:
    tier = target.namespace_labels.get(cal.tier_label)
    if tier is None:
        return cal.unknown_tier, f"namespace has no {cal.tier_label} label: tier unknown"
    if tier not in cal.tiers:
        return cal.unknown_tier, f"namespace tier {tier!r} is not a known tier"
    return cal.tiers[tier], f"namespace tier {tier!r}"


def _recent_failures(history: RemediationHistory, cal: RiskCalibration) -> tuple[float, str]:
    failed = history.failed_last_day
    if failed <= 0:
        return 0.0, "no failed remediations on the target in the last day"
    value = _clamp(failed / max(cal.failures_saturation, 1))
    return value, f"{failed} failed remediations on the target in the last day"


def _rollout_recency(
    action: Action, target: Target, now: datetime, cal: RiskCalibration
) -> tuple[float, str]:
    if target.last_rollout_at is None:
        return cal.unknown_rollout, "time of the last rollout unknown"
    age = max(0.0, (now - target.last_rollout_at).total_seconds())
    hours = f"{age / 3600:.0f}h" if age >= 3600 else f"{age / 60:.0f}min"
    if action.kind is ActionKind.ROLLBACK:
        value = _clamp(age / cal.stale_rollback_seconds)
        return value, f"last rollout {hours} ago: the previous revision is that old"
    value = 1.0 - _clamp(age / cal.settle_seconds)
    if value == 0.0:
        return value, f"last rollout {hours} ago: the workload has settled"
    return value, f"last rollout {hours} ago: the workload is still settling"


def _ready_left(target: Target) -> tuple[float, str]:
    if target.replicas <= 0:
        return 1.0, "no replicas: nothing left to serve"
    ready = min(max(target.ready_replicas, 0), target.replicas)
    return 1.0 - ready / target.replicas, f"{ready} of {target.replicas} replicas ready"


def score_risk(
    action: Action,
    target: Target,
    history: RemediationHistory,
    now: datetime,
    weights: RiskWeights | None = None,
    calibration: RiskCalibration | None = None,
) -> RiskScore:
    """The risk of ``action`` on ``target`` at ``now``, factor by factor.

    Pure and deterministic; ``now`` is a parameter so that the same facts always give the
    same score.
    """
    weights = weights or RiskWeights()
    cal = calibration or RiskCalibration()
    raw = {
        "action_kind": _action_kind(action, cal),
        "pods_touched": _pods_touched(action, target),
        "namespace_tier": _namespace_tier(target, cal),
        "recent_failures": _recent_failures(history, cal),
        "rollout_recency": _rollout_recency(action, target, now, cal),
        "ready_left": _ready_left(target),
    }
    norm = weights.normalised()
    factors = tuple(
        RiskFactor(
            name=name,
            value=round(_clamp(value), 6),
            weight=round(norm[name], 6),
            contribution=round(norm[name] * _clamp(value), 6),
            explanation=why,
        )
        for name, (value, why) in raw.items()
    )
    base = sum(f.contribution for f in factors)
    if target.managed_by is not None:
        share = _clamp(cal.gitops_share)
        factors = (*factors, RiskFactor(
            name="gitops_managed", value=1.0, weight=round(share, 6),
            contribution=round(share * (1.0 - _clamp(base)), 6),
            explanation=f"managed by {target.managed_by.describe()}: its reconciliation is "
                        "suspended until a human restores it"))
    return RiskScore(_clamp(sum(f.contribution for f in factors)), factors)
