"""The Alertmanager webhook receiver: alerts recorded on the Runbooks that name them.

Every replica serves it (the leader and the standbys alike, like /healthz), so that
Alertmanager may call any of them through the Service. A replica that receives alerts does not
act on them: it records each firing alert that a Runbook's ``spec.alerts`` names in that
Runbook's ``status.alerts`` (by fingerprint, a JSON merge patch of that one key, so that
concurrent calls on several replicas never overwrite each other), and removes it when
Alertmanager says it resolved. The leader's evaluation of the Runbook reads the records back
and opens incidents (:mod:`~kubeheal.controller.runbooks`), under the same incident claim as the
detectors. The record is the hand-over: it survives a change of leader, and a standby never
needs to know which replica leads.

The caller must send ``Authorization: Bearer <token>`` (Alertmanager's
``http_config.authorization``) with the token of the file the chart mounts from a Secret
(read at each call, so a rotated Secret takes effect without a restart). A call without it, or
with another token, is refused (401) and counted; so is a call while no token is configured.
A body that is not a version 4 webhook payload gets 400 and says why; a failure to write the
records gets 503, so that Alertmanager sends the alerts again.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from kubernetes import client
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pydantic import ValidationError

from kubeheal.api.runbook import RunbookSpec
from kubeheal.controller.store import ObjectStore, now
from kubeheal.observe.alertmanager import (
    NAMESPACE_LABEL,
    PayloadError,
    WebhookAlert,
    matched,
    parse_webhook,
    recorded_alerts,
    status_patch,
)
from kubeheal.observe.kubernetes import KubernetesError

log = logging.getLogger(__name__)

PATH = "/alertmanager"
MAX_BODY = 4 * 1024 * 1024


@dataclass
class ReceiverMetrics:
    """The receiver's counters, on a registry of their own (served at its /metrics)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "kubeheal_alert_receiver_requests_total",
            "Alertmanager webhook calls by outcome (accepted, unauthorized, bad-request, "
            "unavailable: the records could not be written).", ["outcome"],
            registry=self.registry)
        self.alerts = Counter(
            "kubeheal_alert_receiver_alerts_total",
            "Alerts received, by status and result (recorded, removed, unmatched).",
            ["status", "result"], registry=self.registry)


def authorized(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries the bearer token (compared in constant time);
    never when no token is configured.

    >>> authorized("Bearer s3cret", "s3cret"), authorized("Bearer s3cre", "s3cret")
    (True, False)
    >>> authorized(None, "s3cret"), authorized("Bearer ", ""), authorized("Basic s3cret", "s3cret")
    (False, False, False)
    """
    if not token or not header:
        return False
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode(), token.encode())


@dataclass
class AlertReceiver:
    """Records the alerts of webhook calls on the Runbooks that name them."""

    store: ObjectStore
    token_file: Path
    namespaces: Sequence[str] = ()
    metrics: ReceiverMetrics = field(default_factory=ReceiverMetrics)

    def token(self) -> str:
        try:
            return self.token_file.read_text().strip()
        except OSError as e:
            log.warning("alert receiver: token file %s unreadable (%s): every call is refused",
                        self.token_file, e)
            return ""

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(PATH, self.receive)
        app.router.add_get("/metrics", self.expose)
        return app

    async def expose(self, _: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def receive(self, request: web.Request) -> web.Response:
        if not authorized(request.headers.get("Authorization"), self.token()):
            self.metrics.requests.labels("unauthorized").inc()
            return web.json_response(
                {"error": "unauthorized: send Authorization: Bearer <token> with the token of "
                          "the receiver's Secret"}, status=401,
                headers={"WWW-Authenticate": 'Bearer realm="kubeheal"'})
        try:
            alerts = parse_webhook(json.loads(await request.read() or b"null"))
        except (PayloadError, ValueError) as e:  # a JSONDecodeError is a ValueError
            self.metrics.requests.labels("bad-request").inc()
            message = str(e) if isinstance(e, PayloadError) else f"the body is not JSON: {e}"
            return web.json_response({"error": message}, status=400)
        try:
            counts = await self.record(alerts, now())
        except KubernetesError as e:
            self.metrics.requests.labels("unavailable").inc()
            log.warning("alert receiver: alerts not recorded: %s", e)
            return web.json_response({"error": f"alerts not recorded: {e}"}, status=503)
        self.metrics.requests.labels("accepted").inc()
        return web.json_response(counts)

    async def record(self, alerts: Sequence[WebhookAlert], moment: dt.datetime) -> dict[str, int]:
        """Record the alerts on the Runbooks of their namespaces that name them; how many
        were recorded, removed (resolved) and matched no runbook."""
        counts = {"recorded": 0, "removed": 0, "unmatched": 0}
        seen: set[str] = set()
        by_namespace: dict[str, list[WebhookAlert]] = {}
        for alert in alerts:
            namespace = alert.labels.get(NAMESPACE_LABEL, "")
            if namespace and (not self.namespaces or namespace in self.namespaces):
                by_namespace.setdefault(namespace, []).append(alert)
        for namespace, group in sorted(by_namespace.items()):
            for body in await self.store.list("runbooks", namespace):
                try:
                    spec = RunbookSpec.model_validate(body.get("spec") or {})
                except ValidationError:  # the leader's evaluation says what is wrong with it
                    continue
                if not spec.alerts:
                    continue
                hits = [(alert, *hit) for alert in group
                        if (hit := matched(alert, spec.alerts, namespace)) is not None]
                recorded = recorded_alerts(body.get("status"))
                patch = status_patch(recorded, hits, moment)
                if patch:
                    await self.store.patch_status("runbooks", namespace,
                                                  body["metadata"]["name"], {"alerts": patch})
                for alert, workload, _ in hits:
                    seen.add(alert.fingerprint)
                    if alert.firing:
                        counts["recorded"] += 1
                        log.info("alert %s firing for %s/%s recorded on runbook %s",
                                 alert.name, namespace, workload, body["metadata"]["name"])
                    elif patch.get(alert.fingerprint, 0) is None:
                        counts["removed"] += 1
        for alert in alerts:
            status = "firing" if alert.firing else "resolved"
            if alert.fingerprint not in seen:
                counts["unmatched"] += 1
                self.metrics.alerts.labels(status, "unmatched").inc()
            else:
                self.metrics.alerts.labels(status, "recorded" if alert.firing
                                           else "removed").inc()
        return counts


async def serve_alert_receiver(api: client.ApiClient, port: int, token_file: Path,
                               namespaces: Sequence[str] = (),
                               address: str = "0.0.0.0") -> web.AppRunner:
    """Serve the receiver on ``port`` (POST /alertmanager, GET /metrics) until cleaned up.

    Its writes are not fenced: recording an alert is not an action, and a standby records
    them for the leader.
    """
    receiver = AlertReceiver(ObjectStore(api), token_file, namespaces)
    runner = web.AppRunner(receiver.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, address, port).start()
    log.info("Alertmanager receiver listening on %s:%d%s", address, port, PATH)
    return runner
