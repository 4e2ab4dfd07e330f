"""The evaluation of a Runbook at one tick, shared by its drivers: one engine, no copies.

:func:`step` is what one tick decides, from what the tick is given (:class:`Tick`): the
values of each signal per workload, the selected workloads, what the guardrails need
(:class:`Guards`: the open incident of each workload, when its last one closed, how many of
this runbook's are open), the firing alerts, and the moment. It skips a tick where a signal
answered for none of the workloads (no action on missing data); else it scores and learns
each point (learning held for the workloads with an open incident), fuses the signals of each
workload, and for each workload in alarm (then each firing alert) either opens an incident,
with its onset, what the diagnosis starts from and the trigger's evidence, or holds it back
and says why (an incident is open, the runbook's concurrency, its cooldown). It returns what
it decided (:class:`Decision`) and does nothing about it.

Its drivers do the I/O around it:

- the live loop (:class:`~kubeheal.controller.runbooks.RunbookEvaluator`) feeds it instant
  queries and the wall clock, reads the guards from the watched Remediations, and for each
  opening takes the workload's claim, completes the diagnosis with the pods, Events and
  rollout history it reads, and creates the Remediation;
- ``kubeheal replay`` (:func:`kubeheal.replay.loop.detect`) feeds it range queries a step at
  a time and historical time, keeps the guards itself, diagnoses from the rollout history as
  it stood, and closes an incident at the tick that says its workload recovered
  (:attr:`Tick.closing`).

Both warm a new stream (:func:`new_streams`, :func:`warm`) from the history they read before
the tick scores it. The only state is the streams' (:class:`RunbookStreams`), which the step
advances; nothing else is read or written.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from kubeheal.api.base import ObjectMeta, ObjectReference, WorkloadKind, WorkloadReference
from kubeheal.api.remediation import (
    AlertTrigger,
    DetectorRecord,
    Remediation,
    RemediationSpec,
    SignalEvidence,
    Trigger,
)
from kubeheal.api.runbook import ReceivedAlert, Runbook, Signal
from kubeheal.controller.store import RUNBOOK_LABEL, TARGET_LABEL, rfc3339
from kubeheal.detect.alarms import unusual
from kubeheal.detect.runbook import (
    Point,
    RunbookStreams,
    Stream,
    Verdicts,
    WarmedStreams,
    WorkloadVerdict,
)
from kubeheal.detect.values import IncidentScore
from kubeheal.diagnose import diagnosis as diagnosis_mod
from kubeheal.diagnose import facts as dfacts

Values = Mapping[str, Mapping[str, Point]]
"""A tick's point of each signal (by name) for each workload that has one."""

HoldKind = Literal["open", "concurrency", "cooldown", "not-selected"]


@dataclass(frozen=True)
class Guards:
    """What the guardrails read at a tick."""

    open: Mapping[str, str] = field(default_factory=dict)
    """The open incident of each workload that has one (its Remediation's name)."""
    last_closed: Mapping[str, dt.datetime] = field(default_factory=dict)
    """When each workload's last incident closed."""
    open_of_runbook: int = 0
    """How many incidents of this runbook are open."""


@dataclass(frozen=True)
class Tick:
    """What one tick is given."""

    moment: dt.datetime
    """When the tick decides: the detection time of what it opens, the cooldown's clock."""
    values: Values
    workloads: Collection[str]
    """The workloads the runbook selects at this tick."""
    guards: Guards = field(default_factory=Guards)
    alerts: Sequence[tuple[str, ReceivedAlert]] = ()
    """The firing alerts the runbook names (fingerprint and record), oldest first."""
    alerted: Collection[str] = frozenset()
    """The fingerprints of ``alerts`` whose firing opened an incident already."""
    closing: bool = False
    """Whether an incident closes at the tick its workload recovers, before the tick opens
    any (replay: nothing acts, so nothing verifies and closes it); live, verification
    closes it."""


