"""Many workloads and many runbooks on the local stack: what the scale benchmark and test share.

:class:`ScaleScenario` lays out ``workloads`` one-pod Deployments over up to 100 namespaces
(on enough kwok nodes: 110 pods each), served by the watch-based synthetic exporter
(:mod:`scaleexporter`, three signals each) that Prometheus scrapes, and ``runbooks`` Runbooks
spread round-robin over the namespaces. The runbooks of a namespace split its workloads
between them (label ``scale.kubeheal.io/group``), so each workload is watched once; a
namespace without a runbook keeps its workloads unwatched (they are scraped all the same,
and a query scoped to the namespaces that need it does not read them).

Every runbook asks the same three signal templates (error ratio, p99 latency, load): the
query mix is three distinct queries per interval, whatever the number of runbooks.

The operator is measured from outside: its CPU time and peak RSS from /proc, its requests
to the API server from the audit log (by its own user), Prometheus' queries and samples from
Prometheus' own /metrics, evaluation durations from the operator's /metrics.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from auditlog import AuditLog, whoami
from loopstack import ROOT, Json, LoopStack

SCALE_LABEL = "kubeheal.io/scale"
GROUP_LABEL = "scale.kubeheal.io/group"
EXPORTER = (str(ROOT / "hack" / "scaleexporter.py"),)
PODS_PER_NODE = 110
SIGNALS = 3


def namespaces_for(workloads: int, most: int = 100) -> tuple[str, ...]:
    """The namespaces of a run: 100, or one per workload when there are fewer.

    >>> namespaces_for(1000)[:2], len(namespaces_for(1000)), len(namespaces_for(30))
    (('scale-000', 'scale-001'), 100, 30)
    """
    return tuple(f"scale-{i:03d}" for i in range(max(1, min(most, workloads))))


def layout(workloads: int, runbooks: int, namespaces: tuple[str, ...],
           ) -> tuple[dict[str, list[tuple[str, int]]], dict[str, int]]:
    """(namespace -> [(workload, group)], namespace -> runbooks in it).

    Workloads go round-robin over the namespaces, runbooks too; in a namespace, workload i
    belongs to group i modulo the namespace's runbooks (group 0 when it has none).

    >>> w, r = layout(6, 3, ("a", "b"))
    >>> w["a"], r
    ([('w-00000', 0), ('w-00002', 1), ('w-00004', 0)], {'a': 2, 'b': 1})
    """
    per_namespace = {n: sum(1 for r in range(runbooks) if r % len(namespaces) == i)
                     for i, n in enumerate(namespaces)}
    placed: dict[str, list[tuple[str, int]]] = {n: [] for n in namespaces}
    for i in range(workloads):
        namespace = namespaces[i % len(namespaces)]
        groups = max(1, per_namespace[namespace])
        placed[namespace].append((f"w-{i:05d}", len(placed[namespace]) % groups))
    return placed, per_namespace


def deployment(name: str, group: int) -> Json:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {SCALE_LABEL: "true", GROUP_LABEL: str(group),
                                              "app": name}},
        "spec": {
            "replicas": 1, "revisionHistoryLimit": 3,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "app",
                                                  "image": "registry.example/app:1"}]}},
        },
    }


def runbook(name: str, group: int, interval: int, scrape: int) -> Json:
    """A runbook over one group of a namespace, with the three shared signal templates."""
    window = f"{4 * scrape}s"
    return {
        "apiVersion": "kubeheal.io/v1alpha1", "kind": "Runbook",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {SCALE_LABEL: "true", GROUP_LABEL: str(group)}},
            "intervalSeconds": interval,
            "signals": [
                {"name": "error-ratio", "role": "errors", "threshold": 0.05, "query":
                 f'sum by (namespace, deployment) (rate(scale_http_requests_total{{code="500"}}'
                 f"[{window}])) / sum by (namespace, deployment) "
                 f"(rate(scale_http_requests_total[{window}]))"},
                {"name": "latency-p99", "role": "latency", "minRelativeDeviation": 0.25,
                 "query": "max by (namespace, deployment) (scale_latency_p99_seconds)"},
                {"name": "load", "role": "load", "minRelativeDeviation": 0.2, "query":
                 f"sum by (namespace, deployment) (rate(scale_http_requests_total[{window}]))"},
            ],
            "detection": {"detector": "novelty", "warmupPoints": 30,
                          "historySeconds": 20 * interval, "debounceK": 2, "debounceN": 3},
            "actions": [{"name": "roll-back-bad-release", "kind": "rollback",
                         "when": {"causes": ["change"]}}],
            "guardrails": {"cooldownSeconds": 60, "maxActionsPerHour": 4},
            "verification": {"windowSeconds": 20, "rolloutTimeoutSeconds": 120},
        },
    }


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    return int(match.group(1)) / 1024 if match else float("nan")


def counters(text: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``, in a /metrics text.

    >>> counters('x_total{h="/q",c="200"} 3\\nx_total{h="/r",c="200"} 4\\n', "x_total",
    ...          {"h": "/q"})
    3.0
    """
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="([^"]*)"', head))
        if all(found.get(k) == v for k, v in (labels or {}).items()):
            total += float(value)
    return total


