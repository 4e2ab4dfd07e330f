"""The closed loop on the local stack: cluster, OPA, the demo service, Prometheus, the operator.

Shared by the end-to-end tests (``tests/e2e``) and the demo (``hack/demo.py``): it starts the
real components (see :mod:`localstack`), the simulated service that serves metrics for the
pods of demo Deployments, a Prometheus scraping it, and kubeheal itself as its own process;
and it offers the few moves a scenario needs (deploy a workload, inject a fault, wait for a
remediation, read its timeline).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from localstack import (
    Alertmanager,
    Cluster,
    ComponentError,
    Opa,
    Process,
    Prometheus,
    binary,
    free_port,
    http_ok,
)

ROOT = Path(__file__).resolve().parent.parent
Json = dict[str, Any]

OPEN = ("Detected", "AwaitingApproval", "Executing", "Verifying")
TERMINAL = ("Succeeded", "Escalated", "Blocked", "DryRun")


def demo_deployment(name: str, replicas: int = 3, load: float = 60, capacity: float = 40,
                    template_annotations: dict[str, str] | None = None) -> Json:
    """A Deployment that the demo service simulates (label kubeheal.io/demo=true)."""
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {
            "name": name,
            "labels": {"app": name, "kubeheal.io/demo": "true"},
            "annotations": {"demo.kubeheal.io/load": f"{load:g}",
                            "demo.kubeheal.io/capacity": f"{capacity:g}"},
        },
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name},
                             "annotations": dict(template_annotations or {})},
                "spec": {"containers": [{"name": name,
                                         "image": f"registry.example/{name}:1.4"}]},
            },
        },
    }


def demo_runbook(workload: str, namespace: str, **spec: Any) -> Json:
    """deploy/demo's runbook aimed at ``workload`` and its SLO, with ``spec`` merged in."""
    body: Json = yaml.safe_load((ROOT / "deploy" / "demo" / "30-runbook.yaml").read_text())
    body["metadata"] = {"name": workload, "namespace": namespace}
    body["spec"]["selector"] = {"matchLabels": {"app": workload}}
    body["spec"]["sloRef"] = {"name": f"{workload}-availability"}
    body["spec"].update(spec)
    return body


def demo_slo(workload: str, namespace: str) -> Json:
    """deploy/demo's availability SLO for ``workload`` in ``namespace``."""
    text = (ROOT / "deploy" / "demo" / "20-slo.yaml").read_text()
    text = text.replace('namespace="shop",deployment="checkout"',
                        f'namespace="{namespace}",deployment="{workload}"')
    body: Json = yaml.safe_load(text)
    body["metadata"] = {"name": f"{workload}-availability", "namespace": namespace}
    return body


