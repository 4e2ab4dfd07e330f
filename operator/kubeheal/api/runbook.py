"""The ``Runbook`` resource: what to watch, how to detect, what to do, within which bounds.

A team declares one Runbook per kind of trouble it knows how to fix. The operator evaluates it
every ``intervalSeconds`` over the Deployments its selector picks in its namespace.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from kubeheal.api.base import (
    NAME_PATTERN,
    ApiModel,
    Condition,
    LabelSelector,
    ObjectMeta,
    ObjectReference,
    WorkloadKind,
    cel_rules,
)
from kubeheal.api.outcomes import OutcomeStatistics
from kubeheal.api.quantity import QUANTITY_PATTERN, QuantityError, parse_quantity


class BadDirection(enum.StrEnum):
    """Which way a signal goes when things are bad."""

    UP = "up"
    DOWN = "down"
    BOTH = "both"


class SignalRole(enum.StrEnum):
    """What a signal measures; diagnosis reads roles, not names."""

    LATENCY = "latency"
    ERRORS = "errors"
    LOAD = "load"
    MEMORY = "memory"
    RESTARTS = "restarts"
    SATURATION = "saturation"
    OTHER = "other"


class Cause(enum.StrEnum):
    """Probable causes that diagnosis tells apart."""

    CHANGE = "change"
    RESOURCE_EXHAUSTION = "resource-exhaustion"
    SATURATION = "saturation"
    UNKNOWN = "unknown"


class ActionKind(enum.StrEnum):
    RESTART = "restart"
    SCALE = "scale"
    ROLLBACK = "rollback"
    RESIZE = "resize"


class Signal(ApiModel):
    """A PromQL query whose series, one per workload, are scored for anomalies."""

    name: str = Field(
        description="Name of the signal, unique in the runbook (an RFC 1123 label).",
        pattern=NAME_PATTERN,
        max_length=63,
    )
    query: str = Field(
        description=(
            "PromQL instant query returning one series per workload, grouped with "
            "`by (namespace, <workloadLabel>)`, e.g. `sum by (namespace, deployment) "
            "(rate(http_requests_total[1m]))`; series of other namespaces are ignored."
        ),
        min_length=1,
        max_length=4096,
    )
    workload_label: str = Field(
        default="deployment",
        description="The series label whose value is the Deployment's name.",
        min_length=1,
        max_length=128,
    )
    role: SignalRole = Field(
        default=SignalRole.OTHER, description="What the signal measures; diagnosis uses it."
    )
    bad_direction: BadDirection = Field(
        default=BadDirection.UP,
        description="Which direction of change is bad: up, down or both.",
    )
    threshold: float | None = Field(
        default=None,
        description=(
            "Optional static threshold: a value past it (in the bad direction) is anomalous "
            "whatever the model says, and verification requires the signal back within it."
        ),
    )
    min_relative_deviation: float = Field(
        default=0.0,
        ge=0.0,
        le=100.0,
        description=(
            "Deviations from the expected value smaller than this share of it are never "
            "anomalous, however unusual for the model: 0.2 ignores changes under 20% (useful "
            "for flat signals such as memory, whose tiny noise makes any change look rare)."
        ),
    )


DEFAULT_RARITY_DECADES = 4.0
"""The default sensitivity (0.5) alarms on points rarer than about 1 in 10^this (the detector's
probability is calibrated: ``1 - p`` is how rare the point is). Chosen with the debounce and
the alarm's hysteresis by leave-one-category-out cross-validation of the operator's alarms on
real metrics (``bench/tune_alarms.py``)."""


class DetectionSettings(ApiModel):
    """How the online models score the signals."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            ("self.debounceK <= self.debounceN", "debounceK must not exceed debounceN")
        )
    )

    detector: Literal["novelty", "hst", "robust", "seasonal", "hst_window"] = Field(
        default="novelty",
        description=(
            "Online model per stream: novelty (nearest-neighbour novelty of short windows under "
            "a likelihood layer, the default) or hst (river's HalfSpaceTrees as is, the "
            "reference). robust, seasonal and hst_window are retired names, still accepted for "
            "stored Runbooks: they run the default."
        ),
    )
    sensitivity: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description=(
            "How readily a deviation counts as anomalous, from 0 (only extreme deviations) to 1 "
            "(small ones). The anomaly-probability threshold is 1 - 0.1^(1 + "
            f"{2.0 * (DEFAULT_RARITY_DECADES - 1.0):g}*(1 - sensitivity)): a point alarms when it "
            f"is rarer than about 1 in 10^{DEFAULT_RARITY_DECADES:g} at 0.5, 1 in 10 at 1."
        ),
    )
    warmup_points: int = Field(
        default=30,
        ge=1,
        le=100_000,
        description=(
            "Points a stream must see before it is scored; until then it is not ready. The "
            "default detector needs at least 30, whatever this says: it learns the stream's "
            "usual step from them, and a fault among them would pass for usual."
        ),
    )
    history_seconds: int = Field(
        default=3600,
        ge=0,
        le=30 * 86400,
        description="Prometheus history (query_range) used to warm the models at start.",
    )
    debounce_k: int = Field(
        default=2, ge=1, le=100, description="Anomalous ticks needed among the last debounceN."
    )
    debounce_n: int = Field(
        default=5, ge=1, le=100, description="Length of the debounce window, in ticks."
    )

    @model_validator(mode="after")
    def _k_of_n(self) -> DetectionSettings:
        if self.debounce_k > self.debounce_n:
            raise ValueError("debounceK must not exceed debounceN")
        return self

    @property
    def probability_threshold(self) -> float:
        """The anomaly probability above which a tick counts as anomalous: from 1 decade of
        rarity at sensitivity 1 to :data:`DEFAULT_RARITY_DECADES` at 0.5, and on linearly.

        >>> round(DetectionSettings(sensitivity=0.5).probability_threshold, 6)
        0.9999
        >>> round(DetectionSettings(sensitivity=1.0).probability_threshold, 6)
        0.9
        """
        decades = 1.0 + 2.0 * (DEFAULT_RARITY_DECADES - 1.0) * (1.0 - self.sensitivity)
        return float(1.0 - 0.1**decades)


