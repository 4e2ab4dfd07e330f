"""The kopf handlers: every ``@kopf.on`` and ``@kopf.daemon`` of kubeheal, each a few lines.

Handlers are registered on :data:`registry` (not kopf's global one, so importing this module
has no side effect) and call the loop's pieces: one daemon per Runbook evaluates it at its
interval, one per open Remediation drives it to a verified outcome, one per
ServiceLevelObjective keeps its status current. A bad custom resource gets a status condition
and an Event; no handler lets an exception take the operator down. :func:`run` starts the
operator alone, or as one of several replicas of which only the Lease's holder runs it
(:mod:`~kubeheal.controller.leadership`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
import kopf
from aiohttp import web
from pydantic import ValidationError

from kubeheal.api.base import GROUP, VERSION, explain
from kubeheal.api.remediation import Phase
from kubeheal.api.slo import ServiceLevelObjective
from kubeheal.controller.alert_receiver import serve_alert_receiver
from kubeheal.controller.claims import (
    UNCLAIMED_REASON,
    opened_by_kubeheal,
    unclaimed_message,
)
from kubeheal.controller.explain import Explainer
from kubeheal.controller.leadership import ElectionConfig, Fence, LeaderElection
from kubeheal.controller.outcomes import OUTCOME_RECORDED
from kubeheal.controller.runbook_status import evaluated_status
from kubeheal.controller.runbooks import (
    REASONS,
    Evaluation,
    evaluation_slot,
    parse_runbook,
    retired_detector,
    until_next_slot,
)
from kubeheal.controller.runtime import OperatorConfig, Runtime
from kubeheal.controller.scaleback import ScaleBackWatcher
from kubeheal.controller.scaleback import pending as scale_back_pending
from kubeheal.controller.slos import bad_query, evaluate_slo
from kubeheal.controller.store import RUNBOOK_LABEL, TARGET_LABEL, Json, now, rfc3339
from kubeheal.controller.store import set_condition_json as with_condition
from kubeheal.observe.alertmanager import recorded_alerts
from kubeheal.observe.kubernetes import (
    KubernetesError,
    api_client_from_kubeconfig,
    in_cluster_api_client,
)
from kubeheal.observe.prometheus import QueryError

log = logging.getLogger(__name__)
registry = kopf.OperatorRegistry()
EXIT_LEASE_LOST = 3
INVALID_RETRY_SECONDS = 10.0
RETIRED_CONDITION = "DetectorRetired"
"""A Runbook's condition while it names a retired detector (True, with a Warning Event)."""
SYNC_SECONDS = 30.0  # how long a daemon waits for the caches at start before evaluating


@kopf.on.login(registry=registry)
async def login(memo: kopf.Memo, **kwargs: Any) -> kopf.ConnectionInfo | kopf.AiohttpSession | None:
    """The in-cluster ServiceAccount, else $KUBECONFIG (read now, not at import time).

    With a fence (one replica of several), kopf's own writes (its finalizers, progress
    annotations) go through a session that passes the fence right before each request
    but a read starts: a replica that no longer holds the lease writes nothing through kopf.
    """
    info: kopf.ConnectionInfo | None = (kopf.login_with_service_account(**kwargs)
                                        or kopf.login_with_kubeconfig(**kwargs))
    fence: Fence | None = memo.get("fence")
    if info is None or fence is None:
        return info
    return kopf.AiohttpSession(server=info.server, default_namespace=info.default_namespace,
                               priority=info.priority, expiration=info.expiration,
                               aiohttp_session=fenced_session(info, fence))


def fenced_session(info: kopf.ConnectionInfo, fence: Fence) -> aiohttp.ClientSession:
    """kopf's HTTP session for ``info``, every request but a read passing ``fence`` first."""

    async def before(_: aiohttp.ClientSession, __: Any,
                     request: aiohttp.TraceRequestStartParams) -> None:
        if request.method.upper() not in ("GET", "HEAD"):
            fence()

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(before)
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(), trace_configs=[trace])


@kopf.on.startup(registry=registry)
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    # Events are the operator's own (ObjectStore.post_event, fenced), never kopf's: kopf's
    # poster would send them from its queue whether or not this process still leads.
    settings.posting.enabled = False
    settings.watching.server_timeout = 120
    memo.runtime = await Runtime.start(memo.config, fence=memo.fence)


