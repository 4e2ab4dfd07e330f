"""The remediation lifecycle as a table: its phases, the transitions, and what each one does.

Every transition is a pure function from a remediation (its spec and current status) and what
was observed for it (the target read fresh from the API server, the policy engine's answer,
the action's outcome, the verification verdict) to the next status and the effects to carry
out, in order: write the status, post an Event, ask the policy engine, call the action,
notify humans. :class:`~kubeheal.controller.remediations.RemediationDriver` only gathers
observations and executes effects; every rule of the lifecycle lives, and is tested, here.

:data:`TRANSITIONS` is the table; :func:`mermaid` draws it (docs/lifecycle.md holds that
drawing, and a test keeps the two equal). :func:`fire` runs one transition and refuses an
outcome the table does not list.

Three rules shape the table:

- *Act exactly as decided.* A decision pins the target's identity (UID, pod template,
  revision, replicas or the HPA's minReplicas) and hashes the concrete action with it into a
  digest. Before the intent is written the target is read again, and the action compares the
  pins once more with the target it reads for its own write; if anything pinned changed,
  nothing runs and the action is decided again, at most :data:`MAX_REDECISIONS` times. A
  human approves one digest; the approval expires, and the policy engine is asked again
  before the approved action runs, and before any action whose answer is older than
  :data:`POLICY_MAX_AGE_SECONDS`. Nothing is written for an incident whose claim no longer
  names it; closing an incident releases its claim.
- *An intent is settled, never guessed.* The intent (with its token, and the pod for an
  eviction) is written before the call. An outcome that may or may not have landed, or a
  refusal that may pass (a PodDisruptionBudget), keeps the intent and retries the same call,
  with the same token, up to :data:`MAX_ATTEMPTS` times; only a definite failure moves on to
  the next action.
- *Inconclusive is not failure.* Missing data during verification keeps the remediation in
  Verifying with an ``Inconclusive`` condition and, past the deadline, escalates to humans;
  only data that is present and bad moves on to the next action.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from kubeheal.act.intent import ActionError, ActionResult, action_applied
from kubeheal.act.patches import container_memory, previous_revision, rolling_restart_floor
from kubeheal.act.pins import pin, pin_changes
from kubeheal.act.statefulsets import (
    is_statefulset,
    previous_controller_revision,
    statefulset_restart_floor,
    stuck_pod,
)
from kubeheal.act.suspension import SuspensionError, SuspensionResult
from kubeheal.api.outcomes import OutcomeStatistics
from kubeheal.api.quantity import QuantityError, parse_quantity, raised_memory
from kubeheal.api.remediation import (
    ApprovalDecision,
    ChosenAction,
    ExecutionRecord,
    GitOpsSuspension,
    Intent,
    LearningRecord,
    ManagedBy,
    PendingApproval,
    Phase,
    PinnedTarget,
    PolicyRecord,
    Remediation,
    RemediationStatus,
    RiskFactorRecord,
    RiskRecord,
    ScaleBackPlan,
    TimelineEntry,
    VerificationRecord,
)
from kubeheal.api.runbook import Action, ActionKind, Runbook, ScaleBack
from kubeheal.controller.store import set_condition
from kubeheal.decide import Action as Candidate
from kubeheal.decide import Incident, RemediationHistory, RunbookRef, Target, assess
from kubeheal.decide.learning import LearnedOrder, learn_order
from kubeheal.decide.policy_input import PolicyInput
from kubeheal.decide.scaleback import scale_back_action, scale_back_candidate
from kubeheal.diagnose.objects import oom_killed_container
from kubeheal.notify.messages import NotificationEvent
from kubeheal.observe.kubernetes import parse_time, revision_number
from kubeheal.policy import PolicyDecision
from kubeheal.verify.rollout import rollout_status

Json = dict[str, Any]

MAX_REDECISIONS: Final = 3
"""Times an action is decided again because its target changed, before humans take over."""
MAX_ATTEMPTS: Final = 5
"""Calls with one intent whose outcome stayed open (timeout, conflict, PDB), then escalate."""
RETRY_SECONDS: Final = 10.0
"""Wait before the next call with the same intent, times the attempts so far."""
TARGET_UNREADABLE_SECONDS: Final = 120.0
"""How long transient errors reading the target are retried before escalating."""
POLICY_MAX_AGE_SECONDS: Final = 60.0
"""The policy engine's answer is asked again before an action when it is older than this."""
STALE_INTERVALS: Final = 2
"""A detector whose last point is older than this many runbook intervals is not current."""


# -- observations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TargetState:
    """The target Deployment as read from the API server now, with what it controls and the
    GitOps object that reconciles it, if any."""

    deployment: Json
    replica_sets: tuple[Json, ...] = ()
    hpa: Json | None = None
    pods: tuple[Json, ...] = ()
    managed_by: ManagedBy | None = None


@dataclass(frozen=True)
class ReadError:
    """Reading the target failed: ``kind`` as in KubernetesError."""

    kind: str
    message: str

    @property
    def transient(self) -> bool:
        """Whether reading again may succeed (the API server was unavailable, say).

        >>> ReadError("unavailable", "timeout").transient, ReadError("not-found", "").transient
        (True, False)
        """
        return self.kind not in {"not-found", "forbidden", "invalid"}


Verdict = Literal["healthy", "unhealthy", "inconclusive"]


@dataclass(frozen=True)
class Health:
    """The verification verdict now. ``inconclusive`` when data to judge is missing;
    ``reason`` then names what (NoData, NoTraffic, PrometheusUnavailable, SloUnavailable)."""

    verdict: Verdict
    message: str
    reason: str = ""


@dataclass(frozen=True)
class Observations:
    """What the driver read for one transition; each transition uses the part it needs."""

    now: dt.datetime
    runbook: Runbook | None
    runbook_problem: str = ""
    target: TargetState | ReadError | None = None
    history: RemediationHistory = field(default_factory=RemediationHistory)
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    policy: PolicyDecision | None = None
    result: ActionResult | ActionError | None = None
    resumed: bool = False
    health: Health | None = None
    claimed: bool | None = None
    """Whether the workload's incident claim names this remediation (None: not read)."""
    outcomes: OutcomeStatistics | None = None
    """The runbook's outcome statistics (read to decide, when its learning is on)."""
    load_level: float | None = None
    """The load's level before the onset, for a scale-out the runbook makes temporary."""
    suspension: SuspensionResult | SuspensionError | None = None
    """The outcome of suspending the GitOps owner's reconciliation before the action."""


# -- effects ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteStatus:
    """Persist the status (a merge patch conditioned on the resourceVersion read)."""

    status: RemediationStatus


@dataclass(frozen=True)
class PostEvent:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class Notify:
    """Tell humans (the configured receivers) of an approval request or an escalation."""

    event: NotificationEvent
    reason: str
    message: str


@dataclass(frozen=True)
class AskPolicy:
    """Ask the policy engine about ``input``; its answer fires ``then``."""

    input: PolicyInput
    then: str


@dataclass(frozen=True)
class CallAction:
    """Call the action of ``intent`` with its token; the outcome fires ``acted``.

    ``fresh`` when the intent was written in this same step (not found on resume)."""

    intent: Intent
    fresh: bool


@dataclass(frozen=True)
class SuspendOwner:
    """Suspend the reconciliation of the GitOps owner recorded in ``intent`` (with its token)
    before the action is called; the outcome fires ``suspended``."""

    intent: Intent
    fresh: bool


@dataclass(frozen=True)
class CountPolicy:
    reason: str


@dataclass(frozen=True)
class CountAction:
    kind: str
    outcome: Literal["executed", "failed"]


@dataclass(frozen=True)
class CountLearning:
    """A decision of a runbook with learning on, and whether the learned order puts another
    action first than the runbook."""

    mode: str
    changed: bool


@dataclass(frozen=True)
class Recovered:
    """The workload recovered ``seconds`` after the onset."""

    seconds: float


@dataclass(frozen=True)
class Closed:
    """The remediation reached a terminal phase (metrics and the log)."""

    phase: Phase
    message: str


@dataclass(frozen=True)
class RecountPending:
    """The number of remediations awaiting approval may have changed."""


@dataclass(frozen=True)
class ReleaseClaim:
    """The incident is closed: the workload's claim, if it still names it, is deleted (on the
    condition that it is unchanged), so that claims do not outlive their incidents."""


Effect = (WriteStatus | PostEvent | Notify | AskPolicy | CallAction | CountPolicy | CountAction
          | Recovered | Closed | RecountPending | ReleaseClaim | CountLearning | SuspendOwner)