@dataclass
class LoopStack:
    """Everything the closed loop needs, rooted in one directory."""

    root: Path
    namespaces: Sequence[str]
    scrape_interval: str = "5s"
    extra_targets: Sequence[str] = ()  # more loopback exporters for Prometheus to scrape
    # The service whose /metrics Prometheus scrapes: the demo, unless told otherwise; it gets
    # --kubeconfig, one --namespace each and --port.
    service: Sequence[str] = ("-m", "kubeheal.demo", "--interval", "0.5")
    cluster: Cluster = field(init=False)
    opa: Opa = field(init=False)
    prometheus: Prometheus = field(init=False)
    demo: Process | None = None
    operator: Process | None = None
    metrics_port: int = 0
    replicas: dict[str, Replica] = field(default_factory=dict)
    operator_kubeconfig: Path | None = None
    # Optional, for the scenarios that ask: an Alertmanager with this alertmanager.yml, which
    # Prometheus sends the alerts of ``rule_files`` to.
    alertmanager_config: Json | None = None
    rule_files: Sequence[Path] = ()
    alertmanager: Alertmanager | None = None

    def __post_init__(self) -> None:
        self.cluster = Cluster(self.root / "cluster")
        self.opa = Opa(self.root / "opa")

    @property
    def kubeconfig(self) -> Path:
        return self.cluster.kubeconfig

    def start(self) -> None:
        try:
            self.cluster.start()
            self.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
            self.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f",
                         str(ROOT / "crds"))
            self.kubectl("apply", "-f", str(ROOT / "deploy" / "rbac"))
            self.operator_kubeconfig = install_operator_identity(self.cluster)
            for namespace in self.namespaces:
                self.kubectl("create", "namespace", namespace)
            self.opa.start()
            demo_port = free_port()
            self.demo = Process("demo", [
                sys.executable, *self.service,
                "--kubeconfig", str(self.cluster.kubeconfig_for("kubeheal-demo")),
                *[a for n in self.namespaces for a in ("--namespace", n)],
                "--port", str(demo_port),
            ], self.root / "logs" / "demo.log")
            self.demo.start(env=_python_env())
            self.demo.wait_until(lambda: http_ok(f"http://127.0.0.1:{demo_port}/metrics"),
                                 "serving /metrics", 30)
            if self.alertmanager_config is not None:
                self.alertmanager = Alertmanager(self.root / "alertmanager",
                                                 self.alertmanager_config)
                self.alertmanager.start()
            self.prometheus = Prometheus(
                self.root / "prometheus", [f"127.0.0.1:{demo_port}", *self.extra_targets],
                scrape_interval=self.scrape_interval,
                alertmanagers=[f"127.0.0.1:{self.alertmanager.port}"] if self.alertmanager
                else [], rule_files=list(self.rule_files))
            self.prometheus.start()
        except BaseException:
            self.stop()
            raise

    def __enter__(self) -> LoopStack:
        """Start the stack; the ``with`` block's end stops it, however the block ends."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start_operator(self, kubeconfig: Path | None = None, opa_url: str | None = None,
                       prometheus_url: str | None = None, extra: Sequence[str] = (),
                       env: dict[str, str] | None = None) -> Process:
        """Run kubeheal as its own process; its log is logs/operator.log.

        It runs as the chart's ServiceAccount (see :func:`install_operator_identity`) unless
        ``kubeconfig`` says otherwise. ``env`` adds environment variables, such as the
        fault-injection hook KUBEHEAL_PAUSE_AFTER_INTENT.
        """
        self.metrics_port = free_port()
        self.operator = Process("operator", [
            sys.executable, "-m", "kubeheal.cli", "run",
            "--kubeconfig", str(kubeconfig or self.operator_kubeconfig or self.kubeconfig),
            "--prometheus-url", prometheus_url or self.prometheus.url,
            "--opa-url", opa_url or self.opa.url,
            "--policies", str(ROOT / "policies"),
            "--metrics-port", str(self.metrics_port),
            *extra,
        ], self.root / "logs" / "operator.log")
        self.operator.start(env={**_python_env(), **(env or {})})
        self.operator.wait_until(
            lambda: http_ok(f"http://127.0.0.1:{self.metrics_port}/metrics"), "serving /metrics",
            60)
        return self.operator

    def kill_operator(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Stop the operator abruptly (SIGKILL: no clean-up at all)."""
        if self.operator is not None and self.operator.pid is not None:
            os.killpg(self.operator.pid, sig)
            deadline = time.monotonic() + 10
            while self.operator.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.operator = None

    def stop(self) -> None:
        for process in (self.operator, *(r.process for r in self.replicas.values()), self.demo):
            if process is not None:
                process.stop()
        for component in ("prometheus", "alertmanager", "opa", "cluster"):
            if getattr(self, component, None) is not None:
                getattr(self, component).stop()

    # -- replicas, as the Helm chart runs them ------------------------------------------------

    def chart_operator(self) -> ChartOperator:
        """The operator as the chart installs it by default, less its Deployment (no container
        runtime here: each replica is a process): its identity (see
        :func:`install_operator_identity`) and its container's arguments and environment."""
        kubeconfig = self.operator_kubeconfig or install_operator_identity(self.cluster)
        (deployment,) = [d for d in render_chart() if d["kind"] == "Deployment"]
        (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"]
                        if c["name"] == "operator"]
        return ChartOperator(OPERATOR_NAMESPACE, kubeconfig, container["args"],
                             container["env"])

    def start_replica(self, chart: ChartOperator, identity: str,
                      env: dict[str, str] | None = None) -> Replica:
        """One replica with the chart's arguments and environment (its pod name ``identity``),
        but this stack's addresses and ports; its log is logs/<identity>.log. Returns once it
        answers /healthz (as leader or standby)."""
        replica = Replica(identity, Process(identity, [], self.root / "logs" / f"{identity}.log"),
                          liveness_port=free_port(), metrics_port=free_port())
        replica.process.argv = [
            sys.executable, "-m", "kubeheal.cli",
            *[a for a in chart.args if not a.startswith("--liveness-port")],
            "--kubeconfig", str(chart.kubeconfig),
            "--prometheus-url", self.prometheus.url, "--opa-url", self.opa.url,
            "--policies", str(ROOT / "policies"),
            "--metrics-port", str(replica.metrics_port),
            "--liveness-port", str(replica.liveness_port),
        ]
        pod = {"metadata.name": identity, "metadata.namespace": chart.namespace}
        chart_env = {e["name"]: e["value"] if "value" in e
                     else pod[e["valueFrom"]["fieldRef"]["fieldPath"]] for e in chart.env}
        replica.process.start(env={**chart_env, **_python_env(), **(env or {})})
        self.replicas[identity] = replica
        # A bound for a replica that never comes up, not a speed requirement: on a loaded
        # machine a Python process takes a while to import and start.
        replica.process.wait_until(lambda: replica.health() is not None, "answering /healthz",
                                   240)
        return replica

    def lease_holder(self, chart: ChartOperator, name: str = "kubeheal") -> str:
        return str(self.kubectl("get", "lease", name, "-n", chart.namespace, "-o",
                                "jsonpath={.spec.holderIdentity}", check=False).stdout)

    # -- moves of a scenario ----------------------------------------------------------------

    def kubectl(self, *args: str, **kwargs: Any) -> Any:
        return self.cluster.kubectl(*args, **kwargs)

    def apply(self, namespace: str, *objects: Json) -> None:
        for body in objects:
            self.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(body))

    def wait_available(self, namespace: str, name: str, timeout: int = 120) -> None:
        self.kubectl("rollout", "status", "-n", namespace, f"deployment/{name}",
                     f"--timeout={timeout}s")

    def inject_bad_rollout(self, namespace: str, name: str) -> dt.datetime:
        """Roll out a bad build; returns when the fault started."""
        started = dt.datetime.now(dt.UTC)
        self.kubectl("patch", "deployment", name, "-n", namespace, "--type=merge", "-p",
                     json.dumps({"spec": {"template": {"metadata": {"annotations": {
                         "demo.kubeheal.io/fault": "bad-build"}}}}}))
        return started

    def inject_leak(self, namespace: str, name: str, grown_mib: float = 100.0) -> dt.datetime:
        """Make the running pods leak memory; returns when the fault started.

        Pod annotations, so no rollout (and a restart brings pods from the healthy template).
        The demo grows a leaking pod's memory from its start, so each pod gets the rate that
        puts it ``grown_mib`` above its healthy 100 MiB now, whatever its age, and grows on
        from there.
        """
        started = dt.datetime.now(dt.UTC)
        for pod in self.pods(namespace, name):
            since = pod.get("status", {}).get("startTime")
            if not since:
                continue
            age = (started - dt.datetime.fromisoformat(since)).total_seconds()
            self.kubectl("annotate", "pod", pod["metadata"]["name"], "-n", namespace,
                         "--overwrite", "demo.kubeheal.io/fault=leak",
                         f"demo.kubeheal.io/leak-mib-per-second={grown_mib / max(age, 1.0):.4f}")
        return started

    def set_load(self, namespace: str, name: str, load: float) -> dt.datetime:
        """Change the requests/s the Deployment receives; returns when the change started."""
        started = dt.datetime.now(dt.UTC)
        self.kubectl("annotate", "deployment", name, "-n", namespace, "--overwrite",
                     f"demo.kubeheal.io/load={load:g}")
        return started

    def get(self, resource: str, namespace: str, name: str) -> Json:
        """One object, as ``kubectl get RESOURCE NAME -o json`` prints it."""
        body: Json = json.loads(self.kubectl("get", resource, name, "-n", namespace, "-o",
                                             "json").stdout)
        return body

    def deployment(self, namespace: str, name: str) -> Json:
        return self.get("deployment", namespace, name)

    def runbook(self, namespace: str, name: str) -> Json:
        return self.get("runbook", namespace, name)

    def pods(self, namespace: str, app: str) -> list[Json]:
        """The pods of workload ``app`` (label ``app``) that are not being deleted."""
        items: list[Json] = json.loads(self.kubectl(
            "get", "pods", "-n", namespace, "-l", f"app={app}", "-o", "json").stdout)["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def warm(self, namespace: str, runbook: str) -> bool:
        """Whether every stream of the runbook is past its warm-up."""
        out = self.kubectl("get", "runbook", runbook, "-n", namespace, "-o",
                           "jsonpath={.status.warmup.readyStreams}/"
                           "{.status.warmup.totalStreams}", check=False).stdout
        ready, _, total = out.partition("/")
        return bool(total) and total != "0" and ready == total

    def watch(self, namespace: str, workload: str, timeout: float = 240, **runbook: Any,
              ) -> None:
        """The demo SLO and runbook for a running workload, once its streams are warm."""
        self.apply(namespace, demo_slo(workload, namespace),
                   demo_runbook(workload, namespace, **runbook))
        self.wait_available(namespace, workload)
        self.wait_for(f"runbook {namespace}/{workload} to be warm",
                      lambda: self.warm(namespace, workload), timeout)

    def events(self, namespace: str, reason: str) -> list[Json]:
        out = self.kubectl("get", "events", "-n", namespace, "-o", "json",
                           f"--field-selector=reason={reason}").stdout
        items: list[Json] = json.loads(out)["items"]
        return items

    def remediations(self, namespace: str, target: str | None = None) -> list[Json]:
        """The remediations in ``namespace`` (of ``target``, if given), oldest first."""
        out = self.kubectl("get", "remediations", "-n", namespace, "-o", "json").stdout
        items: list[Json] = [r for r in json.loads(out)["items"]
                             if target is None or r["spec"]["target"]["name"] == target]
        return sorted(items, key=lambda r: r["metadata"]["creationTimestamp"])

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float,
                 poll: float = 1.0) -> Any:
        """Poll ``check`` until it returns something truthy; fail with the operator's log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(poll)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n"
                             f"{self.diagnostics()}")

    def wait_for_phase(self, namespace: str, phases: Iterable[str], timeout: float,
                       target: str | None = None) -> Json:
        """The first remediation in ``namespace`` (of ``target``, if given) in one of
        ``phases``."""
        wanted = set(phases)

        def reached() -> Json | None:
            return next((r for r in self.remediations(namespace, target)
                         if (r.get("status") or {}).get("phase") in wanted), None)

        what = f"a remediation in {namespace}" + (f" of {target}" if target else "")
        found: Json = self.wait_for(f"{what} to reach {sorted(wanted)}", reached, timeout)
        return found

    def operator_metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                    timeout=5) as response:
            return str(response.read().decode())

    def diagnostics(self) -> str:
        """What a person debugging a failed scenario would look at first."""
        parts = []
        for namespace in self.namespaces:
            out = self.kubectl("get", "remediations,runbooks,deployments", "-n", namespace,
                               "-o", "wide", check=False).stdout
            parts.append(f"--- {namespace} ---\n{out}")
            # What each runbook's last evaluation said (Ready stays True through a passing
            # failure: Degraded says whether the signals were scored at all).
            said = self.kubectl("get", "runbooks", "-n", namespace, "-o", "jsonpath="
                                '{range .items[*]}{.metadata.name}: {.status.conditions'
                                '[?(@.type=="Degraded")].message}{"\\n"}{end}',
                                check=False).stdout.strip()
            if said:
                parts.append(said)
        for name, lines in (("operator", 30), ("demo", 10)):
            log = self.root / "logs" / f"{name}.log"
            if log.exists():
                parts.append(f"--- {name} log (tail) ---\n" + "\n".join(
                    log.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(parts)


@dataclass(frozen=True)
class ChartOperator:
    """How the chart runs the operator: its namespace, identity (a kubeconfig with a token of
    its ServiceAccount), and its container's arguments and environment."""

    namespace: str
    kubeconfig: Path
    args: list[str]
    env: list[Json]