@kopf.on.cleanup(registry=registry)
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    if memo.get("explainer") is not None:
        memo.explainer.close()
    await memo.runtime.close()


@kopf.daemon(GROUP, VERSION, "runbooks", registry=registry, cancellation_timeout=5.0)
async def runbook_daemon(namespace: str | None, name: str, stopped: kopf.DaemonStopped,
                         memo: Any, **_: Any) -> None:
    await evaluate_runbook(memo.runtime, namespace or "", name, stopped)


@kopf.daemon(GROUP, VERSION, "remediations", registry=registry, cancellation_timeout=5.0,
             when=lambda status, **_: not Phase((status or {}).get("phase", "Detected")).terminal)
async def remediation_daemon(namespace: str | None, name: str, stopped: kopf.DaemonStopped,
                             memo: Any, **_: Any) -> None:
    await drive_remediation(memo.runtime, namespace or "", name, stopped)


@kopf.daemon(GROUP, VERSION, "remediations", registry=registry, cancellation_timeout=5.0,
             annotations={OUTCOME_RECORDED: kopf.ABSENT},
             when=lambda status, **_: Phase((status or {}).get("phase", "Detected")).terminal)
async def outcome_daemon(namespace: str | None, name: str, stopped: kopf.DaemonStopped,
                         memo: Any, **_: Any) -> None:
    await record_outcome(memo.runtime, namespace or "", name, stopped)


@kopf.daemon(GROUP, VERSION, "remediations", registry=registry, cancellation_timeout=5.0,
             when=lambda status, **_: scale_back_pending(status))
async def scale_back_daemon(namespace: str | None, name: str, stopped: kopf.DaemonStopped,
                            memo: Any, **_: Any) -> None:
    await watch_scale_back(memo.runtime, namespace or "", name, stopped)


@kopf.daemon(GROUP, VERSION, "servicelevelobjectives", registry=registry,
             cancellation_timeout=5.0)
async def slo_daemon(namespace: str | None, name: str, stopped: kopf.DaemonStopped, memo: Any,
                     **_: Any) -> None:
    await evaluate_slo_forever(memo.runtime, namespace or "", name, stopped)


@kopf.on.event(GROUP, VERSION, "explanationrequests", registry=registry)
async def explanation_event(type: str | None, body: kopf.Body, memo: Any, **_: Any) -> None:
    if memo.get("explainer") is None:
        memo.explainer = Explainer(memo.runtime, socket.gethostname())
    try:
        await memo.explainer.seen(type or "", dict(body))
    except KubernetesError as e:  # the next event of the request (or a restart) tries again
        log.warning("explanation request %s/%s: %s", body.get("metadata", {}).get("namespace"),
                    body.get("metadata", {}).get("name"), e)


# -- Runbooks --------------------------------------------------------------------------------


async def evaluate_runbook(runtime: Runtime, namespace: str, name: str,
                           stopped: kopf.DaemonStopped) -> None:
    """Evaluate a runbook at its interval until it is deleted or the operator stops."""
    evaluator = runtime.evaluator(namespace, name)
    said: dict[str, str] = {}  # what was last posted, by topic: a steady state posts once
    await _synced(runtime)
    while not stopped:
        try:
            body = await _current(runtime, "runbooks", namespace, name)
        except KubernetesError as e:
            if e.kind == "not-found":
                runtime.evaluators.pop((namespace, name), None)
                runtime.status.forget(namespace, name)
                return
            await stopped.wait(INVALID_RETRY_SECONDS)
            continue
        generation = body["metadata"].get("generation")
        runbook, problem = parse_runbook(body)
        if runbook is None:
            await _runbook_status(runtime, body, Evaluation(False, "InvalidSpec", problem),
                                  valid=False)
            await _on_change(runtime, said, "state", body, "Warning", "InvalidSpec", problem)
            await stopped.wait(INVALID_RETRY_SECONDS)
            continue
        if generation != evaluator.generation:
            evaluator.reset()
            evaluator.generation = generation
        interval = runbook.spec.interval_seconds
        slot = evaluation_slot(time.time(), interval)
        if slot == evaluator.slot:  # evaluated already (a restart of this loop)
            await stopped.wait(until_next_slot(time.time(), interval))
            continue
        evaluator.slot = slot
        try:
            evaluation = await evaluator.evaluate(runbook, dt.datetime.fromtimestamp(slot, dt.UTC),
                                                  alerts=recorded_alerts(body.get("status")))
        except KubernetesError as e:
            evaluation = Evaluation(False, "KubernetesUnavailable", str(e))
        except Exception as e:  # the operator never dies on one runbook
            log.exception("runbook %s/%s: evaluation failed", namespace, name)
            evaluation = Evaluation(False, "EvaluationError", f"{type(e).__name__}: {e}")
        retired = retired_detector(runbook)
        await _runbook_status(runtime, body, evaluation, valid=True, retired=retired)
        await _on_change(runtime, said, "state", body,
                         "Normal" if evaluation.ok else "Warning", evaluation.reason,
                         evaluation.message)
        if retired:
            await _on_change(runtime, said, "detector", body, "Warning", RETIRED_CONDITION,
                             retired)
        for workload in evaluation.opened:
            await runtime.store.post_event(body, "Normal", "IncidentOpened",
                                           f"incident opened for {workload}")
        for why in evaluation.held_back:
            await _on_change(runtime, said, f"held/{why.split(':')[0]}", body, "Normal",
                             "IncidentHeldBack", why)
        await stopped.wait(until_next_slot(time.time(), interval))


