"""Answering ``ExplanationRequest``s: why the operator did or did not act on a workload.

Only the leader answers (only it runs the handlers, and the streams live in its memory). For
each request it first asks the API server whether the requester, whom the admission policy
made sure of (``spec.requester`` is the user who created the request), may read what the
answer holds: get the Deployment, list Runbooks and list Remediations in the namespace, one
LocalSubjectAccessReview each. Any "no" refuses the request, naming what is missing; nothing
is read for a requester who may not read it.

The answer is gathered from the operator's own memory (each selecting runbook's last
evaluation and its streams of the workload) and from the API server (the Deployment, the
workload's Remediations, the guardrails' history); each action of each runbook is made
concrete on the Deployment as it is now and previewed by OPA with the very input the gate
would send (:func:`~kubeheal.controller.lifecycle.gate_input`), marked ``preview: true``: a
preview is never recorded as a decision, counted in metrics, nor acted on.
:func:`~kubeheal.explanation.assemble.explain` puts it all together.

An answered request is deleted :data:`ANSWER_TTL_SECONDS` after its answer; one nobody
answered (the operator was down) after :data:`UNANSWERED_TTL_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from kubernetes import client
from pydantic import ValidationError

from kubeheal.api.base import LabelSelector, ObjectMeta, ObjectReference, WorkloadReference, explain
from kubeheal.api.explanation import ExplanationPhase, ExplanationRequest, Requester
from kubeheal.api.remediation import Diagnosis, Phase, Remediation, RemediationSpec, Trigger
from kubeheal.api.runbook import Cause, Runbook
from kubeheal.controller.history import read_history
from kubeheal.controller.lifecycle import Observations, TargetState, concrete_action, gate_input
from kubeheal.controller.runbooks import RunbookEvaluator, parse_runbook
from kubeheal.controller.runtime import Runtime
from kubeheal.controller.store import RUNBOOK_LABEL, TARGET_LABEL, Json, now, rfc3339
from kubeheal.decide import RemediationHistory
from kubeheal.explanation.assemble import (
    MAX_RUNBOOKS,
    ActionPreview,
    RunbookFacts,
    StreamFacts,
)
from kubeheal.explanation.assemble import explain as assemble
from kubeheal.observe.kubernetes import KubernetesError, call, parse_time

log = logging.getLogger(__name__)

PLURAL = "explanationrequests"
ANSWER_TTL_SECONDS = 120.0
"""How long an answer stays readable (``kubeheal explain`` deletes it once read)."""
UNANSWERED_TTL_SECONDS = 600.0
READS = (
    ("apps", "deployments", "get", True),
    ("kubeheal.io", "runbooks", "list", False),
    ("kubeheal.io", "remediations", "list", False),
)
"""What a requester must be allowed to read: (group, resource, verb, of the target only)."""
_TERMINAL = {p.value for p in Phase if p.terminal}


def requester_of(body: Json) -> tuple[ExplanationRequest | None, str]:
    """The request's model, or None and why it cannot be answered."""
    try:
        return ExplanationRequest.model_validate(
            {k: body[k] for k in ("metadata", "spec") if k in body}), ""
    except ValidationError as e:
        return None, explain(e)


async def denied_reads(api: client.ApiClient, namespace: str, requester: Requester,
                       target: str) -> list[str]:
    """What of :data:`READS` the requester may not do in ``namespace``, in words."""
    authorization = client.AuthorizationV1Api(api)
    missing = []
    for group, resource, verb, of_target in READS:
        review = client.V1LocalSubjectAccessReview(
            metadata=client.V1ObjectMeta(namespace=namespace),
            spec=client.V1SubjectAccessReviewSpec(
                user=requester.username, groups=list(requester.groups),
                resource_attributes=client.V1ResourceAttributes(
                    namespace=namespace, verb=verb, group=group, resource=resource,
                    name=target if of_target else None)))
        answer = await call(authorization.create_namespaced_local_subject_access_review,
                            namespace, review)
        if not (answer.get("status") or {}).get("allowed"):
            what = f"{resource}/{target}" if of_target else resource
            missing.append(f"{verb} {what}" + (f" ({group})" if group != "apps" else ""))
    return missing