@dataclass
class Replica:
    """One operator replica started by :meth:`LoopStack.start_replica`."""

    identity: str
    process: Process
    liveness_port: int
    metrics_port: int

    def health(self) -> Json | None:
        """Its /healthz answer (``{"identity", "leader"}``); None when it does not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz",
                                        timeout=2) as response:
                body: Json = json.loads(response.read())
                return body
        except (OSError, ValueError):
            return None

    def leading(self) -> bool:
        return bool((self.health() or {}).get("leader"))

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the replica's process group (SIGKILL, SIGSTOP, SIGCONT)."""
        assert self.process.pid is not None
        os.killpg(self.process.pid, sig)

    def log(self) -> str:
        return self.process.log.read_text(errors="replace")


OPERATOR_RELEASE, OPERATOR_NAMESPACE = "kubeheal", "kubeheal-system"
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_RELEASE}-operator"
IDENTITY_KINDS = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


def render_chart() -> list[Json]:
    """The chart's objects as `helm template` renders them with the default values."""
    rendered = subprocess.run(
        [binary("helm"), "template", OPERATOR_RELEASE, str(ROOT / "deploy" / "chart"), "-n",
         OPERATOR_NAMESPACE], capture_output=True, text=True, check=True, timeout=60).stdout
    return [d for d in yaml.safe_load_all(rendered) if d]