async def _synced(runtime: Runtime) -> None:
    """Until the caches are filled, or a while: then evaluations say what they lack."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(runtime.view.wait_synced(), SYNC_SECONDS)


async def _current(runtime: Runtime, plural: str, namespace: str, name: str) -> Json:
    """The object as the watch last saw it; one it has not seen (yet), from the API server."""
    cache = runtime.view.runbooks if plural == "runbooks" else runtime.view.slos
    with contextlib.suppress(KubernetesError):  # not synced: the API server answers
        cached = cache.get(namespace, name)
        if cached is not None:
            return cached
    return await runtime.store.get(plural, namespace, name)


def _judged(conditions: list[Json], generation: int | None) -> bool:
    """Whether the conditions hold a Ready verdict on this generation of the spec."""
    return any(c.get("type") == "Ready" and c.get("observedGeneration") == generation
               for c in conditions)


async def _on_change(runtime: Runtime, said: dict[str, str], topic: str, body: Json,
                     type_: str, reason: str, message: str) -> None:
    """Post an Event when a topic's message changes, not on every evaluation."""
    if said.get(topic) != message:
        said[topic] = message
        await runtime.store.post_event(body, type_, reason, message)


def runbook_conditions(conditions: list[Json], evaluation: Evaluation, valid: bool,
                       generation: int | None, retired: str | None = None) -> list[Json]:
    """A Runbook's conditions after an evaluation: Ready, Degraded, and DetectorRetired while
    its spec names a retired detector (``retired`` is the warning, see ``retired_detector``)."""
    # A runbook that cannot work as written (a spec field to fix) is not Ready; one whose
    # surroundings fail for now (Prometheus down, no data) is Ready and Degraded.
    ready = valid and evaluation.spec_field is None
    if not (valid and not evaluation.ok and ready and _judged(conditions, generation)):
        # (A passing failure says nothing new of the spec: this generation's verdict stays.)
        conditions = with_condition(
            conditions, "Ready", ready,
            "Evaluating" if ready else ("InvalidSpec" if not valid else evaluation.reason),
            "the runbook is valid and evaluated every interval" if ready else evaluation.message,
            generation)
    if valid:
        conditions = with_condition(conditions, "Degraded", not evaluation.ok, evaluation.reason,
                                   evaluation.message, generation)
        # A retired detector name still works (it runs its successor) and says so.
        if retired:
            conditions = with_condition(conditions, RETIRED_CONDITION, True, "RetiredName",
                                        retired, generation)
        else:
            conditions = [c for c in conditions if c.get("type") != RETIRED_CONDITION]
    return conditions


