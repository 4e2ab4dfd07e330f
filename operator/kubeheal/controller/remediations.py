"""One incident from diagnosis to a verified outcome: decide, gate, act, verify, escalate.

:class:`RemediationDriver` moves one ``Remediation`` through its phases, persisting every
transition in its status before the next step, so the operator may die at any point and pick
up where it was:

``Detected``  choose the runbook's next untried action that fits the diagnosis, make it
              concrete (replicas, revision), score its risk, enforce the runbook's own
              guardrails, and ask the policy engine. -> ``DryRun`` | ``Blocked`` |
              ``AwaitingApproval`` | ``Executing`` | ``Escalated`` (nothing fits)
``AwaitingApproval``  wait for ``spec.approval`` (the API server checks who writes it) until
              the runbook's approval timeout. -> ``Executing`` | ``Escalated``
``Executing`` write the intent, *then* call the Kubernetes API with the intent's token. An
              intent found on resume is settled by the same call: the action sees its token
              on the target and does nothing twice. -> ``Verifying`` | ``Detected`` (failed)
``Verifying`` wait for the rollout, then require the SLO, the signal thresholds and the
              detectors to hold for the whole verification window. -> ``Succeeded`` |
              ``Detected`` (try the next action)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp
from pydantic import ValidationError

from kubeheal.act.actions import KubernetesActions
from kubeheal.act.intent import ActionError, ActionResult
from kubeheal.act.patches import previous_revision, rolling_restart_floor
from kubeheal.api.base import explain
from kubeheal.api.remediation import (
    ChosenAction,
    ExecutionRecord,
    Intent,
    Phase,
    PolicyRecord,
    Remediation,
    RemediationStatus,
    RiskFactorRecord,
    RiskRecord,
    TimelineEntry,
    VerificationRecord,
)
from kubeheal.api.runbook import Action, ActionKind, Runbook, SignalRole
from kubeheal.api.slo import ServiceLevelObjective
from kubeheal.controller.metrics import OperatorMetrics
from kubeheal.controller.runbooks import RunbookEvaluator, parse_runbook, within_threshold
from kubeheal.controller.slos import current_sli
from kubeheal.controller.store import TARGET_LABEL, Json, ObjectStore, now, set_condition
from kubeheal.decide import Action as Candidate
from kubeheal.decide import (
    Incident,
    RemediationHistory,
    RunbookRef,
    Target,
    assess,
)
from kubeheal.observe.kubernetes import KubernetesError, KubernetesReader, parse_time
from kubeheal.observe.prometheus import PrometheusClient, QueryError
from kubeheal.policy import PolicyDecision, PolicyGate
from kubeheal.verify.rollout import rollout_complete

log = logging.getLogger(__name__)

INITIAL_STATUS_GRACE_SECONDS = 30.0
"""How long the driver leaves a new Remediation's first status to the evaluator."""
PAUSE_AFTER_INTENT_ENV = "KUBEHEAL_PAUSE_AFTER_INTENT"

