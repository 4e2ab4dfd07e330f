"""One evaluation of a Runbook: observe, detect, diagnose, and open incidents.

:class:`RunbookEvaluator` keeps the detectors of one Runbook (one stream per selected workload
and signal, :class:`~kubeheal.detect.runbook.RunbookStreams`) across evaluations. Each
:meth:`RunbookEvaluator.evaluate` reads every signal once from Prometheus (one query serves
all workloads), scores and learns each point (the default detector in one vectorized bank),
debounces, fuses the signals of each workload, and for a workload in alarm without an open
incident diagnoses the probable cause and creates a ``Remediation``. New streams are warmed
from history in a worker thread (:func:`warm_streams`): the event loop, kopf's liveness
probe included, keeps answering meanwhile.

No data, no action: a failed query (bad PromQL, Prometheus down, no series at all) skips the
whole tick and says why; a workload missing from a query's answer is simply not scored.
Signals with role ``load`` explain (saturation) but never open an incident on their own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubeheal.api.base import ObjectMeta, ObjectReference, WorkloadReference, explain
from kubeheal.api.remediation import (
    DetectorRecord,
    Phase,
    Remediation,
    RemediationSpec,
    SignalEvidence,
    TimelineEntry,
    Trigger,
)
from kubeheal.api.runbook import Runbook, Signal
from kubeheal.controller.claims import (
    WORKLOAD_KIND,
    ClaimTaken,
    IncidentClaims,
    sequence_of,
)
from kubeheal.controller.metrics import OperatorMetrics
from kubeheal.controller.store import (
    RUNBOOK_LABEL,
    TARGET_LABEL,
    Json,
    ObjectStore,
    now,
    rfc3339,
)
from kubeheal.detect.alarms import past_threshold, unusual
from kubeheal.detect.runbook import Point, RunbookStreams, Stream
from kubeheal.detect.values import IncidentScore
from kubeheal.diagnose import diagnosis as diagnosis_mod
from kubeheal.diagnose import facts as dfacts
from kubeheal.diagnose.objects import pod_health_from, revisions_from_replicasets
from kubeheal.observe.kubernetes import KubernetesError, KubernetesReader, PodEvent
from kubeheal.observe.prometheus import PrometheusClient, QueryError

log = logging.getLogger(__name__)

REASONS = {
    "bad-query": "BadQuery",
    "unavailable": "PrometheusUnavailable",
    "timeout": "PrometheusTimeout",
    "empty": "NoData",
}


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation saw and did, for the Runbook's status."""

    ok: bool
    reason: str
    message: str
    workloads: tuple[str, ...] = ()
    ready_streams: int = 0
    total_streams: int = 0
    incidents: tuple[IncidentScore, ...] = ()
    opened: tuple[str, ...] = ()
    held_back: tuple[str, ...] = ()
    spec_field: str | None = None
    """The spec field to fix when the runbook cannot work as written (a query that does not
    parse, an SLO that does not exist): it is then not Ready. None for what passes by itself,
    such as Prometheus being down."""


def evaluation_slot(moment: float, interval: float, lag: float = 1.0) -> float:
    """The evaluation time of a runbook at ``moment`` (seconds since the epoch): the last
    multiple of its interval at least ``lag`` seconds ago.

    Evaluating on a fixed grid makes consecutive queries' windows move by exactly one
    interval: with a scrape interval that divides it, each evaluation sees new samples, and
    two evaluations never read the same samples twice (a repeated value that the detectors
    would take for a stuck signal). The lag leaves time for the scrape at the boundary.

    >>> evaluation_slot(1000.4, 5.0), evaluation_slot(1001.2, 5.0), evaluation_slot(1004.9, 5.0)
    (995.0, 1000.0, 1000.0)
    """
    return math.floor((moment - lag) / interval) * interval


def until_next_slot(moment: float, interval: float, lag: float = 1.0) -> float:
    """Seconds from ``moment`` until the next evaluation slot can be evaluated.

    >>> until_next_slot(1001.2, 5.0), until_next_slot(1005.9, 5.0)
    (4.8, 0.1)
    """
    return round(evaluation_slot(moment, interval, lag) + interval + lag - moment, 6)


