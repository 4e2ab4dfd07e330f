"""The ``Remediation`` resource: one incident, from the evidence to the verified outcome.

The operator creates one per incident (one open per workload and runbook). Its spec holds the
facts known at creation (what triggered it, the diagnosis) and the human decisions, an
append-only list that only holders of the ``approve`` verb may extend, each naming the digest
of the one action it decides; its status tells the rest of the story: the chosen action and the
target identity it was decided for, its risk, the policy decision, the execution record and
the verification.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Literal

from pydantic import ConfigDict, Field

from kubeheal.api.base import (
    ApiModel,
    Condition,
    ObjectMeta,
    ObjectReference,
    WorkloadReference,
    cel_rules,
)
from kubeheal.api.runbook import ActionKind, Cause

_IMMUTABLE = cel_rules(("self == oldSelf", "is immutable"))


class Phase(enum.StrEnum):
    """Where an incident stands. Terminal phases: Succeeded, Escalated, Blocked, DryRun."""

    DETECTED = "Detected"
    AWAITING_APPROVAL = "AwaitingApproval"
    EXECUTING = "Executing"
    VERIFYING = "Verifying"
    SUCCEEDED = "Succeeded"
    ESCALATED = "Escalated"
    BLOCKED = "Blocked"
    DRY_RUN = "DryRun"

    @property
    def terminal(self) -> bool:
        return self in {Phase.SUCCEEDED, Phase.ESCALATED, Phase.BLOCKED, Phase.DRY_RUN}


class DetectorRecord(ApiModel):
    """The model that scored a signal, so that an alarm can be traced to it after the
    detectors or their parameters change."""

    name: str = Field(description="Detector that scored (a retired name's successor).",
                      max_length=63)
    version: str = Field(default="", max_length=63,
                         description="Parameter set of the detector, as the operator names it.")
    configured: str = Field(default="", max_length=63,
                            description="Detector named by the runbook, if it differs.")
    learned_points: int = Field(default=0, ge=0, description="Points the model had learned.")
    warm: bool = Field(default=False, description="Whether the model was past its warm-up.")


class SignalEvidence(ApiModel):
    """One anomalous signal: what was seen against what was expected."""

    signal: str = Field(description="Name of the signal in the runbook.", max_length=63)
    observed: float | None = Field(default=None, description="Value observed.")
    expected: float | None = Field(default=None, description="Value the model expected.")
    score: float = Field(ge=0.0, le=1.0, description="Calibrated anomaly probability.")
    since: dt.datetime | None = Field(default=None, description="When the anomaly began.")
    explanation: str = Field(default="", max_length=1024, description="Human-readable summary.")
    detector: DetectorRecord | None = Field(default=None,
                                            description="The model that raised the alarm.")


class AlertTrigger(ApiModel):
    """The Alertmanager alert that opened the incident."""

    name: str = Field(description="The alert's alertname.", max_length=253)
    fingerprint: str = Field(description="Alertmanager's fingerprint of its labels.",
                             max_length=64)
    starts_at: dt.datetime = Field(description="When it started firing.")
    labels: dict[str, str] = Field(default_factory=dict, max_length=32,
                                   description="The alert's labels.")
    summary: str = Field(default="", max_length=1024, description="Its summary annotation.")
    generator_url: str = Field(default="", max_length=2048,
                               description="Where it came from (the alerting rule).")


class Trigger(ApiModel):
    """What opened the incident."""

    model_config = ConfigDict(json_schema_extra=_IMMUTABLE)

    started_at: dt.datetime = Field(description="Onset of the anomaly.")
    detected_at: dt.datetime = Field(description="When the operator confirmed it (debounced).")
    score: float = Field(ge=0.0, le=1.0, description="Fused incident score of the workload.")
    evidence: list[SignalEvidence] = Field(
        default_factory=list, max_length=16, description="The anomalous signals."
    )
    alert: AlertTrigger | None = Field(
        default=None, description="The Alertmanager alert that opened it (none: the detectors).")


class CauseCandidate(ApiModel):
    """One probable cause with the evidence for it."""

    cause: Cause = Field(description="change, resource-exhaustion, saturation or unknown.")
    confidence: float = Field(ge=0.0, le=1.0, description="Relative confidence in [0, 1].")
    evidence: list[str] = Field(
        default_factory=list, max_length=16, description="Facts that point to this cause."
    )


class Diagnosis(ApiModel):
    """Probable causes, most likely first."""

    model_config = ConfigDict(json_schema_extra=_IMMUTABLE)

    cause: Cause = Field(description="The most probable cause.")
    candidates: list[CauseCandidate] = Field(
        default_factory=list, max_length=8, description="All causes considered, ranked."
    )


DIGEST_PATTERN = "^[0-9a-f]{64}$"


class ApprovalDecision(ApiModel):
    """A human's decision on one action; appended by ``kubeheal approve`` or ``reject``."""

    digest: str = Field(
        description="Digest of the action decided (status.pendingApproval.digest when decided).",
        pattern=DIGEST_PATTERN,
        max_length=64,
    )
    decision: Literal["approved", "rejected"] = Field(description="approved or rejected.")
    approver: str = Field(
        description="The user who decided; the API server checks it is the requesting user.",
        min_length=1,
        max_length=512,
    )
    time: dt.datetime = Field(description="When the decision was made.")
    reason: str = Field(default="", max_length=1024, description="Why.")
    category: Literal["not-an-incident"] | None = Field(
        default=None,
        description="For a rejection: not-an-incident when the alarm was false (counted as a "
        "false alarm of the runbook and its signals).")