@dataclass(frozen=True)
class Outcome:
    """A transition's result: the next status, the effects in order, and whether the driver
    waits a poll interval before the next step."""

    status: RemediationStatus
    effects: tuple[Effect, ...] = ()
    wait: bool = True


# -- the table --------------------------------------------------------------------------------

TransitionFn = Callable[[Remediation, RemediationStatus, Observations], Outcome]


@dataclass(frozen=True)
class Transition:
    """``run`` fires on ``trigger`` in any of ``sources`` and ends in one of ``targets``.
    A source of None is a remediation without a status yet."""

    sources: tuple[Phase | None, ...]
    trigger: str
    targets: tuple[Phase, ...]
    run: TransitionFn
    summary: str


class TransitionError(Exception):
    """A transition ended in a phase the table does not list: a bug, never data."""


def fire(trigger: str, rem: Remediation, status: RemediationStatus | None,
         obs: Observations) -> Outcome:
    """Run the transition of ``trigger`` from the status' phase (None: no status yet)."""
    source = status.phase if status is not None else None
    transition = next((t for t in TRANSITIONS if source in t.sources and t.trigger == trigger),
                      None)
    if transition is None:
        raise TransitionError(f"no transition on {trigger!r} from {source}")
    outcome = transition.run(rem, (status or RemediationStatus()).model_copy(deep=True), obs)
    if outcome.status.phase not in transition.targets:
        raise TransitionError(f"{trigger} from {source} ended in {outcome.status.phase}, "
                              f"not in {[p.value for p in transition.targets]}")
    return outcome


# -- helpers ----------------------------------------------------------------------------------


def note(status: RemediationStatus, step: str, message: str, at: dt.datetime) -> None:
    status.timeline = [*status.timeline, TimelineEntry.model_validate(
        {"time": at, "step": step, "message": message[:1024]})][-64:]


def _close(status: RemediationStatus, phase: Phase, type_: Literal["Normal", "Warning"],
           reason: str, message: str, at: dt.datetime) -> tuple[Effect, ...]:
    status.phase = phase
    status.completed_at = at
    status.pending_approval = None
    message += still_suspended(status)
    if phase is not Phase.SUCCEEDED and not any(c.type == "Ready" for c in status.conditions):
        status.conditions = set_condition(status.conditions, "Ready", False, phase.value,
                                          message, at=at)
    return (WriteStatus(status), ReleaseClaim(), Closed(phase, message),
            PostEvent(type_, reason, message))


def _escalate(status: RemediationStatus, reason: str, message: str, at: dt.datetime,
              *before: Effect) -> Outcome:
    note(status, "escalated", message, at)
    status.conditions = set_condition(status.conditions, "Ready", False, reason, message, at=at)
    effects = _close(status, Phase.ESCALATED, "Warning", "Escalated", f"{reason}: {message}", at)
    return Outcome(status, (*before, *effects, Notify(NotificationEvent.ESCALATED, reason,
                                                      message)), wait=False)


def still_suspended(status: RemediationStatus) -> str:
    """What a closing story adds when kubeheal suspended a GitOps reconciliation."""
    if status.gitops is None or not status.gitops.changed:
        return ""
    return (f"; the reconciliation of {status.gitops.owner.describe()} stays suspended until a "
            "human confirms that Git holds the fix (`kubeheal gitops resume`)")


def _target_name(rem: Remediation) -> str:
    return f"{rem.spec.target.kind.lower()} {rem.spec.target.namespace}/{rem.spec.target.name}"


def _unreadable(rem: Remediation, status: RemediationStatus, error: ReadError,
                at: dt.datetime) -> Outcome:
    """Escalate when the target is gone; retry a transient read failure for a while."""
    message = f"{_target_name(rem)}: {error.message}"
    if not error.transient:
        return _escalate(status, "TargetUnavailable", message, at)
    old = next((c for c in status.conditions if c.type == "TargetReadable"), None)
    since = old.last_transition_time if old is not None and old.status.value == "False" else at
    status.conditions = set_condition(status.conditions, "TargetReadable", False, "ReadFailed",
                                      message, at=at)
    if (at - since).total_seconds() > TARGET_UNREADABLE_SECONDS:
        return _escalate(status, "TargetUnavailable",
                         f"{message} (unreadable for more than {TARGET_UNREADABLE_SECONDS:.0f}s)",
                         at)
    return Outcome(status, (WriteStatus(status),), wait=True)


def _readable(status: RemediationStatus) -> None:
    status.conditions = [c for c in status.conditions if c.type != "TargetReadable"]