def within_threshold(value: float, signal: Signal) -> bool:
    """Whether a signal value is on the good side of its threshold (true when it has none)."""
    return signal.threshold is None or not past_threshold(value, signal.threshold,
                                                          signal.bad_direction)


@dataclass
class RunbookEvaluator:
    """The state of one Runbook between evaluations."""

    namespace: str
    name: str
    prometheus: PrometheusClient
    reader: KubernetesReader
    store: ObjectStore
    metrics: OperatorMetrics
    detectors: RunbookStreams | None = None
    generation: int | None = None
    slot: float | None = None  # the last evaluation slot (see evaluation_slot)

    @property
    def claims(self) -> IncidentClaims:
        return IncidentClaims(self.store.objects.api_client, fence=self.store.fence)

    @property
    def streams(self) -> Mapping[tuple[str, str], Stream]:
        """The live streams by (workload, signal)."""
        return {} if self.detectors is None else self.detectors.streams

    def reset(self) -> None:
        """Forget every model (the runbook's signals or detection settings changed)."""
        self.detectors = None

    async def evaluate(self, runbook: Runbook, at: dt.datetime | None = None) -> Evaluation:
        """One evaluation, of the signals as they were at ``at`` (default: now)."""
        started = time.perf_counter()
        try:
            return await self._evaluate(runbook, at)
        finally:
            self.metrics.evaluation_duration.labels(self.namespace, self.name).observe(
                time.perf_counter() - started)

    async def _evaluate(self, runbook: Runbook, at: dt.datetime | None) -> Evaluation:
        spec = runbook.spec
        if spec.slo_ref is not None and not await self._slo_exists(spec.slo_ref.name):
            # Verification needs the SLO: without it, no incident is opened at all.
            return Evaluation(
                ok=False, reason="SLONotFound", spec_field="spec.sloRef.name",
                message=f"spec.sloRef.name: ServiceLevelObjective {spec.slo_ref.name!r} not "
                        f"found in namespace {self.namespace}; create it or fix the reference")
        deployments = await self.reader.list_deployments(self.namespace,
                                                         spec.selector.as_query())
        workloads = {d["metadata"]["name"]: d for d in deployments}
        values: dict[str, dict[str, tuple[float, float]]] = {}
        failures: list[tuple[str, str, str]] = []
        for index, signal in enumerate(spec.signals):
            try:
                samples = await self.prometheus.query(signal.query, at)
            except QueryError as e:
                failures.append((e.kind, f"signal {signal.name}: {e}",
                                 f"spec.signals[{index}].query"))
                continue
            by_workload = {
                s.labels.get(signal.workload_label, ""): (s.timestamp.timestamp(), s.value)
                for s in samples
                # A series labelled with another namespace is another namespace's workload.
                if s.labels.get("namespace", self.namespace) == self.namespace
            }
            if not any(w in by_workload for w in workloads) and workloads:
                failures.append((
                    "empty",
                    f"signal {signal.name}: no series for any watched workload (by label "
                    f"{signal.workload_label!r}); no action is taken on missing data", ""))
                continue
            values[signal.name] = by_workload
        if failures:
            # Report what the user can fix first: a bad query before missing data.
            kind, message, field_ = min(failures, key=lambda f: list(REASONS).index(f[0]))
            if kind == "bad-query":
                return self._skipped(kind, f"{field_}: {message}", workloads, field_)
            return self._skipped(kind, message, workloads)
        if self.detectors is None:
            self.detectors = RunbookStreams(self.namespace, self.name, spec.detection)
        detectors = self.detectors
        for signal in spec.signals:
            await self._warm_new_streams(runbook, detectors, signal,
                                         [w for w in workloads if w in values[signal.name]], at)

        verdicts = detectors.observe(spec.signals, values, workloads)
        incidents = [v.incident for v in verdicts]
        alarms = [(v.workload, v.incident) for v in verdicts if v.alarm]

        opened: list[str] = []
        held: list[str] = []
        for workload, incident in alarms:
            why_not = await self._open_incident(runbook, workloads[workload], incident)
            if why_not is None:
                opened.append(workload)
            else:
                held.append(why_not)
        ready = detectors.ready_count()
        self.metrics.streams.labels(self.namespace, self.name, "ready").set(ready)
        self.metrics.streams.labels(self.namespace, self.name, "warming").set(
            len(self.streams) - ready)
        return Evaluation(
            ok=True, reason="Evaluated",
            message=f"{len(workloads)} workloads, {ready}/{len(self.streams)} streams warm, "
                    f"{len(alarms)} in alarm",
            workloads=tuple(sorted(workloads)), ready_streams=ready,
            total_streams=len(self.streams), incidents=tuple(incidents),
            opened=tuple(opened), held_back=tuple(held))

    def _skipped(self, kind: str, message: str, workloads: Mapping[str, Any],
                 field_: str | None = None) -> Evaluation:
        reason = REASONS.get(kind, "QueryFailed")
        self.metrics.evaluation_failures.labels(self.namespace, self.name, reason).inc()
        ready = 0 if self.detectors is None else self.detectors.ready_count()
        return Evaluation(ok=False, reason=reason, message=message,
                          workloads=tuple(sorted(workloads)), ready_streams=ready,
                          total_streams=len(self.streams), spec_field=field_)

    async def _slo_exists(self, name: str) -> bool:
        try:
            await self.store.get("servicelevelobjectives", self.namespace, name)
        except KubernetesError as e:
            if e.kind == "not-found":
                return False
            raise
        return True

    async def _warm_new_streams(self, runbook: Runbook, detectors: RunbookStreams,
                                signal: Signal, workloads: Sequence[str],
                                at: dt.datetime | None = None) -> None:
        """Create the streams of new workloads and warm them from Prometheus history."""
        new = detectors.missing(signal.name, workloads)
        if not new:
            return
        detection = runbook.spec.detection
        history: dict[str, tuple[Point, ...]] = {}
        if detection.history_seconds > 0:
            end = at or now()  # the history ends one interval before this evaluation
            start = end - dt.timedelta(seconds=detection.history_seconds)
            try:
                series = await self.prometheus.query_range(
                    signal.query, start, end - dt.timedelta(seconds=runbook.spec.interval_seconds),
                    runbook.spec.interval_seconds)
                history = {s.labels.get(signal.workload_label, ""): s.points for s in series
                           if s.labels.get("namespace", self.namespace) == self.namespace}
            except QueryError as e:  # warm-up is a bonus: start cold and say so in the log
                log.warning("runbook %s/%s: no history for %s: %s", self.namespace, self.name,
                            signal.name, e)
        await warm_streams(detectors, signal.name, new, history)

    async def _open_incident(self, runbook: Runbook, deployment: Json,
                             incident: IncidentScore) -> str | None:
        """Create a Remediation for a workload in alarm; None when opened, else why not.

        The workload's claim (:mod:`kubeheal.controller.claims`) is what guarantees one open
        incident per workload, whatever the number of runbooks selecting it.
        """
        workload = deployment["metadata"]["name"]
        claim = await self.claims.read(self.namespace, WORKLOAD_KIND, workload)
        if claim is not None and claim.holder:
            holder = await self._remediation(claim.holder)
            if holder is not None and not _terminal(holder):
                return f"{workload}: remediation {claim.holder} is still open"
        existing = await self.store.list("remediations", self.namespace,
                                         {TARGET_LABEL: workload})
        guard = runbook.spec.guardrails
        mine = await self.store.list("remediations", self.namespace, {RUNBOOK_LABEL: self.name})
        concurrent = sum(1 for r in mine if not _terminal(r))
        if concurrent >= guard.max_concurrent_remediations:
            return (f"{workload}: {concurrent} remediations of this runbook are open "
                    f"(max {guard.max_concurrent_remediations})")
        last_closed = max((_closed_at(r) for r in existing if _terminal(r)), default=None)
        if last_closed and now() - last_closed < dt.timedelta(seconds=guard.cooldown_seconds):
            # A message that stays the same for the whole cooldown: one Event, not one a tick.
            until = last_closed + dt.timedelta(seconds=guard.cooldown_seconds)
            return (f"{workload}: cooling down until {rfc3339(until)} "
                    f"({guard.cooldown_seconds}s after the last remediation closed)")

        detected = now()
        explanations = incident.explanations
        onset_ts = min((e.since for e in explanations if e.since is not None),
                       default=detected.timestamp())
        onset = dt.datetime.fromtimestamp(onset_ts, dt.UTC)
        diagnosis = await self._diagnose(runbook, deployment, onset)
        evidence = [
            SignalEvidence(
                signal=e.signal, observed=_finite(e.observed), expected=_finite(e.expected),
                score=min(1.0, max(0.0, e.probability)),
                since=dt.datetime.fromtimestamp(e.since, dt.UTC) if e.since else None,
                explanation=e.sentence()[:1024],
                detector=self._model_record(runbook, workload, e.signal))
            for e in explanations[:16]
        ]
        try:
            known = max((sequence_of(r["metadata"]["name"], WORKLOAD_KIND, workload)
                         for r in existing), default=0)
            name = await self.claims.take(self.namespace, WORKLOAD_KIND, workload, self.name,
                                          claim, known)
        except ClaimTaken:
            return f"{workload}: another incident was opened for it at the same moment"
        remediation = Remediation(
            metadata=ObjectMeta.model_validate({
                "name": name, "namespace": self.namespace,
                "labels": {RUNBOOK_LABEL: self.name, TARGET_LABEL: workload}}),
            spec=RemediationSpec(
                runbook_ref=ObjectReference(name=self.name),
                target=WorkloadReference(namespace=self.namespace, name=workload),
                trigger=Trigger(started_at=onset, detected_at=detected,
                                score=min(1.0, max(0.0, incident.probability)),
                                evidence=evidence),
                diagnosis=diagnosis.to_api(),
            ),
        )
        body = remediation.to_api()
        body.pop("status", None)
        created = await self.store.create("remediations", self.namespace, body)
        summary = "; ".join(e.sentence() for e in explanations[:3])
        timeline = [
            TimelineEntry(time=detected, step="detected", message=summary[:1024]),
            TimelineEntry(time=detected, step="diagnosed",
                          message=_diagnosis_message(diagnosis)[:1024]),
        ]
        first = {"phase": Phase.DETECTED.value, "timeline": [t.to_api() for t in timeline]}
        version = created["metadata"]["resourceVersion"]
        for _ in range(3):  # only while nobody (the driver) wrote a first status meanwhile
            try:
                await self.store.patch_status("remediations", self.namespace, name, first,
                                              resource_version=version)
                break
            except KubernetesError as e:
                if e.kind != "conflict":
                    raise
            current = await self.store.get("remediations", self.namespace, name)
            if (current.get("status") or {}).get("phase"):
                break
            version = current["metadata"]["resourceVersion"]
        self.metrics.incidents_opened.labels(self.namespace, self.name,
                                             diagnosis.cause.value).inc()
        self.metrics.time_to_detect.labels(self.namespace, self.name).observe(
            max(0.0, (detected - onset).total_seconds()))
        log.info("runbook %s/%s opened %s for %s: %s", self.namespace, self.name, name, workload,
                 summary)
        return None

    async def _remediation(self, name: str) -> Json | None:
        try:
            return await self.store.get("remediations", self.namespace, name)
        except KubernetesError as e:
            if e.kind == "not-found":  # claimed, then never created: the claim is free
                return None
            raise

    def _model_record(self, runbook: Runbook, workload: str,
                      signal: str) -> DetectorRecord | None:
        detectors = self.detectors
        if detectors is None or (workload, signal) not in detectors.streams:
            return None
        configured = runbook.spec.detection.detector
        spec = detectors.spec
        return DetectorRecord(name=spec.name, version=spec.version,
                              configured="" if configured == spec.name else configured,
                              learned_points=detectors.learned(workload, signal),
                              warm=detectors.ready(workload, signal))

    async def _diagnose(self, runbook: Runbook, deployment: Json,
                        onset: dt.datetime) -> diagnosis_mod.Diagnosis:
        anomalies = []
        workload = deployment["metadata"]["name"]
        # Every signal of the workload, not only the fused explanation's top few: load is
        # seldom the most anomalous signal, yet it is what tells saturation from a fault.
        for signal in runbook.spec.signals:
            stream = self.streams.get((workload, signal.name))
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
        try:  # Events add evidence (pods already replaced included); they are not required
            events = await self.reader.pod_events(self.namespace, workload,
                                                  since=onset - dt.timedelta(minutes=10))
        except KubernetesError as e:
            log.warning("runbook %s/%s: pod events unavailable: %s", self.namespace, self.name, e)
            events = []
        pods = [pod_health_from(p) for p in await self.reader.pods(deployment)]
        facts = dfacts.DiagnosisInput(
            onset=onset,
            signals=tuple(anomalies),
            revisions=revisions_from_replicasets(await self.reader.replica_sets(deployment)),
            pods=with_event_facts(pods, events),
        )
        return diagnosis_mod.diagnose(facts)