class ScaleBackOf(ApiModel):
    """On a scale-back: the scale-out it undoes, in an earlier, verified Remediation."""

    remediation: str = Field(description="The Remediation whose scale-out this undoes.",
                             max_length=253)
    action: str = Field(description="Name of the runbook's scale action.", max_length=63)
    replicas: int = Field(ge=0, description="spec.replicas before the scale-out (its pins).")
    hpa: str = Field(default="", max_length=253,
                     description="The HPA whose minReplicas the scale-out raised, if any.")
    hpa_min_replicas: int | None = Field(
        default=None, ge=0, description="That HPA's minReplicas before the scale-out.")
    scaled_to: int = Field(ge=0, description="What the scale-out set (replicas, or the "
                           "HPA's minReplicas): anything else now means someone changed it.")
    load_signal: str = Field(max_length=63, description="The load signal judged.")
    load_before: float = Field(description="The load's level before the incident.")


class RemediationSpec(ApiModel):
    """The incident's facts, fixed at creation, and the human approval."""

    runbook_ref: ObjectReference = Field(
        description="Runbook that opened the incident.",
        json_schema_extra=_IMMUTABLE,
    )
    target: WorkloadReference = Field(
        description="The workload in trouble.", json_schema_extra=_IMMUTABLE
    )
    trigger: Trigger = Field(description="What opened the incident.")
    diagnosis: Diagnosis = Field(description="Probable causes, most likely first.")
    approvals: list[ApprovalDecision] = Field(
        default_factory=list,
        max_length=32,
        description="Human decisions, one per action, append-only; adding one needs the approve "
        "verb on remediations.kubeheal.io.",
        json_schema_extra={"x-kubernetes-list-type": "map",
                           "x-kubernetes-list-map-keys": ["digest"]},
    )
    scale_back_of: ScaleBackOf | None = Field(
        default=None, json_schema_extra=_IMMUTABLE,
        description="Set on a scale-back (trigger scale-back): the scale-out it undoes.")


class PinnedTarget(ApiModel):
    """The target as it was when the action was decided: the action runs on this, or not at all."""

    uid: str = Field(max_length=64, description="The Deployment's UID.")
    template_hash: str = Field(
        max_length=64, description="Hash of the Deployment's pod template (a rollout changes it)."
    )
    revision: int | None = Field(default=None, description="The Deployment's revision.")
    replica_set: str = Field(default="", max_length=253, description="Its current ReplicaSet "
                             "(a StatefulSet's: its current ControllerRevision).")
    replicas: int = Field(ge=0, description="spec.replicas of the Deployment.")
    hpa: str = Field(default="", max_length=253, description="The HPA that scales it, if any.")
    hpa_min_replicas: int | None = Field(default=None, description="That HPA's minReplicas.")


class ManagedBy(ApiModel):
    """The GitOps object that reconciles the target from Git: an Argo CD Application, a Flux
    Kustomization or HelmRelease. Acting on the target means suspending its reconciliation
    first, or the GitOps controller would undo the action at its next sync."""

    tool: Literal["argocd", "flux"] = Field(description="The GitOps controller.")
    api_version: str = Field(max_length=253, description="apiVersion of the owner object.")
    kind: Literal["Application", "Kustomization", "HelmRelease"] = Field(
        description="Kind of the owner object.")
    namespace: str = Field(max_length=63, description="Namespace of the owner object.")
    name: str = Field(max_length=253, description="Name of the owner object.")
    via: str = Field(default="", max_length=512,
                     description="The label or annotation of the target that names the owner.")

    def describe(self) -> str:
        """The owner in words.

        >>> ManagedBy(tool="flux", api_version="kustomize.toolkit.fluxcd.io/v1",
        ...           kind="Kustomization", namespace="flux-system", name="apps").describe()
        'Flux Kustomization flux-system/apps'
        """
        tool = "Argo CD" if self.tool == "argocd" else "Flux"
        return f"{tool} {self.kind} {self.namespace}/{self.name}"