def _params(params: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "no parameters"


# -- pure choices -----------------------------------------------------------------------------


def fitting_actions(actions: Sequence[Action], rem: Remediation,
                    tried: Sequence[str]) -> list[Action]:
    """The untried actions that fit the incident, for the most probable cause first.

    A diagnosis ranks causes; when no action of the most probable cause is left (or it
    cannot apply, such as a rollback without an earlier revision), the actions of the next
    cause in the ranking follow, then actions that name no cause. Signal conditions hold
    throughout.
    """
    anomalous = {e.signal for e in rem.spec.trigger.evidence}
    causes = [rem.spec.diagnosis.cause] + [c.cause for c in rem.spec.diagnosis.candidates]
    ranked: list[Action] = []
    for cause in [*dict.fromkeys(causes), None]:
        for a in actions:
            fits_cause = (not a.when.causes) if cause is None else cause in a.when.causes
            if fits_cause and a.name not in {r.name for r in ranked} | set(tried) \
                    and (not a.when.signals or anomalous & set(a.when.signals)):
                ranked.append(a)
    return ranked


def learned_order(runbook: Runbook, rem: Remediation, tried: Sequence[str],
                  outcomes: OutcomeStatistics | None) -> LearnedOrder | None:
    """The order the runbook's verified outcomes give the untried actions that fit, for the
    diagnosed cause, seeded by the remediation's name; None when learning is off."""
    if runbook.spec.learning.mode == "off":
        return None
    cause = rem.spec.diagnosis.cause.value
    counts = {a.action: (a.succeeded, a.failed)
              for a in (outcomes.totals.actions if outcomes is not None else [])
              if a.cause == cause}
    return learn_order([a.name for a in fitting_actions(runbook.spec.actions, rem, [])],
                       counts, cause=cause, seed=rem.metadata.name or "", tried=tried)


def _follow_learning(runbook: Runbook, status: RemediationStatus, learned: LearnedOrder,
                     at: dt.datetime) -> tuple[str, tuple[Effect, ...]]:
    """Record what learning says on the status and the timeline; the name of the action to
    try first, and an Event when learning puts another action first than the runbook."""
    mode = runbook.spec.learning.mode
    assert mode != "off"
    status.learning = LearningRecord(
        mode=mode, cause=learned.cause, runbook_order=list(learned.runbook_order)[:16],
        learned_order=list(learned.order)[:16], reason=learned.reason[:1024])
    if not learned.changed:
        note(status, "decided", f"learning ({mode}): {learned.reason}", at)
        return learned.runbook_order[0], (CountLearning(mode, changed=False),)
    if mode == "suggest":
        message = (f"learning suggests {learned.reason}; the runbook's order is kept "
                   "(learning mode suggest)")
        first = learned.runbook_order[0]
    else:
        message = f"learned order {', '.join(learned.order)}: {learned.reason}"
        first = learned.order[0]
    note(status, "decided", message, at)
    return first, (PostEvent("Normal", "LearnedOrder", message[:1024]),
                   CountLearning(mode, changed=True))


def concrete_action(action: Action, deployment: Json, replica_sets: Sequence[Json],
                    pods: Sequence[Json] = ()) -> tuple[Candidate | None, dict[str, str], str]:
    """The runbook action made concrete for this target, or None and why it cannot apply.

    >>> from kubeheal.api.runbook import Action, ScaleBounds
    >>> d = {"spec": {"replicas": 2}, "status": {"readyReplicas": 2}, "metadata": {}}
    >>> a = Action(name="out", kind="scale", scale=ScaleBounds(max_replicas=6, step=2))
    >>> candidate, params, _ = concrete_action(a, d, [])
    >>> params
    {'replicas': '4', 'from': '2', 'minReplicas': '1', 'maxReplicas': '6'}
    >>> d["spec"]["replicas"] = 6
    >>> concrete_action(a, d, [])[2]
    'already at maxReplicas 6'
    >>> d["spec"]["strategy"] = {"type": "Recreate"}
    >>> concrete_action(Action(name="r", kind="restart"), d, [])[2][:41]
    'a rollout restart would keep no pod avail'
    """
    replicas = int(deployment["spec"].get("replicas", 1))
    ready = int(deployment.get("status", {}).get("readyReplicas") or 0)
    if action.kind is ActionKind.SCALE:
        assert action.scale is not None
        bounds = action.scale
        wanted = min(bounds.max_replicas, max(bounds.min_replicas, replicas + bounds.step))
        if wanted <= replicas:
            return None, {}, f"already at maxReplicas {bounds.max_replicas}"
        return (Candidate.scale(replicas=wanted, min_replicas=bounds.min_replicas,
                                max_replicas=bounds.max_replicas),
                {"replicas": str(wanted), "from": str(replicas),
                 "minReplicas": str(bounds.min_replicas),
                 "maxReplicas": str(bounds.max_replicas)}, "")
    if action.kind is ActionKind.ROLLBACK and is_statefulset(deployment):
        revision = previous_controller_revision(deployment, replica_sets)
        if revision is None:
            return None, {}, "no previous ControllerRevision to roll back to"
        return (Candidate.rollback(to_revision=int(revision["revision"])),
                {"toRevision": str(revision["revision"]),
                 "controllerRevision": revision["metadata"]["name"]}, "")
    if action.kind is ActionKind.ROLLBACK:
        previous = previous_revision(deployment, replica_sets)
        if previous is None:
            return None, {}, "no previous revision to roll back to"
        number = revision_number(previous)
        if number is None:
            return None, {}, "the previous revision has no revision number"
        return (Candidate.rollback(to_revision=number),
                {"toRevision": str(number), "replicaSet": previous["metadata"]["name"]}, "")
    if action.kind is ActionKind.RESIZE:
        return concrete_resize(action, deployment, pods)
    strategy = action.restart.strategy if action.restart else "rollout"
    share = action.restart.max_unavailable_share if action.restart else 0.25
    if strategy == "delete-pod":
        # The policy judges one ready pod taken down; the eviction keeps the rest.
        candidate = Candidate.restart(strategy=strategy, max_unavailable_share=share,
                                      ready_replicas=ready)
        return candidate, {"strategy": strategy, "minAvailable": str(max(0, ready - 1))}, ""
    # The policy judges the pods the Deployment's own strategy takes down, and the restart
    # runs only while that strategy still keeps at least as many available.
    floor, why = _rolling_floor(deployment, "rollout restart")
    if floor is None:
        return None, {}, why
    taken, allowed = max(0, ready - floor), max(1, math.floor(ready * share))
    if taken > allowed:
        return None, {}, (f"{why}: it would take {taken} of {ready} ready pods down at once, "
                          f"more than maxUnavailableShare {share:g} allows ({allowed})")
    candidate = Candidate.restart(strategy=strategy, max_unavailable_share=share,
                                  pods_unavailable=taken)
    return candidate, {"strategy": strategy, "maxUnavailableShare": f"{share:g}",
                       "minAvailable": str(floor)}, ""


def planned_scale_back(runbook: Runbook, settings: ScaleBack,
                       level: float | None) -> ScaleBackPlan:
    """The way back of a scale-out the runbook makes temporary, as decided with it."""
    signal = runbook.spec.load_signal()
    known = f"the load's level before the incident is {level:.4g}" if level is not None else \
        "the load's level before the incident is not known yet"
    return ScaleBackPlan(
        state="Planned", load_signal=signal.name if signal else "", load_before=level,
        tolerance=settings.tolerance, hold_seconds=settings.hold_seconds,
        message=f"temporary: scaled back once verified and the load stays within "
                f"{settings.tolerance:.0%} of its level before the incident for "
                f"{settings.hold_seconds}s; {known}")


def _rolling_floor(deployment: Json, what: str) -> tuple[int | None, str]:
    """The pods a rolling update of ``deployment`` keeps available, or None and why not; a
    StatefulSet's, None also when its update strategy would not restart every pod."""
    if is_statefulset(deployment):
        floor, why = statefulset_restart_floor(deployment)
        if floor is None:
            return None, f"a {what} would not restart every pod: {why}"
        return floor, why
    floor, why = rolling_restart_floor(deployment)
    if floor is None:
        return None, f"a {what} would keep no pod available: {why}"
    return floor, why


def concrete_resize(action: Action, deployment: Json, pods: Sequence[Json],
                    ) -> tuple[Candidate | None, dict[str, str], str]:
    """A resize made concrete: the container (named, else the one being OOM-killed, else the
    template's only one), its memory limit and request now and after, and the availability
    floor its rolling update keeps; or None and why it cannot apply.

    >>> from kubeheal.api.runbook import Action, ResizeBounds
    >>> d = {"spec": {"replicas": 2, "template": {"spec": {"containers": [
    ...     {"name": "app", "resources": {"limits": {"memory": "256Mi"},
    ...                                   "requests": {"memory": "128Mi"}}}]}}},
    ...      "status": {"availableReplicas": 2, "readyReplicas": 2}, "metadata": {}}
    >>> a = Action(name="more", kind="resize", resize=ResizeBounds(factor=2, max_memory="1Gi"))
    >>> candidate, params, _ = concrete_resize(a, d, [])
    >>> params["memoryLimit"], params["memoryRequest"], params["from"]
    ('512Mi', '256Mi', '256Mi')
    >>> d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "1Gi"
    >>> concrete_resize(a, d, [])[2]
    'container app: the memory limit 1Gi is at the maximum 1Gi already: nothing left to raise'
    """
    assert action.resize is not None
    bounds = action.resize
    containers = [str(c.get("name")) for c in
                  deployment["spec"].get("template", {}).get("spec", {}).get("containers") or []]
    container = bounds.container or oom_killed_container(pods) or (
        containers[0] if len(containers) == 1 else None)
    if container is None:
        return None, {}, ("no container is named and none is being OOM-killed among "
                          f"{len(containers)} containers: name one in resize.container")
    try:
        limit, request = container_memory(deployment, container)
        new_limit, new_request = raised_memory(limit, request, bounds.factor, bounds.max_memory)
    except (LookupError, QuantityError) as e:
        return None, {}, f"container {container}: {e}"
    floor, why = _rolling_floor(deployment, "resize")
    if floor is None:
        return None, {}, why
    ready = int(deployment.get("status", {}).get("readyReplicas") or 0)
    params = {"container": container, "memoryLimit": new_limit, "from": limit,
              "factor": f"{bounds.factor:g}", "maxMemory": bounds.max_memory,
              "minAvailable": str(floor)}
    if new_request is not None and request is not None:
        params.update(memoryRequest=new_request, requestFrom=request)
    return _resize_candidate(params, ready), params, ""


def _resize_candidate(params: Mapping[str, str], ready: int) -> Candidate:
    """The policy's view of a resize from its recorded parameters."""
    return Candidate.resize(
        container=params["container"], from_bytes=int(parse_quantity(params["from"])),
        to_bytes=int(parse_quantity(params["memoryLimit"])),
        max_bytes=int(parse_quantity(params["maxMemory"])), factor=float(params["factor"]),
        pods_unavailable=max(0, ready - int(params["minAvailable"])))


def own_guardrails(max_per_hour: int, history: RemediationHistory) -> str:
    """Why the runbook's own guardrails forbid acting now, or '' when they allow it.

    The cooldown is enforced when an incident would open (see ``RunbookEvaluator``), so
    that within one incident the next action may follow a failed one at once.

    >>> own_guardrails(3, RemediationHistory(actions_last_hour=3))
    'rate limit: 3 actions on the target in the last hour (max 3)'
    >>> own_guardrails(3, RemediationHistory(actions_last_hour=2))
    ''
    """
    if history.actions_last_hour >= max_per_hour:
        return (f"rate limit: {history.actions_last_hour} actions on the target in the last "
                f"hour (max {max_per_hour})")
    return ""


def policy_record(decision: PolicyDecision, moment: dt.datetime) -> PolicyRecord:
    return PolicyRecord(
        allow=decision.allow, require_approval=decision.require_approval,
        reasons=[f.msg[:512] for f in decision.reasons][:32],
        violations=[f.msg[:512] for f in decision.violations][:32],
        policy_version=(decision.policy_version or "")[:128], decided_at=moment)


def pinned_now(target: TargetState) -> PinnedTarget:
    """The identity of the target as read now."""
    return pin(target.deployment, target.replica_sets, target.hpa)


def changes_since_decision(decided: PinnedTarget | None, target: TargetState) -> str:
    """What changed on the target since the action was decided ('' when nothing did)."""
    if decided is None:
        return "the decision pinned no target identity"
    return pin_changes(decided, pinned_now(target))


def owner_change(decided: ManagedBy | None, now: ManagedBy | None) -> str:
    """How the target's GitOps owner differs from the one the action was decided for.

    >>> argo = ManagedBy(tool="argocd", api_version="argoproj.io/v1alpha1",
    ...                  kind="Application", namespace="argocd", name="shop")
    >>> owner_change(argo, argo), owner_change(None, argo)
    ('', 'GitOps owner none -> Argo CD Application argocd/shop')
    """
    def said(owner: ManagedBy | None) -> str:
        return owner.describe() if owner is not None else "none"

    return "" if said(decided) == said(now) else f"GitOps owner {said(decided)} -> {said(now)}"


def settled(intent: Intent, target: TargetState) -> bool:
    """Whether the intent's action is on the target already: an eviction by its recorded
    pod being gone or going, a scale of an HPA by the HPA's token, any other action by the
    Deployment's token.

    >>> from kubeheal.act.intent import TOKEN_ANNOTATION
    >>> action = ChosenAction(name="evict", kind="restart",
    ...                       params={"strategy": "delete-pod", "pod": "web-a"})
    >>> intent = Intent(action=action, issued_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    ...                 token="t1")
    >>> web_a = {"metadata": {"name": "web-a"}}
    >>> settled(intent, TargetState({}, pods=(web_a,))), settled(intent, TargetState({}))
    (False, True)
    >>> scale = intent.model_copy(update={"action": ChosenAction(
    ...     name="out", kind="scale", params={"replicas": "4"})})
    >>> hpa = {"metadata": {"annotations": {TOKEN_ANNOTATION: "t1"}}}
    >>> settled(scale, TargetState({}, hpa=hpa)), settled(scale, TargetState({}))
    (True, False)
    """
    action = intent.action
    if action.kind is ActionKind.RESTART and action.params.get("strategy") == "delete-pod":
        pod = action.params.get("pod")
        return not any((p.get("metadata") or {}).get("name") == pod
                       and not (p.get("metadata") or {}).get("deletionTimestamp")
                       for p in target.pods)
    if action.kind is ActionKind.SCALE and target.hpa is not None \
            and action_applied(target.hpa, intent.token):
        return True
    if action.kind is ActionKind.ROLLBACK and action.params.get("podUid"):
        # A StatefulSet's rollback is done once its stuck pod, too, is gone.
        uid = action.params["podUid"]
        if any((p.get("metadata") or {}).get("uid") == uid
               and not (p.get("metadata") or {}).get("deletionTimestamp") for p in target.pods):
            return False
    return action_applied(target.deployment, intent.token)


def detector_health(last_points: Mapping[str, tuple[float, bool] | None], now: dt.datetime,
                    interval: float) -> Health:
    """The verdict of the detectors of the signals that opened the incident, from each one's
    last point (its timestamp and whether it is in alarm; None when there is none).

    A detector that has no point, or whose last point is older than :data:`STALE_INTERVALS`
    intervals (plus the evaluation's one-second lag), says nothing about now: the verdict is
    then inconclusive, never healthy; one in alarm on a current point is unhealthy.

    >>> t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> s = t.timestamp()
    >>> detector_health({"errors": (s - 5, False)}, t, 5).verdict
    'healthy'
    >>> detector_health({"errors": (s - 5, True)}, t, 5).message
    'detectors still in alarm: errors'
    >>> stale = detector_health({"errors": (s - 60, True)}, t, 5)
    >>> stale.verdict, stale.reason
    ('inconclusive', 'DetectorStale')
    >>> detector_health({"errors": None}, t, 5).reason
    'DetectorStateMissing'
    """
    alarming, stale, missing = [], [], []
    for signal, last in sorted(last_points.items()):
        if last is None:
            missing.append(signal)
        elif now.timestamp() - last[0] > STALE_INTERVALS * interval + 1:
            stale.append(signal)
        elif last[1]:
            alarming.append(signal)
    if alarming:
        return Health("unhealthy", f"detectors still in alarm: {', '.join(alarming)}")
    if missing:
        return Health("inconclusive", f"no detector state for {', '.join(missing)} (the "
                      "runbook's detectors have not evaluated the target yet)",
                      "DetectorStateMissing")
    if stale:
        return Health("inconclusive", f"detector state of {', '.join(stale)} is older than "
                      f"{STALE_INTERVALS} intervals ({STALE_INTERVALS * interval:g}s)",
                      "DetectorStale")
    return Health("healthy", "no detector in alarm")


def action_digest(remediation: str, number: int, target: str, action: ChosenAction) -> str:
    """The digest a human approves: the concrete action on the pinned target, in this
    remediation's ``number``-th decision (so that no approval can be reused for another).

    >>> a = ChosenAction(name="undo", kind="rollback", params={"toRevision": "1"})
    >>> d = action_digest("web-1", 1, "shop/web", a)
    >>> len(d), d == action_digest("web-1", 2, "shop/web", a)
    (64, False)
    """
    document = {"remediation": remediation, "decision": number, "target": target,
                "name": action.name, "kind": action.kind.value, "params": action.params,
                "pinned": action.pinned.to_api() if action.pinned else None}
    if action.managed_by is not None:  # approving the action approves suspending its owner
        document["managedBy"] = action.managed_by.to_api()
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def blocking_pod(target: TargetState) -> dict[str, str]:
    """The pod that would keep a StatefulSet's rollback from rolling out, as intent params
    (``pod``, ``podUid``): with ``podManagementPolicy: OrderedReady`` (the default), a pod of
    the current (bad) revision that is not Ready blocks the controller for good
    (kubernetes/kubernetes#67250), so the rollback evicts it; none otherwise.

    >>> sts = {"kind": "StatefulSet", "spec": {}, "status": {"updateRevision": "db-bad"}}
    >>> stuck = {"metadata": {"name": "db-1", "uid": "u1",
    ...          "labels": {"controller-revision-hash": "db-bad"}}, "status": {}}
    >>> blocking_pod(TargetState(sts, pods=(stuck,)))
    {'pod': 'db-1', 'podUid': 'u1'}
    >>> sts["spec"]["podManagementPolicy"] = "Parallel"
    >>> blocking_pod(TargetState(sts, pods=(stuck,)))
    {}
    """
    spec, status = target.deployment.get("spec") or {}, target.deployment.get("status") or {}
    if spec.get("podManagementPolicy", "OrderedReady") != "OrderedReady":
        return {}
    pod = stuck_pod(target.pods, str(status.get("updateRevision") or ""))
    if pod is None:
        return {}
    return {"pod": str(pod["metadata"]["name"]), "podUid": str(pod["metadata"].get("uid", ""))}


def worst_pod(pods: Sequence[Json]) -> str | None:
    """The pod to evict: the most restarted, else the oldest; none being deleted already.

    >>> def pod(name, restarts, created):
    ...     return {"metadata": {"name": name, "creationTimestamp": created},
    ...             "status": {"containerStatuses": [{"restartCount": restarts}]}}
    >>> worst_pod([pod("a", 0, "2026-01-02"), pod("b", 3, "2026-01-03"), pod("c", 0, "2026-01-01")])
    'b'
    >>> worst_pod([]) is None
    True
    """
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]

    def badness(pod: Json) -> tuple[int, str]:
        restarts = sum(c.get("restartCount", 0)
                       for c in pod.get("status", {}).get("containerStatuses") or [])
        return (-restarts, pod["metadata"].get("creationTimestamp", ""))

    return str(sorted(live, key=badness)[0]["metadata"]["name"]) if live else None


