"""The replay of a Runbook over history: the live loop's detection, diagnosis and decision,
fed with range queries and historical time instead of instant queries and the wall clock.

:func:`detect` walks the window a step at a time. Each step is a tick of the engine that the
live loop (:class:`~kubeheal.controller.runbooks.RunbookEvaluator`) drives too,
:func:`kubeheal.controller.engine.step`; this driver reads indexed history instead of
Prometheus and keeps the guards itself. So each step has the live loop's pieces: a stream
per (workload, signal) in :class:`~kubeheal.detect.runbook.RunbookStreams`, warmed from the
``detection.historySeconds`` before it first scores (less the windows of earlier replayed
incidents), learning held while the workload has an open incident, one open incident per
workload, the runbook's cooldown and concurrency guardrails applied in replay time, and the
diagnosis from the streams' verdicts and the rollout history that existed at that moment
(ReplicaSets created until then). A step where a signal answered for none of the selected
workloads is skipped, as the live loop skips its tick: no action on missing data.

Nothing acts, so a replayed incident has no verification to close it: it closes at the first
step its workload is out of alarm (the signals recovered), and the cooldown runs from then.

:func:`decide` then runs the lifecycle's own transitions (``created``, ``decide``, ``gated``:
:mod:`kubeheal.controller.lifecycle`) on each incident, with the target as it stood then and
the actions the replay would have taken before it in the rate limits; ``ask`` is the policy
engine. Both are pure but for ``ask``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubeheal.api.remediation import Phase, Remediation, RemediationStatus
from kubeheal.api.runbook import Runbook
from kubeheal.controller import engine
from kubeheal.controller.lifecycle import AskPolicy, Observations, TargetState, fire
from kubeheal.decide import RemediationHistory
from kubeheal.decide.policy_input import PolicyInput
from kubeheal.detect.runbook import Point, RunbookStreams
from kubeheal.diagnose import diagnosis as diagnosis_mod
from kubeheal.diagnose.objects import REVISION_ANNOTATION, revisions_from_replicasets
from kubeheal.observe.kubernetes import parse_time
from kubeheal.policy import PolicyDecision

Json = dict[str, Any]


@dataclass(frozen=True)
class History:
    """What a replay reads: each signal's points per workload (oldest first; from
    ``historySeconds`` before the window to its end), the Deployments the runbook selects by
    name, and each one's ReplicaSets (its rollout history, as far as the cluster keeps it)."""

    series: Mapping[str, Mapping[str, Sequence[Point]]]
    deployments: Mapping[str, Json]
    replica_sets: Mapping[str, Sequence[Json]] = field(default_factory=dict)


@dataclass(frozen=True)
class Window:
    """The replayed time: steps at ``since``, ``since + step``, ... up to ``until``."""

    since: dt.datetime
    until: dt.datetime
    step: float

    def steps(self) -> list[float]:
        """The steps' times (seconds since the epoch), on the grid of ``step``.

        >>> t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        >>> w = Window(t + dt.timedelta(seconds=7), t + dt.timedelta(seconds=40), 15.0)
        >>> [s - t.timestamp() for s in w.steps()]
        [15.0, 30.0]
        """
        first = math.ceil(self.since.timestamp() / self.step) * self.step
        count = math.floor((self.until.timestamp() - first) / self.step) + 1
        return [first + k * self.step for k in range(max(0, count))]


@dataclass
class ReplayedIncident:
    """One incident the runbook would have opened, and what it would have done about it."""

    workload: str
    remediation: Remediation
    closed_at: dt.datetime | None = None
    status: RemediationStatus | None = None
    """The status after deciding and asking the policy (:func:`decide`)."""
    policy: PolicyDecision | None = None

    @property
    def detected_at(self) -> dt.datetime:
        return self.remediation.spec.trigger.detected_at

    @property
    def would_act(self) -> bool:
        """Whether the action would run (at once, or once approved)."""
        return self.status is not None and self.status.phase in (
            Phase.EXECUTING, Phase.AWAITING_APPROVAL)


@dataclass(frozen=True)
class HeldAlarm:
    """An alarm that opened no incident, and why (a guardrail of the runbook)."""

    at: dt.datetime
    workload: str
    reason: str


@dataclass
class Replay:
    """What the replay found."""

    window: Window
    incidents: list[ReplayedIncident] = field(default_factory=list)
    held: list[HeldAlarm] = field(default_factory=list)
    alarms: int = 0
    """Alarms raised: a workload going into alarm, whether or not it opened an incident."""
    steps: int = 0
    skipped: list[tuple[dt.datetime, str]] = field(default_factory=list)
    """Steps not scored for missing data: the first of each run, with why."""


