"""Closed incidents counted into their runbook's outcome statistics, once each.

When a Remediation reaches a terminal phase, :class:`OutcomeRecorder` folds it into
``status.outcomes`` of the Runbook that opened it and then marks the Remediation with the
annotation ``kubeheal.io/outcome-recorded: "true"`` (clean-up of old Remediations waits for
it). The statistics and the Remediation's UID, kept in a bounded list of those counted
lately, are one status write conditioned on the Runbook's resourceVersion: after a crash
anywhere in between, counting again finds the UID and only the annotation is written, so no
incident is lost or counted twice. Only the leader counts (the store is fenced).

An incident that closed with no action run (dry-run, blocked, rejected, timed out) is counted
one verification window after it closed, with what its workload did meanwhile: still
unhealthy confirms it, recovered by itself makes it a false alarm.

:class:`OutcomeMetrics` exports the statistics and the coverage of Deployments as metrics.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from pydantic import ValidationError

from kubeheal.api.base import explain
from kubeheal.api.outcomes import FollowUp, OutcomeKind, OutcomeStatistics
from kubeheal.api.remediation import Remediation
from kubeheal.api.runbook import Runbook
from kubeheal.controller.lifecycle import Health
from kubeheal.controller.metrics import OperatorMetrics
from kubeheal.controller.runbooks import parse_runbook
from kubeheal.controller.store import Json, ObjectStore, now
from kubeheal.observe.cache import ClusterView
from kubeheal.observe.kubernetes import KubernetesError, KubernetesReader
from kubeheal.outcomes.figures import QUANTILES, SelectingRunbook, coverage, runbook_figures
from kubeheal.outcomes.record import fold, incident_record, needs_follow_up

log = logging.getLogger(__name__)

OUTCOME_RECORDED: Final = "kubeheal.io/outcome-recorded"
LATE_WINDOWS: Final = 3
"""A follow-up more than this many verification windows late (the operator was away) cannot
tell what the workload did then: it is unknown."""
COVERAGE_SECONDS: Final = 60.0
"""How often a namespace's coverage is computed again."""

Pause = Callable[[float], Awaitable[bool]]
"""Waits some seconds; False when the operator stops meanwhile."""
HealthCheck = Callable[[Runbook, str, str, set[str]], Awaitable[Health]]
"""The verification's verdict on a workload now (RemediationDriver.health)."""


@dataclass
class OutcomeRecorder:
    store: ObjectStore
    health: HealthCheck
    evaluators: Mapping[tuple[str, str], object]
    """The runbooks whose detectors run here (their verdict is part of a workload's health)."""

    async def record(self, namespace: str, name: str, pause: Pause) -> None:
        """Count the closed Remediation into its runbook's statistics, then mark it counted.

        Returns at once for a Remediation that is open, already marked, or gone; raises
        KubernetesError when the API fails (the caller tries again)."""
        body = await self.store.get("remediations", namespace, name)
        if (body["metadata"].get("annotations") or {}).get(OUTCOME_RECORDED) == "true":
            return
        try:
            rem = Remediation.model_validate(body)
        except ValidationError as e:
            log.warning("remediation %s/%s: not counted, invalid: %s", namespace, name,
                        explain(e))
            return
        if rem.status is None or not rem.status.phase.terminal:
            return
        if rem.spec.scale_back_of is not None:  # not an incident: its scale-out's counted
            await self.store.annotate("remediations", namespace, name, {OUTCOME_RECORDED: "true"})
            return
        follow_up = None
        if needs_follow_up(rem):
            follow_up = await self._follow_up(rem, pause)
            if follow_up is None:  # stopping: the next leader counts it
                return
        record = incident_record(rem, follow_up)
        runbook = rem.spec.runbook_ref.name
        while True:
            runbook_body = await self._runbook(namespace, runbook)
            if runbook_body is None:
                log.info("remediation %s/%s: runbook %s is gone, and its statistics with it",
                         namespace, name, runbook)
                break
            stats = statistics_of(runbook_body)
            folded = fold(stats, record, now()) if stats is not None else None
            if stats is not None and folded is None:  # counted before a crash, not marked
                break
            try:  # (unreadable statistics are cleared first: a merge patch would keep them)
                await self.store.patch_status(
                    "runbooks", namespace, runbook,
                    {"outcomes": folded.to_api() if folded is not None else None},
                    resource_version=runbook_body["metadata"]["resourceVersion"])
            except KubernetesError as e:
                if e.kind == "conflict":  # the runbook's status moved meanwhile: read again
                    continue
                raise
            if folded is None:
                continue
            log.info("remediation %s/%s counted in runbook %s: %s%s", namespace, name, runbook,
                     record.outcome.value,
                     f" ({record.follow_up.value})" if record.follow_up else "")
            break
        await self.store.annotate("remediations", namespace, name, {OUTCOME_RECORDED: "true"})

    async def _follow_up(self, rem: Remediation, pause: Pause) -> FollowUp | None:
        """Whether the workload was still unhealthy one verification window after the
        incident closed; None when the operator stops before it is known."""
        assert rem.status is not None
        closed = rem.status.completed_at or now()
        namespace, target = rem.spec.target.namespace, rem.spec.target.name
        body = await self._runbook(namespace, rem.spec.runbook_ref.name)
        runbook, _ = parse_runbook(body) if body else (None, "")
        if runbook is None:
            return FollowUp.UNKNOWN
        window = runbook.spec.verification.window_seconds
        wait = (closed - now()).total_seconds() + window
        if wait < -LATE_WINDOWS * window:
            return FollowUp.UNKNOWN
        if wait > 0 and not await pause(wait):
            return None
        return await self._health(runbook, namespace, target,
                                  {e.signal for e in rem.spec.trigger.evidence})

    async def _health(self, runbook: Runbook, namespace: str, target: str,
                      signals: set[str]) -> FollowUp:
        if (namespace, runbook.metadata.name or "") not in self.evaluators:
            return FollowUp.UNKNOWN  # the detectors' verdict is part of health: not here
        health = await self.health(runbook, namespace, target, signals)
        return {"healthy": FollowUp.RECOVERED, "unhealthy": FollowUp.CONFIRMED}.get(
            health.verdict, FollowUp.UNKNOWN)

    async def _runbook(self, namespace: str, name: str) -> Json | None:
        try:
            return await self.store.get("runbooks", namespace, name)
        except KubernetesError as e:
            if e.kind == "not-found":
                return None
            raise


