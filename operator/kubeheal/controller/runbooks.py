"""One evaluation of a Runbook: observe, detect, diagnose, and open incidents.

The live driver of the evaluation engine (:mod:`kubeheal.controller.engine`, whose
:func:`~kubeheal.controller.engine.step` decides each tick): this module does its I/O, the
instant queries, the warm-up's range queries, the guards read from the watched Remediations,
and for each incident the tick opens the claim, the diagnosis's reads and the Remediation.

:class:`RunbookEvaluator` keeps the detectors of one Runbook (one stream per selected workload
and signal, :class:`~kubeheal.detect.runbook.RunbookStreams`) across evaluations. Each
:meth:`RunbookEvaluator.evaluate` reads every signal once from Prometheus (one query, shared
with every runbook that asks it at the same time, serves all workloads), scores and learns
each point (the default detector in one vectorized bank), debounces, fuses the signals of each
workload, and for a workload in alarm without an open incident diagnoses the probable cause
and creates a ``Remediation``. New streams are warmed from history in a worker thread
(:func:`warm_streams`): the event loop, kopf's liveness probe included, keeps answering
meanwhile.

While a workload has an open incident its streams score without learning (the fault is judged
against the baseline of before it, also by verification, which reads these streams), and a
stream warmed from Prometheus history leaves out the windows of the workload's incidents, open
or closed: a fault is never learned as normal.

No data, no action: a failed query (bad PromQL, Prometheus down, no series at all) skips the
whole tick and says why; a workload missing from a query's answer is simply not scored. After
Prometheus was unreachable or restarted, ticks are skipped too until the signals' range
windows (``rate(...[1m])``) lie past the gap in its samples: a window over a gap extrapolates
from too few samples, and rates read far too low for a few ticks.
Signals with role ``load`` explain (saturation) but never open an incident on their own.

Firing Alertmanager alerts that the runbook names (``spec.alerts``), recorded on its status by
whichever replica received them (:mod:`~kubeheal.controller.alert_receiver`), open incidents
too, through the same claim, diagnosis and guardrails: an alert for a workload with an open
incident adds nothing, and each firing of an alert (its fingerprint and start) opens at most
one incident.
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

from kubeheal.api.base import explain
from kubeheal.api.remediation import AlertTrigger, Phase, TimelineEntry
from kubeheal.api.runbook import ReceivedAlert, Runbook, Signal
from kubeheal.controller import engine
from kubeheal.controller.claims import (
    ClaimTaken,
    IncidentClaims,
    sequence_of,
)
from kubeheal.controller.engine import no_series
from kubeheal.controller.metrics import OperatorMetrics
from kubeheal.controller.store import (
    RUNBOOK_LABEL,
    TARGET_LABEL,
    Json,
    ObjectStore,
    now,
    rfc3339,
)
from kubeheal.detect import resolve
from kubeheal.detect.alarms import past_threshold
from kubeheal.detect.runbook import Point, RunbookStreams, Stream
from kubeheal.diagnose import diagnosis as diagnosis_mod
from kubeheal.diagnose import facts as dfacts
from kubeheal.diagnose.objects import (
    pod_health_from,
    revisions_from_controller_revisions,
    revisions_from_replicasets,
)
from kubeheal.observe.alertmanager import firing, opened_by
from kubeheal.observe.cache import ClusterView
from kubeheal.observe.kubernetes import KubernetesError, KubernetesReader, PodEvent
from kubeheal.observe.prometheus import QueryError, SharedQueries, longest_range

log = logging.getLogger(__name__)

REASONS = {
    "bad-query": "BadQuery",
    "unavailable": "PrometheusUnavailable",
    "timeout": "PrometheusTimeout",
    "empty": "NoData",
    "settling": "PrometheusSettling",
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
    scores: Mapping[str, float] = dataclasses.field(default_factory=dict)
    """The fused anomaly probability of each workload scored."""
    in_alarm: tuple[str, ...] = ()
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
    queries: SharedQueries
    reader: KubernetesReader
    store: ObjectStore
    metrics: OperatorMetrics
    view: ClusterView
    detectors: RunbookStreams | None = None
    generation: int | None = None
    slot: float | None = None  # the last evaluation slot (see evaluation_slot)
    outage: float | None = None  # the last evaluation that could not reach Prometheus
    last: tuple[float, Evaluation] | None = None
    """When the last evaluation ran (wall clock) and what it found (for kubeheal explain)."""
    series: dict[str, frozenset[str]] = dataclasses.field(default_factory=dict)
    """Per signal, the workloads its query answered for at the last evaluation that read it."""

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

    async def evaluate(self, runbook: Runbook, at: dt.datetime | None = None,
                       alerts: Mapping[str, ReceivedAlert] | None = None) -> Evaluation:
        """One evaluation, of the signals as they were at ``at`` (default: now), and of the
        firing Alertmanager alerts recorded on the runbook (``status.alerts``)."""
        started = time.perf_counter()
        try:
            evaluation = await self._evaluate(runbook, at, alerts or {})
            self.last = (time.time(), evaluation)
            return evaluation
        finally:
            self.metrics.evaluation_duration.labels(self.namespace, self.name).observe(
                time.perf_counter() - started)

    async def _evaluate(self, runbook: Runbook, at: dt.datetime | None,
                        alerts: Mapping[str, ReceivedAlert]) -> Evaluation:
        spec = runbook.spec
        if spec.slo_ref is not None and not await self._slo_exists(spec.slo_ref.name):
            # Verification needs the SLO: without it, no incident is opened at all.
            return Evaluation(
                ok=False, reason="SLONotFound", spec_field="spec.sloRef.name",
                message=f"spec.sloRef.name: ServiceLevelObjective {spec.slo_ref.name!r} not "
                        f"found in namespace {self.namespace}; create it or fix the reference")
        selected = self.view.workloads(spec.target_kind).in_namespace(self.namespace,
                                                                       spec.selector)
        workloads = {d["metadata"]["name"]: d for d in selected}
        remediations = self.view.remediations.in_namespace(self.namespace)
        incidents = incident_windows(remediations)
        values: dict[str, dict[str, tuple[float, float]]] = {}
        failures: list[tuple[str, str, str]] = []
        for index, signal in enumerate(spec.signals):
            try:
                samples = await self.queries.query(signal.query, at or now(), self.namespace)
            except QueryError as e:
                failures.append((e.kind, f"signal {signal.name}: {e}",
                                 f"spec.signals[{index}].query"))
                continue
            by_workload = {
                s.labels.get(signal.workload_label, ""): (s.timestamp.timestamp(), s.value)
                for s in samples
            }
            self.series[signal.name] = frozenset(by_workload)
            missing = no_series(signal, by_workload, workloads)
            if missing:
                failures.append(("empty", missing, ""))
                continue
            values[signal.name] = by_workload
        moment = (at or now()).timestamp()
        if any(kind in ("unavailable", "timeout") for kind, _, _ in failures):
            self.outage = moment
        if failures:
            # Report what the user can fix first: a bad query before missing data.
            kind, message, field_ = min(failures, key=lambda f: list(REASONS).index(f[0]))
            if kind == "bad-query":
                return self._skipped(kind, f"{field_}: {message}", workloads, field_)
            return self._skipped(kind, message, workloads)
        settling = await self._settling(runbook, moment)
        if settling:
            return self._skipped("settling", settling, workloads)
        if self.detectors is None:
            self.detectors = RunbookStreams(self.namespace, self.name, spec.detection)
        detectors = self.detectors
        for signal, new in engine.new_streams(spec.signals, detectors, values, workloads):
            await self._warm_new_streams(runbook, detectors, signal, new, incidents, at)

        detected = now()
        decision = engine.step(runbook, detectors, engine.Tick(
            detected, values, workloads, guards(remediations, self.name),
            alerts=firing(alerts, detected) if spec.alerts else (),
            alerted=frozenset(f for f, record in alerts.items()
                              if opened_by(f, record, remediations))))
        if decision.skipped is not None:  # no_series said so above already
            return self._skipped("empty", decision.skipped, workloads)
        opened: list[str] = []
        held = [h.reason for h in decision.held]
        for opening in decision.opened:
            why_not = await self._open_incident(runbook, workloads[opening.workload], opening,
                                                detected)
            if why_not is None:
                opened.append(opening.workload)
            else:
                held.append(why_not)
        alarms = decision.alarms
        ready = detectors.ready_count()
        self.metrics.streams.labels(self.namespace, self.name, "ready").set(ready)
        self.metrics.streams.labels(self.namespace, self.name, "warming").set(
            len(self.streams) - ready)
        return Evaluation(
            ok=True, reason="Evaluated",
            message=f"{len(workloads)} workloads, {ready}/{len(self.streams)} streams warm, "
                    f"{len(alarms)} in alarm"
                    + (f", learning held for {', '.join(decision.holding)} (open incident)"
                       if decision.holding else ""),
            workloads=tuple(sorted(workloads)), ready_streams=ready,
            total_streams=len(self.streams),
            scores=decision.verdicts.scores(),
            in_alarm=tuple(v.workload for v in alarms),
            opened=tuple(opened), held_back=tuple(held))

    def _skipped(self, kind: str, message: str, workloads: Mapping[str, Any],
                 field_: str | None = None) -> Evaluation:
        reason = REASONS.get(kind, "QueryFailed")
        self.metrics.evaluation_failures.labels(self.namespace, self.name, reason).inc()
        ready = 0 if self.detectors is None else self.detectors.ready_count()
        return Evaluation(ok=False, reason=reason, message=message,
                          workloads=tuple(sorted(workloads)), ready_streams=ready,
                          total_streams=len(self.streams), spec_field=field_)

    async def _settling(self, runbook: Runbook, moment: float) -> str | None:
        """Why the signals' values cannot be scored yet after an outage or a restart of
        Prometheus (their range windows still reach into the gap in its samples), or None."""
        reach = (max(longest_range(s.query) for s in runbook.spec.signals)
                 + runbook.spec.interval_seconds)
        try:
            started = await self.queries.started_at()
        except QueryError:  # the queries answered; a server that does not say is not waited for
            started = None
        gaps = [t for t in (self.outage, started.timestamp() if started else None)
                if t is not None]
        if not gaps or moment - max(gaps) >= reach:
            return None
        since = dt.datetime.fromtimestamp(max(gaps), dt.UTC)
        return (f"Prometheus was unreachable or restarted at {rfc3339(since)}: the signals' "
                f"range windows still reach into the gap in its samples; scoring resumes at "
                f"{rfc3339(since + dt.timedelta(seconds=reach))}")

    async def _slo_exists(self, name: str) -> bool:
        if self.view.slos.get(self.namespace, name) is not None:
            return True
        try:  # not seen by the cache (yet): ask the API server
            await self.store.get("servicelevelobjectives", self.namespace, name)
        except KubernetesError as e:
            if e.kind == "not-found":
                return False
            raise
        return True

    async def _warm_new_streams(self, runbook: Runbook, detectors: RunbookStreams,
                                signal: Signal, workloads: Sequence[str],
                                incidents: Mapping[str, Sequence[tuple[float, float]]],
                                at: dt.datetime | None = None) -> None:
        """Create the streams of ``workloads`` (new ones) and warm them from Prometheus
        history, less the windows of the workloads' incidents."""
        detection = runbook.spec.detection
        history: dict[str, tuple[Point, ...]] = {}
        if detection.history_seconds > 0:
            end = at or now()  # the history ends one interval before this evaluation
            start = end - dt.timedelta(seconds=detection.history_seconds)
            try:
                series = await self.queries.query_range(
                    signal.query, start, end - dt.timedelta(seconds=runbook.spec.interval_seconds),
                    runbook.spec.interval_seconds, self.namespace)
                history = {s.labels.get(signal.workload_label, ""): s.points for s in series}
            except QueryError as e:  # warm-up is a bonus: start cold and say so in the log
                log.warning("runbook %s/%s: no history for %s: %s", self.namespace, self.name,
                            signal.name, e)
        await warm_streams(detectors, signal.name, workloads, history, incidents)

    async def _open_incident(self, runbook: Runbook, deployment: Json,
                             opening: engine.Opening, detected: dt.datetime) -> str | None:
        """Create the Remediation of an incident the evaluation opens (``opening``); None
        when created, else why not.

        The workload's claim (:mod:`kubeheal.controller.claims`) is what guarantees one open
        incident per workload, whatever the number of runbooks selecting it and whatever
        opened it, a detector or an alert: the evaluation's guards come from the watch.
        """
        workload = deployment["metadata"]["name"]
        kind = runbook.spec.target_kind
        claim = await self.claims.read(self.namespace, kind, workload)
        if claim is not None and claim.holder:
            holder = await self._remediation(claim.holder)
            if holder is not None and not _terminal(holder):
                return f"{workload}: remediation {claim.holder} is still open"
        existing = await self.store.list("remediations", self.namespace,
                                         {TARGET_LABEL: workload})
        incident, alert, onset = opening.incident, opening.alert, opening.onset
        explanations = incident.explanations if incident is not None else ()
        diagnosis = await self._diagnose(runbook, deployment, opening.diagnosis)
        try:
            known = max((sequence_of(r["metadata"]["name"], kind, workload)
                         for r in existing), default=0)
            name = await self.claims.take(self.namespace, kind, workload, self.name,
                                          claim, known)
        except ClaimTaken:
            return f"{workload}: another incident was opened for it at the same moment"
        remediation = engine.incident_remediation(
            self.namespace, self.name, workload, name, incident, onset, detected,
            opening.evidence, diagnosis, alert_trigger(*alert) if alert is not None else None,
            kind)
        body = remediation.to_api()
        body.pop("status", None)
        created = await self.store.create("remediations", self.namespace, body)
        summary = ("; ".join(e.sentence() for e in explanations[:3]) if alert is None
                   else alert_sentence(alert[1]))
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

    async def _diagnose(self, runbook: Runbook, deployment: Json,
                        facts: dfacts.DiagnosisInput) -> diagnosis_mod.Diagnosis:
        """The diagnosis of an incident, from what the evaluation saw (``facts``: the onset
        and the signals) and what the cluster tells: the pods, their Events, the rollout
        history."""
        workload, kind = deployment["metadata"]["name"], runbook.spec.target_kind
        try:  # Events add evidence (pods already replaced included); they are not required
            events = await self.reader.pod_events(self.namespace, workload, kind=kind,
                                                  since=facts.onset - dt.timedelta(minutes=10))
        except KubernetesError as e:
            log.warning("runbook %s/%s: pod events unavailable: %s", self.namespace, self.name, e)
            events = []
        pods = [pod_health_from(p) for p in await self.reader.pods(deployment)]
        return diagnosis_mod.diagnose(dataclasses.replace(
            facts,
            revisions=(revisions_from_controller_revisions(
                await self.reader.controller_revisions(deployment)) if kind == "StatefulSet"
                else revisions_from_replicasets(await self.reader.replica_sets(deployment))),
            pods=with_event_facts(pods, events),
        ))


