"""One incident from diagnosis to a verified outcome, through the API server.

:class:`RemediationDriver` moves one ``Remediation`` along the lifecycle of
:mod:`kubeheal.controller.lifecycle`: each step it reads the remediation, gathers what the
transition of its phase needs (the target read fresh from the API server, the history of
actions, the verification verdict), fires the transition and executes its effects in order.
Every status write is conditioned on the resourceVersion it read, so that no other writer's
status is clobbered; an intent is on record before its action is called, so that the
operator may die at any point and pick up where it was. Every write, notifications
included, passes the leadership fence right before it is sent.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kubernetes import client
from pydantic import ValidationError

from kubeheal.act.actions import KubernetesActions
from kubeheal.act.gitops import GitOpsSuspender
from kubeheal.act.intent import ActionError, ActionResult
from kubeheal.act.patches import hpa_targeting
from kubeheal.act.suspension import SuspensionError, SuspensionResult
from kubeheal.api.base import explain
from kubeheal.api.remediation import (
    Intent,
    Phase,
    Remediation,
    RemediationStatus,
    TimelineEntry,
)
from kubeheal.api.runbook import ActionKind, Runbook, SignalRole
from kubeheal.api.slo import ServiceLevelObjective
from kubeheal.controller.claims import IncidentClaims
from kubeheal.controller.history import ACTED_HOUR_LABEL, acted_hour, read_history
from kubeheal.controller.lifecycle import (
    AskPolicy,
    CallAction,
    Closed,
    CountAction,
    CountLearning,
    CountPolicy,
    Effect,
    Health,
    Notify,
    Observations,
    Outcome,
    PostEvent,
    ReadError,
    RecountPending,
    Recovered,
    ReleaseClaim,
    SuspendOwner,
    TargetState,
    WriteStatus,
    detector_health,
    fire,
    target_value,
)
from kubeheal.controller.metrics import OperatorMetrics
from kubeheal.controller.outcomes import statistics_of
from kubeheal.controller.runbooks import RunbookEvaluator, parse_runbook, within_threshold
from kubeheal.controller.scaleback import load_level
from kubeheal.controller.slos import current_sli
from kubeheal.controller.store import Json, ObjectStore, merge_patch, now, set_condition
from kubeheal.decide import RemediationHistory
from kubeheal.diagnose.gitops import GitOpsSettings, managed_by
from kubeheal.notify.delivery import Notifier
from kubeheal.notify.messages import notification_of
from kubeheal.observe.kubernetes import KubernetesError, KubernetesReader, call, parse_time
from kubeheal.observe.prometheus import PrometheusClient, QueryError
from kubeheal.policy import PolicyGate
from kubeheal.verify.rollout import rollout_status

log = logging.getLogger(__name__)

FIRST_STATUS_COURTESY_SECONDS = 5.0
"""How long the driver leaves a new Remediation's first status to the evaluator, whose
timeline says more. Correctness does not rest on it: both write it only if none is there."""
PAUSE_AFTER_INTENT_ENV = "KUBEHEAL_PAUSE_AFTER_INTENT"


@dataclass(frozen=True)
class Step:
    """What one pass of the driver did: whether to wait before the next pass."""

    wait: bool


@dataclass
class RemediationDriver:
    store: ObjectStore
    reader: KubernetesReader
    actions: KubernetesActions
    gate: PolicyGate
    prometheus: PrometheusClient
    metrics: OperatorMetrics
    claims: IncidentClaims
    evaluators: Mapping[tuple[str, str], RunbookEvaluator]
    notifier: Notifier | None = None
    gitops: GitOpsSettings = field(default_factory=GitOpsSettings)

    async def step(self, namespace: str, name: str) -> Step | None:
        """Advance the remediation by one transition; None once it is terminal."""
        body = await self.store.get("remediations", namespace, name)
        moment = now()
        try:
            rem = Remediation.model_validate(body)
        except ValidationError as e:  # only a hand-edited object gets here
            await self._invalid(body, explain(e))
            return None
        if not (body.get("status") or {}).get("phase"):
            created = parse_time(body["metadata"].get("creationTimestamp")) or moment
            if (moment - created).total_seconds() < FIRST_STATUS_COURTESY_SECONDS:
                return Step(wait=True)
            return await self._apply(body, rem, fire("created", rem, None,
                                                     Observations(moment, None)),
                                     Observations(moment, None))
        status = rem.status or RemediationStatus()
        if status.phase.terminal:
            return None
        runbook_body = await self._runbook_body(namespace, rem.spec.runbook_ref.name)
        runbook, problem = parse_runbook(runbook_body) if runbook_body else (None, "not found")
        if runbook is None:
            obs = Observations(moment, None, runbook_problem=problem)
            return await self._apply(body, rem, fire("runbook-unavailable", rem, status, obs),
                                     obs)
        trigger, obs = await self._observe(rem, status, runbook, moment)
        if trigger == "decide" and runbook.spec.learning.mode != "off" and runbook_body:
            # the runbook's statistics, as read with it now, order the actions
            obs = dataclasses.replace(obs, outcomes=statistics_of(runbook_body))
        return await self._apply(body, rem, fire(trigger, rem, status, obs), obs)

    # -- observations -----------------------------------------------------------------------

    async def _observe(self, rem: Remediation, status: RemediationStatus, runbook: Runbook,
                       moment: dt.datetime) -> tuple[str, Observations]:
        """The trigger for the remediation's phase and what its transition needs."""
        obs = Observations(moment, runbook)
        if status.phase is Phase.DETECTED:
            level = None if rem.spec.scale_back_of is not None else await load_level(
                self.prometheus, runbook, rem.spec.target.namespace, rem.spec.target.name,
                rem.spec.trigger.started_at)
            return "decide", dataclasses.replace(  # pods: a resize finds the OOM-killed one
                obs, target=await self._target(rem, pods=True),
                history=await self._history(rem, moment),
                namespace_labels=await self.store.namespace_labels(rem.spec.target.namespace),
                load_level=level)
        if status.phase is Phase.AWAITING_APPROVAL:
            return "approval", obs
        if status.phase is Phase.EXECUTING:
            action = status.intent.action if status.intent else status.action
            evicts = action is not None and action.kind is ActionKind.RESTART \
                and action.params.get("strategy") == "delete-pod"
            # A StatefulSet's rollback may have to evict its stuck pod: it reads the pods.
            unblocks = action is not None and action.kind is ActionKind.ROLLBACK \
                and rem.spec.target.kind == "StatefulSet"
            read = await self._target(rem, pods=evicts or unblocks)
            claimed: bool | None = None
            try:
                claimed = await self.claims.names(rem.spec.target.namespace, rem.spec.target.kind,
                                                  rem.spec.target.name, rem.metadata.name or "")
            except KubernetesError as e:
                read = ReadError(e.kind, f"its incident claim: {e.message}")
            # The policy may be asked again before the action: it needs the situation.
            obs = dataclasses.replace(
                obs, target=read, claimed=claimed, history=await self._history(rem, moment),
                namespace_labels=await self.store.namespace_labels(rem.spec.target.namespace))
            return ("resume" if status.intent is not None else "prepare"), obs
        target: TargetState | ReadError | None = None
        verification = status.verification
        rolled_out = verification is not None and verification.rollout_completed_at is not None
        if not rolled_out:
            target = await self._target(rem)
            rolled_out = isinstance(target, TargetState) and \
                rollout_status(target.deployment).complete
        health = await self.health(runbook, rem.spec.target.namespace, rem.spec.target.name,
                                   {e.signal for e in rem.spec.trigger.evidence}) \
            if rolled_out else None
        return "verify", dataclasses.replace(obs, target=target, health=health)

    async def _target(self, rem: Remediation, pods: bool = False) -> TargetState | ReadError:
        """The target workload read from the API server now (never from a cache), with its
        ReplicaSets (a StatefulSet: its ControllerRevisions)."""
        namespace, name, kind = (rem.spec.target.namespace, rem.spec.target.name,
                                 rem.spec.target.kind)
        try:
            deployment = await self.reader.get_workload(kind, namespace, name)
            replica_sets = (await self.reader.controller_revisions(deployment)
                            if kind == "StatefulSet"
                            else await self.reader.replica_sets(deployment))
            hpas = await call(client.AutoscalingV2Api(self.reader.api_client)
                              .list_namespaced_horizontal_pod_autoscaler, namespace,
                              timeout=self.reader.timeout)
            hpa = hpa_targeting(hpas.get("items", []), name, kind)
            found = tuple(await self.reader.pods(deployment)) if pods else ()
        except KubernetesError as e:
            return ReadError(e.kind, e.message)
        return TargetState(deployment, tuple(replica_sets), dict(hpa) if hpa else None, found,
                           managed_by(deployment.get("metadata") or {}, self.gitops))

    async def _history(self, rem: Remediation, moment: dt.datetime) -> RemediationHistory:
        return await read_history(self.store, rem.spec.target.namespace, rem.spec.target.name,
                                  moment, incident=rem.metadata.name or "")

    async def health(self, runbook: Runbook, namespace: str, target: str,
                     triggered: set[str]) -> Health:
        """Whether the workload is healthy now: the SLO holds, every signal of the target
        (its namespace and name) is within its threshold, and the detectors of the signals
        that opened the incident are quiet. Missing data makes the verdict inconclusive;
        only data that is present and bad makes it unhealthy."""
        bad: list[str] = []
        missing: list[tuple[str, str]] = []
        checks: list[str] = []
        for signal in runbook.spec.signals:
            if signal.threshold is None:
                continue
            try:
                samples = await self.prometheus.query(signal.query)
            except QueryError as e:
                reason = "QueryFailed" if e.kind == "bad-query" else "PrometheusUnavailable"
                missing.append((reason, f"signal {signal.name}: {e}"))
                continue
            value = target_value(((s.labels, s.value) for s in samples),
                                 signal.workload_label, namespace, target)
            if value is None:
                missing.append(("NoData", f"signal {signal.name}: no data for "
                                          f"{namespace}/{target}"))
            elif not within_threshold(value, signal):
                bad.append(f"signal {signal.name} = {value:.4g}, past {signal.threshold:g}")
            else:
                checks.append(f"{signal.name} {value:.4g} within {signal.threshold:g}")
        if runbook.spec.slo_ref is not None:
            verdict = await self._slo_verdict(namespace, runbook.spec.slo_ref.name)
            if verdict.verdict == "unhealthy":
                bad.append(verdict.message)
            elif verdict.verdict == "inconclusive":
                missing.append((verdict.reason, verdict.message))
            else:
                checks.append(verdict.message)
        # Load explains saturation and never opens an incident; it may well stay high after
        # a scale-out that fixed the latency, so it does not hold recovery back.
        load = {s.name for s in runbook.spec.signals if s.role is SignalRole.LOAD}
        evaluator = self.evaluators.get((namespace, runbook.metadata.name or ""))
        streams = evaluator.streams if evaluator is not None else {}
        last_points: dict[str, tuple[float, bool] | None] = {}
        for name in sorted(triggered - load):
            stream = streams.get((target, name))
            last = stream.last if stream is not None else None
            last_points[name] = (last.score.timestamp, last.alarm) if last else None
        detectors = detector_health(last_points, now(), runbook.spec.interval_seconds)
        if detectors.verdict == "unhealthy":
            bad.append(detectors.message)
        elif detectors.verdict == "inconclusive":
            missing.append((detectors.reason, detectors.message))
        elif last_points:
            checks.append(detectors.message)
        if bad:
            return Health("unhealthy", "; ".join(bad))
        if missing:
            return Health("inconclusive", "; ".join(m for _, m in missing), missing[0][0])
        return Health("healthy",
                      "; ".join(checks) or "rollout complete (no SLO or thresholds to hold)")

    async def _slo_verdict(self, namespace: str, name: str) -> Health:
        try:
            slo = ServiceLevelObjective.model_validate(
                await self.store.get("servicelevelobjectives", namespace, name))
        except (KubernetesError, ValidationError) as e:
            return Health("inconclusive", f"SLO {name} unavailable: {e}", "SloUnavailable")
        try:
            sli = await current_sli(self.prometheus, slo)
        except QueryError as e:
            return Health("inconclusive", f"SLO {name}: {e}", "PrometheusUnavailable")
        if sli is None:
            return Health("inconclusive", f"SLO {name}: no traffic to judge", "NoTraffic")
        if sli < slo.spec.objective:
            return Health("unhealthy",
                          f"SLO {name}: SLI {sli:.4f} below objective {slo.spec.objective}")
        return Health("healthy", f"SLO {name}: SLI {sli:.4f} >= {slo.spec.objective}")

    # -- effects ------------------------------------------------------------------------------

    async def _apply(self, body: Json, rem: Remediation, outcome: Outcome,
                     obs: Observations, held: tuple[Effect, ...] = ()) -> Step | None:
        """Execute the outcome's effects in order; a question (policy, action) fires the next
        transition with its answer. None once the remediation is terminal.

        What reports a step (Events, notifications, metrics) is held until the next status
        write succeeds: a write that conflicts starts the step over, and what it would have
        reported is reported once, by the step that is written."""
        if outcome.status.phase.terminal:
            # Writing a terminal phase makes kopf stop this remediation's daemon, which may
            # cancel it mid-way: the Event, metrics and log of the outcome must not be lost.
            await asyncio.shield(self._effects(body, rem, outcome, obs, held))
            return None
        follow = await self._effects(body, rem, outcome, obs, held)
        if follow is not None:
            trigger, answered, held = follow
            return await self._apply(body, rem, fire(trigger, rem, outcome.status, answered),
                                     answered, held)
        return Step(wait=outcome.wait)

    async def _effects(self, body: Json, rem: Remediation, outcome: Outcome, obs: Observations,
                       held: tuple[Effect, ...]) -> tuple[str, Observations,
                                                          tuple[Effect, ...]] | None:
        reports = list(held)
        for effect in outcome.effects:
            match effect:
                case PostEvent() | Notify() | CountPolicy() | CountAction() | CountLearning() \
                        | Recovered() | Closed():
                    reports.append(effect)
                case WriteStatus(status=status):
                    await self._save(body, status)
                    await self._report(body, rem, outcome.status, obs, reports)
                    reports = []
                case RecountPending():
                    await self._count_pending(rem.spec.target.namespace)
                case ReleaseClaim():
                    await self._release_claim(rem)
                case AskPolicy(input=policy_input, then=then):
                    decision = await self.gate.decide(policy_input)
                    return then, dataclasses.replace(obs, now=now(), policy=decision), \
                        tuple(reports)
                case SuspendOwner(intent=intent, fresh=fresh):
                    await self._mark_acted(body)
                    suspension = await self._suspend(rem, intent)
                    return "suspended", dataclasses.replace(obs, now=now(), suspension=suspension,
                                                            resumed=not fresh), tuple(reports)
                case CallAction(intent=intent, fresh=fresh):
                    await self._mark_acted(body)
                    if fresh:
                        await _pause_after_intent()
                    called: ActionResult | ActionError
                    try:
                        called = await self._call(rem, intent)
                    except ActionError as e:
                        called = e
                    return "acted", dataclasses.replace(obs, now=now(), result=called,
                                                        resumed=not fresh), tuple(reports)
        await self._report(body, rem, outcome.status, obs, reports)
        return None

    async def _report(self, body: Json, rem: Remediation, status: RemediationStatus,
                      obs: Observations, reports: Sequence[Effect]) -> None:
        namespace = rem.spec.target.namespace
        runbook = rem.spec.runbook_ref.name
        for effect in reports:
            match effect:
                case PostEvent(type=type_, reason=reason, message=message):
                    await self.store.post_event(body, type_, reason, message)
                case Notify(event=event, reason=reason, message=message):
                    if self.notifier is not None:
                        self.notifier.submit(notification_of(rem, status, event, reason,
                                                             message, obs.now))
                case CountPolicy(reason=reason):
                    self.metrics.policy_decisions.labels(namespace, runbook, reason).inc()
                case CountAction(kind=kind, outcome=counted):
                    self.metrics.actions.labels(namespace, runbook, kind, counted).inc()
                case CountLearning(mode=mode, changed=changed):
                    self.metrics.learned_decisions.labels(namespace, runbook, mode,
                                                          str(changed).lower()).inc()
                case Recovered(seconds=seconds):
                    self.metrics.time_to_recover.labels(namespace, runbook).observe(seconds)
                case Closed(phase=phase, message=message):
                    self.metrics.remediations_closed.labels(namespace, runbook,
                                                            phase.value).inc()
                    log.info("remediation %s/%s for %s: %s %s", namespace,
                             body["metadata"]["name"], rem.spec.target.name, phase.value,
                             message)

    async def _call(self, rem: Remediation, intent: Intent) -> ActionResult:
        """The intent's action, told the target identity it was decided for."""
        namespace, target = rem.spec.target.namespace, rem.spec.target.name
        kind = rem.spec.target.kind
        action, token, pins = intent.action, intent.token, intent.action.pinned
        if pins is None:
            raise ActionError("target-changed", "the decision pinned no target identity")
        if action.kind is ActionKind.RESTART:
            if "minAvailable" not in action.params:
                raise ActionError("invalid", "the decision set no availability floor")
            floor = int(action.params["minAvailable"])
            if action.params.get("strategy") == "delete-pod":
                return await self.actions.evict_pod(namespace, action.params["pod"], token,
                                                    target, min_available=floor, pins=pins,
                                                    kind=kind)
            return await self.actions.restart_rollout(namespace, target, token,
                                                      min_available=floor, pins=pins, kind=kind)
        if action.kind is ActionKind.RESIZE:
            p = action.params
            return await self.actions.resize_memory(
                namespace, target, p["container"], p["memoryLimit"], p.get("memoryRequest"),
                token, min_available=int(p["minAvailable"]), pins=pins)
        if action.kind is ActionKind.SCALE:
            return await self.actions.scale(namespace, target, int(action.params["replicas"]),
                                            token, pins=pins,
                                            down=action.params.get("direction") == "down",
                                            kind=kind)
        if kind == "StatefulSet":
            return await self.actions.rollback_statefulset(
                namespace, target, int(action.params["toRevision"]), token, pins=pins,
                stuck_pod=action.params.get("pod", ""),
                stuck_uid=action.params.get("podUid", ""))
        return await self.actions.rollback_to_revision(
            namespace, target, int(action.params["toRevision"]), token, pins=pins)

    async def _suspend(self, rem: Remediation, intent: Intent,
                       ) -> SuspensionResult | SuspensionError:
        """Suspend the reconciliation of the intent's GitOps owner, with the intent's token;
        a write of the operator's like an action, so it passes the same fence."""
        owner = intent.action.managed_by
        if owner is None:
            return SuspensionError("invalid", "the decision named no GitOps owner")
        try:
            return await GitOpsSuspender(self.reader.api_client, fence=self.actions.fence) \
                .suspend(owner, intent.token, f"{rem.spec.target.namespace}/{rem.metadata.name}")
        except SuspensionError as e:
            return e

    async def _release_claim(self, rem: Remediation) -> None:
        """The closed incident's claim is deleted; if that fails, the next incident of the
        workload or the operator's sweep of claims takes care of it."""
        try:
            await self.claims.release(rem.spec.target.namespace, rem.spec.target.kind,
                                      rem.spec.target.name, rem.metadata.name or "")
        except KubernetesError as e:
            log.warning("remediation %s/%s: incident claim not released: %s",
                        rem.spec.target.namespace, rem.metadata.name, e)

    async def _count_pending(self, namespace: str) -> None:
        items = await self.store.list("remediations", namespace)
        self.metrics.approvals_pending.labels(namespace).set(sum(
            1 for i in items
            if (i.get("status") or {}).get("phase") == Phase.AWAITING_APPROVAL.value))

    async def _invalid(self, body: Json, message: str) -> None:
        """A Remediation that does not validate (edited by hand) is escalated, never acted on."""
        status = RemediationStatus(phase=Phase.ESCALATED, completed_at=now())
        status.timeline = [TimelineEntry(time=now(), step="escalated", message=message[:1024])]
        status.conditions = set_condition([], "Ready", False, "InvalidRemediation", message)
        await self._save(body, status)
        await self.store.post_event(body, "Warning", "Escalated", f"InvalidRemediation: {message}")

    # -- persistence ----------------------------------------------------------------------------

    async def _save(self, body: Json, status: RemediationStatus) -> None:
        """Write the status as a merge patch from the status read (or last written), on the
        condition that the object is still at that version: a conflict means someone else
        wrote meanwhile, and the step starts over."""
        meta = body["metadata"]
        written = await self.store.patch_status(
            "remediations", meta["namespace"], meta["name"],
            merge_patch(body.get("status") or {}, status.to_api()),
            resource_version=meta.get("resourceVersion"))
        meta["resourceVersion"] = written["metadata"]["resourceVersion"]
        body["status"] = written.get("status") or {}

    async def _mark_acted(self, body: Json) -> None:
        """Label the remediation with the hour of its action before the action is called, so
        that the namespace's rate limit finds it by a label selector (an action that then
        fails is counted all the same: the guardrails err on the side of acting less)."""
        meta = body["metadata"]
        hour = acted_hour(now())
        if (meta.get("labels") or {}).get(ACTED_HOUR_LABEL) == hour:
            return
        written = await self.store.patch(
            "remediations", meta["namespace"], meta["name"],
            {"metadata": {"labels": {ACTED_HOUR_LABEL: hour},
                          "resourceVersion": meta.get("resourceVersion")}})
        meta["labels"] = written["metadata"].get("labels", {})
        meta["resourceVersion"] = written["metadata"]["resourceVersion"]

    async def _runbook_body(self, namespace: str, name: str) -> Json | None:
        try:
            return await self.store.get("runbooks", namespace, name)
        except KubernetesError as e:
            if e.kind == "not-found":
                return None
            raise


async def _pause_after_intent() -> None:
    """Fault-injection hook for the end-to-end tests, never set in production: with
    KUBEHEAL_PAUSE_AFTER_INTENT=<seconds>, the driver sleeps that long after writing an
    intent and before calling the API, so that a test can kill the operator in between."""
    pause = float(os.environ.get(PAUSE_AFTER_INTENT_ENV) or 0)
    if pause > 0:
        log.warning("%s: pausing %.0fs after writing the intent", PAUSE_AFTER_INTENT_ENV, pause)
        await asyncio.sleep(pause)