async def _runbook_status(runtime: Runtime, body: Json, evaluation: Evaluation,
                          valid: bool, retired: str | None = None) -> None:
    meta = body["metadata"]
    generation = meta.get("generation")
    conditions = runbook_conditions(list((body.get("status") or {}).get("conditions") or []),
                                    evaluation, valid, generation, retired)
    labels = {RUNBOOK_LABEL: meta["name"]}
    try:
        mine = runtime.view.remediations.in_namespace(meta["namespace"], labels=labels)
    except KubernetesError:  # the cache is not synced: the API server answers
        mine = await runtime.store.list("remediations", meta["namespace"], labels)
    still_open = [r for r in mine
                  if not Phase((r.get("status") or {}).get("phase", "Detected")).terminal]
    patch: Json = {
        "observedGeneration": generation,
        "conditions": conditions,
        "openRemediations": len(still_open),
    }
    if valid:
        patch |= {"lastEvaluationTime": rfc3339(now())} | evaluated_status(evaluation, {
            r["metadata"].get("labels", {}).get(TARGET_LABEL, ""): r["metadata"]["name"]
            for r in still_open})
    runtime.status.submit(meta["namespace"], meta["name"], patch)  # never waits for the write
    await _publish_outcomes(runtime, body)


async def _publish_outcomes(runtime: Runtime, body: Json) -> None:
    """The runbook's outcome statistics and its namespace's coverage, as metrics."""
    runtime.outcome_metrics.publish(body)
    try:
        await runtime.outcome_metrics.cover(body["metadata"]["namespace"])
    except KubernetesError as e:
        log.warning("coverage of namespace %s not computed: %s", body["metadata"]["namespace"],
                    e)


# -- Remediations ----------------------------------------------------------------------------


async def drive_remediation(runtime: Runtime, namespace: str, name: str,
                            stopped: kopf.DaemonStopped) -> None:
    """Step a remediation until it is terminal; transient API failures are retried.

    Only a remediation that kubeheal opened is driven (its workload's claim names it): one
    made by hand is marked with a condition and left alone, whoever made it.
    """
    driver = runtime.driver()
    poll = runtime.config.remediation_poll_seconds
    while not stopped:
        try:
            body = await runtime.store.get("remediations", namespace, name)
            if await opened_by_kubeheal(runtime.claims, body):
                break
            await _disown(runtime, body)
            return
        except KubernetesError as e:
            if e.kind == "not-found":
                return
            log.warning("remediation %s/%s: claim not read: %s; retrying", namespace, name, e)
            await stopped.wait(poll)
    while not stopped:
        try:
            step = await driver.step(namespace, name)
        except KubernetesError as e:
            if e.kind == "not-found":
                return
            log.warning("remediation %s/%s: %s; retrying", namespace, name, e)
            await stopped.wait(poll)
            continue
        except Exception:
            log.exception("remediation %s/%s: step failed; retrying", namespace, name)
            await stopped.wait(poll * 5)
            continue
        if step is None:
            return
        if step.wait:
            await stopped.wait(poll)


async def record_outcome(runtime: Runtime, namespace: str, name: str,
                         stopped: kopf.DaemonStopped) -> None:
    """Count a closed remediation into its runbook's outcome statistics, once; transient API
    failures are retried."""
    recorder = runtime.recorder()
    poll = runtime.config.remediation_poll_seconds

    async def pause(seconds: float) -> bool:
        await stopped.wait(seconds)
        return not stopped

    while not stopped:
        try:
            await recorder.record(namespace, name, pause)
            return
        except KubernetesError as e:
            if e.kind == "not-found":
                return
            log.warning("remediation %s/%s: outcome not counted yet: %s; retrying", namespace,
                        name, e)
            await stopped.wait(poll)
        except Exception:
            log.exception("remediation %s/%s: counting the outcome failed; retrying", namespace,
                          name)
            await stopped.wait(poll * 5)


async def watch_scale_back(runtime: Runtime, namespace: str, name: str,
                           stopped: kopf.DaemonStopped) -> None:
    """Check a verified scale-out's way back every runbook interval until it is decided
    (opened as a scale-back, or abandoned); transient API failures are retried."""
    watcher = ScaleBackWatcher(runtime.store, runtime.reader, runtime.prometheus,
                               runtime.claims)
    poll = runtime.config.remediation_poll_seconds
    while not stopped:
        try:
            wait = await watcher.check(namespace, name)
        except KubernetesError as e:
            if e.kind == "not-found":
                return
            log.warning("remediation %s/%s: scale-back not checked: %s; retrying", namespace,
                        name, e)
            wait = poll
        except Exception:
            log.exception("remediation %s/%s: scale-back check failed; retrying", namespace,
                          name)
            wait = poll * 5
        if wait is None:
            return
        await stopped.wait(wait)


