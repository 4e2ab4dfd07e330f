"""The way back of a temporary scale-out: watch a verified scale-out, open its scale-back.

A runbook's scale action with ``scaleBack`` makes its scale-out temporary. The incident that
scaled out closes as usual once verified (the outcome statistics count it), with its way back
in ``status.scaleBack`` (state ``Planned``). :class:`ScaleBackWatcher` then checks it every
runbook interval (only the leader does, every write fenced), by the rules of
:mod:`kubeheal.decide.scaleback`: the load back at its level before the incident for the
hold, from Prometheus' own history (a restart loses nothing), the replicas as the scale-out
left them, no newer incident of the workload.

When it is due, the scale-back is a Remediation of its own (``spec.scaleBackOf`` names the
scale-out it undoes), opened through the workload's incident claim like any incident, so a
new incident and a scale-back are never open at once: whichever takes the claim first holds
the workload, and a scale-back finding a newer incident is abandoned, saying so. From there
the scale-back goes through the remediation lifecycle like any action: decided and pinned on
the target as read then, gated by the policy engine, executed once through its intent, and
verified.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from kubernetes import client
from pydantic import ValidationError

from kubeheal.act.intent import action_applied
from kubeheal.act.patches import hpa_targeting
from kubeheal.api.base import ObjectMeta, ObjectReference, WorkloadReference
from kubeheal.api.remediation import (
    CauseCandidate,
    Diagnosis,
    Phase,
    Remediation,
    RemediationSpec,
    ScaleBackOf,
    ScaleBackPlan,
    SignalEvidence,
    TimelineEntry,
    Trigger,
)
from kubeheal.api.runbook import Runbook
from kubeheal.controller.claims import WORKLOAD_KIND, ClaimTaken, IncidentClaims, sequence_of
from kubeheal.controller.runbooks import parse_runbook
from kubeheal.controller.store import RUNBOOK_LABEL, TARGET_LABEL, Json, ObjectStore, now
from kubeheal.decide.scaleback import (
    HoldVerdict,
    ScaleOut,
    changed_since,
    held_back,
    level_before,
    scaled_out,
    way_back,
)
from kubeheal.observe.kubernetes import KubernetesError, KubernetesReader, call
from kubeheal.observe.prometheus import PrometheusClient, QueryError, Series

log = logging.getLogger(__name__)

PENDING: Final = ("Planned", "Waiting")
"""States of a way back that is still to be decided."""


def pending(status: Mapping[str, Any] | None) -> bool:
    """Whether a Remediation (its status) has a scale-back to watch: closed, with a way back
    still pending.

    >>> pending({"phase": "Succeeded", "scaleBack": {"state": "Planned"}})
    True
    >>> pending({"phase": "Verifying", "scaleBack": {"state": "Planned"}}), pending(None)
    (False, False)
    """
    status = status or {}
    return Phase(status.get("phase", "Detected")).terminal and \
        (status.get("scaleBack") or {}).get("state") in PENDING


def target_points(series: Iterable[Series], workload_label: str, namespace: str,
                  name: str) -> list[tuple[float, float]]:
    """The points of the target's own series (its name and namespace; a series without a
    namespace counts as the runbook's own).

    >>> s = [Series({"namespace": "a", "deployment": "web"}, ((1.0, 9.0),)),
    ...      Series({"namespace": "b", "deployment": "web"}, ((1.0, 2.0),))]
    >>> target_points(s, "deployment", "b", "web")
    [(1.0, 2.0)]
    """
    return [point for s in series if s.labels.get(workload_label) == name
            and s.labels.get("namespace", namespace) == namespace for point in s.points]


async def load_level(prometheus: PrometheusClient, runbook: Runbook, namespace: str,
                     workload: str, onset: dt.datetime) -> float | None:
    """The load's level before the onset (the median over the first scale-back's baseline
    window), or None when the runbook makes no scale-out temporary or data is missing."""
    signal = runbook.spec.load_signal()
    settings = next((a.scale.scale_back for a in runbook.spec.actions
                     if a.scale is not None and a.scale.scale_back is not None), None)
    if signal is None or settings is None:
        return None
    try:
        series = await prometheus.query_range(
            signal.query, onset - dt.timedelta(seconds=settings.baseline_seconds), onset,
            runbook.spec.interval_seconds)
    except QueryError as e:
        log.warning("load level of %s/%s before %s not read: %s", namespace, workload, onset, e)
        return None
    points = target_points(series, signal.workload_label, namespace, workload)
    return level_before([v for _, v in points])


@dataclass
class ScaleBackWatcher:
    """Checks one closed scale-out's way back, and opens its scale-back when due."""

    store: ObjectStore
    reader: KubernetesReader
    prometheus: PrometheusClient
    claims: IncidentClaims

    async def check(self, namespace: str, name: str) -> float | None:
        """One check; the seconds until the next, or None once the way back is decided."""
        body = await self.store.get("remediations", namespace, name)
        try:
            rem = Remediation.model_validate(body)
        except ValidationError:
            return None
        status = rem.status
        plan = status.scale_back if status is not None else None
        if status is None or plan is None or not pending(body.get("status")):
            return None
        moment = now()
        runbook, problem = await self._runbook(namespace, rem.spec.runbook_ref.name)
        if runbook is None:
            await self._saved(body, rem, plan.model_copy(update={
                "state": "Abandoned", "message": f"runbook {rem.spec.runbook_ref.name}: "
                f"{problem}: no scale-back"}), moment)
            return None
        out = scaled_out(status)
        level = plan.load_before
        if level is None and out is not None:
            level = await load_level(self.prometheus, runbook, namespace, rem.spec.target.name,
                                     rem.spec.trigger.started_at)
        later, ours = await self._later(rem)
        if ours:
            await self._saved(body, rem, plan.model_copy(update={
                "state": "Opened", "follow_up": ours, "load_before": level,
                "message": f"the scale-back is remediation {ours}"}), moment)
            return None
        changed, hold = "", None
        if out is not None and status.phase is Phase.SUCCEEDED and not later:
            try:
                changed = await self._changed(rem, out)
            except KubernetesError as e:
                if e.kind != "not-found":
                    raise
                changed = f"the Deployment is gone ({e.message})"
            due = out.executed_at + dt.timedelta(seconds=plan.hold_seconds)
            if not changed and level is not None and moment >= due:
                hold = await self._hold(runbook, rem, level, plan, moment)
        step = way_back(phase=status.phase.value, out=out, level=level, later_incident=later,
                        changed=changed, hold_seconds=plan.hold_seconds, hold=hold, now=moment)
        update: dict[str, Any] = {"state": step.state, "message": step.message,
                                  "load_before": level}
        if step.open:
            assert out is not None and level is not None and hold is not None
            opened = await self._open(rem, runbook, out, level, hold, moment)
            if opened:
                update |= {"state": "Opened", "follow_up": opened,
                           "message": f"the scale-back is remediation {opened}: {hold.message}"}
        await self._saved(body, rem, plan.model_copy(update=update), moment)
        return None if update["state"] not in PENDING else float(runbook.spec.interval_seconds)

    async def _runbook(self, namespace: str, name: str) -> tuple[Runbook | None, str]:
        body = await self._get("runbooks", namespace, name)
        return parse_runbook(body) if body is not None else (None, "not found")

    async def _later(self, rem: Remediation) -> tuple[str, str]:
        """The workload's incident opened after this one that is not its scale-back (the
        first), and its scale-back if it was opened already."""
        target = rem.spec.target
        mine = sequence_of(rem.metadata.name or "", WORKLOAD_KIND, target.name)
        items = await self.store.list("remediations", target.namespace,
                                      {TARGET_LABEL: target.name})
        later, ours = "", ""
        for item in sorted(items, key=lambda i: sequence_of(i["metadata"]["name"],
                                                            WORKLOAD_KIND, target.name)):
            if sequence_of(item["metadata"]["name"], WORKLOAD_KIND, target.name) <= mine:
                continue
            of = (item.get("spec") or {}).get("scaleBackOf") or {}
            if of.get("remediation") == rem.metadata.name:
                ours = ours or item["metadata"]["name"]
            else:
                later = later or item["metadata"]["name"]
        return later, ours

    async def _changed(self, rem: Remediation, out: ScaleOut) -> str:
        namespace, name = rem.spec.target.namespace, rem.spec.target.name
        deployment = await self.reader.get_deployment(namespace, name)
        hpas = await call(client.AutoscalingV2Api(self.reader.api_client)
                          .list_namespaced_horizontal_pod_autoscaler, namespace,
                          timeout=self.reader.timeout)
        hpa = hpa_targeting(hpas.get("items", []), name)
        pinned = rem.status.action.pinned if rem.status and rem.status.action else None
        if pinned is not None and pinned.uid != deployment["metadata"].get("uid"):
            return "the Deployment was replaced since the scale-out"
        minimum = (hpa or {}).get("spec", {}).get("minReplicas", 1) if hpa else None
        changed = changed_since(out, int(deployment["spec"].get("replicas", 1)),
                                str((hpa or {}).get("metadata", {}).get("name") or ""),
                                int(minimum) if minimum is not None else None)
        if not changed and not action_applied(hpa or deployment, out.token):
            changed = (f"the {'HPA' if hpa else 'Deployment'} no longer carries the "
                       f"scale-out's token {out.token}: another action changed it since")
        return changed

    async def _hold(self, runbook: Runbook, rem: Remediation, level: float,
                    plan: ScaleBackPlan, moment: dt.datetime) -> HoldVerdict:
        """The load over the last hold, from Prometheus' history."""
        signal = runbook.spec.load_signal()
        if signal is None:
            return HoldVerdict("inconclusive", "the runbook has no load signal any more")
        interval = runbook.spec.interval_seconds
        start = moment - dt.timedelta(seconds=plan.hold_seconds)
        try:
            series = await self.prometheus.query_range(signal.query, start, moment, interval)
        except QueryError as e:
            return HoldVerdict("inconclusive", f"load signal {signal.name}: {e}: missing data, "
                                               "so no scale-back yet")
        points = target_points(series, signal.workload_label, rem.spec.target.namespace,
                               rem.spec.target.name)
        verdict = held_back(points, level, plan.tolerance, start.timestamp(),
                            moment.timestamp(), interval)
        return HoldVerdict(verdict.verdict, f"signal {signal.name}: {verdict.message}")

    async def _open(self, rem: Remediation, runbook: Runbook, out: ScaleOut, level: float,
                    hold: HoldVerdict, moment: dt.datetime) -> str | None:
        """Open the scale-back through the workload's claim; its name, or None when another
        incident holds the workload (the next check says what became of it)."""
        namespace, workload = rem.spec.target.namespace, rem.spec.target.name
        claim = await self.claims.read(namespace, WORKLOAD_KIND, workload)
        if claim is not None and claim.holder and claim.holder != rem.metadata.name:
            holder = await self._get("remediations", namespace, claim.holder)
            if holder is not None and not Phase(
                    (holder.get("status") or {}).get("phase", "Detected")).terminal:
                return None
        existing = await self.store.list("remediations", namespace, {TARGET_LABEL: workload})
        known = max((sequence_of(r["metadata"]["name"], WORKLOAD_KIND, workload)
                     for r in existing), default=0)
        try:
            name = await self.claims.take(namespace, WORKLOAD_KIND, workload,
                                          rem.spec.runbook_ref.name, claim, known)
        except ClaimTaken:
            return None
        plan = rem.status.scale_back if rem.status else None
        signal = plan.load_signal if plan else ""
        message = (f"scale-back of {rem.metadata.name}: the load is back at its level before "
                   f"the incident ({hold.message})")
        followup = Remediation(
            metadata=ObjectMeta.model_validate({
                "name": name, "namespace": namespace,
                "labels": {RUNBOOK_LABEL: rem.spec.runbook_ref.name, TARGET_LABEL: workload}}),
            spec=RemediationSpec(
                runbook_ref=ObjectReference(name=rem.spec.runbook_ref.name),
                target=WorkloadReference(namespace=namespace, name=workload),
                trigger=Trigger(started_at=moment, detected_at=moment, score=0.0, evidence=[
                    SignalEvidence(signal=signal, expected=level, score=0.0,
                                   explanation=message[:1024])]),
                diagnosis=Diagnosis(cause=rem.spec.diagnosis.cause, candidates=[CauseCandidate(
                    cause=rem.spec.diagnosis.cause, confidence=1.0,
                    evidence=[f"scale-back of {rem.metadata.name}: {hold.message}"[:1024]])]),
                scale_back_of=ScaleBackOf(
                    remediation=rem.metadata.name or "", action=out.action,
                    replicas=out.replicas, hpa=out.hpa, hpa_min_replicas=out.hpa_min_replicas,
                    scaled_to=out.scaled_to, load_signal=signal, load_before=level),
            ),
        )
        body = followup.to_api()
        body.pop("status", None)
        created = await self.store.create("remediations", namespace, body)
        first = {"phase": Phase.DETECTED.value, "timeline": [
            TimelineEntry(time=moment, step="detected", message=message[:1024]).to_api()]}
        try:  # the driver writes a first status itself if this one is lost
            await self.store.patch_status("remediations", namespace, name, first,
                                          resource_version=created["metadata"]["resourceVersion"])
        except KubernetesError as e:
            if e.kind != "conflict":
                raise
        log.info("remediation %s/%s: scale-back %s opened: %s", namespace, rem.metadata.name,
                 name, hold.message)
        return name

    async def _get(self, plural: str, namespace: str, name: str) -> Json | None:
        try:
            return await self.store.get(plural, namespace, name)
        except KubernetesError as e:
            if e.kind == "not-found":
                return None
            raise

    async def _saved(self, body: Json, rem: Remediation, plan: ScaleBackPlan,
                     moment: dt.datetime) -> None:
        # Writing a decided state makes kopf stop this daemon, which may cancel it mid-way:
        # the Event that says what was decided must not be lost.
        await asyncio.shield(self._save(body, rem, plan, moment))

    async def _save(self, body: Json, rem: Remediation, plan: ScaleBackPlan,
                    moment: dt.datetime) -> None:
        """Write the way back, on the condition that the Remediation is as read; an Event
        when its state changes (the status holds the latest message)."""
        old = rem.status.scale_back if rem.status else None
        plan = plan.model_copy(update={"checked_at": moment, "message": plan.message[:1024]})
        meta = body["metadata"]
        written = await self.store.patch_status(
            "remediations", meta["namespace"], meta["name"], {"scaleBack": plan.to_api()},
            resource_version=meta.get("resourceVersion"))
        meta["resourceVersion"] = written["metadata"]["resourceVersion"]
        if old is None or old.state != plan.state:
            reason = {"Opened": "ScaleBackOpened", "Abandoned": "ScaleBackAbandoned"}.get(
                plan.state, "ScaleBackWaiting")
            await self.store.post_event(body, "Warning" if plan.state == "Abandoned"
                                        else "Normal", reason, plan.message)