def stream_facts(evaluator: RunbookEvaluator | None, runbook: Runbook, workload: str,
                 holding: bool) -> tuple[StreamFacts, ...]:
    """The workload's streams of one runbook, as the evaluator holds them now."""
    facts = []
    detection = runbook.spec.detection
    for signal in runbook.spec.signals:
        seen = None if evaluator is None or signal.name not in evaluator.series \
            else workload in evaluator.series[signal.name]
        stream = None if evaluator is None else evaluator.streams.get((workload, signal.name))
        detectors = None if evaluator is None else evaluator.detectors
        if stream is None or detectors is None:
            facts.append(StreamFacts(signal.name, signal.role.value, seen,
                                     warmup=detection.warmup_points,
                                     k=detection.debounce_k, n=detection.debounce_n))
            continue
        last = stream.last
        score = last.score if last else None
        facts.append(StreamFacts(
            signal.name, signal.role.value, seen, exists=True,
            warm=detectors.ready(workload, signal.name),
            learned=detectors.learned(workload, signal.name), warmup=detection.warmup_points,
            last_at=score.timestamp if score else None,
            observed=score.observed if score else None,
            expected=score.expected if score else None,
            probability=score.probability if score and score.ready else None,
            anomalous=stream.debouncer.hits, k=stream.debouncer.k, n=stream.debouncer.n,
            alarm=bool(last and last.alarm), since=last.since if last else None,
            learning_held=holding))
    return tuple(facts)


def _hypothetical(namespace: str, workload: str, runbook: str, cause: Cause,
                  moment: dt.datetime) -> Remediation:
    """The incident an action would be decided for, when none is open: the cause it is for,
    opened now, on no evidence (the risk then counts no anomalous signal)."""
    return Remediation(
        metadata=ObjectMeta(name=f"{workload}-preview", namespace=namespace),
        spec=RemediationSpec(
            runbook_ref=ObjectReference(name=runbook),
            target=WorkloadReference(namespace=namespace, name=workload),
            trigger=Trigger(started_at=moment, detected_at=moment, score=0.0, evidence=[]),
            diagnosis=Diagnosis(cause=cause, candidates=[])))


async def previews(runtime: Runtime, runbook: Runbook, target: TargetState,
                   history: RemediationHistory, namespace_labels: dict[str, str],
                   incident: Remediation | None, moment: dt.datetime,
                   ) -> tuple[ActionPreview, ...]:
    """Each action of the runbook made concrete on the target now, and OPA's preview."""
    namespace = target.deployment["metadata"]["namespace"]
    workload = target.deployment["metadata"]["name"]
    found = []
    obs = Observations(moment, runbook, target=target, history=history,
                       namespace_labels=namespace_labels)
    for action in runbook.spec.actions:
        cause = incident.spec.diagnosis.cause if incident is not None else (
            action.when.causes[0] if action.when.causes else Cause.UNKNOWN)
        candidate, params, unfit = concrete_action(action, target.deployment,
                                                   list(target.replica_sets))
        if candidate is None:
            found.append(ActionPreview(action.name, action.kind.value, cause.value,
                                       unfit=unfit))
            continue
        rem = incident or _hypothetical(namespace, workload, runbook.metadata.name or "", cause,
                                        moment)
        question = gate_input(rem, candidate, target, obs, runbook)
        document = question.to_opa() | {"preview": True}
        decision = await runtime.gate.decide(document)
        found.append(ActionPreview(
            action.name, action.kind.value, cause.value, params=params,
            risk=question.risk.score, allow=decision.allow,
            require_approval=decision.require_approval,
            reasons=tuple(f.msg for f in decision.reasons)))
    return tuple(found)