async def _disown(runtime: Runtime, body: Json) -> None:
    """Mark a remediation kubeheal did not open: a condition and a Warning, no action."""
    meta = body["metadata"]
    message = unclaimed_message(body)
    status = body.get("status") or {}
    try:
        conditions = with_condition(list(status.get("conditions") or []), "Claimed", False,
                                    UNCLAIMED_REASON, message)
    except ValidationError:  # conditions written by hand, unreadable: replace them
        conditions = with_condition([], "Claimed", False, UNCLAIMED_REASON, message)
    if status.get("conditions") != conditions:
        await runtime.store.patch_status("remediations", meta["namespace"], meta["name"],
                                         {"conditions": conditions})
        await runtime.store.post_event(body, "Warning", UNCLAIMED_REASON, message)
    log.warning("remediation %s/%s: %s", meta["namespace"], meta["name"], message)


# -- ServiceLevelObjectives ------------------------------------------------------------------


async def evaluate_slo_forever(runtime: Runtime, namespace: str, name: str,
                               stopped: kopf.DaemonStopped) -> None:
    said: dict[str, str] = {}
    await _synced(runtime)
    while not stopped:
        try:
            body = await _current(runtime, "servicelevelobjectives", namespace, name)
        except KubernetesError as e:
            if e.kind == "not-found":
                return
            await stopped.wait(INVALID_RETRY_SECONDS)
            continue
        interval = await _evaluate_slo_once(runtime, body, said)
        await stopped.wait(interval)


async def _evaluate_slo_once(runtime: Runtime, body: Json, said: dict[str, str]) -> float:
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    generation = meta.get("generation")
    conditions = list((body.get("status") or {}).get("conditions") or [])
    patch: Json
    try:
        slo = ServiceLevelObjective.model_validate(
            {k: body[k] for k in ("metadata", "spec") if k in body})
    except ValidationError as e:
        message = explain(e)
        patch = {"conditions": with_condition(conditions, "Ready", False, "InvalidSpec", message,
                                             generation)}
        await _on_change(runtime, said, "state", body, "Warning", "InvalidSpec", message)
        await runtime.store.patch_status("servicelevelobjectives", namespace, name, patch)
        return INVALID_RETRY_SECONDS
    try:
        result = await evaluate_slo(runtime.prometheus, slo)
    except QueryError as e:
        bad = await bad_query(runtime.prometheus, slo) if e.kind == "bad-query" else None
        if bad is not None:  # the user must fix it: not Ready, naming the field
            reason, message = "BadQuery", f"{bad[0]}: {bad[1]}"
            conditions = with_condition(conditions, "Ready", False, reason, message, generation)
        else:  # passing trouble (Prometheus down, a timeout): Degraded, not a verdict
            reason = REASONS.get(e.kind, "QueryFailed")
            message = str(e)
            if not _judged(conditions, generation):
                conditions = with_condition(conditions, "Ready", True, "Evaluated",
                                            "the SLI is evaluated every interval", generation)
        conditions = with_condition(conditions, "Degraded", True, reason, message, generation)
        patch = {"observedGeneration": generation, "conditions": conditions}
        await _on_change(runtime, said, "state", body, "Warning", reason, message)
    else:
        said.pop("state", None)
        metrics = runtime.metrics
        if result.error_budget_remaining is not None:
            metrics.slo_error_budget.labels(namespace, name).set(result.error_budget_remaining)
        for window, rate in (("short", result.burn_rate_short), ("long", result.burn_rate_long)):
            if rate is not None:
                metrics.slo_burn_rate.labels(namespace, name, window).set(rate)
        metrics.slo_breaching.labels(namespace, name).set(1 if result.breaching else 0)
        conditions = with_condition(conditions, "Ready", True, "Evaluated",
                                   "the SLI is evaluated every interval", generation)
        conditions = with_condition(conditions, "Degraded", False, "Evaluated",
                                   "Prometheus answered every query", generation)
        conditions = with_condition(conditions, "Breaching", result.breaching,
                                   "BurnRateExceeded" if result.breaching else "WithinBudget",
                                   f"burn rates short={result.burn_rate_short} "
                                   f"long={result.burn_rate_long}", generation)
        patch = {
            "observedGeneration": generation,
            "conditions": conditions,
            "sliValue": result.sli,
            "errorBudgetRemaining": result.error_budget_remaining,
            "burnRates": {"short": result.burn_rate_short, "long": result.burn_rate_long},
            "breaching": result.breaching,
            "lastEvaluationTime": rfc3339(now()),
        }
    try:
        await runtime.store.patch_status("servicelevelobjectives", namespace, name, patch)
    except KubernetesError as e:
        log.warning("slo %s/%s: status not written: %s", namespace, name, e)
    return float(slo.spec.interval_seconds)