def _at(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def _key(seconds: float) -> int:
    return round(seconds * 1000)


def replica_sets_at(replica_sets: Sequence[Json], moment: dt.datetime) -> list[Json]:
    """The ReplicaSets that existed at ``moment``."""
    return [rs for rs in replica_sets
            if (created := parse_time(rs["metadata"].get("creationTimestamp"))) is not None
            and created <= moment]


def deployment_at(deployment: Json, replica_sets: Sequence[Json]) -> Json:
    """The Deployment as read now, at the revision of the newest of ``replica_sets`` (those
    that existed then), so that a rollback is decided against the revision before it.

    >>> d = {"metadata": {"annotations": {REVISION_ANNOTATION: "3"}}, "spec": {}}
    >>> rs = [{"metadata": {"annotations": {REVISION_ANNOTATION: n}}} for n in ("1", "2")]
    >>> deployment_at(d, rs)["metadata"]["annotations"][REVISION_ANNOTATION]
    '2'
    """
    numbers = [int(n) for rs in replica_sets
               if (n := (rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION))
               and n.isdigit()]
    if not numbers:
        return deployment
    annotations = deployment["metadata"].get("annotations") or {}
    meta = {**deployment["metadata"],
            "annotations": {**annotations, REVISION_ANNOTATION: str(max(numbers))}}
    return {**deployment, "metadata": meta}


def detect(runbook: Runbook, history: History, window: Window) -> Replay:
    """The incidents the runbook would have opened over ``window``, diagnosed: each step a
    tick of the engine (:func:`kubeheal.controller.engine.step`), fed the step's points."""
    spec = runbook.spec
    namespace, name = runbook.metadata.namespace or "", runbook.metadata.name or ""
    streams = RunbookStreams(namespace, name, spec.detection)
    workloads = dict(history.deployments)
    indexed = {signal: {w: {_key(t): v for t, v in points} for w, points in by.items()}
               for signal, by in history.series.items()}
    found = Replay(window)
    open_: dict[str, ReplayedIncident] = {}
    last_closed: dict[str, dt.datetime] = {}
    windows: dict[str, list[tuple[float, float]]] = {}
    in_alarm: set[str] = set()
    held_reasons: set[str] = set()
    skipping = ""  # why the steps are being skipped, while they are
    for moment in window.steps():
        at, key = _at(moment), _key(moment)
        found.steps += 1
        values = {signal.name: {w: (moment, by[key])
                                for w, by in indexed.get(signal.name, {}).items()
                                if key in by and math.isfinite(by[key])}
                  for signal in spec.signals}
        start = moment - spec.detection.history_seconds
        end = moment - spec.interval_seconds  # as the live warm-up: before this step
        for signal, new in engine.new_streams(spec.signals, streams, values, workloads):
            streams.add(engine.warm(streams, signal.name, new, {
                w: [p for p in history.series[signal.name].get(w, ()) if start <= p[0] <= end]
                for w in new}, windows))
        decision = engine.step(runbook, streams, engine.Tick(at, values, workloads, engine.Guards(
            {w: i.remediation.metadata.name or "" for w, i in open_.items()}, last_closed,
            len(open_)), closing=True))
        if decision.skipped is not None:
            if skipping != decision.skipped:
                found.skipped.append((at, decision.skipped))
            skipping = decision.skipped
            continue
        skipping = ""
        for workload in decision.recovered:  # the signals recovered: the incident closes
            incident = open_.pop(workload)
            incident.closed_at = last_closed[workload] = at
            windows[workload][-1] = (windows[workload][-1][0], moment)
        for workload in [w for w in in_alarm if (v := decision.verdicts.get(w)) is not None
                         and not v.alarm]:
            in_alarm.discard(workload)
        for verdict in decision.verdicts.alarms:
            if verdict.workload not in in_alarm:
                in_alarm.add(verdict.workload)
                found.alarms += 1
        for hold in decision.held:
            if hold.kind != "open" and hold.reason not in held_reasons:
                held_reasons.add(hold.reason)
                found.held.append(HeldAlarm(at, hold.workload, hold.reason))
        for opening in decision.opened:
            workload = opening.workload
            existed = replica_sets_at(history.replica_sets.get(workload, ()), at)
            diagnosis = diagnosis_mod.diagnose(dataclasses.replace(
                opening.diagnosis, revisions=revisions_from_replicasets(existed)))
            remediation = engine.incident_remediation(
                namespace, name, workload, f"{workload}-replay-{len(found.incidents) + 1}",
                opening.incident, opening.onset, at, opening.evidence, diagnosis)
            incident = ReplayedIncident(workload, remediation)
            found.incidents.append(incident)
            open_[workload] = incident
            windows.setdefault(workload, []).append((opening.onset.timestamp(), math.inf))
    return found


PolicyAsker = Callable[[PolicyInput], Awaitable[PolicyDecision]]


def _history(earlier: Sequence[ReplayedIncident], target: str,
             moment: dt.datetime) -> RemediationHistory:
    """What the replay would have done before ``moment``, as the rate limits count it."""
    hour = [i for i in earlier if i.would_act
            and moment - dt.timedelta(hours=1) <= i.detected_at <= moment]
    mine = [i for i in hour if i.workload == target]
    return RemediationHistory(
        actions_last_hour=len(mine), namespace_actions_last_hour=len(hour),
        last_action_at=max((i.detected_at for i in earlier
                            if i.would_act and i.workload == target), default=None))


async def decide(runbook: Runbook, history: History, found: Replay, ask: PolicyAsker,
                 namespace_labels: Mapping[str, str] | None = None) -> None:
    """Decide each incident as the remediation driver would when it opened: the lifecycle's
    transitions on the target as it stood then, the policy asked through ``ask``."""
    for number, incident in enumerate(found.incidents):
        rem, at = incident.remediation, incident.detected_at
        existed = replica_sets_at(history.replica_sets.get(incident.workload, ()), at)
        target = TargetState(deployment_at(history.deployments[incident.workload], existed),
                             tuple(existed))
        obs = Observations(now=at, runbook=runbook, target=target,
                           history=_history(found.incidents[:number], incident.workload, at),
                           namespace_labels=dict(namespace_labels or {}))
        status = fire("created", rem, None, Observations(at, None)).status
        for _ in range(len(runbook.spec.actions) + 1):  # each pass tries one action
            outcome = fire("decide", rem, status, obs)
            status = outcome.status
            asked = next((e for e in outcome.effects if isinstance(e, AskPolicy)), None)
            if asked is not None:
                incident.policy = await ask(asked.input)
                status = fire("gated", rem, status,
                              dataclasses.replace(obs, policy=incident.policy)).status
                break
            if status.phase is not Phase.DETECTED:
                break
        incident.status = status