def buckets(text: str, name: str) -> dict[float, float]:
    """A histogram's cumulative bucket counts summed over its series: le -> count."""
    result: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "_bucket{"):
            head, _, value = line.rpartition(" ")
            le = re.search(r'le="([^"]+)"', head)
            if le:
                bound = float(le.group(1))
                result[bound] = result.get(bound, 0.0) + float(value)
    return result


def quantile(before: Mapping[float, float], after: Mapping[float, float], q: float) -> float:
    """The q-quantile of the observations between two bucket snapshots (upper bound of its
    bucket, as coarse as the buckets; inf past the largest).

    >>> quantile({0.1: 0, 1.0: 0, math.inf: 0}, {0.1: 90, 1.0: 99, math.inf: 100}, 0.5)
    0.1
    """
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return float("nan")
    rank = q * counts[-1]
    return next(b for b, c in zip(bounds, counts, strict=True) if c >= rank)


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        return str(response.read().decode())


@dataclass
class Window:
    """What the operator cost over a steady window."""

    seconds: float
    cpu_cores: float
    rss_mib: float
    eval_p50_s: float
    eval_p99_s: float
    apiserver_rps: dict[str, float]
    lists: list[str]  # "verb resource (user agent)" of each LIST the operator made
    prom_qps: float
    samples_per_tick: float
    status_patches: int
    evaluations: int  # runbook evaluations the operator finished in the window