def install_operator_identity(cluster: Cluster) -> Path:
    """Give the cluster the operator's identity as the Helm chart installs it, and return a
    kubeconfig that acts as it (a TokenRequest token of the chart's ServiceAccount).

    Applied: the chart's ServiceAccount and RBAC, the admission policies of deploy/admission
    and the ConfigMap that names the operator to them (the chart's operator Deployment is left
    out: the operator runs as a process here). The operator thus meets exactly the rights
    and the admission checks it has in a cluster, never a cluster administrator's.
    """
    objects = [d for d in render_chart() if (
        d["kind"] in IDENTITY_KINDS
        or (d["kind"] == "ConfigMap" and d["metadata"]["name"] == "kubeheal-operator-identity"))]
    if cluster.kubectl("get", "namespace", OPERATOR_NAMESPACE, check=False).returncode != 0:
        cluster.kubectl("create", "namespace", OPERATOR_NAMESPACE)
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))
    cluster.kubectl("apply", "-f", str(ROOT / "deploy" / "admission"))
    token = cluster.kubectl("create", "token", f"{OPERATOR_RELEASE}-operator", "-n",
                            OPERATOR_NAMESPACE, "--duration=12h").stdout.strip()
    return cluster.kubeconfig_for("kubeheal-operator", token)