# -- running -----------------------------------------------------------------------------------


def run(config: OperatorConfig, liveness_port: int | None = None,
        election: ElectionConfig | None = None) -> None:
    """Run the operator until interrupted.

    With ``election``, this process is one of several replicas: it stands by until it holds
    the Lease, then runs the operator, every write fenced by the lease; without it, this
    process acts alone.
    """
    if config.kubeconfig:
        os.environ["KUBECONFIG"] = config.kubeconfig
    if election is None:
        asyncio.run(_receiving(config, _operate(config, liveness_port)))
    else:
        asyncio.run(_receiving(config, _lead(config, election, liveness_port)))


async def _receiving(config: OperatorConfig, main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` with the Alertmanager receiver served beside it, when configured: on
    every replica, leader or standby (it records alerts; only the leader acts on them)."""
    runner = None
    if config.alerts_port is not None and config.alerts_token_file is not None:
        api = (api_client_from_kubeconfig(config.kubeconfig) if config.kubeconfig
               else in_cluster_api_client())
        runner = await serve_alert_receiver(api, config.alerts_port, config.alerts_token_file,
                                            config.namespaces)
    try:
        await main
    finally:
        if runner is not None:
            await runner.cleanup()


async def _operate(config: OperatorConfig, liveness_port: int | None,
                   fence: Fence | None = None) -> None:
    await kopf.operator(
        registry=registry,
        memo=kopf.Memo(config=config, fence=fence),
        standalone=True,
        clusterwide=not config.namespaces,
        namespaces=config.namespaces,
        liveness_endpoint=f"http://0.0.0.0:{liveness_port}/healthz" if liveness_port else None,
    )


async def _lead(config: OperatorConfig, settings: ElectionConfig,
                liveness_port: int | None) -> None:
    """Stand by until elected, then operate while the lease is renewed.

    The Lease is acquired and renewed in a thread of its own, so that a busy event loop does
    not delay renewals. A lost lease ends the process at once, from that thread, whatever the
    operator was doing (as client-go's controllers do): the fence already refuses every
    write, and the restarted process stands by.
    """
    api = (api_client_from_kubeconfig(config.kubeconfig) if config.kubeconfig
           else in_cluster_api_client())
    election = LeaderElection(api, settings)
    health = await _serve_health(liveness_port, election) if liveness_port else None
    try:
        await _in_thread(election.acquire, "lease-acquire")
        keeper = threading.Thread(target=_keep_or_exit, args=(election,), name="lease-keeper",
                                  daemon=True)
        keeper.start()
        try:
            await _operate(config, None, fence=election.check)
        finally:
            election.stopped.set()
            await asyncio.to_thread(keeper.join, settings.retry_period + 1)
            await asyncio.to_thread(election.release)
    finally:
        election.stopped.set()
        if health is not None:
            await health.cleanup()


def _keep_or_exit(election: LeaderElection) -> None:
    why = election.keep()
    if why is None:  # stopped: the operator is shutting down and releases the lease
        return
    settings = election.config
    log.critical("%s lost the lease %s/%s (%s): exiting at once", settings.identity,
                 settings.lease_namespace, settings.lease_name, why)
    logging.shutdown()
    os._exit(EXIT_LEASE_LOST)


async def _in_thread(function: Callable[[], object], name: str) -> None:
    """Run ``function`` in a daemon thread of its own (one that never blocks the exit)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if done.done():  # the awaiting coroutine was cancelled meanwhile
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def run() -> None:
        error: BaseException | None = None
        try:
            function()
        except BaseException as e:  # handed to the awaiting coroutine
            error = e
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody awaits it
            loop.call_soon_threadsafe(settle, error)

    threading.Thread(target=run, name=name, daemon=True).start()
    await done


async def _serve_health(port: int, election: LeaderElection) -> web.AppRunner:
    """/healthz for the probes, answered by the leader and the standbys alike."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"identity": election.config.identity,
                                  "leader": election.leading})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    return runner