class ChosenAction(ApiModel):
    """The action the operator chose from the runbook, for one pinned target."""

    name: str = Field(description="Name of the action in the runbook.", max_length=63)
    kind: ActionKind = Field(description="restart, scale, rollback or resize.")
    params: dict[str, str] = Field(
        default_factory=dict, max_length=16, description="Concrete parameters, e.g. replicas."
    )
    pinned: PinnedTarget | None = Field(
        default=None, description="The target's identity when the action was decided."
    )
    digest: str = Field(
        default="", max_length=64,
        description="Stable hash of the action, its parameters, target and pinned identity.",
    )
    managed_by: ManagedBy | None = Field(
        default=None,
        description="The GitOps object reconciling the target when the action was decided; its "
        "reconciliation is suspended before the action runs.",
    )


class RiskFactorRecord(ApiModel):
    """One factor of the risk score and what it contributed."""

    name: str = Field(max_length=63, description="Factor name.")
    value: float = Field(description="The factor's input value.")
    contribution: float = Field(description="What it added to the score.")
    explanation: str = Field(default="", max_length=512, description="Why it counts.")


class RiskRecord(ApiModel):
    score: float = Field(ge=0.0, le=1.0, description="Risk in [0, 1].")
    factors: list[RiskFactorRecord] = Field(
        default_factory=list, max_length=16, description="Factors and their contributions."
    )


class PolicyRecord(ApiModel):
    """The policy engine's answer."""

    allow: bool = Field(description="Whether the action may run.")
    require_approval: bool = Field(description="Whether a human must approve first.")
    reasons: list[str] = Field(default_factory=list, max_length=32, description="Why.")
    violations: list[str] = Field(
        default_factory=list, max_length=32, description="Guardrails the action breaks."
    )
    policy_version: str = Field(default="", max_length=128, description="Policy version used.")
    decided_at: dt.datetime = Field(description="When the decision was made.")


class Intent(ApiModel):
    """Written before the API call, so that a crash never executes an action twice."""

    action: ChosenAction = Field(description="What is about to be done.")
    issued_at: dt.datetime = Field(description="When the intent was recorded.")
    token: str = Field(
        max_length=128,
        description="Marker stamped on the target with the action, to recognise it after a crash.",
    )
    target_generation: int | None = Field(
        default=None, description="The target's generation before the action."
    )
    attempts: int = Field(default=0, ge=0, description="Calls made with this token so far.")
    last_error: str = Field(
        default="", max_length=1024, description="Why the last call did not settle the intent."
    )
    retry_at: dt.datetime | None = Field(
        default=None, description="When the same call (same token) is tried again."
    )


class ExecutionRecord(ApiModel):
    """The outcome of one executed (or settled) intent."""

    intent: Intent = Field(description="The intent this records.")
    outcome: Literal["executed", "failed", "not-executed"] = Field(
        description="Whether the action reached the target."
    )
    completed_at: dt.datetime = Field(description="When the outcome was recorded.")
    message: str = Field(default="", max_length=1024, description="Details.")


class PendingApproval(ApiModel):
    """The one action a human may decide now; an approval must name its digest."""

    action: str = Field(max_length=63, description="Name of the action awaiting a decision.")
    digest: str = Field(max_length=64, description="Digest an approval must name.")
    requested_at: dt.datetime = Field(description="When the decision was requested.")


class VerificationRecord(ApiModel):
    result: Literal["pending", "succeeded", "failed", "inconclusive"] = Field(
        description="Verification result; inconclusive when data was missing to the end.")
    started_at: dt.datetime | None = Field(default=None, description="Start of verification.")
    rollout_completed_at: dt.datetime | None = Field(
        default=None, description="When the target's rollout completed."
    )
    healthy_since: dt.datetime | None = Field(
        default=None, description="Since when the SLO and signal thresholds have held."
    )
    completed_at: dt.datetime | None = Field(default=None, description="End of verification.")
    message: str = Field(default="", max_length=1024, description="Details.")


class LearningRecord(ApiModel):
    """What the runbook's learning said at the last decision (learning mode suggest or
    reorder)."""

    mode: Literal["suggest", "reorder"] = Field(
        description="suggest: recorded only; reorder: the learned order was followed.")
    cause: str = Field(max_length=63, description="The cause the outcomes were read for.")
    runbook_order: list[str] = Field(
        default_factory=list, max_length=16, description="The fitting actions, runbook order.")
    learned_order: list[str] = Field(
        default_factory=list, max_length=16,
        description="The same actions in the order their verified outcomes suggest.")
    reason: str = Field(default="", max_length=1024, description="Why, with the counts.")