async def warm_streams(detectors: RunbookStreams, signal: str, workloads: Sequence[str],
                       history: Mapping[str, Sequence[Point]]) -> None:
    """Warm new streams in a worker thread, then make them live.

    The event loop keeps running meanwhile (kopf's liveness endpoint, the other runbooks'
    daemons): a bank's warm-up is numpy, which releases the GIL for most of its work, and
    Python's switch interval shares the rest. Nothing live is touched until the streams are
    added, so the remediation daemons may read the live streams at any time.
    """
    detectors.add(await asyncio.to_thread(detectors.warm, signal, workloads, history))


def with_event_facts(pods: Sequence[dfacts.PodHealth],
                     events: Sequence[PodEvent]) -> tuple[dfacts.PodHealth, ...]:
    """Pod health with the OOM kills that Kubernetes Events tell of, replaced pods included.

    >>> from kubeheal.observe.kubernetes import PodEvent
    >>> pods = [dfacts.PodHealth("web-1")]
    >>> events = [PodEvent("web-1", "OOMKilling", "", "Warning", 2, None),
    ...           PodEvent("web-0", "OOMKilling", "", "Warning", 1, None),
    ...           PodEvent("web-1", "Unhealthy", "", "Warning", 5, None)]
    >>> [(p.name, p.oom_kills) for p in with_event_facts(pods, events)]
    [('web-1', 2), ('web-0', 1)]
    """
    kills: dict[str, int] = {}
    for event in events:
        if event.reason in ("OOMKilling", "OOMKilled"):
            kills[event.pod] = kills.get(event.pod, 0) + event.count
    known = {p.name for p in pods}
    return (*(dataclasses.replace(p, oom_kills=max(p.oom_kills, kills.get(p.name, 0)))
              for p in pods),
            *(dfacts.PodHealth(name=pod, oom_kills=n) for pod, n in kills.items()
              if pod not in known))


def _diagnosis_message(diagnosis: diagnosis_mod.Diagnosis) -> str:
    top = diagnosis.candidates[0]
    return f"probable cause {top.cause.value} ({top.confidence:.2f}): " + "; ".join(
        top.evidence[:3])


def _finite(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None


def _terminal(body: Json) -> bool:
    phase = (body.get("status") or {}).get("phase", Phase.DETECTED.value)
    return Phase(phase).terminal


def _closed_at(body: Json) -> dt.datetime:
    status = body.get("status") or {}
    stamp = status.get("completedAt") or body["metadata"]["creationTimestamp"]
    return dt.datetime.fromisoformat(stamp)


def parse_runbook(body: Mapping[str, Any]) -> tuple[Runbook | None, str]:
    """The Runbook model of a body, or None and a message naming each bad field."""
    from pydantic import ValidationError

    try:
        return Runbook.model_validate({k: body[k] for k in ("metadata", "spec") if k in body}), ""
    except ValidationError as e:
        return None, explain(e)