@dataclass
class ScaleScenario:
    root: Path
    workloads: int
    runbooks: int
    interval: int = 15
    scrape: int = 15
    namespaces: int = 100
    stack: LoopStack = field(init=False)
    placed: dict[str, list[tuple[str, int]]] = field(init=False)
    per_namespace: dict[str, int] = field(init=False)
    created_at: float = 0.0
    operator_started: float = 0.0
    user: str = ""

    def __post_init__(self) -> None:
        namespaces = namespaces_for(self.workloads, self.namespaces)
        self.placed, self.per_namespace = layout(self.workloads, self.runbooks, namespaces)
        self.stack = LoopStack(self.root, namespaces, scrape_interval=f"{self.scrape}s",
                               service=EXPORTER)

    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.stack.cluster.audit_log)

    def expected_streams(self) -> dict[tuple[str, str], int]:
        """(namespace, runbook) -> streams it must have warm after its first evaluation."""
        result = {}
        for namespace, count in self.per_namespace.items():
            for group in range(count):
                watched = sum(1 for _, g in self.placed[namespace] if g == group)
                result[(namespace, f"rb-{group:03d}")] = SIGNALS * watched
        return result

    def start(self) -> None:
        """The stack, its nodes, the workloads and the runbooks (the operator not yet)."""
        self.stack.start()
        needed = math.ceil(self.workloads / (PODS_PER_NODE - 10)) - 2
        self.stack.cluster.add_nodes(max(0, needed))
        for namespace, placed in self.placed.items():
            items = [deployment(name, group) for name, group in placed]
            for start in range(0, len(items), 500):
                self.stack.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(
                    {"apiVersion": "v1", "kind": "List", "items": items[start:start + 500]}))
        self.created_at = time.time()
        for namespace, count in self.per_namespace.items():
            if count:
                self.stack.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(
                    {"apiVersion": "v1", "kind": "List", "items": [
                        runbook(f"rb-{g:03d}", g, self.interval, self.scrape)
                        for g in range(count)]}))

    def running_pods(self) -> int:
        out = self.stack.kubectl("get", "pods", "-A", "--field-selector=status.phase=Running",
                                 "--no-headers", "-o", "custom-columns=N:.metadata.name").stdout
        return len(out.split())

    def wait_for_pods(self, timeout: float) -> float:
        """Seconds until every workload's pod runs (or the timeout: then say how many do)."""
        started = time.time()
        while time.time() - started < timeout and self.running_pods() < self.workloads:
            time.sleep(10)
        return time.time() - started

    def wait_for_history(self) -> None:
        """Until Prometheus holds enough history for every detector to warm up from it."""
        needed = (12 + 3) * self.interval + 4 * self.scrape
        time.sleep(max(0.0, self.created_at + needed - time.time()))

    def start_operator(self, source: Path | None = None) -> None:
        """The operator of ``source`` (an operator/ directory; default: this tree's)."""
        self.operator_started = time.time()
        self.stack.start_operator(env={"PYTHONPATH": str(source or ROOT / "operator")})
        assert self.stack.operator_kubeconfig is not None
        self.user = whoami(self.stack.operator_kubeconfig)

    def evaluated(self) -> set[tuple[str, str]]:
        """The runbooks whose every stream is warm after an evaluation since the start."""
        out = json.loads(self.stack.kubectl("get", "runbooks", "-A", "-o", "json").stdout)
        since = dt.datetime.fromtimestamp(int(self.operator_started), dt.UTC)
        expected = self.expected_streams()
        done = set()
        for item in out["items"]:
            key = (item["metadata"]["namespace"], item["metadata"]["name"])
            status = item.get("status") or {}
            warm = status.get("warmup") or {}
            last = status.get("lastEvaluationTime")
            if (last and dt.datetime.fromisoformat(last) >= since
                    and warm.get("totalStreams") == expected.get(key)
                    and warm.get("readyStreams") == warm.get("totalStreams")):
                done.add(key)
        return done

    def wait_first_complete_evaluation(self, timeout: float) -> float | None:
        """Seconds from the operator's start until every runbook evaluated all its streams."""
        expected = set(self.expected_streams())
        while time.time() - self.operator_started < timeout:
            if self.evaluated() >= expected:
                return time.time() - self.operator_started
            time.sleep(2)
        return None

    def measure(self, seconds: float) -> Window:
        """Sleep through a steady window and return what the operator cost meanwhile."""
        pid = self.stack.operator.pid if self.stack.operator else None
        assert pid is not None
        prom = f"{self.stack.prometheus.url}/metrics"
        operator = f"http://127.0.0.1:{self.stack.metrics_port}/metrics"
        queries = ("/api/v1/query", "/api/v1/query_range")
        self.audit.records()  # read what came before
        since = dt.datetime.now(dt.UTC)
        cpu0, prom0, op0 = cpu_seconds(pid), fetch(prom), fetch(operator)
        time.sleep(seconds)
        cpu1, prom1, op1 = cpu_seconds(pid), fetch(prom), fetch(operator)
        until = dt.datetime.now(dt.UTC)
        elapsed = (until - since).total_seconds()
        asked = sum(counters(prom1, "prometheus_http_requests_total", {"handler": h})
                    - counters(prom0, "prometheus_http_requests_total", {"handler": h})
                    for h in queries)
        read = "prometheus_engine_query_samples_total"  # only where Prometheus exposes it
        samples = (counters(prom1, read) - counters(prom0, read) if read in prom1
                   else float("nan"))
        before, after = (buckets(t, "kubeheal_evaluation_duration_seconds") for t in (op0, op1))
        records = self.audit.by(self.user, since, until)
        return Window(
            seconds=elapsed,
            cpu_cores=(cpu1 - cpu0) / elapsed,
            rss_mib=peak_rss_mib(pid),
            eval_p50_s=quantile(before, after, 0.5),
            eval_p99_s=quantile(before, after, 0.99),
            apiserver_rps=self.audit.rates_by_verb(self.user, since, until),
            lists=[f"{r.verb} {r.resource} ({r.user_agent.split('/')[0]})" for r in records
                   if r.verb == "list"],
            prom_qps=asked / elapsed,
            samples_per_tick=samples / (elapsed / self.interval),
            status_patches=sum(1 for r in records if r.verb == "patch"
                               and r.resource == "runbooks" and r.subresource == "status"),
            evaluations=round(after.get(math.inf, 0.0) - before.get(math.inf, 0.0)),
        )

    def watched_workload(self, index: int = 0) -> tuple[str, str]:
        """The first workload of the index-th namespace with a runbook: a fault goes there
        (each operator compared gets a workload of its own, healthy until then)."""
        watched = [n for n, c in self.per_namespace.items() if c]
        namespace = watched[index % len(watched)]
        return namespace, next(name for name, g in self.placed[namespace] if g == 0)

    def inject_fault(self, index: int = 0) -> tuple[str, str, dt.datetime]:
        namespace, name = self.watched_workload(index)
        return namespace, name, self.stack.inject_bad_rollout(namespace, name)

    def time_to_detect(self, namespace: str, name: str, fault: dt.datetime,
                       timeout: float) -> float | None:
        """Seconds from the fault to the Remediation opened for the workload (None: none)."""
        while (dt.datetime.now(dt.UTC) - fault).total_seconds() < timeout:
            found = self.stack.remediations(namespace, target=name)
            if found:
                created = min(dt.datetime.fromisoformat(r["metadata"]["creationTimestamp"])
                              for r in found)
                return (created - fault).total_seconds()
            time.sleep(2)
        return None

    def stop(self) -> None:
        self.stack.stop()


def summary(workloads: int, runbooks: int, window: Window, ttd: float | None) -> str:
    """The benchmark's last line."""
    def figure(value: float | None) -> str:
        return "nan" if value is None or math.isnan(value) else f"{value:.3g}"

    return (f"scale: workloads={workloads} runbooks={runbooks} "
            f"cpu_cores={figure(window.cpu_cores)} rss_mib={figure(window.rss_mib)} "
            f"eval_p99_s={figure(window.eval_p99_s)} "
            f"apiserver_rps={figure(sum(window.apiserver_rps.values()))} "
            f"prom_qps={figure(window.prom_qps)} ttd_s={figure(ttd)}")