class GitOpsSuspension(ApiModel):
    """The GitOps reconciliation kubeheal suspended before acting, and how to restore it.

    kubeheal never lifts it: a human does, once Git holds the fix (``kubeheal gitops resume``).
    """

    owner: ManagedBy = Field(description="The object whose reconciliation is suspended.")
    field: str = Field(max_length=253,
                       description="What was changed: spec.syncPolicy.automated (removed) or "
                       "spec.suspend (set to true).")
    previous: str = Field(default="null", max_length=4096,
                          description="The field's value before, as JSON (null: absent).")
    changed: bool = Field(description="Whether kubeheal changed it (false: it was suspended "
                          "already).")
    token: str = Field(max_length=128, description="The intent token stamped on the owner.")
    suspended_at: dt.datetime = Field(description="When it was suspended (or found suspended).")
    message: str = Field(default="", max_length=1024, description="Details.")


class TimelineEntry(ApiModel):
    time: dt.datetime = Field(description="When it happened.")
    step: Literal[
        "detected", "diagnosed", "decided", "gated", "approval", "acted", "verified", "escalated"
    ] = Field(description="Loop step.")
    message: str = Field(max_length=1024, description="What happened.")


class ScaleBackPlan(ApiModel):
    """A temporary scale-out's way back, on the Remediation that scaled out."""

    state: Literal["Planned", "Waiting", "Opened", "Abandoned"] = Field(
        description="Planned (decided with the scale-out), Waiting (verified; for the load to "
        "stay back for the hold), Opened (the scale-back is a Remediation of its own, "
        "followUp), Abandoned (nothing will be done; message says why).")
    load_signal: str = Field(max_length=63, description="The load signal judged.")
    load_before: float | None = Field(
        default=None, description="The load's level before the incident (median over the "
        "baseline window); none: unknown, and no scale-back happens.")
    tolerance: float = Field(ge=0.0, le=1.0, description="Share above that level still back.")
    hold_seconds: int = Field(ge=0, description="How long the load must stay back.")
    follow_up: str = Field(default="", max_length=253,
                           description="The scale-back's Remediation, once opened.")
    checked_at: dt.datetime | None = Field(default=None, description="Last check.")
    message: str = Field(default="", max_length=1024, description="Where it stands, and why.")


class RemediationStatus(ApiModel):
    """The story of the incident after its creation."""

    phase: Phase = Field(default=Phase.DETECTED, description="Where the incident stands.")
    action: ChosenAction | None = Field(default=None, description="The current action.")
    risk: RiskRecord | None = Field(default=None, description="Risk of the current action.")
    policy: PolicyRecord | None = Field(default=None, description="Policy decision on it.")
    pending_approval: PendingApproval | None = Field(
        default=None, description="The action awaiting a human decision, if any."
    )
    decisions: int = Field(default=0, ge=0, description="Actions decided so far.")
    redecisions: int = Field(
        default=0, ge=0,
        description="Times the target changed between decision and action, so nothing ran "
        "and the action was decided again.",
    )
    intent: Intent | None = Field(
        default=None, description="An action about to run or running, without an outcome yet."
    )
    executions: list[ExecutionRecord] = Field(
        default_factory=list, max_length=16, description="Every executed or settled intent."
    )
    verification: VerificationRecord | None = Field(
        default=None, description="Verification of the last executed action."
    )
    gitops: GitOpsSuspension | None = Field(
        default=None, description="The GitOps reconciliation suspended before acting, if any; "
        "it stays suspended until a human confirms that Git holds the fix."
    )
    tried_actions: list[str] = Field(
        default_factory=list, max_length=16, description="Actions already tried, by name."
    )
    completed_at: dt.datetime | None = Field(
        default=None, description="When the incident reached a terminal phase."
    )
    timeline: list[TimelineEntry] = Field(
        default_factory=list, max_length=64, description="Each step with its time."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        description="Ready (closed successfully), Approved, PolicyAllowed, Verified, Inconclusive, "
        "TargetReadable, ReconciliationSuspended.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    observed_generation: int | None = Field(default=None, description="Last generation seen.")
    learning: LearningRecord | None = Field(
        default=None, description="The learned order of the actions at the last decision.")
    scale_back: ScaleBackPlan | None = Field(
        default=None, description="For a temporary scale-out: its way back.")


class Remediation(ApiModel):
    """An incident and everything done about it."""

    api_version: Literal["kubeheal.io/v1alpha1"] = "kubeheal.io/v1alpha1"
    kind: Literal["Remediation"] = "Remediation"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: RemediationSpec
    status: RemediationStatus | None = None