async def warm_streams(detectors: RunbookStreams, signal: str, workloads: Sequence[str],
                       history: Mapping[str, Sequence[Point]],
                       incidents: Mapping[str, Sequence[tuple[float, float]]] | None = None,
                       ) -> None:
    """Warm new streams in a worker thread (from ``history`` less the windows of the
    workloads' ``incidents``: :func:`~kubeheal.controller.engine.warm`), then make them live.

    The event loop keeps running meanwhile (kopf's liveness endpoint, the other runbooks'
    daemons): a bank's warm-up is numpy, which releases the GIL for most of its work, and
    Python's switch interval shares the rest. Nothing live is touched until the streams are
    added, so the remediation daemons may read the live streams at any time.
    """
    detectors.add(await asyncio.to_thread(engine.warm, detectors, signal, workloads, history,
                                          incidents or {}))


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


def alert_trigger(fingerprint: str, record: ReceivedAlert) -> AlertTrigger:
    """The trigger record of an incident that an alert opened."""
    return AlertTrigger(name=record.name, fingerprint=fingerprint, starts_at=record.starts_at,
                        labels=record.labels, summary=record.summary,
                        generator_url=record.generator_url)


def alert_sentence(record: ReceivedAlert) -> str:
    """The timeline's "detected" line for an incident that an alert opened.

    >>> t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> alert_sentence(ReceivedAlert(name="HighErrorRate", workload="web", starts_at=t,
    ...                              received_at=t, summary="5xx above 5%"))
    'Alertmanager alert HighErrorRate firing for web since 2026-01-01T00:00:00Z: 5xx above 5%'
    """
    return (f"Alertmanager alert {record.name} firing for {record.workload} since "
            f"{rfc3339(record.starts_at)}" + (f": {record.summary}" if record.summary else ""))