@dataclass(frozen=True)
class Opening:
    """An incident the tick opens, and what its Remediation is made of."""

    workload: str
    onset: dt.datetime
    diagnosis: dfacts.DiagnosisInput
    """What the diagnosis starts from (the onset and the signals); a driver adds the rollout
    history and the pods it reads."""
    evidence: tuple[SignalEvidence, ...] = ()
    incident: IncidentScore | None = None
    """The fused score that alarmed (None: an alert opened it)."""
    alert: tuple[str, ReceivedAlert] | None = None
    """The alert that opened it (its fingerprint and record), if one did."""


@dataclass(frozen=True)
class Held:
    """An alarm or alert that opened no incident, and why."""

    workload: str
    kind: HoldKind
    reason: str


@dataclass(frozen=True)
class Decision:
    """What one tick decided."""

    skipped: str | None = None
    """Why the tick was not scored (missing data), else None."""
    verdicts: Verdicts = field(default_factory=Verdicts)
    """Every scored workload's; those of the calm ones are made when read."""
    holding: tuple[str, ...] = ()
    """The selected workloads whose streams scored without learning (an open incident)."""
    opened: tuple[Opening, ...] = ()
    held: tuple[Held, ...] = ()
    recovered: tuple[str, ...] = ()
    """Workloads with an open incident that are out of alarm (the signals recovered): with
    :attr:`Tick.closing`, their incidents closed at this tick."""

    @property
    def alarms(self) -> list[WorkloadVerdict]:
        return list(self.verdicts.alarms)


def step(runbook: Runbook, streams: RunbookStreams, tick: Tick) -> Decision:
    """What ``runbook`` decides at ``tick``, its ``streams`` advanced by the tick's points.

    The streams of the tick's workloads should exist (:func:`new_streams`): a workload
    without one is not scored.
    """
    spec = runbook.spec
    why = missing_series(spec.signals, tick.values, tick.workloads)
    if why is not None:
        return Decision(skipped=why)
    guards = tick.guards
    holding = sorted(w for w in tick.workloads if w in guards.open)
    verdicts = streams.observe(spec.signals, tick.values, tick.workloads,
                               learning_held(guards.open, spec.signals))
    recovered = tuple(w for w in sorted(guards.open)
                      if (v := verdicts.get(w)) is not None and not v.alarm)
    count = guards.open_of_runbook - (len(recovered) if tick.closing else 0)
    opened: list[Opening] = []
    held: list[Held] = []

    def open_or_hold(workload: str, incident: IncidentScore | None,
                     alert: tuple[str, ReceivedAlert] | None = None) -> None:
        nonlocal count
        hold = held_back(runbook, workload, guards.open, count,
                         guards.last_closed.get(workload), tick.moment)
        if hold is not None:
            held.append(hold)
            return
        onset = incident_onset(incident, tick.moment)
        if alert is not None:
            onset = min(alert[1].starts_at, tick.moment)
        evidence = signal_evidence(incident, functools.partial(model_record, runbook, streams,
                                                               workload))
        opened.append(Opening(
            workload, onset, dfacts.DiagnosisInput(
                onset=onset, signals=signal_anomalies(spec.signals, streams.streams, workload)),
            tuple(evidence), incident, alert))
        count += 1

    for verdict in verdicts.alarms:
        open_or_hold(verdict.workload, verdict.incident)
    for fingerprint, record in tick.alerts if spec.alerts else ():
        # An alert opens an incident as an alarm does: one for a workload with an open
        # incident adds nothing; one firing opens one incident.
        if record.workload not in tick.workloads:
            held.append(Held(record.workload, "not-selected", (
                f"{record.workload}: alert {record.name} names it, and the runbook's selector "
                f"does not pick that {spec.target_kind}")))
            continue
        if (any(o.workload == record.workload for o in opened)
                or fingerprint in tick.alerted):
            continue
        open_or_hold(record.workload, None, (fingerprint, record))
    return Decision(verdicts=verdicts, holding=tuple(holding), opened=tuple(opened),
                    held=tuple(held), recovered=recovered)