def statistics_of(runbook_body: Json) -> OutcomeStatistics | None:
    """The runbook's statistics as written; None when unreadable (edited by hand): counting
    starts over."""
    meta = runbook_body["metadata"]
    try:
        return OutcomeStatistics.model_validate(
            (runbook_body.get("status") or {}).get("outcomes") or {})
    except ValidationError as e:
        log.warning("runbook %s/%s: outcome statistics unreadable, counting starts over: %s",
                    meta.get("namespace"), meta.get("name"), explain(e))
        return None


@dataclass
class OutcomeMetrics:
    """The statistics (since counting began) and coverage as the operator's metrics."""

    metrics: OperatorMetrics
    reader: KubernetesReader
    store: ObjectStore
    view: ClusterView | None = None  # where coverage reads from once synced (else: LISTs)
    _covered_at: dict[str, float] = field(default_factory=dict)

    def publish(self, runbook_body: Json) -> None:
        """Set the outcome gauges of one runbook from its status."""
        meta, spec = runbook_body["metadata"], runbook_body.get("spec") or {}
        namespace, name = meta["namespace"], meta["name"]
        stats = statistics_of(runbook_body) \
            if (runbook_body.get("status") or {}).get("outcomes") else None
        if stats is None:
            return
        f = runbook_figures(namespace, name, spec.get("mode", ""), bool(spec.get("sloRef")),
                            stats.totals)
        m = self.metrics
        for outcome in OutcomeKind:
            m.outcome_incidents.labels(namespace, name, outcome.value).set(
                f.outcomes.get(outcome.value, 0))
        m.outcome_autonomous.labels(namespace, name).set(f.autonomous)
        m.outcome_false_alarms.labels(namespace, name).set(f.false_alarms)
        for measure, values in (("detect", f.time_to_detect), ("recover", f.time_to_recover),
                                ("approval", f.approval_latency)):
            for q in QUANTILES:
                value = values[q]
                if value is not None:
                    m.outcome_seconds.labels(namespace, name, measure, str(q)).set(value)
        for signal, rate in f.false_alarm_rate_by_signal.items():
            if rate is not None:
                m.outcome_false_alarm_ratio.labels(namespace, name, signal).set(rate)
        for cause, action, _, succeeded, failed in f.actions:
            m.outcome_action_runs.labels(namespace, name, cause, action, "succeeded").set(
                succeeded)
            m.outcome_action_runs.labels(namespace, name, cause, action, "failed").set(failed)
        for verdict, n in (("seen", f.dry_run_incidents), ("confirmed", f.dry_run_confirmed),
                           ("recovered-unaided", f.dry_run_recovered_unaided)):
            m.dry_run_incidents.labels(namespace, name, verdict).set(n)

    async def cover(self, namespace: str) -> None:
        """Set the namespace's coverage gauges, at most every :data:`COVERAGE_SECONDS`."""
        if time.monotonic() - self._covered_at.get(namespace, -COVERAGE_SECONDS) \
                < COVERAGE_SECONDS:
            return
        self._covered_at[namespace] = time.monotonic()
        deployments = bodies = None
        if self.view is not None:
            with contextlib.suppress(KubernetesError):  # not synced: the API server answers
                deployments = self.view.deployments.in_namespace(namespace)
                bodies = self.view.runbooks.in_namespace(namespace)
        if deployments is None or bodies is None:
            deployments = await self.reader.list_deployments(namespace, "")
            bodies = await self.store.list("runbooks", namespace)
        runbooks = []
        for body in bodies:
            runbook, _ = parse_runbook(body)
            if runbook is not None:
                runbooks.append(SelectingRunbook(namespace, runbook.spec.selector,
                                                 runbook.spec.slo_ref is not None))
        c = coverage(((namespace, (d["metadata"].get("labels") or {})) for d in deployments),
                     runbooks)
        self.metrics.coverage_deployments.labels(namespace, "all").set(c.deployments)
        self.metrics.coverage_deployments.labels(namespace, "runbook").set(c.selected)
        self.metrics.coverage_deployments.labels(namespace, "slo").set(c.with_slo)