EventSink = Callable[[Json, str, str, str], None]
"""Posts a Kubernetes Event: (object body, type Normal|Warning, reason, message)."""


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
    event: EventSink
    evaluators: Mapping[tuple[str, str], RunbookEvaluator]
    escalation_webhook: str | None = None

    async def step(self, namespace: str, name: str) -> Step | None:
        """Advance the remediation by one transition; None once it is terminal."""
        body = await self.store.get("remediations", namespace, name)
        try:
            remediation = Remediation.model_validate(body)
        except ValidationError as e:  # only a hand-edited object gets here
            await self._escalate(body, RemediationStatus(), "InvalidRemediation", explain(e))
            return None
        if not (body.get("status") or {}).get("phase"):
            # The evaluator creates the object, then writes its first status (phase Detected
            # and the detected/diagnosed timeline). Acting before that write would race it:
            # its merge patch would put the phase back to Detected after ours.
            created = parse_time(body["metadata"].get("creationTimestamp")) or now()
            if now() - created < dt.timedelta(seconds=INITIAL_STATUS_GRACE_SECONDS):
                return Step(wait=True)
            await self._initialize(body, remediation)  # the evaluator died in between
            return Step(wait=False)
        status = remediation.status or RemediationStatus()
        if status.phase.terminal:
            return None
        runbook_body = await self._runbook_body(namespace, remediation.spec.runbook_ref.name)
        runbook, problem = parse_runbook(runbook_body) if runbook_body else (None, "not found")
        if runbook is None:
            await self._escalate(body, status, "RunbookUnavailable",
                                 f"runbook {remediation.spec.runbook_ref.name}: {problem}")
            return None
        handler = {
            Phase.DETECTED: self._decide,
            Phase.AWAITING_APPROVAL: self._await_approval,
            Phase.EXECUTING: self._execute,
            Phase.VERIFYING: self._verify,
        }[status.phase]
        return await handler(body, remediation, status, runbook)

    # -- Detected: decide and gate ------------------------------------------------------------

    async def _decide(self, body: Json, rem: Remediation, status: RemediationStatus,
                      runbook: Runbook) -> Step | None:
        namespace, target_name = rem.spec.target.namespace, rem.spec.target.name
        cause = rem.spec.diagnosis.cause
        fitting = fitting_actions(runbook.spec.actions, rem, status.tried_actions)
        if not fitting:
            tried = ", ".join(status.tried_actions) or "none"
            await self._escalate(body, status, "NoActionLeft",
                                 f"no untried action of runbook {runbook.metadata.name} fits "
                                 f"cause {cause.value} (tried: {tried})")
            return None
        action = fitting[0]
        try:
            deployment = await self.reader.get_deployment(namespace, target_name)
            replica_sets = await self.reader.replica_sets(deployment)
        except KubernetesError as e:
            await self._escalate(body, status, "TargetUnavailable",
                                 f"deployment {namespace}/{target_name}: {e}")
            return None
        candidate, params, unfit = concrete_action(action, deployment, replica_sets)
        if candidate is None:
            status.tried_actions.append(action.name)
            self._note(status, "decided", f"skipped {action.name}: {unfit}")
            await self._save(body, status)
            return Step(wait=False)

        moment = now()
        history = await self._history(namespace, target_name, moment)
        guard = runbook.spec.guardrails
        target = Target(
            namespace=namespace, name=target_name,
            replicas=int(deployment["spec"].get("replicas", 1)),
            ready_replicas=int(deployment.get("status", {}).get("readyReplicas") or 0),
            labels=deployment["metadata"].get("labels") or {},
            namespace_labels=await self.store.namespace_labels(namespace),
            last_rollout_at=max((t for rs in replica_sets
                                 if (t := parse_time(rs["metadata"].get("creationTimestamp")))),
                                default=None),
        )
        policy_input = assess(
            candidate, target, history,
            Incident({e.signal: e.score for e in rem.spec.trigger.evidence},
                     diagnosis=cause.value, started_at=rem.spec.trigger.started_at),
            RunbookRef(runbook.metadata.name or "", mode=runbook.spec.mode,
                       approval_mode=runbook.spec.approval.mode,
                       approval_risk_threshold=runbook.spec.approval.risk_threshold),
            moment,
        )
        status.action = ChosenAction(name=action.name, kind=action.kind, params=params)
        status.risk = RiskRecord(score=round(policy_input.risk.score, 4), factors=[
            RiskFactorRecord(name=f.name, value=round(f.value, 4),
                             contribution=round(f.contribution, 4),
                             explanation=f.explanation[:512])
            for f in policy_input.risk.factors])
        self._note(status, "decided",
                   f"{action.name} ({action.kind.value} {_params(params)}), risk "
                   f"{policy_input.risk.score:.2f}: {policy_input.risk.explain()}")

        # The runbook's own guardrails come first: they need no policy engine.
        own = own_guardrails(guard.max_actions_per_hour, history)
        if own:
            status.phase = Phase.BLOCKED
            self._note(status, "gated", own)
            status.conditions = set_condition(status.conditions, "PolicyAllowed", False,
                                              "RunbookGuardrail", own)
            await self._close(body, status, "Warning", "Blocked", own)
            return None

        decision = await self.gate.decide(policy_input)
        status.policy = policy_record(decision, moment)
        self.metrics.policy_decisions.labels(namespace, runbook.metadata.name or "",
                                             decision.condition_reason).inc()
        self._note(status, "gated", decision.message)
        status.conditions = set_condition(status.conditions, "PolicyAllowed", decision.allow,
                                          decision.condition_reason, decision.message)
        if runbook.spec.mode == "dry-run":
            status.phase = Phase.DRY_RUN
            message = (f"dry-run: would {action.kind.value} {namespace}/{target_name} "
                       f"({_params(params)}); policy: {decision.message}")
            await self._close(body, status, "Normal", "DryRun", message)
            return None
        if not decision.allow:
            status.phase = Phase.BLOCKED
            await self._close(body, status, "Warning", decision.condition_reason,
                              f"{action.name} not executed: {decision.message}")
            return None
        if decision.require_approval:
            status.phase = Phase.AWAITING_APPROVAL
            status.approval_requested_at = moment
            status.conditions = set_condition(status.conditions, "Approved", None,
                                              "AwaitingApproval", decision.message)
            await self._save(body, status)
            self.event(body, "Normal", "ApprovalRequired",
                       f"{action.name} awaits approval: {decision.message}; run `kubeheal "
                       f"approve {body['metadata']['name']} -n {namespace}`")
            await self._count_pending(namespace)
            return Step(wait=True)
        status.phase = Phase.EXECUTING
        await self._save(body, status)
        self.event(body, "Normal", "PolicyAllowed", f"{action.name}: {decision.message}")
        return Step(wait=False)

    async def _history(self, namespace: str, target: str,
                       moment: dt.datetime) -> RemediationHistory:
        everything = await self.store.list("remediations", namespace)
        hour_ago, day_ago = moment - dt.timedelta(hours=1), moment - dt.timedelta(days=1)
        executed: list[tuple[str, dt.datetime]] = []
        failed = 0
        for item in everything:
            status = item.get("status") or {}
            owner = item["metadata"].get("labels", {}).get(TARGET_LABEL, "")
            for record in status.get("executions", []):
                at = parse_time(record.get("completedAt"))
                if record.get("outcome") == "executed" and at is not None:
                    executed.append((owner, at))
            closed = parse_time(status.get("completedAt"))
            if owner == target and status.get("phase") == Phase.ESCALATED.value and closed \
                    and closed > day_ago:
                failed += 1
        mine = [at for owner, at in executed if owner == target]
        return RemediationHistory(
            actions_last_hour=sum(1 for at in mine if at > hour_ago),
            namespace_actions_last_hour=sum(1 for _, at in executed if at > hour_ago),
            failed_last_day=failed,
            last_action_at=max(mine, default=None),
        )

    # -- AwaitingApproval ---------------------------------------------------------------------

    async def _await_approval(self, body: Json, rem: Remediation, status: RemediationStatus,
                              runbook: Runbook) -> Step | None:
        approval = rem.spec.approval
        namespace = rem.spec.target.namespace
        if approval is not None:
            who = f"{approval.decision} by {approval.approver}" + (
                f": {approval.reason}" if approval.reason else "")
            self._note(status, "approval", who)
            if approval.decision == "approved":
                status.phase = Phase.EXECUTING
                status.conditions = set_condition(status.conditions, "Approved", True,
                                                  "Approved", who)
                await self._save(body, status)
                self.event(body, "Normal", "Approved", who)
                await self._count_pending(namespace)
                return Step(wait=False)
            status.conditions = set_condition(status.conditions, "Approved", False,
                                              "Rejected", who)
            await self._escalate(body, status, "Rejected", who)
            await self._count_pending(namespace)
            return None
        requested = status.approval_requested_at or now()
        timeout = runbook.spec.approval.timeout_seconds
        if now() - requested > dt.timedelta(seconds=timeout):
            message = f"no decision within {timeout}s: rejected automatically"
            self._note(status, "approval", message)
            status.conditions = set_condition(status.conditions, "Approved", False,
                                              "ApprovalTimedOut", message)
            await self._escalate(body, status, "ApprovalTimedOut", message)
            await self._count_pending(namespace)
            return None
        return Step(wait=True)

    async def _count_pending(self, namespace: str) -> None:
        items = await self.store.list("remediations", namespace)
        self.metrics.approvals_pending.labels(namespace).set(sum(
            1 for i in items
            if (i.get("status") or {}).get("phase") == Phase.AWAITING_APPROVAL.value))

    # -- Executing ----------------------------------------------------------------------------

    async def _execute(self, body: Json, rem: Remediation, status: RemediationStatus,
                       runbook: Runbook) -> Step | None:
        if status.action is None:  # cannot happen through the driver; fail safe
            await self._escalate(body, status, "NoAction", "executing without a chosen action")
            return None
        namespace, target = rem.spec.target.namespace, rem.spec.target.name
        resumed = status.intent is not None
        if status.intent is None:
            status.intent = Intent(
                action=status.action, issued_at=now(),
                token=f"{body['metadata']['name']}.{len(status.executions) + 1}")
            await self._save(body, status)  # on record before the call: never twice
            await _pause_after_intent()
        intent = status.intent
        assert intent is not None
        runbook_name = runbook.metadata.name or ""
        try:
            result = await self._call(namespace, target, status.action, intent.token)
        except ActionError as e:
            if e.retryable and now() - intent.issued_at < dt.timedelta(
                    seconds=runbook.spec.verification.rollout_timeout_seconds):
                # Nothing ran, or the outcome is open: the same intent (same token) settles it.
                message = f"{status.action.name} not settled yet: {e.message}"
                if not status.timeline or status.timeline[-1].message != message[:1024]:
                    self._note(status, "acted", message)
                    await self._save(body, status)
                    self.event(body, "Warning", "ActionPending", e.message)
                return Step(wait=True)
            status.executions.append(ExecutionRecord(
                intent=intent, outcome="failed", completed_at=now(), message=e.message[:1024]))
            status.intent = None
            status.tried_actions.append(status.action.name)
            status.phase = Phase.DETECTED
            self._note(status, "acted", f"{status.action.name} failed: {e.message}")
            await self._save(body, status)
            self.metrics.actions.labels(namespace, runbook_name, status.action.kind.value,
                                        "failed").inc()
            self.event(body, "Warning", "ActionFailed", e.message)
            return Step(wait=False)
        message = result.message + (" (settled after a restart)" if resumed else "")
        status.executions.append(ExecutionRecord(
            intent=intent, outcome="executed", completed_at=now(), message=message[:1024]))
        status.intent = None
        status.tried_actions.append(status.action.name)
        status.phase = Phase.VERIFYING
        status.verification = VerificationRecord(result="pending", started_at=now())
        self._note(status, "acted", message)
        await self._save(body, status)
        if not result.already_applied:
            self.metrics.actions.labels(namespace, runbook_name, status.action.kind.value,
                                        "executed").inc()
        self.event(body, "Normal", "Executed", message)
        return Step(wait=True)

    async def _call(self, namespace: str, target: str, action: ChosenAction,
                    token: str) -> ActionResult:
        if action.kind is ActionKind.RESTART:
            if action.params.get("strategy") == "delete-pod":
                pod = await self._worst_pod(namespace, target)
                return await self.actions.evict_pod(namespace, pod, token, target)
            return await self.actions.restart_rollout(
                namespace, target, token, min_available=int(action.params["minAvailable"]))
        if action.kind is ActionKind.SCALE:
            return await self.actions.scale(namespace, target, int(action.params["replicas"]),
                                            token)
        return await self.actions.rollback_to_revision(
            namespace, target, int(action.params["toRevision"]), token)

    async def _worst_pod(self, namespace: str, target: str) -> str:
        """The pod to delete: the most restarted, else the oldest."""
        deployment = await self.reader.get_deployment(namespace, target)
        pods = await self.reader.pods(deployment)
        if not pods:
            raise ActionError("not-found", f"deployment {namespace}/{target} has no pods")

        def badness(pod: Json) -> tuple[int, str]:
            restarts = sum(c.get("restartCount", 0)
                           for c in pod.get("status", {}).get("containerStatuses") or [])
            return (-restarts, pod["metadata"].get("creationTimestamp", ""))

        name: str = sorted(pods, key=badness)[0]["metadata"]["name"]
        return name

    # -- Verifying ----------------------------------------------------------------------------

    async def _verify(self, body: Json, rem: Remediation, status: RemediationStatus,
                      runbook: Runbook) -> Step | None:
        namespace, target = rem.spec.target.namespace, rem.spec.target.name
        verification = status.verification or VerificationRecord(result="pending",
                                                                  started_at=now())
        started = verification.started_at or now()
        settings = runbook.spec.verification
        moment = now()
        if verification.rollout_completed_at is None:
            try:
                deployment = await self.reader.get_deployment(namespace, target)
                complete, why = rollout_complete(deployment)
            except KubernetesError as e:
                complete, why = False, str(e)
            if not complete:
                if moment - started > dt.timedelta(seconds=settings.rollout_timeout_seconds):
                    return await self._verification_failed(
                        body, status, verification,
                        f"rollout not complete within {settings.rollout_timeout_seconds}s: {why}")
                return Step(wait=True)
            verification.rollout_completed_at = moment
            self._note(status, "verified", "rollout complete")
        healthy, why = await self.health(runbook, namespace, target,
                                         {e.signal for e in rem.spec.trigger.evidence})
        if healthy:
            verification.healthy_since = verification.healthy_since or moment
        else:
            verification.healthy_since = None
        held = (moment - verification.healthy_since).total_seconds() \
            if verification.healthy_since else 0.0
        if healthy and held >= settings.window_seconds:
            verification.result = "succeeded"
            verification.completed_at = moment
            verification.message = f"held for {held:.0f}s: {why}"[:1024]
            status.verification = verification
            status.phase = Phase.SUCCEEDED
            self._note(status, "verified", f"recovered: {verification.message}")
            status.conditions = set_condition(status.conditions, "Verified", True, "Recovered",
                                              verification.message)
            status.conditions = set_condition(status.conditions, "Ready", True, "Succeeded",
                                              verification.message)
            self.metrics.time_to_recover.labels(namespace, runbook.metadata.name or "").observe(
                max(0.0, (moment - rem.spec.trigger.started_at).total_seconds()))
            await self._close(body, status, "Normal", "Recovered", verification.message)
            return None
        deadline = (verification.rollout_completed_at or moment) + dt.timedelta(
            seconds=settings.window_seconds * 2 + settings.rollout_timeout_seconds)
        if moment > deadline:
            return await self._verification_failed(
                body, status, verification,
                f"did not hold for {settings.window_seconds}s before the deadline: {why}")
        verification.message = why[:1024]
        status.verification = verification
        await self._save(body, status)
        return Step(wait=True)

    async def _verification_failed(self, body: Json, status: RemediationStatus,
                                   verification: VerificationRecord,
                                   message: str) -> Step:
        verification.result = "failed"
        verification.completed_at = now()
        verification.message = message[:1024]
        status.verification = verification
        status.phase = Phase.DETECTED  # choose the next action, or escalate
        status.conditions = set_condition(status.conditions, "Verified", False,
                                          "VerificationFailed", message)
        self._note(status, "verified", f"not recovered: {message}")
        await self._save(body, status)
        self.event(body, "Warning", "VerificationFailed", message)
        return Step(wait=False)

    async def health(self, runbook: Runbook, namespace: str, target: str,
                     triggered: set[str]) -> tuple[bool, str]:
        """Whether the workload is healthy now: the SLO holds, every signal is within its
        threshold, and the detectors of the signals that opened the incident are quiet."""
        checks: list[str] = []
        for signal in runbook.spec.signals:
            if signal.threshold is None:
                continue
            try:
                samples = await self.prometheus.query(signal.query)
            except QueryError as e:
                return False, f"signal {signal.name}: {e}"
            value = next((s.value for s in samples
                          if s.labels.get(signal.workload_label) == target), None)
            if value is None or value != value:
                return False, f"signal {signal.name}: no data for {target}"
            if not within_threshold(value, signal):
                return False, f"signal {signal.name} = {value:.4g}, past {signal.threshold:g}"
            checks.append(f"{signal.name} {value:.4g} within {signal.threshold:g}")
        if runbook.spec.slo_ref is not None:
            ok, why = await self._slo_holds(namespace, runbook.spec.slo_ref.name)
            if not ok:
                return False, why
            checks.append(why)
        evaluator = self.evaluators.get((namespace, runbook.metadata.name or ""))
        if evaluator is not None:
            # Load explains saturation and never opens an incident; it may well stay high
            # after a scale-out that fixed the latency, so it does not hold recovery back.
            load = {s.name for s in runbook.spec.signals if s.role is SignalRole.LOAD}
            alarming = [
                signal for (workload, signal), stream in evaluator.streams.items()
                if workload == target and signal in triggered and signal not in load
                and stream.last is not None and stream.last.alarm
            ]
            if alarming:
                return False, f"detectors still in alarm: {', '.join(sorted(alarming))}"
            checks.append("no detector in alarm")
        return True, "; ".join(checks) or "rollout complete (no SLO or thresholds to hold)"

    async def _slo_holds(self, namespace: str, name: str) -> tuple[bool, str]:
        try:
            slo = ServiceLevelObjective.model_validate(
                await self.store.get("servicelevelobjectives", namespace, name))
        except (KubernetesError, ValidationError) as e:
            return False, f"SLO {name} unavailable: {e}"
        try:
            sli = await current_sli(self.prometheus, slo)
        except QueryError as e:
            return False, f"SLO {name}: {e}"
        if sli is None:
            return False, f"SLO {name}: no traffic to judge"
        if sli < slo.spec.objective:
            return False, f"SLO {name}: SLI {sli:.4f} below objective {slo.spec.objective}"
        return True, f"SLO {name}: SLI {sli:.4f} >= {slo.spec.objective}"

    # -- closing --------------------------------------------------------------------------------

    async def _escalate(self, body: Json, status: RemediationStatus, reason: str,
                        message: str) -> None:
        status.phase = Phase.ESCALATED
        self._note(status, "escalated", message)
        status.conditions = set_condition(status.conditions, "Ready", False, reason, message)
        await self._close(body, status, "Warning", "Escalated", f"{reason}: {message}")
        if self.escalation_webhook:
            await self._notify(body, reason, message)

    async def _close(self, body: Json, status: RemediationStatus, type_: str, reason: str,
                     message: str) -> None:
        # Writing a terminal phase makes kopf stop this remediation's daemon, which may cancel
        # it mid-way: the Event, metrics and log of the outcome must not be lost with it.
        await asyncio.shield(self._close_now(body, status, type_, reason, message))

    async def _close_now(self, body: Json, status: RemediationStatus, type_: str, reason: str,
                         message: str) -> None:
        status.completed_at = now()
        if status.phase is not Phase.SUCCEEDED and not any(
                c.type == "Ready" for c in status.conditions):
            status.conditions = set_condition(status.conditions, "Ready", False,
                                              status.phase.value, message)
        await self._save(body, status)
        labels = body["metadata"].get("labels", {})
        self.metrics.remediations_closed.labels(
            body["metadata"]["namespace"], body["spec"]["runbookRef"]["name"],
            status.phase.value).inc()
        self.event(body, type_, reason, message)
        log.info("remediation %s/%s for %s: %s %s", body["metadata"]["namespace"],
                 body["metadata"]["name"], labels.get(TARGET_LABEL), status.phase.value, message)

    async def _notify(self, body: Json, reason: str, message: str) -> None:
        assert self.escalation_webhook is not None
        payload = {"remediation": body["metadata"]["name"],
                   "namespace": body["metadata"]["namespace"], "reason": reason,
                   "message": message}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as s, \
                    s.post(self.escalation_webhook, json=payload) as response:
                response.raise_for_status()
        except (aiohttp.ClientError, TimeoutError) as e:
            log.warning("escalation webhook failed: %s", e)

    # -- persistence ----------------------------------------------------------------------------

    async def _initialize(self, body: Json, rem: Remediation) -> None:
        trigger = rem.spec.trigger
        status = RemediationStatus(phase=Phase.DETECTED)
        status.timeline = [TimelineEntry(
            time=trigger.detected_at, step="detected",
            message=f"detected (score {trigger.score:.2f}); the first status was written by "
                    "the driver")]
        await self._save(body, status)

    @staticmethod
    def _note(status: RemediationStatus, step: str, message: str) -> None:
        status.timeline = [*status.timeline, TimelineEntry.model_validate(
            {"time": now(), "step": step, "message": message[:1024]})][-64:]

    async def _save(self, body: Json, status: RemediationStatus) -> None:
        document = status.to_api()
        for cleared in ("intent", "approvalRequestedAt"):
            document.setdefault(cleared, None)
        await self.store.patch_status("remediations", body["metadata"]["namespace"],
                                      body["metadata"]["name"], document)

    async def _runbook_body(self, namespace: str, name: str) -> Json | None:
        try:
            return await self.store.get("runbooks", namespace, name)
        except KubernetesError as e:
            if e.kind == "not-found":
                return None
            raise


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