def held_back(runbook: Runbook, workload: str, open_: Mapping[str, str], open_of_runbook: int,
              last_closed: dt.datetime | None, moment: dt.datetime) -> Held | None:
    """Why no incident opens for ``workload`` at ``moment`` (an incident of it is open, the
    runbook has its most open, its cooldown runs), or None."""
    if workload in open_:
        return Held(workload, "open", f"{workload}: remediation {open_[workload]} is still open")
    guard = runbook.spec.guardrails
    if open_of_runbook >= guard.max_concurrent_remediations:
        return Held(workload, "concurrency", (
            f"{workload}: {open_of_runbook} remediations of this runbook are open "
            f"(max {guard.max_concurrent_remediations})"))
    cooling = cooling_down(workload, last_closed, moment, guard.cooldown_seconds)
    return None if cooling is None else Held(workload, "cooldown", cooling)


def missing_series(signals: Sequence[Signal], values: Values,
                   workloads: Collection[str]) -> str | None:
    """Why a tick cannot be scored: a signal answered for none of the watched workloads (the
    first such signal's :func:`no_series`), else None."""
    for signal in signals:
        why = no_series(signal, values.get(signal.name, {}), workloads)
        if why is not None:
            return why
    return None


def new_streams(signals: Sequence[Signal], streams: RunbookStreams, values: Values,
                workloads: Collection[str]) -> list[tuple[Signal, list[str]]]:
    """Each signal with the workloads whose stream of it the tick would score and that have
    none yet (what a driver warms before the tick); none on a tick :func:`step` skips."""
    if missing_series(signals, values, workloads) is not None:
        return []
    new = [(s, streams.missing(s.name, [w for w in workloads if w in values[s.name]]))
           for s in signals]
    return [(signal, workloads_) for signal, workloads_ in new if workloads_]


def warm(streams: RunbookStreams, signal: str, workloads: Sequence[str],
         history: Mapping[str, Sequence[Point]],
         incidents: Mapping[str, Sequence[tuple[float, float]]]) -> WarmedStreams:
    """New streams of ``signal`` for ``workloads``, warmed from their ``history`` less the
    windows of their ``incidents`` (a fault is never learned as normal). Touches no live
    state: a driver adds them (:meth:`RunbookStreams.add`)."""
    return streams.warm(signal, workloads, {w: outside(history.get(w, ()), incidents.get(w, ()))
                                            for w in workloads})


def outside(points: Sequence[tuple[float, float]],
            windows: Sequence[tuple[float, float]]) -> Sequence[tuple[float, float]]:
    """The (timestamp, value) points that fall in none of the windows (``points`` itself
    when there is no window: the history of 30,000 streams is not copied on the event loop).

    >>> outside([(1.0, 5.0), (2.0, 9.0), (3.0, 9.0), (4.0, 5.0)], [(2.0, 3.0)])
    [(1.0, 5.0), (4.0, 5.0)]
    """
    if not windows:
        return points
    return [(t, v) for t, v in points if not any(start <= t <= end for start, end in windows)]


def signal_anomalies(signals: Sequence[Signal], streams: Mapping[tuple[str, str], Stream],
                     workload: str) -> tuple[dfacts.SignalAnomaly, ...]:
    """What the streams of ``workload`` tell the diagnosis, as of their last points.

    Every signal of the workload, not only the fused explanation's top few: load is seldom
    the most anomalous signal, yet it is what tells saturation from a fault.
    """
    anomalies = []
    for signal in signals:
        stream = streams.get((workload, signal.name))
        if stream is None or stream.last is None:
            continue
        last = stream.last
        observed, expected = last.score.observed, last.score.expected
        # Anomalous right now counts too: load jumps at the same tick as the latency it
        # causes, before its own debounce confirms it.
        anomalous = unusual(last.score, stream.debouncer.threshold)
        if not dfacts.tells_the_diagnosis(signal.role, last.alarm, anomalous,
                                          _finite(observed) or 0.0, _finite(expected) or 0.0):
            continue
        anomalies.append(dfacts.SignalAnomaly(
            name=signal.name, role=signal.role,
            direction=dfacts.Direction.UP if observed >= expected else dfacts.Direction.DOWN,
            observed=_finite(observed), expected=_finite(expected)))
    return tuple(anomalies)


def no_series(signal: Signal, answered: Mapping[str, Any], workloads: Collection[str],
              ) -> str | None:
    """Why an evaluation cannot score ``signal``: its query answered for none of the watched
    workloads (None when it answered for one, or none is watched)."""
    if not workloads or any(w in answered for w in workloads):
        return None
    return (f"signal {signal.name}: no series for any watched workload (by label "
            f"{signal.workload_label!r}); no action is taken on missing data")