def target_value(series: Iterable[tuple[Mapping[str, str], float]], workload_label: str,
                 namespace: str, name: str) -> float | None:
    """The value of the target's own series, or None: its name under ``workload_label`` and
    its namespace (a series without a namespace label counts as the runbook's own namespace,
    as in detection). NaN is no value.

    >>> series = [({"namespace": "other", "deployment": "web"}, 0.9),
    ...           ({"namespace": "shop", "deployment": "web"}, 0.01)]
    >>> target_value(series, "deployment", "shop", "web")
    0.01
    >>> target_value(series[:1], "deployment", "shop", "web") is None
    True
    >>> target_value([({"deployment": "web"}, float("nan"))], "deployment", "shop", "web")
    """
    return next((value for labels, value in series
                 if labels.get(workload_label) == name
                 and labels.get("namespace", namespace) == namespace and value == value), None)


def approval_of(rem: Remediation, digest: str) -> ApprovalDecision | None:
    """The human decision on the action with ``digest``, if any (one per digest)."""
    return next((a for a in rem.spec.approvals if a.digest == digest), None) if digest else None


def _policy_input(rem: Remediation, candidate: Candidate, target: TargetState,
                  obs: Observations, runbook: Runbook) -> PolicyInput:
    deployment = target.deployment
    moments = [parse_time(rs["metadata"].get("creationTimestamp")) for rs in target.replica_sets]
    situation = Target(
        kind=rem.spec.target.kind,
        namespace=rem.spec.target.namespace, name=rem.spec.target.name,
        replicas=int(deployment["spec"].get("replicas", 1)),
        ready_replicas=int(deployment.get("status", {}).get("readyReplicas") or 0),
        labels=deployment["metadata"].get("labels") or {},
        namespace_labels=obs.namespace_labels,
        last_rollout_at=max((m for m in moments if m is not None), default=None),
        managed_by=target.managed_by,
    )
    return assess(
        candidate, situation, obs.history,
        Incident({e.signal: e.score for e in rem.spec.trigger.evidence},
                 diagnosis=rem.spec.diagnosis.cause.value, started_at=rem.spec.trigger.started_at),
        RunbookRef(runbook.metadata.name or "", mode=runbook.spec.mode,
                   approval_mode=runbook.spec.approval.mode,
                   approval_risk_threshold=runbook.spec.approval.risk_threshold),
        obs.now,
    )