class ActionConditions(ApiModel):
    """When an action applies; an empty list matches anything."""

    causes: list[Cause] = Field(
        default_factory=list,
        max_length=4,
        description="Diagnosed causes the action fits; empty means any cause.",
    )
    signals: list[str] = Field(
        default_factory=list,
        max_length=16,
        description="Signals of which at least one must be anomalous; empty means any.",
    )


class RestartBounds(ApiModel):
    """How a restart is done."""

    strategy: Literal["rollout", "delete-pod"] = Field(
        default="rollout",
        description=(
            "rollout: a rolling restart through the pod template annotation, only while the "
            "Deployment's own strategy keeps the availability floor; delete-pod: evict the "
            "single worst pod through the Eviction API (PodDisruptionBudgets hold)."
        ),
    )
    max_unavailable_share: float = Field(
        default=0.25,
        gt=0.0,
        le=1.0,
        description=(
            "Largest share of the workload's ready pods taken down at once; a Deployment "
            "whose own rolling-update strategy would take more is not restarted."
        ),
    )


class ScaleBack(ApiModel):
    """A scale-out that is temporary: once the load is back to its level before the incident
    for ``holdSeconds``, the replicas (or the HPA's minReplicas) return to where they were."""

    hold_seconds: int = Field(
        default=600, ge=10, le=21600,
        description="How long the load signal (role load) must stay back at its level before "
                    "the incident before the scale-out is undone.")
    tolerance: float = Field(
        default=0.1, ge=0.0, le=1.0,
        description="Share above the level before the incident that still counts as back "
                    "(0.1: within 10% of it), so that noise does not hold the scale-back off.")
    baseline_seconds: int = Field(
        default=600, ge=60, le=86400,
        description="The level before the incident is the median of the load signal over "
                    "this many seconds before the onset.")


class ScaleBounds(ApiModel):
    """Bounds of a scale action."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            ("self.minReplicas <= self.maxReplicas", "minReplicas must not exceed maxReplicas")
        )
    )

    min_replicas: int = Field(default=1, ge=0, le=10_000, description="Never scale below this.")
    max_replicas: int = Field(ge=1, le=10_000, description="Never scale above this.")
    step: int = Field(default=1, ge=1, le=1000, description="Replicas added per action.")
    scale_back: ScaleBack | None = Field(
        default=None,
        description="Make the scale-out temporary: scale back once the load is back to its "
                    "level before the incident (needs a signal with role load).")

    @model_validator(mode="after")
    def _min_le_max(self) -> ScaleBounds:
        if self.min_replicas > self.max_replicas:
            raise ValueError("minReplicas must not exceed maxReplicas")
        return self


class ResizeBounds(ApiModel):
    """How a resize raises a container's memory: by a factor, never above a maximum."""

    container: str | None = Field(
        default=None, pattern=NAME_PATTERN, max_length=63,
        description="The container to resize; by default the one being OOM-killed (or the "
        "only container of the pod template).")
    factor: float = Field(
        default=1.5, gt=1.0, le=4.0,
        description="The memory limit (and request, keeping their ratio) is multiplied by "
        "this, rounded up to a whole MiB.")
    max_memory: str = Field(
        pattern=QUANTITY_PATTERN, max_length=32,
        description="The memory limit is never raised above this (a Kubernetes quantity, "
        "such as 2Gi); a limit already there is not resized: nothing is left to raise.")

    @model_validator(mode="after")
    def _positive_maximum(self) -> ResizeBounds:
        try:
            positive = parse_quantity(self.max_memory) > 0
        except QuantityError as e:
            raise ValueError(f"maxMemory: {e}") from e
        if not positive:
            raise ValueError("maxMemory must be positive")
        return self