async def gather(runtime: Runtime, namespace: str, workload: str) -> Json:
    """The explanation of one workload, from the operator's memory and the API server."""
    moment = now()
    deployment = await runtime.reader.get_deployment(namespace, workload)
    labels = deployment["metadata"].get("labels") or {}
    try:
        bodies = runtime.view.runbooks.in_namespace(namespace)
        mine = runtime.view.remediations.in_namespace(namespace, labels={TARGET_LABEL: workload})
    except KubernetesError:  # the caches are not synced: the API server answers
        bodies = await runtime.store.list("runbooks", namespace)
        mine = await runtime.store.list("remediations", namespace, {TARGET_LABEL: workload})
    history = await read_history(runtime.store, namespace, workload, moment)
    target = TargetState(deployment, tuple(await runtime.reader.replica_sets(deployment)))
    namespace_labels = await runtime.store.namespace_labels(namespace)
    open_bodies = [r for r in mine
                   if (r.get("status") or {}).get("phase", "Detected") not in _TERMINAL]
    incident = None
    with contextlib.suppress(ValidationError):
        incident = Remediation.model_validate(open_bodies[0]) if open_bodies else None
    books = []
    selecting = []
    for body in sorted(bodies, key=lambda b: b["metadata"]["name"]):
        runbook, problem = parse_runbook(body)
        if runbook.spec.selector.matches(labels) if runbook else _may_select(body, labels):
            selecting.append((body, runbook, problem))
    for body, runbook, problem in selecting[:MAX_RUNBOOKS]:
        name = body["metadata"]["name"]
        if runbook is None:
            books.append(RunbookFacts(name, (body.get("spec") or {}).get("mode", "enforce"), 0,
                                      problem=problem))
            continue
        evaluator = runtime.evaluators.get((namespace, name))
        last = evaluator.last if evaluator is not None else None
        guard = runbook.spec.guardrails
        try:
            of_runbook = runtime.view.remediations.in_namespace(namespace,
                                                                labels={RUNBOOK_LABEL: name})
        except KubernetesError:
            of_runbook = await runtime.store.list("remediations", namespace,
                                                  {RUNBOOK_LABEL: name})
        books.append(RunbookFacts(
            name, runbook.spec.mode, runbook.spec.interval_seconds,
            cooldown_seconds=guard.cooldown_seconds,
            max_concurrent=guard.max_concurrent_remediations,
            max_actions_per_hour=guard.max_actions_per_hour,
            evaluated_at=last[0] if last else None,
            evaluation_ok=last[1].ok if last else None,
            evaluation_reason=last[1].reason if last else "",
            evaluation_message=last[1].message if last else "",
            streams=stream_facts(evaluator, runbook, workload, bool(open_bodies)),
            open_of_runbook=sum(1 for r in of_runbook if (r.get("status") or {}).get(
                "phase", "Detected") not in _TERMINAL),
            previews=await previews(runtime, runbook, target, history, namespace_labels,
                                    incident, moment)))
    status = deployment.get("status") or {}
    summary = {
        "replicas": int((deployment.get("spec") or {}).get("replicas", 1)),
        "readyReplicas": int(status.get("readyReplicas") or 0),
        "revision": (deployment["metadata"].get("annotations") or {}).get(
            "deployment.kubernetes.io/revision"),
    }
    return assemble(namespace, workload, books, mine, history, moment, summary,
                    max(0, len(selecting) - MAX_RUNBOOKS))


def _may_select(body: Json, labels: dict[str, str]) -> bool:
    """Whether an invalid runbook's selector, if it can be read, selects ``labels``."""
    try:
        return LabelSelector.model_validate((body.get("spec") or {}).get("selector")).matches(
            labels)
    except ValidationError:
        return True  # unreadable: shown, with why it is invalid