def _candidate(action: ChosenAction, target: TargetState) -> Candidate:
    """The policy's view of an action already decided (to ask the policy again)."""
    p = action.params
    if action.kind is ActionKind.SCALE and p.get("direction") == "down":
        return scale_back_candidate(int(p["replicas"]), int(p["from"]), int(p["replicasBefore"]),
                                    int(p["minReplicas"]), int(p["maxReplicas"]),
                                    p.get("hpa", ""))
    if action.kind is ActionKind.SCALE:
        return Candidate.scale(replicas=int(p["replicas"]),
                               min_replicas=int(p.get("minReplicas", "1")),
                               max_replicas=int(p.get("maxReplicas", p["replicas"])))
    if action.kind is ActionKind.ROLLBACK:
        return Candidate.rollback(to_revision=int(p["toRevision"]))
    ready = int(target.deployment.get("status", {}).get("readyReplicas") or 0)
    if action.kind is ActionKind.RESIZE:
        return _resize_candidate(p, ready)
    rollout = p.get("strategy", "rollout") == "rollout"
    floor = int(p["minAvailable"]) if rollout and "minAvailable" in p else None
    return Candidate.restart(
        strategy=p.get("strategy", "rollout"),
        max_unavailable_share=float(p.get("maxUnavailableShare", "0.25")),
        pods_unavailable=max(0, ready - floor) if floor is not None else None,
        ready_replicas=ready)


# -- transitions ------------------------------------------------------------------------------


def initialize(rem: Remediation, status: RemediationStatus, obs: Observations) -> Outcome:
    """A Remediation without a status gets its first one (the driver writes it on the
    condition that nobody wrote one meanwhile)."""
    trigger, diagnosis = rem.spec.trigger, rem.spec.diagnosis
    status = RemediationStatus(phase=Phase.DETECTED)
    note(status, "detected", f"detected (score {trigger.score:.2f})", trigger.detected_at)
    evidence = "; ".join(next((c.evidence for c in diagnosis.candidates
                               if c.cause is diagnosis.cause), [])[:3])
    note(status, "diagnosed", f"probable cause {diagnosis.cause.value}"
         + (f": {evidence}" if evidence else ""), trigger.detected_at)
    return Outcome(status, (WriteStatus(status),), wait=False)


def decide(rem: Remediation, status: RemediationStatus, obs: Observations) -> Outcome:
    """Choose the next untried action that fits (in the learned order when the runbook's
    learning reorders), make it concrete on the target as read now, pin the target, score the
    risk, apply the runbook's own guardrails, then ask the policy."""
    runbook = obs.runbook
    assert runbook is not None
    cause = rem.spec.diagnosis.cause
    of = rem.spec.scale_back_of
    fitting = fitting_actions(runbook.spec.actions, rem, status.tried_actions) if of is None \
        else [a for a in runbook.spec.actions if a.name == of.action and a.scale is not None
              and a.scale.scale_back is not None and a.name not in status.tried_actions]
    if not fitting and of is not None and of.action not in status.tried_actions:
        message = (f"no scale-back: runbook {runbook.metadata.name} no longer makes "
                   f"{of.action} a temporary scale-out")
        note(status, "decided", message, obs.now)
        return Outcome(status, _close(status, Phase.BLOCKED, "Normal", "ScaleBackNotNeeded",
                                      message, obs.now), wait=False)
    if not fitting:
        tried = ", ".join(status.tried_actions) or "none"
        return _escalate(status, "NoActionLeft",
                         f"no untried action of runbook {runbook.metadata.name} fits cause "
                         f"{cause.value} (tried: {tried})", obs.now)
    if isinstance(obs.target, ReadError) or obs.target is None:
        return _unreadable(rem, status, obs.target or ReadError("unavailable", "not read"),
                           obs.now)
    target = obs.target
    _readable(status)
    action = fitting[0]
    learned_effects: tuple[Effect, ...] = ()
    if of is not None and action.scale is not None:  # a scale-back, never below the pins
        pins = pinned_now(target)
        candidate, params, unfit = scale_back_action(of, action.scale, pins.replicas, pins.hpa,
                                                     pins.hpa_min_replicas)
        if candidate is None:
            note(status, "decided", f"no scale-back: {unfit}", obs.now)
            return Outcome(status, _close(status, Phase.BLOCKED, "Normal", "ScaleBackNotNeeded",
                                          f"no scale-back: {unfit}", obs.now), wait=False)
    else:
        learned = learned_order(runbook, rem, status.tried_actions, obs.outcomes)
        if learned is not None:
            first, learned_effects = _follow_learning(runbook, status, learned, obs.now)
            action = next(a for a in fitting if a.name == first)
        candidate, params, unfit = concrete_action(action, target.deployment,
                                                   list(target.replica_sets), target.pods)
    if candidate is None:
        status.tried_actions.append(action.name)
        note(status, "decided", f"skipped {action.name}: {unfit}", obs.now)
        return Outcome(status, (*learned_effects, WriteStatus(status)), wait=False)
    status.decisions += 1
    chosen = ChosenAction(name=action.name, kind=action.kind, params=params,
                          pinned=pinned_now(target), managed_by=target.managed_by)
    chosen.digest = action_digest(rem.metadata.name or "", status.decisions,
                                  f"{rem.spec.target.namespace}/{rem.spec.target.name}", chosen)
    policy_input = _policy_input(rem, candidate, target, obs, runbook)
    status.action = chosen
    if of is None and action.scale is not None and action.scale.scale_back is not None:
        status.scale_back = planned_scale_back(runbook, action.scale.scale_back, obs.load_level)
    status.risk = RiskRecord(score=round(policy_input.risk.score, 4), factors=[
        RiskFactorRecord(name=f.name, value=round(f.value, 4),
                         contribution=round(f.contribution, 4), explanation=f.explanation[:512])
        for f in policy_input.risk.factors])
    note(status, "decided",
         f"{action.name} ({action.kind.value} {_params(params)}), risk "
         f"{policy_input.risk.score:.2f}: {policy_input.risk.explain()}", obs.now)
    own = own_guardrails(runbook.spec.guardrails.max_actions_per_hour, obs.history)
    if own:  # the runbook's own guardrails need no policy engine
        note(status, "gated", own, obs.now)
        status.conditions = set_condition(status.conditions, "PolicyAllowed", False,
                                          "RunbookGuardrail", own, at=obs.now)
        return Outcome(status, (*learned_effects, *_close(status, Phase.BLOCKED, "Warning",
                                                          "Blocked", own, obs.now)), wait=False)
    return Outcome(status, (*learned_effects, AskPolicy(policy_input, then="gated")),
                   wait=False)