class Action(ApiModel):
    """One remediation step; actions are tried in order."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            ("self.kind != 'scale' || has(self.scale)", "a scale action needs scale bounds"),
            ("self.kind == 'scale' || !has(self.scale)", "scale bounds only fit a scale action"),
            (
                "self.kind == 'restart' || !has(self.restart)",
                "restart settings only fit a restart action",
            ),
            ("self.kind != 'resize' || has(self.resize)", "a resize action needs resize bounds"),
            ("self.kind == 'resize' || !has(self.resize)",
             "resize bounds only fit a resize action"),
        )
    )

    name: str = Field(
        description="Name of the action, unique in the runbook.", pattern=NAME_PATTERN,
        max_length=63,
    )
    kind: ActionKind = Field(description="restart, scale, rollback or resize.")
    when: ActionConditions = Field(
        default_factory=ActionConditions, description="When the action applies."
    )
    restart: RestartBounds | None = Field(default=None, description="Settings of a restart.")
    scale: ScaleBounds | None = Field(default=None, description="Bounds of a scale action.")
    resize: ResizeBounds | None = Field(
        default=None, description="Bounds of a resize action (memory limit).")

    @model_validator(mode="after")
    def _settings_fit_kind(self) -> Action:
        for kind, bounds in ((ActionKind.SCALE, self.scale), (ActionKind.RESIZE, self.resize)):
            if self.kind is kind and bounds is None:
                raise ValueError(f"a {kind} action needs {kind} bounds")
            if self.kind is not kind and bounds is not None:
                raise ValueError(f"{kind} bounds only fit a {kind} action")
        if self.kind is not ActionKind.RESTART and self.restart is not None:
            raise ValueError("restart settings only fit a restart action")
        return self


class Guardrails(ApiModel):
    """Limits the operator enforces itself, before asking the policy engine."""

    cooldown_seconds: int = Field(
        default=300, ge=0, le=86400, description="Quiet time after an action on the same target."
    )
    max_actions_per_hour: int = Field(
        default=3, ge=1, le=1000, description="Actions per target in any hour, at most."
    )
    max_concurrent_remediations: int = Field(
        default=1, ge=1, le=1000, description="Open remediations of this runbook at once, at most."
    )


class Approval(ApiModel):
    """When a human must approve an action."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            (
                "self.mode != 'riskAbove' || has(self.riskThreshold)",
                "approval mode riskAbove needs riskThreshold",
            )
        )
    )

    mode: Literal["never", "always", "riskAbove"] = Field(
        default="never",
        description="never, always, or riskAbove (when the action's risk exceeds riskThreshold).",
    )
    risk_threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Risk in [0, 1] above which approval is needed."
    )
    timeout_seconds: int = Field(
        default=900,
        ge=10,
        le=7 * 86400,
        description="A pending approval older than this is rejected and the incident escalated.",
    )
    expiry_seconds: int = Field(
        default=3600,
        ge=10,
        le=7 * 86400,
        description="An approval is valid this long: an approved action not run by then is "
        "not run, and the incident is escalated.",
    )

    @model_validator(mode="after")
    def _threshold_for_risk_above(self) -> Approval:
        if self.mode == "riskAbove" and self.risk_threshold is None:
            raise ValueError("approval mode riskAbove needs riskThreshold")
        return self


class Verification(ApiModel):
    """How recovery is proven after an action."""

    window_seconds: int = Field(
        default=60,
        ge=0,
        le=86400,
        description="The SLO and signal thresholds must hold this long after the rollout.",
    )
    rollout_timeout_seconds: int = Field(
        default=300, ge=10, le=86400, description="Deadline for the rollout to complete."
    )