async def answer(runtime: Runtime, body: Json, identity: str) -> None:
    """Answer one request into its status (refused, failed or answered); never raises for a
    bad request."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    request, problem = requester_of(body)
    phase, message, explanation = ExplanationPhase.FAILED, problem, None
    if request is not None:
        target = request.spec.target.name
        who = request.spec.requester
        api = runtime.store.objects.api_client
        try:
            missing = await denied_reads(api, namespace, who, target)
            if missing:
                phase = ExplanationPhase.REFUSED
                message = (f"user \"{who.username}\" may not {', '.join(missing)} in namespace "
                           f"{namespace}: kubeheal explains only what the requester may read")
            else:
                explanation = await gather(runtime, namespace, target)
                phase, message = ExplanationPhase.ANSWERED, explanation["summary"][:4096]
        except KubernetesError as e:
            reason = (f"deployment {namespace}/{target} not found" if e.kind == "not-found"
                      else f"the operator could not read what the answer needs: {e}")
            phase, message = ExplanationPhase.FAILED, reason
    patch: Json = {"phase": phase.value, "message": message[:4096],
                   "answeredAt": rfc3339(now()), "answeredBy": identity[:512]}
    if explanation is not None:
        patch["explanation"] = explanation
    await runtime.store.patch_status(PLURAL, namespace, name, patch)
    log.info("explanation request %s/%s: %s: %s", namespace, name, phase.value, message)


def due_in(body: Json, moment: dt.datetime) -> float:
    """Seconds until the request is to be deleted (negative: overdue).

    >>> at = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
    >>> due_in({"metadata": {"creationTimestamp": "2026-12-02T11:59:00Z"},
    ...         "status": {"answeredAt": "2026-12-02T11:59:30Z"}}, at)
    90.0
    >>> due_in({"metadata": {"creationTimestamp": "2026-12-02T11:00:00Z"}}, at)
    -3000.0
    """
    status = body.get("status") or {}
    answered = parse_time(status.get("answeredAt"))
    if answered is not None:
        return (answered - moment).total_seconds() + ANSWER_TTL_SECONDS
    created = parse_time(body["metadata"].get("creationTimestamp")) or moment
    return (created - moment).total_seconds() + UNANSWERED_TTL_SECONDS


class Explainer:
    """Answers the requests the operator's watch sees, and deletes each when it is due."""

    def __init__(self, runtime: Runtime, identity: str) -> None:
        self.runtime = runtime
        self.identity = identity
        self._expiries: dict[str, asyncio.Task[None]] = {}

    async def seen(self, event: str, body: Json) -> None:
        """One watch event of a request: answer it if it is new, else schedule its deletion."""
        uid = body["metadata"]["uid"]
        if event == "DELETED":
            task = self._expiries.pop(uid, None)
            if task is not None:
                task.cancel()
            return
        due = due_in(body, now())
        if not (body.get("status") or {}).get("phase") and due > 0:
            await answer(self.runtime, body, self.identity)
            return  # the answer's own event schedules the deletion
        if uid not in self._expiries:
            meta = body["metadata"]
            self._expiries[uid] = asyncio.create_task(
                self._expire(meta["namespace"], meta["name"], uid, due))

    async def _expire(self, namespace: str, name: str, uid: str, due: float) -> None:
        try:
            await asyncio.sleep(max(0.0, due))
            current = await self.runtime.store.get(PLURAL, namespace, name)
            if current["metadata"]["uid"] == uid:
                await self.runtime.store.delete(PLURAL, namespace, name, uid,
                                                current["metadata"]["resourceVersion"])
        except KubernetesError as e:
            if e.kind not in ("not-found", "conflict"):  # a conflict: its next event retries
                log.warning("explanation request %s/%s not deleted: %s", namespace, name, e)
        finally:
            self._expiries.pop(uid, None)

    def close(self) -> None:
        for task in self._expiries.values():
            task.cancel()