def gated(rem: Remediation, status: RemediationStatus, obs: Observations) -> Outcome:
    """The policy's answer on the decided action: dry run, blocked, wait for a human, or run."""
    decision, runbook, action = obs.policy, obs.runbook, status.action
    assert decision is not None and runbook is not None and action is not None
    namespace, name = rem.spec.target.namespace, rem.spec.target.name
    status.policy = policy_record(decision, obs.now)
    note(status, "gated", decision.message, obs.now)
    status.conditions = set_condition(status.conditions, "PolicyAllowed", decision.allow,
                                      decision.condition_reason, decision.message, at=obs.now)
    counted = CountPolicy(decision.condition_reason)
    if runbook.spec.mode == "dry-run":
        owner = action.managed_by
        message = (f"dry-run: would {action.kind.value} {namespace}/{name} "
                   f"({_params(action.params)})"
                   + (f" after suspending the reconciliation of {owner.describe()}"
                      if owner is not None else "")
                   + f"; policy: {decision.message}")
        return Outcome(status, (counted, *_close(status, Phase.DRY_RUN, "Normal", "DryRun",
                                                 message, obs.now)), wait=False)
    if not decision.allow:
        return Outcome(status, (counted, *_close(
            status, Phase.BLOCKED, "Warning", decision.condition_reason,
            f"{action.name} not executed: {decision.message}", obs.now)), wait=False)
    if decision.require_approval:
        status.phase = Phase.AWAITING_APPROVAL
        status.pending_approval = PendingApproval(action=action.name, digest=action.digest,
                                                  requested_at=obs.now)
        status.conditions = set_condition(status.conditions, "Approved", None,
                                          "AwaitingApproval", decision.message, at=obs.now)
        return Outcome(status, (
            counted, WriteStatus(status),
            PostEvent("Normal", "ApprovalRequired",
                      f"{action.name} awaits approval: {decision.message}; run `kubeheal "
                      f"approve {rem.metadata.name} -n {namespace}`"),
            RecountPending(),
            Notify(NotificationEvent.APPROVAL_REQUESTED, decision.condition_reason,
                   f"{action.name} awaits approval: {decision.message}")), wait=True)
    status.phase = Phase.EXECUTING
    return Outcome(status, (counted, WriteStatus(status),
                            PostEvent("Normal", "PolicyAllowed",
                                      f"{action.name}: {decision.message}")), wait=False)


def await_approval(rem: Remediation, status: RemediationStatus, obs: Observations) -> Outcome:
    """Wait for a human decision naming the pending action's digest, until the timeout."""
    runbook, pending = obs.runbook, status.pending_approval
    assert runbook is not None
    if pending is None or status.action is None:
        return _escalate(status, "NoPendingAction", "awaiting approval without a pending action",
                         obs.now)
    decision = approval_of(rem, pending.digest)
    if decision is not None:
        who = f"{decision.decision} by {decision.approver}" + (
            f": {decision.reason}" if decision.reason else "")
        note(status, "approval", f"{pending.action} {who}", obs.now)
        status.pending_approval = None
        if decision.decision == "approved":
            status.phase = Phase.EXECUTING
            status.conditions = set_condition(status.conditions, "Approved", True, "Approved",
                                              who, at=obs.now)
            return Outcome(status, (WriteStatus(status), PostEvent("Normal", "Approved", who),
                                    RecountPending()), wait=False)
        status.conditions = set_condition(status.conditions, "Approved", False, "Rejected", who,
                                          at=obs.now)
        return _escalate(status, "Rejected", who, obs.now, RecountPending())
    timeout = runbook.spec.approval.timeout_seconds
    if obs.now - pending.requested_at > dt.timedelta(seconds=timeout):
        message = f"no decision within {timeout}s: rejected automatically"
        note(status, "approval", message, obs.now)
        status.conditions = set_condition(status.conditions, "Approved", False,
                                          "ApprovalTimedOut", message, at=obs.now)
        return _escalate(status, "ApprovalTimedOut", message, obs.now, RecountPending())
    return Outcome(status, (), wait=True)


def _redecide(status: RemediationStatus, why: str, at: dt.datetime,
              *before: Effect) -> Outcome:
    """Nothing ran because the target changed: decide again, a bounded number of times."""
    status.redecisions += 1
    status.pending_approval = None
    message = f"not executed: the target changed since the decision ({why})"
    if status.redecisions > MAX_REDECISIONS:
        return _escalate(status, "TargetKeptChanging",
                         f"{message}; decided {status.redecisions} times", at, *before)
    note(status, "decided", f"{message}; deciding again", at)
    status.phase = Phase.DETECTED
    return Outcome(status, (*before, WriteStatus(status),
                            PostEvent("Warning", "TargetChanged", message)), wait=False)


def _not_executed(status: RemediationStatus, message: str, at: dt.datetime) -> None:
    """Record the open intent, if any, as never executed, and drop it."""
    if status.intent is not None:
        status.executions.append(ExecutionRecord(intent=status.intent, outcome="not-executed",
                                                 completed_at=at, message=message[:1024]))
        status.intent = None


def _may_act(rem: Remediation, status: RemediationStatus, obs: Observations,
             ) -> tuple[Outcome | None, bool]:
    """Before an intent is written or called again: the target read fresh, the claim, the
    pins, the approval. An outcome when the action must not run now (it is then recorded as
    never executed), else whether the policy engine must be asked again first."""
    runbook, action = obs.runbook, status.action
    assert runbook is not None and action is not None
    if isinstance(obs.target, ReadError) or obs.target is None:
        return _unreadable(rem, status, obs.target or ReadError("unavailable", "not read"),
                           obs.now), False
    _readable(status)
    if obs.claimed is not True:
        message = (f"the incident claim of {_target_name(rem)} no longer names this "
                   "remediation: nothing is executed for it")
        _not_executed(status, message, obs.now)
        return _escalate(status, "ClaimLost", message, obs.now), False
    changed = changes_since_decision(action.pinned, obs.target) \
        or owner_change(action.managed_by, obs.target.managed_by)
    if changed:
        _not_executed(status, f"the target changed before the action ran: {changed}", obs.now)
        return _redecide(status, changed, obs.now), False
    approval = approval_of(rem, action.digest)
    problem = ""
    if approval is not None and approval.decision != "approved":
        problem, reason = f"{action.name} was {approval.decision} by {approval.approver}", \
            "Rejected"
    elif approval is None and status.policy is not None and status.policy.require_approval:
        problem, reason = f"{action.name} needs an approval that was never given", \
            "NotApproved"
    elif approval is not None:
        seen = next((c.last_transition_time for c in status.conditions
                     if c.type == "Approved" and c.status.value == "True"), approval.time)
        expiry = runbook.spec.approval.expiry_seconds
        if obs.now - min(seen, approval.time) > dt.timedelta(seconds=expiry):
            problem, reason = (f"the approval of {action.name} by {approval.approver} expired "
                               f"({expiry}s) before it ran"), "ApprovalExpired"
            status.conditions = set_condition(status.conditions, "Approved", False, reason,
                                              problem, at=obs.now)
    if problem:
        _not_executed(status, problem, obs.now)
        return _escalate(status, reason, problem, obs.now), False
    decided_at = status.policy.decided_at if status.policy is not None else None
    stale = decided_at is None or \
        (obs.now - decided_at).total_seconds() > POLICY_MAX_AGE_SECONDS
    return None, approval is not None or stale


def _ask_again(rem: Remediation, status: RemediationStatus, obs: Observations) -> Outcome:
    action, target = status.action, obs.target
    assert action is not None and isinstance(target, TargetState) and obs.runbook is not None
    return Outcome(status, (AskPolicy(_policy_input(rem, _candidate(action, target), target,
                                                    obs, obs.runbook), then="regated"),),
                   wait=False)


def prepare(rem: Remediation, status: RemediationStatus, obs: Observations) -> Outcome:
    """Before writing the intent: the target read fresh must be the one decided for and the
    claim must still name this remediation; an approved action must hold a valid approval,
    and the policy engine is asked again for it, or when its answer is old."""
    if status.action is None:
        return _escalate(status, "NoAction", "executing without a chosen action", obs.now)
    refused, ask = _may_act(rem, status, obs)
    if refused is not None:
        return refused
    if ask:
        return _ask_again(rem, status, obs)
    assert isinstance(obs.target, TargetState)
    return _write_intent(rem, status, obs.target, obs.now)