def _diagnosis_message(diagnosis: diagnosis_mod.Diagnosis) -> str:
    top = diagnosis.candidates[0]
    return f"probable cause {top.cause.value} ({top.confidence:.2f}): " + "; ".join(
        top.evidence[:3])


def incident_windows(remediations: Sequence[Json]) -> dict[str, list[tuple[float, float]]]:
    """The incidents of each workload, as windows of time (seconds since the epoch): from
    the onset (the trigger's start, else its detection) to the close, open-ended while open.

    >>> opened = {"metadata": {"labels": {TARGET_LABEL: "web"},
    ...                        "creationTimestamp": "2026-01-01T00:01:00+00:00"},
    ...           "spec": {"trigger": {"startedAt": "2026-01-01T00:00:00Z"}},
    ...           "status": {"phase": "Verifying"}}
    >>> closed = {"metadata": {"labels": {TARGET_LABEL: "web"},
    ...                        "creationTimestamp": "2025-12-31T00:00:00+00:00"},
    ...           "status": {"phase": "Succeeded", "completedAt": "2025-12-31T00:10:00+00:00"}}
    >>> incident_windows([opened, closed, {"metadata": {}}])["web"]
    [(1767225600.0, inf), (1767139200.0, 1767139800.0)]
    """
    windows: dict[str, list[tuple[float, float]]] = {}
    for body in remediations:
        workload = (body["metadata"].get("labels") or {}).get(TARGET_LABEL)
        if not workload:
            continue
        trigger = (body.get("spec") or {}).get("trigger") or {}
        stamp = (trigger.get("startedAt") or trigger.get("detectedAt")
                 or body["metadata"]["creationTimestamp"])
        start = dt.datetime.fromisoformat(stamp).timestamp()
        end = _closed_at(body).timestamp() if _terminal(body) else math.inf
        windows.setdefault(workload, []).append((start, end))
    return windows


