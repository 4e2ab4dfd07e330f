"""What the handlers share: clients, caches, the policy gate, metrics, the notifier, and each
runbook's detectors.

Built once at start-up from :class:`OperatorConfig`, by the one replica that acts (the Lease's
holder, with leader election). Loading the policies into OPA is retried in the background
until it works; until then every decision fails closed. Background tasks also delete closed
Remediations by the retention policy (:mod:`~kubeheal.controller.retention`) and sweep the
incident claims of closed incidents (:meth:`IncidentClaims.sweep`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import start_http_server

from kubeheal.act.actions import KubernetesActions
from kubeheal.controller.claims import IncidentClaims
from kubeheal.controller.metrics import OperatorMetrics
from kubeheal.controller.outcomes import OutcomeMetrics, OutcomeRecorder
from kubeheal.controller.remediations import RemediationDriver
from kubeheal.controller.retention import RetentionPolicy, retain_forever
from kubeheal.controller.runbooks import RunbookEvaluator
from kubeheal.controller.status_writer import StatusWriter
from kubeheal.controller.store import ObjectStore
from kubeheal.diagnose.gitops import INSTANCE_LABEL, GitOpsSettings
from kubeheal.notify.delivery import Notifier, Receiver, ReceiverFormat
from kubeheal.observe.cache import ClusterView
from kubeheal.observe.kubernetes import (
    KubernetesError,
    KubernetesReader,
    api_client_from_kubeconfig,
    in_cluster_api_client,
)
from kubeheal.observe.prometheus import PrometheusClient, SharedQueries
from kubeheal.policy import PolicyGate, PolicyLoadError, read_policy_directory

log = logging.getLogger(__name__)

CLAIM_SWEEP_SECONDS = 600.0
"""How often claims whose incident closed without releasing them (a crash) are deleted."""


@dataclass(frozen=True)
class OperatorConfig:
    """How the operator is wired to its surroundings."""

    prometheus_url: str
    opa_url: str
    policies: Path
    kubeconfig: str | None = None
    namespaces: tuple[str, ...] = ()
    metrics_port: int = 8080
    metrics_address: str = "0.0.0.0"
    policy_timeout: float = 1.0
    prometheus_timeout: float = 5.0
    remediation_poll_seconds: float = 2.0
    notify_webhook: str | None = None
    notify_slack: str | None = None
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    alerts_port: int | None = None  # the Alertmanager receiver's port (None: not served)
    alerts_token_file: Path | None = None  # the bearer token it requires, from a Secret
    gitops: GitOpsSettings = field(default_factory=GitOpsSettings)

    @classmethod
    def from_env(cls) -> OperatorConfig:
        """Settings from KUBEHEAL_* variables (what the Helm chart sets)."""
        env = os.environ
        return cls(
            prometheus_url=env.get("KUBEHEAL_PROMETHEUS_URL", "http://prometheus:9090"),
            opa_url=env.get("KUBEHEAL_OPA_URL", "http://127.0.0.1:8181"),
            policies=Path(env.get("KUBEHEAL_POLICIES", "/etc/kubeheal/policies")),
            kubeconfig=env.get("KUBECONFIG") or None,
            namespaces=tuple(n for n in env.get("KUBEHEAL_NAMESPACES", "").split(",") if n),
            metrics_port=int(env.get("KUBEHEAL_METRICS_PORT", "8080")),
            policy_timeout=float(env.get("KUBEHEAL_POLICY_TIMEOUT", "1.0")),
            notify_webhook=env.get("KUBEHEAL_NOTIFY_WEBHOOK_URL") or None,
            notify_slack=env.get("KUBEHEAL_NOTIFY_SLACK_URL") or None,
            alerts_port=int(env["KUBEHEAL_ALERTS_PORT"]) if env.get("KUBEHEAL_ALERTS_PORT")
            else None,
            alerts_token_file=Path(env["KUBEHEAL_ALERTS_TOKEN_FILE"])
            if env.get("KUBEHEAL_ALERTS_TOKEN_FILE") else None,
            gitops=GitOpsSettings(
                argocd_namespace=env.get("KUBEHEAL_ARGOCD_NAMESPACE") or "argocd",
                argocd_tracking_label=env.get("KUBEHEAL_ARGOCD_TRACKING_LABEL", INSTANCE_LABEL)),
        )

    def receivers(self) -> tuple[Receiver, ...]:
        """Where approval requests and escalations go; ValueError names a bad one."""
        return tuple(Receiver(format_.value, url, format_) for format_, url in (
            (ReceiverFormat.WEBHOOK, self.notify_webhook),
            (ReceiverFormat.SLACK, self.notify_slack)) if url)


@dataclass
class Runtime:
    config: OperatorConfig
    store: ObjectStore
    reader: KubernetesReader
    actions: KubernetesActions
    prometheus: PrometheusClient
    gate: PolicyGate
    metrics: OperatorMetrics
    notifier: Notifier
    view: ClusterView
    queries: SharedQueries
    evaluators: dict[tuple[str, str], RunbookEvaluator] = field(default_factory=dict)
    outcome_metrics: OutcomeMetrics = field(init=False)
    status: StatusWriter = field(init=False)  # Runbook status writes, off the evaluations
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.outcome_metrics = OutcomeMetrics(self.metrics, self.reader, self.store, self.view)
        self.status = StatusWriter(self.store)

    @classmethod
    async def start(cls, config: OperatorConfig,
                    fence: Callable[[], None] | None = None) -> Runtime:
        """The runtime; with ``fence``, every write to the API server passes it first."""
        api = (api_client_from_kubeconfig(config.kubeconfig) if config.kubeconfig
               else in_cluster_api_client())
        metrics = OperatorMetrics()
        start_http_server(config.metrics_port, addr=config.metrics_address,
                          registry=metrics.registry)
        gate = PolicyGate(config.opa_url, timeout=config.policy_timeout)
        await gate.open()
        notifier = Notifier(config.receivers(), metrics.delivery, fence=fence)
        notifier.start()
        prometheus = PrometheusClient(config.prometheus_url, config.prometheus_timeout)
        view = ClusterView.watch(api, config.namespaces)
        view.start()
        runtime = cls(
            config=config, store=ObjectStore(api, fence=fence), reader=KubernetesReader(api),
            actions=KubernetesActions(api, fence=fence), prometheus=prometheus,
            gate=gate, metrics=metrics, notifier=notifier, view=view,
            queries=SharedQueries(prometheus))
        runtime.status.start()
        runtime._tasks = [asyncio.create_task(runtime._load_policies()),
                          asyncio.create_task(runtime._sweep_claims())]
        if config.retention.enabled:
            runtime._tasks.append(asyncio.create_task(retain_forever(
                runtime.store, config.namespaces, config.retention, metrics)))
        return runtime

    async def _load_policies(self) -> None:
        delay = 1.0
        while True:
            try:
                bundle = read_policy_directory(self.config.policies)
                version = await self.gate.load_bundle(bundle)
                log.info("policies %s loaded into OPA at %s", version, self.config.opa_url)
                return
            except (PolicyLoadError, OSError) as e:
                log.warning("policies not loaded yet (every action is denied meanwhile): %s", e)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _sweep_claims(self) -> None:
        while True:
            try:
                released = await self.claims.sweep(self.config.namespaces)
                if released:
                    log.info("%d incident claims of closed incidents released", released)
            except KubernetesError as e:
                log.warning("incident claims not swept: %s", e)
            await asyncio.sleep(CLAIM_SWEEP_SECONDS)

    def evaluator(self, namespace: str, name: str) -> RunbookEvaluator:
        key = (namespace, name)
        if key not in self.evaluators:
            self.evaluators[key] = RunbookEvaluator(namespace, name, self.queries, self.reader,
                                                    self.store, self.metrics, self.view)
        return self.evaluators[key]

    @property
    def claims(self) -> IncidentClaims:
        return IncidentClaims(self.store.objects.api_client, fence=self.store.fence)

    def driver(self) -> RemediationDriver:
        return RemediationDriver(self.store, self.reader, self.actions, self.gate,
                                 self.prometheus, self.metrics, self.claims, self.evaluators,
                                 self.notifier, self.config.gitops)

    def recorder(self) -> OutcomeRecorder:
        return OutcomeRecorder(self.store, self.driver().health, self.evaluators)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.status.stop()
        await self.notifier.close()
        self.view.stop()
        await self.prometheus.close()
        await self.gate.close()