def regated(rem: Remediation, status: RemediationStatus, obs: Observations) -> Outcome:
    """The policy asked again right before an action (approved, or with an old answer): a deny
    now blocks it; an allow writes the intent and calls, or calls again with the open one."""
    decision, action, target = obs.policy, status.action, obs.target
    assert decision is not None and action is not None and isinstance(target, TargetState)
    status.policy = policy_record(decision, obs.now)
    note(status, "gated", f"asked again before running {action.name}: {decision.message}",
         obs.now)
    status.conditions = set_condition(status.conditions, "PolicyAllowed", decision.allow,
                                      decision.condition_reason, decision.message, at=obs.now)
    counted = CountPolicy(decision.condition_reason)
    if not decision.allow:
        message = f"{action.name} not executed: {decision.message}"
        _not_executed(status, message, obs.now)
        return Outcome(status, (counted, *_close(
            status, Phase.BLOCKED, "Warning", decision.condition_reason, message, obs.now)),
            wait=False)
    if status.intent is not None:
        return Outcome(status, (counted, WriteStatus(status),
                                call_action(status, status.intent, fresh=False)), wait=False)
    outcome = _write_intent(rem, status, target, obs.now)
    return Outcome(outcome.status, (counted, *outcome.effects), outcome.wait)


def call_action(status: RemediationStatus, intent: Intent, fresh: bool) -> Effect:
    """Call the intent's action; first suspend its GitOps owner's reconciliation, unless this
    remediation has that recorded already (an earlier action of it suspended the same owner).

    >>> from kubeheal.act.intent import TOKEN_ANNOTATION
    >>> owner = ManagedBy(tool="flux", api_version="kustomize.toolkit.fluxcd.io/v1",
    ...                   kind="Kustomization", namespace="flux-system", name="apps")
    >>> intent = Intent(action=ChosenAction(name="undo", kind="rollback", managed_by=owner),
    ...                 issued_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), token="t1")
    >>> type(call_action(RemediationStatus(), intent, fresh=True)).__name__
    'SuspendOwner'
    """
    owner = intent.action.managed_by
    if owner is not None and (status.gitops is None or owner_change(status.gitops.owner, owner)):
        return SuspendOwner(intent, fresh)
    return CallAction(intent, fresh)


def _write_intent(rem: Remediation, status: RemediationStatus, target: TargetState,
                  at: dt.datetime) -> Outcome:
    action = status.action
    assert action is not None
    params = dict(action.params)
    token = f"{rem.metadata.name}.{len(status.executions) + 1}"
    if action.kind is ActionKind.RESTART and params.get("strategy") == "delete-pod":
        pod = worst_pod(target.pods)
        if pod is None:
            return _failed_action(status, None, f"{_target_name(rem)} has no pod to evict", at)
        params["pod"] = pod  # recorded before the call: a resume evicts this pod, no other
    if action.kind is ActionKind.ROLLBACK and is_statefulset(target.deployment):
        params.update(blocking_pod(target))  # recorded before the call, as above
    generation = (target.deployment.get("metadata") or {}).get("generation")
    status.intent = Intent(action=action.model_copy(update={"params": params}), issued_at=at,
                           token=token,
                           target_generation=int(generation) if generation is not None else None)
    return Outcome(status, (WriteStatus(status), call_action(status, status.intent, fresh=True)),
                   wait=False)


def resume(rem: Remediation, status: RemediationStatus, obs: Observations) -> Outcome:
    """An intent without an outcome (after a crash, a takeover or a retryable failure).

    Settled already (the token on the target, the HPA's for a scale of an HPA; the recorded
    pod gone, for an eviction): the same call records it. Otherwise it is as if the intent
    were new: the claim, the pins and the approval are checked again, and the policy engine
    is asked again when its answer is old, before the same call, with the same token."""
    intent = status.intent
    assert intent is not None
    if intent.retry_at is not None and obs.now < intent.retry_at:
        return Outcome(status, (), wait=True)
    if isinstance(obs.target, TargetState) and settled(intent, obs.target):
        _readable(status)
        return Outcome(status, (call_action(status, intent, fresh=False),), wait=False)
    refused, ask = _may_act(rem, status, obs)
    if refused is not None:
        return refused
    if ask:
        return _ask_again(rem, status, obs)
    return Outcome(status, (call_action(status, intent, fresh=False),), wait=False)


def _failed_action(status: RemediationStatus, intent: Intent | None, message: str,
                   at: dt.datetime) -> Outcome:
    action = status.action
    assert action is not None
    if intent is not None:
        status.executions.append(ExecutionRecord(intent=intent, outcome="failed",
                                                 completed_at=at, message=message[:1024]))
    status.intent = None
    status.tried_actions.append(action.name)
    status.phase = Phase.DETECTED
    note(status, "acted", f"{action.name} failed: {message}", at)
    return Outcome(status, (WriteStatus(status), CountAction(action.kind.value, "failed"),
                            PostEvent("Warning", "ActionFailed", message)), wait=False)


def _retry_later(status: RemediationStatus, intent: Intent, action: str, reason: str,
                 error: str, check: str, at: dt.datetime) -> Outcome:
    """An outcome still open: keep the intent and call again later with the same token, up to
    :data:`MAX_ATTEMPTS` calls, then escalate (humans check ``check``)."""
    attempts = intent.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        status.intent = intent.model_copy(update={"attempts": attempts,
                                                  "last_error": error[:1024]})
        return _escalate(status, "ActionUnsettled",
                         f"{action} not settled after {attempts} calls with token "
                         f"{intent.token} ({reason}: {error}); the intent stays on record, "
                         f"check {check}", at)
    retry_at = at + dt.timedelta(seconds=RETRY_SECONDS * attempts)
    status.intent = intent.model_copy(update={"attempts": attempts, "retry_at": retry_at,
                                              "last_error": error[:1024]})
    message = (f"{action} not settled ({reason}): {error}; the same call (token "
               f"{intent.token}) is tried again")
    note(status, "acted", message, at)
    return Outcome(status, (WriteStatus(status), PostEvent("Warning", "ActionRetrying",
                                                           message)), wait=True)


def suspended(rem: Remediation, status: RemediationStatus, obs: Observations) -> Outcome:
    """The GitOps owner's reconciliation, suspended before the action (or found suspended):
    recorded on the status, told plainly in the story and an Event, then the action is
    called. An owner that cannot be suspended (not found, no rights, refused) leaves the
    workload untouched and escalates; an open outcome is tried again with the same intent."""
    intent, action, result = status.intent, status.action, obs.suspension
    assert intent is not None and action is not None and result is not None
    owner = intent.action.managed_by
    assert owner is not None
    if isinstance(result, SuspensionError):
        if result.transient:
            return _retry_later(status, intent, f"suspending {owner.describe()} for "
                                f"{action.name}", result.reason, result.message, "the owner",
                                obs.now)
        message = (f"{action.name} not executed: {result.message}; nothing was done to "
                   f"{_target_name(rem)}, which {owner.describe()} would revert at its next "
                   "sync")
        _not_executed(status, message, obs.now)
        status.conditions = set_condition(status.conditions, "ReconciliationSuspended", False,
                                          "SuspendFailed", message, at=obs.now)
        return _escalate(status, "GitOpsSuspendFailed", message, obs.now)
    status.gitops = GitOpsSuspension(owner=owner, field=result.field, previous=result.previous,
                                     changed=result.changed, token=intent.token,
                                     suspended_at=obs.now, message=result.message[:1024])
    story = (f"{result.message}, so that it does not undo {action.name} on "
             f"{_target_name(rem)}. Its reconciliation stays suspended until a human confirms "
             f"that Git holds the fix and runs `kubeheal gitops resume {rem.metadata.name} -n "
             f"{rem.metadata.namespace or rem.spec.target.namespace}`; kubeheal never lifts it")
    status.conditions = set_condition(
        status.conditions, "ReconciliationSuspended", True,
        "SuspendedByKubeheal" if result.changed else "SuspendedAlready", story, at=obs.now)
    note(status, "acted", story, obs.now)
    return Outcome(status, (WriteStatus(status),
                            PostEvent("Warning", "ReconciliationSuspended", story),
                            CallAction(intent, fresh=not obs.resumed)), wait=False)


def acted(rem: Remediation, status: RemediationStatus, obs: Observations) -> Outcome:
    """The call's outcome: executed (verify), a definite failure (next action), or still
    open (keep the intent, call again later with the same token, escalate after a bound)."""
    intent, action, result = status.intent, status.action, obs.result
    assert intent is not None and action is not None and result is not None
    if isinstance(result, ActionError):
        if result.reason == "target-changed":  # the action itself found the pins changed
            _not_executed(status, result.message, obs.now)
            return _redecide(status, result.message, obs.now)
        if not result.retryable:
            return _failed_action(status, intent, result.message, obs.now)
        return _retry_later(status, intent, action.name, result.reason, result.message,
                            "the target", obs.now)
    message = result.message + (" (settled after a restart)" if obs.resumed else "")
    status.executions.append(ExecutionRecord(intent=intent, outcome="executed",
                                             completed_at=obs.now, message=message[:1024]))
    status.intent = None
    status.tried_actions.append(action.name)
    status.phase = Phase.VERIFYING
    status.verification = VerificationRecord(result="pending", started_at=obs.now)
    note(status, "acted", message, obs.now)
    effects: list[Effect] = [WriteStatus(status)]
    if not result.already_applied:
        effects.append(CountAction(action.kind.value, "executed"))
    effects.append(PostEvent("Normal", "Executed", message))
    return Outcome(status, tuple(effects), wait=True)