def guards(remediations: Sequence[Json], runbook: str) -> engine.Guards:
    """What the guardrails of ``runbook`` read from the namespace's Remediations: each
    workload's open one, when its last one closed, and how many of the runbook's are open.

    >>> opened = {"metadata": {"name": "web-deployment-2",
    ...                        "labels": {TARGET_LABEL: "web", RUNBOOK_LABEL: "book"}},
    ...           "status": {"phase": "Verifying"}}
    >>> closed = {"metadata": {"name": "web-deployment-1",
    ...                        "creationTimestamp": "2025-12-31T00:00:00+00:00",
    ...                        "labels": {TARGET_LABEL: "web", RUNBOOK_LABEL: "other"}},
    ...           "status": {"phase": "Succeeded", "completedAt": "2025-12-31T00:10:00+00:00"}}
    >>> g = guards([opened, closed], "book")
    >>> dict(g.open), g.last_closed["web"].isoformat(), g.open_of_runbook
    ({'web': 'web-deployment-2'}, '2025-12-31T00:10:00+00:00', 1)
    """
    open_: dict[str, str] = {}
    last_closed: dict[str, dt.datetime] = {}
    mine = 0
    for body in remediations:
        labels = body["metadata"].get("labels") or {}
        workload = labels.get(TARGET_LABEL)
        if _terminal(body):
            if workload:
                closed = _closed_at(body)
                last_closed[workload] = max(last_closed.get(workload, closed), closed)
            continue
        mine += labels.get(RUNBOOK_LABEL) == runbook
        if workload:
            open_.setdefault(workload, body["metadata"]["name"])
    return engine.Guards(open_, last_closed, mine)