ALERT_STALE_SECONDS = 5 * 3600
"""How long a firing alert counts without being heard of again, by default: above
Alertmanager's default ``repeat_interval`` (4h), after which it sends a firing alert again."""


class AlertMatch(ApiModel):
    """Alertmanager alerts that open incidents for the Deployments their labels name."""

    match_labels: dict[str, str] = Field(
        min_length=1,
        max_length=16,
        description="Labels the alert must carry, all of them, e.g. {alertname: HighErrorRate}.",
    )
    workload_label: str = Field(
        default="deployment",
        min_length=1,
        max_length=63,
        description="The alert's label that names the Deployment; its `namespace` label must "
        "be the runbook's namespace, and the Deployment one the selector picks.",
    )
    stale_after_seconds: int = Field(
        default=ALERT_STALE_SECONDS,
        ge=60,
        le=7 * 86400,
        description="A firing alert that Alertmanager has not sent again for this long is no "
        "longer taken as firing; keep it above the route's repeat_interval.",
    )


class Learning(ApiModel):
    """Whether the order of the actions comes from their verified outcomes."""

    mode: Literal["off", "suggest", "reorder"] = Field(
        default="off",
        description=(
            "off: actions are tried in the runbook's order. suggest: they still are, and each "
            "decision records the order that verified outcomes suggest, with why. reorder: "
            "the fitting actions are tried in the learned order (Thompson sampling over the "
            "verified and failed runs per cause and action in status.outcomes, the runbook's "
            "order as the prior). Learning never adds an action, and the policy engine, "
            "approvals and guardrails judge the chosen one as any other."
        ),
    )


class RunbookSpec(ApiModel):
    """What to watch, how to detect, what to do and within which bounds."""

    selector: LabelSelector = Field(
        description="Workloads (of targetKind) in the runbook's namespace that the runbook "
        "watches."
    )
    target_kind: WorkloadKind = Field(
        default="Deployment",
        description="Kind of the workloads the selector picks: Deployment or StatefulSet "
        "(one kind per runbook).",
    )
    signals: list[Signal] = Field(
        min_length=1,
        max_length=16,
        description="Signals scored for anomalies, one series per workload each.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    detection: DetectionSettings = Field(
        default_factory=DetectionSettings, description="How the online models score the signals."
    )
    slo_ref: ObjectReference | None = Field(
        default=None, description="ServiceLevelObjective that verification holds."
    )
    actions: list[Action] = Field(
        min_length=1,
        max_length=10,
        description="Remediation steps, tried in order while they fit the diagnosis.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    guardrails: Guardrails = Field(
        default_factory=Guardrails, description="Limits the operator enforces itself."
    )
    approval: Approval = Field(default_factory=Approval, description="When a human must approve.")
    verification: Verification = Field(
        default_factory=Verification, description="How recovery is proven."
    )
    mode: Literal["enforce", "dry-run"] = Field(
        default="enforce",
        description="enforce acts; dry-run decides and records, and never acts.",
    )
    interval_seconds: int = Field(
        default=30, ge=1, le=3600, description="Seconds between two evaluations."
    )
    alerts: list[AlertMatch] = Field(
        default_factory=list,
        max_length=16,
        description="Alertmanager alerts that open incidents for the workloads they name, as "
        "the detectors do (same diagnosis, decision, guardrails and verification).",
    )
    learning: Learning = Field(
        default_factory=Learning,
        description="Whether the order of the actions is learned from verified outcomes.",
    )

    @model_validator(mode="after")
    def _unique_names(self) -> RunbookSpec:
        for what, names in (
            ("signal", [s.name for s in self.signals]),
            ("action", [a.name for a in self.actions]),
        ):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"duplicate {what} names: {', '.join(dupes)}")
        known = {s.name for s in self.signals}
        for a in self.actions:
            unknown = [s for s in a.when.signals if s not in known]
            if unknown:
                raise ValueError(f"action {a.name} names unknown signals: {', '.join(unknown)}")
            if a.scale is not None and a.scale.scale_back is not None \
                    and not any(s.role is SignalRole.LOAD for s in self.signals):
                raise ValueError(f"action {a.name}: scale.scaleBack needs a signal with role "
                                 "load, to tell when the load is back")
            if a.kind is ActionKind.RESIZE and self.target_kind != "Deployment":
                raise ValueError(f"action {a.name}: resize is for Deployments only, not "
                                 f"targetKind {self.target_kind}")
            if a.scale is not None and a.scale.scale_back is not None \
                    and self.target_kind != "Deployment":
                raise ValueError(f"action {a.name}: scale.scaleBack is for Deployments only, "
                                 f"not targetKind {self.target_kind}")
        return self

    def load_signal(self) -> Signal | None:
        """The signal that measures load (role load), the first if several do."""
        return next((s for s in self.signals if s.role is SignalRole.LOAD), None)