def _verification_failed(status: RemediationStatus, verification: VerificationRecord,
                         message: str, at: dt.datetime) -> Outcome:
    verification.result = "failed"
    verification.completed_at = at
    verification.message = message[:1024]
    status.verification = verification
    status.phase = Phase.DETECTED  # choose the next action, or escalate
    status.conditions = set_condition(status.conditions, "Verified", False,
                                      "VerificationFailed", message, at=at)
    note(status, "verified", f"not recovered: {message}", at)
    return Outcome(status, (WriteStatus(status),
                            PostEvent("Warning", "VerificationFailed", message)), wait=False)


def _inconclusive(status: RemediationStatus, verification: VerificationRecord, reason: str,
                  message: str, at: dt.datetime) -> Outcome:
    verification.result = "inconclusive"
    verification.completed_at = at
    verification.message = message[:1024]
    status.verification = verification
    status.conditions = set_condition(status.conditions, "Verified", None, "Inconclusive",
                                      message, at=at)
    return _escalate(status, "Inconclusive", f"{reason}: {message}", at)


def verify(rem: Remediation, status: RemediationStatus, obs: Observations) -> Outcome:
    """Wait for the rollout, then require health for the whole window. Only a conclusive
    unhealthy verdict at the deadline moves to the next action; missing data escalates."""
    runbook = obs.runbook
    assert runbook is not None
    settings = runbook.spec.verification
    verification = status.verification or VerificationRecord(result="pending",
                                                             started_at=obs.now)
    started = verification.started_at or obs.now
    if verification.rollout_completed_at is None:
        if isinstance(obs.target, ReadError) or obs.target is None:
            unreadable = True
            why = (obs.target or ReadError("unavailable", "not read")).message
        else:
            unreadable = False
            rollout = rollout_status(obs.target.deployment)
            if rollout.complete:
                verification.rollout_completed_at = obs.now
                note(status, "verified", "rollout complete", obs.now)
            why = rollout.message
        if verification.rollout_completed_at is None:
            if obs.now - started <= dt.timedelta(seconds=settings.rollout_timeout_seconds):
                return Outcome(status, (), wait=True)
            message = f"rollout not complete within {settings.rollout_timeout_seconds}s: {why}"
            if unreadable:
                return _inconclusive(status, verification, "TargetUnreadable", message, obs.now)
            return _verification_failed(status, verification, message, obs.now)
    health = obs.health or Health("inconclusive", "no verdict", "NoData")
    if health.verdict == "healthy":
        verification.healthy_since = verification.healthy_since or obs.now
        status.conditions = [c for c in status.conditions if c.type != "Inconclusive"]
    else:
        verification.healthy_since = None
        status.conditions = set_condition(
            status.conditions, "Inconclusive", health.verdict == "inconclusive",
            health.reason or "DataPresent", health.message, at=obs.now)
    held = (obs.now - verification.healthy_since).total_seconds() \
        if verification.healthy_since else 0.0
    if health.verdict == "healthy" and held >= settings.window_seconds:
        verification.result = "succeeded"
        verification.completed_at = obs.now
        verification.message = f"held for {held:.0f}s: {health.message}"[:1024]
        status.verification = verification
        note(status, "verified", f"recovered: {verification.message}", obs.now)
        status.conditions = set_condition(status.conditions, "Verified", True, "Recovered",
                                          verification.message, at=obs.now)
        status.conditions = set_condition(status.conditions, "Ready", True, "Succeeded",
                                          verification.message, at=obs.now)
        recovered = Recovered(max(0.0, (obs.now - rem.spec.trigger.started_at).total_seconds()))
        return Outcome(status, (recovered, *_close(status, Phase.SUCCEEDED, "Normal",
                                                   "Recovered", verification.message,
                                                   obs.now)), wait=False)
    rollout_done = verification.rollout_completed_at or obs.now
    deadline = rollout_done + dt.timedelta(
        seconds=settings.window_seconds * 2 + settings.rollout_timeout_seconds)
    if obs.now > deadline:
        if health.verdict == "inconclusive":
            return _inconclusive(status, verification, health.reason or "NoData",
                                 f"no verdict before the deadline: {health.message}", obs.now)
        return _verification_failed(
            status, verification,
            f"did not hold for {settings.window_seconds}s before the deadline: {health.message}",
            obs.now)
    verification.message = health.message[:1024]
    status.verification = verification
    return Outcome(status, (WriteStatus(status),), wait=True)


def abandon(rem: Remediation, status: RemediationStatus, obs: Observations) -> Outcome:
    """The runbook that opened the incident is gone or invalid: humans take over."""
    return _escalate(status, "RunbookUnavailable",
                     f"runbook {rem.spec.runbook_ref.name}: {obs.runbook_problem}", obs.now)


OPEN: Final = (Phase.DETECTED, Phase.AWAITING_APPROVAL, Phase.EXECUTING, Phase.VERIFYING)

TRANSITIONS: Final[tuple[Transition, ...]] = (
    Transition((None,), "created", (Phase.DETECTED,), initialize,
               "first status, when the evaluator did not write it"),
    Transition((Phase.DETECTED,), "decide",
               (Phase.DETECTED, Phase.BLOCKED, Phase.ESCALATED), decide,
               "choose, pin and score the next action; ask the policy"),
    Transition((Phase.DETECTED,), "gated",
               (Phase.DRY_RUN, Phase.BLOCKED, Phase.AWAITING_APPROVAL, Phase.EXECUTING), gated,
               "the policy's answer"),
    Transition((Phase.AWAITING_APPROVAL,), "approval",
               (Phase.AWAITING_APPROVAL, Phase.EXECUTING, Phase.ESCALATED), await_approval,
               "a human decision on the pending digest, or the timeout"),
    Transition((Phase.EXECUTING,), "prepare",
               (Phase.EXECUTING, Phase.DETECTED, Phase.ESCALATED), prepare,
               "claim held, target as pinned, approval valid; write the intent and call"),
    Transition((Phase.EXECUTING,), "regated",
               (Phase.EXECUTING, Phase.BLOCKED), regated,
               "the policy asked again (an approved action, or an old answer)"),
    Transition((Phase.EXECUTING,), "resume",
               (Phase.EXECUTING, Phase.DETECTED, Phase.ESCALATED), resume,
               "an intent without an outcome: settled, or checked again and called again"),
    Transition((Phase.EXECUTING,), "suspended",
               (Phase.EXECUTING, Phase.ESCALATED), suspended,
               "the GitOps owner's reconciliation suspended first, or not: escalate"),
    Transition((Phase.EXECUTING,), "acted",
               (Phase.VERIFYING, Phase.DETECTED, Phase.EXECUTING, Phase.ESCALATED), acted,
               "executed, target changed, failed for good, or still open"),
    Transition((Phase.VERIFYING,), "verify",
               (Phase.VERIFYING, Phase.SUCCEEDED, Phase.DETECTED, Phase.ESCALATED), verify,
               "healthy for the window, conclusively unhealthy, or inconclusive"),
    Transition(OPEN, "runbook-unavailable", (Phase.ESCALATED,), abandon,
               "the runbook is gone or invalid"),
)


def mermaid() -> str:
    """The table as a mermaid state diagram, one arrow per (source, trigger, target).

    >>> print(mermaid().splitlines()[1])
        [*] --> Detected: created
    """
    lines = ["stateDiagram-v2"]
    for t in TRANSITIONS:
        for source in t.sources:
            for target in t.targets:
                lines.append(f"    {source.value if source else '[*]'} --> {target.value}: "
                             f"{t.trigger}")
    lines.extend(f"    {p.value} --> [*]" for p in Phase if p.terminal)
    return "\n".join(lines)


def gate_input(rem: Remediation, candidate: Candidate, target: TargetState, obs: Observations,
               runbook: Runbook) -> PolicyInput:
    """The policy input the gate asks OPA with about ``candidate`` for ``rem`` (also what
    ``kubeheal explain`` previews each action with, so that a preview is the same question)."""
    return _policy_input(rem, candidate, target, obs, runbook)