async def _pause_after_intent() -> None:
    """Fault-injection hook for the end-to-end tests, never set in production: with
    KUBEHEAL_PAUSE_AFTER_INTENT=<seconds>, the driver sleeps that long after writing an
    intent and before calling the API, so that a test can kill the operator in between."""
    pause = float(os.environ.get(PAUSE_AFTER_INTENT_ENV) or 0)
    if pause > 0:
        log.warning("%s: pausing %.0fs after writing the intent", PAUSE_AFTER_INTENT_ENV, pause)
        await asyncio.sleep(pause)


def concrete_action(action: Action, deployment: Json, replica_sets: Sequence[Json],
                    ) -> tuple[Candidate | None, dict[str, str], str]:
    """The runbook action made concrete for this target, or None and why it cannot apply.

    >>> from kubeheal.api.runbook import Action, ScaleBounds
    >>> d = {"spec": {"replicas": 2}, "status": {"readyReplicas": 2}, "metadata": {}}
    >>> a = Action(name="out", kind="scale", scale=ScaleBounds(max_replicas=6, step=2))
    >>> candidate, params, _ = concrete_action(a, d, [])
    >>> params
    {'replicas': '4', 'from': '2'}
    >>> d["spec"]["replicas"] = 6
    >>> concrete_action(a, d, [])[2]
    'already at maxReplicas 6'
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
                {"replicas": str(wanted), "from": str(replicas)}, "")
    if action.kind is ActionKind.ROLLBACK:
        previous = previous_revision(deployment, replica_sets)
        if previous is None:
            return None, {}, "no previous revision to roll back to"
        number = int(previous["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
        return (Candidate.rollback(to_revision=number),
                {"toRevision": str(number), "replicaSet": previous["metadata"]["name"]}, "")
    strategy = action.restart.strategy if action.restart else "rollout"
    share = action.restart.max_unavailable_share if action.restart else 0.25
    if strategy == "delete-pod":
        candidate = Candidate.restart(strategy=strategy, max_unavailable_share=share,
                                      ready_replicas=ready)
        return candidate, {"strategy": strategy}, ""
    # The policy judges the pods the Deployment's own strategy takes down, and the restart
    # runs only while that strategy still keeps at least as many available.
    floor, why = rolling_restart_floor(deployment)
    if floor is None:
        return None, {}, f"a rollout restart would keep no pod available: {why}"
    taken, allowed = max(0, ready - floor), max(1, math.floor(ready * share))
    if taken > allowed:
        return None, {}, (f"{why}: it would take {taken} of {ready} ready pods down at once, "
                          f"more than maxUnavailableShare {share:g} allows ({allowed})")
    candidate = Candidate.restart(strategy=strategy, max_unavailable_share=share,
                                  pods_unavailable=taken)
    return candidate, {"strategy": strategy, "maxUnavailableShare": f"{share:g}",
                       "minAvailable": str(floor)}, ""


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


def _params(params: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "no parameters"