class WarmupState(ApiModel):
    """How many streams have enough history to be scored."""

    ready_streams: int = Field(default=0, ge=0, description="Streams ready to be scored.")
    total_streams: int = Field(default=0, ge=0, description="Streams the runbook has.")


WORKLOAD_SAMPLE_SIZE = 50
"""Workloads a Runbook's status names at most: those in alarm or with an open incident
first. The counts cover every workload; the status stays small whatever the selector picks."""

STATUS_HEARTBEAT_SECONDS = 120.0
"""How old a runbook's written status (its ``lastEvaluationTime``) may grow while nothing a
reader needs changes: a status unchanged for longer is written again all the same."""


class WorkloadSummary(ApiModel):
    """One workload of the sample in a Runbook's status."""

    name: str = Field(description="The Deployment's name.", max_length=253)
    in_alarm: bool = Field(default=False, description="Its signals are in alarm now.")
    score: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Its fused anomaly probability at the last evaluation (none: not scored).")
    remediation: str | None = Field(
        default=None, max_length=253,
        description="The open Remediation of this runbook for the workload, if any.")


class WorkloadsState(ApiModel):
    """How many workloads the runbook watches and which are in trouble: counts of all of
    them, and a bounded sample by name."""

    watched: int = Field(default=0, ge=0, description="Deployments the selector picks.")
    in_alarm: int = Field(default=0, ge=0, description="Of those, workloads in alarm now.")
    sample: list[WorkloadSummary] = Field(
        default_factory=list,
        max_length=WORKLOAD_SAMPLE_SIZE,
        description=(
            f"At most {WORKLOAD_SAMPLE_SIZE} of the watched workloads: those with an open "
            "remediation first, then those in alarm, then the highest scores, then by name."),
    )


ALERTS_KEPT = 50
"""Firing alerts a Runbook's status holds at most (the most recent)."""


class ReceivedAlert(ApiModel):
    """A firing Alertmanager alert that matched the runbook, as the receiver recorded it."""

    name: str = Field(description="The alert's alertname label.", max_length=253)
    workload: str = Field(description="The Deployment its labels name.", max_length=253)
    starts_at: dt.datetime = Field(description="When the alert started firing (startsAt).")
    received_at: dt.datetime = Field(description="When Alertmanager last sent it firing.")
    stale_after_seconds: int = Field(
        default=ALERT_STALE_SECONDS, ge=0,
        description="Not taken as firing once this long has passed since receivedAt.")
    labels: dict[str, str] = Field(default_factory=dict, max_length=32,
                                   description="The alert's labels.")
    summary: str = Field(default="", max_length=1024,
                         description="Its summary or description annotation.")
    generator_url: str = Field(default="", max_length=2048,
                               description="Where the alert came from (generatorURL).")


class RunbookStatus(ApiModel):
    """What the operator last saw and did for the runbook."""

    observed_generation: int | None = Field(default=None, description="Last generation seen.")
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        description="Ready, Degraded (a query failed), Warm.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    last_evaluation_time: dt.datetime | None = Field(
        default=None, description=(
            "The evaluation this status is from. The status is written when what it says "
            f"changes, else every {STATUS_HEARTBEAT_SECONDS:.0f} s at least: a time older "
            "than that says the runbook is not being evaluated.")
    )
    workloads: WorkloadsState = Field(
        default_factory=WorkloadsState,
        description="Counts of the watched workloads and a bounded sample of them.")
    warmup: WarmupState = Field(default_factory=WarmupState, description="Warm-up of streams.")
    open_remediations: int = Field(default=0, ge=0, description="Remediations still open.")
    outcomes: OutcomeStatistics | None = Field(
        default=None, description="What became of the runbook's closed incidents, counted "
        "once each (kubeheal report reads them).")
    alerts: dict[str, ReceivedAlert] = Field(
        default_factory=dict, max_length=ALERTS_KEPT,
        description="Firing Alertmanager alerts that match spec.alerts, by fingerprint, as "
        "received by any replica; a resolved alert is removed.")


class Runbook(ApiModel):
    """A runbook: how kubeheal watches and heals a set of Deployments."""

    api_version: Literal["kubeheal.io/v1alpha1"] = "kubeheal.io/v1alpha1"
    kind: Literal["Runbook"] = "Runbook"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: RunbookSpec
    status: RunbookStatus | None = None