TIMINGS_ENV = "KUBEHEAL_TIMINGS"


def record_timing(scenario: str, fault: dt.datetime, remediation: Json | None) -> None:
    """Record a scenario's time to detect (fault to Remediation created) and time to recover
    (fault to Succeeded) into the JSON file named by $KUBEHEAL_TIMINGS, when it is set."""
    path = os.environ.get(TIMINGS_ENV)
    if not path:
        return
    ttd = ttr = None
    phase = None
    if remediation is not None:
        created = dt.datetime.fromisoformat(remediation["metadata"]["creationTimestamp"])
        ttd = round((created - fault).total_seconds(), 1)
        status = remediation.get("status") or {}
        phase = status.get("phase")
        if phase == "Succeeded" and status.get("completedAt"):
            done = dt.datetime.fromisoformat(status["completedAt"])
            ttr = round((done - fault).total_seconds(), 1)
    file = Path(path)
    timings: Json = json.loads(file.read_text()) if file.exists() else {}
    timings[scenario] = {"ttd": ttd, "ttr": ttr, "phase": phase}
    file.write_text(json.dumps(timings, indent=2))


def timeline(remediation: Json) -> list[tuple[str, str, str]]:
    """(time, step, message) of a remediation's timeline."""
    return [(e["time"], e["step"], e["message"])
            for e in (remediation.get("status") or {}).get("timeline", [])]


def _python_env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(ROOT / "operator"),
                                         os.environ.get("PYTHONPATH", "")]))
    return {"PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}


__all__ = ["OPEN", "OPERATOR_NAMESPACE", "OPERATOR_USER", "ROOT", "TERMINAL", "ChartOperator",
           "ComponentError", "Json", "LoopStack", "Replica", "demo_deployment", "demo_runbook",
           "demo_slo", "install_operator_identity", "record_timing", "timeline"]