def _terminal(body: Json) -> bool:
    phase = (body.get("status") or {}).get("phase", Phase.DETECTED.value)
    return Phase(phase).terminal


def _closed_at(body: Json) -> dt.datetime:
    status = body.get("status") or {}
    stamp = status.get("completedAt") or body["metadata"]["creationTimestamp"]
    return dt.datetime.fromisoformat(stamp)


def retired_detector(runbook: Runbook) -> str | None:
    """A warning when the Runbook names a retired detector, naming the field and the detector
    that runs instead; None when its detector is current.

    >>> from kubeheal.api.runbook import DetectionSettings
    >>> book = Runbook.model_validate({"metadata": {"name": "web"}, "spec": {
    ...     "selector": {"matchLabels": {"app": "web"}},
    ...     "signals": [{"name": "e", "query": "q"}], "actions": [{"name": "r", "kind": "restart"}],
    ...     "detection": {"detector": "robust"}}})
    >>> print(retired_detector(book))  # doctest: +NORMALIZE_WHITESPACE
    spec.detection.detector: 'robust' is retired; the 'novelty' detector runs instead
    (set it to 'novelty' to clear this warning)
    >>> book.spec.detection = DetectionSettings(detector="hst")
    >>> print(retired_detector(book))
    None
    """
    configured = runbook.spec.detection.detector
    serving = resolve(configured)
    if serving == configured:
        return None
    return (f"spec.detection.detector: {configured!r} is retired; the {serving!r} detector runs "
            f"instead (set it to {serving!r} to clear this warning)")


def parse_runbook(body: Mapping[str, Any]) -> tuple[Runbook | None, str]:
    """The Runbook model of a body, or None and a message naming each bad field."""
    from pydantic import ValidationError

    try:
        return Runbook.model_validate({k: body[k] for k in ("metadata", "spec") if k in body}), ""
    except ValidationError as e:
        return None, explain(e)