def learning_held(workloads: Collection[str], signals: Sequence[Signal],
                  ) -> dict[tuple[str, str], bool]:
    """The streams that score without learning: every signal of the workloads with an open
    incident (a fault is judged against the baseline of before it)."""
    return {(w, s.name): False for w in workloads for s in signals}


def model_record(runbook: Runbook, detectors: RunbookStreams, workload: str,
                 signal: str) -> DetectorRecord | None:
    """The record of the model that scored ``signal`` of ``workload`` (None: no stream)."""
    if (workload, signal) not in detectors.streams:
        return None
    configured = runbook.spec.detection.detector
    spec = detectors.spec
    return DetectorRecord(name=spec.name, version=spec.version,
                          configured="" if configured == spec.name else configured,
                          learned_points=detectors.learned(workload, signal),
                          warm=detectors.ready(workload, signal))


def cooling_down(workload: str, last_closed: dt.datetime | None, moment: dt.datetime,
                 cooldown_seconds: int) -> str | None:
    """Why no incident opens for ``workload`` at ``moment`` (the runbook's cooldown after its
    last remediation closed), or None.

    >>> t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> cooling_down("web", t, t + dt.timedelta(seconds=30), 60)
    'web: cooling down until 2026-01-01T00:01:00Z (60s after the last remediation closed)'
    >>> cooling_down("web", t, t + dt.timedelta(seconds=60), 60) is None
    True
    """
    if last_closed is None or moment - last_closed >= dt.timedelta(seconds=cooldown_seconds):
        return None
    # A message that stays the same for the whole cooldown: one Event, not one a tick.
    until = last_closed + dt.timedelta(seconds=cooldown_seconds)
    return (f"{workload}: cooling down until {rfc3339(until)} "
            f"({cooldown_seconds}s after the last remediation closed)")


def incident_onset(incident: IncidentScore | None, detected: dt.datetime) -> dt.datetime:
    """When an incident began: its earliest anomalous signal, else when it was detected."""
    explanations = incident.explanations if incident is not None else ()
    return dt.datetime.fromtimestamp(
        min((e.since for e in explanations if e.since is not None),
            default=detected.timestamp()), dt.UTC)


def signal_evidence(incident: IncidentScore | None,
                    record: Callable[[str], DetectorRecord | None]) -> list[SignalEvidence]:
    """The trigger's evidence of an incident, with ``record`` naming each signal's model."""
    return [
        SignalEvidence(
            signal=e.signal, observed=_finite(e.observed), expected=_finite(e.expected),
            score=min(1.0, max(0.0, e.probability)),
            since=dt.datetime.fromtimestamp(e.since, dt.UTC) if e.since else None,
            explanation=e.sentence()[:1024], detector=record(e.signal))
        for e in (incident.explanations if incident is not None else ())[:16]
    ]


def incident_remediation(namespace: str, runbook: str, workload: str, name: str,
                         incident: IncidentScore | None, onset: dt.datetime,
                         detected: dt.datetime, evidence: Sequence[SignalEvidence],
                         diagnosis: diagnosis_mod.Diagnosis,
                         alert: AlertTrigger | None = None,
                         kind: WorkloadKind = "Deployment") -> Remediation:
    """The Remediation that opens an incident (what the evaluator creates, and what
    ``kubeheal replay`` decides on)."""
    return Remediation(
        metadata=ObjectMeta.model_validate({
            "name": name, "namespace": namespace,
            "labels": {RUNBOOK_LABEL: runbook, TARGET_LABEL: workload}}),
        spec=RemediationSpec(
            runbook_ref=ObjectReference(name=runbook),
            target=WorkloadReference(kind=kind, namespace=namespace, name=workload),
            trigger=Trigger(started_at=onset, detected_at=detected,
                            score=1.0 if incident is None
                            else min(1.0, max(0.0, incident.probability)),
                            evidence=list(evidence), alert=alert),
            diagnosis=diagnosis.to_api(),
        ),
    )


def _finite(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None
