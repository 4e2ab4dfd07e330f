"""The demo service on the real stack: Deployments on kwok nodes, the demo process polling them,
a real Prometheus scraping it, and the runbook's PromQL (with windows shortened to the test)
telling a healthy Deployment from a bad build and a saturated one from a scaled-out one.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubeheal.diagnose import revisions_from_replicasets
from localstack import Cluster, Process, Prometheus, free_port, http_ok

pytestmark = pytest.mark.stack

OPERATOR = Path(__file__).resolve().parents[3] / "operator"

ERROR_RATIO = (
    'sum by (deployment) (rate(demo_http_requests_total{{namespace="{ns}",code=~"5.."}}[5s]))'
    ' / sum by (deployment) (rate(demo_http_requests_total{{namespace="{ns}"}}[5s]))'
)
LATENCY_P99 = (
    "histogram_quantile(0.99, sum by (deployment, le)"
    ' (rate(demo_http_request_duration_seconds_bucket{{namespace="{ns}"}}[5s])))'
)


@dataclass
class Scene:
    cluster: Cluster
    namespace: str
    demo_url: str
    prometheus: Prometheus

    def query(self, template: str) -> dict[str, float]:
        """An instant PromQL query: deployment -> value."""
        promql = template.format(ns=self.namespace)
        url = f"{self.prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return {
            r["metric"].get("deployment", ""): float(r["value"][1])
            for r in body["data"]["result"]
        }

    def deploy(self, name: str, replicas: int, annotations: dict[str, str]) -> None:
        manifest = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name, "kubeheal.io/demo": "true"},
                         "annotations": annotations},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]},
                },
            },
        }
        self.cluster.kubectl("apply", "-n", self.namespace, "-f", "-", input=json.dumps(manifest))
        self.rollout(name)

    def rollout(self, name: str) -> None:
        done = self.cluster.kubectl("rollout", "status", "-n", self.namespace,
                                    f"deployment/{name}", "--timeout=90s", check=False)
        if done.returncode != 0:
            pods = self.cluster.kubectl("get", "pods,rs,events", "-n", self.namespace,
                                        "-o", "wide", check=False)
            pytest.fail(f"rollout of {name} did not finish: {done.stdout}{done.stderr}\n"
                        f"{pods.stdout}{pods.stderr}")


def eventually(probe: Callable[[], float | None], accept: Callable[[float], bool], what: str,
               timeout: float = 90.0) -> float:
    """Poll ``probe`` until its value is accepted; fail with the last value seen."""
    deadline = time.monotonic() + timeout
    last: float | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last is not None and last == last and accept(last):  # NaN is never accepted
            return last
        time.sleep(1.0)
    pytest.fail(f"{what}: last value {last!r} after {timeout:.0f}s")


@pytest.fixture(scope="module")
def scene(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    root = tmp_path_factory.mktemp("demo")
    namespace = "demo-service"
    cluster.kubectl("create", "namespace", namespace)
    port = free_port()
    demo = Process("demo", [
        sys.executable, "-m", "kubeheal.demo", "--kubeconfig", str(cluster.kubeconfig),
        "--namespace", namespace, "--port", str(port), "--listen", "127.0.0.1", "--seed", "7",
    ], root / "logs" / "demo.log")
    path = os.pathsep.join(p for p in (str(OPERATOR), os.environ.get("PYTHONPATH", "")) if p)
    demo.start(env={"PYTHONPATH": path})
    prometheus = Prometheus(root / "prometheus", targets=[f"127.0.0.1:{port}"])
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        demo.wait_until(lambda: http_ok(url), "serving /metrics", 60)
        prometheus.start()
        yield Scene(cluster, namespace, url, prometheus)
    finally:
        prometheus.stop()
        demo.stop()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_demo_serves_one_series_per_running_pod(scene: Scene) -> None:
    scene.deploy("catalog", replicas=2, annotations={})

    def series() -> float:
        with urllib.request.urlopen(scene.demo_url, timeout=5) as response:
            text = response.read().decode()
        return float(sum(
            1 for line in text.splitlines()
            if line.startswith("demo_memory_bytes{") and 'deployment="catalog"' in line
        ))

    eventually(series, lambda n: n == 2, "memory series of catalog's two pods", timeout=30)


def test_bad_build_raises_the_error_ratio(scene: Scene) -> None:
    scene.deploy("checkout", replicas=3, annotations={"demo.kubeheal.io/load": "60"})
    healthy = eventually(
        lambda: scene.query(ERROR_RATIO).get("checkout"), lambda v: True,
        "error ratio of the healthy checkout",
    )
    assert healthy < 0.02

    patch = {"spec": {"template": {"metadata": {
        "annotations": {"demo.kubeheal.io/fault": "bad-build"}}}}}
    scene.cluster.kubectl("patch", "-n", scene.namespace, "deployment/checkout",
                          "--type=merge", "-p", json.dumps(patch))
    scene.rollout("checkout")
    eventually(lambda: scene.query(ERROR_RATIO).get("checkout"), lambda v: v > 0.10,
               "error ratio of checkout after the bad build")


def test_scale_out_lowers_p99_latency_under_load(scene: Scene) -> None:
    scene.deploy("search", replicas=2, annotations={
        "demo.kubeheal.io/load": "200", "demo.kubeheal.io/capacity": "40"})
    saturated = eventually(
        lambda: scene.query(LATENCY_P99).get("search"), lambda v: v > 0.5,
        "p99 latency of the saturated search",
    )

    scene.cluster.kubectl("scale", "-n", scene.namespace, "deployment/search", "--replicas=8")
    scene.rollout("search")
    eventually(lambda: scene.query(LATENCY_P99).get("search"), lambda v: v < saturated / 2,
               f"p99 latency of search after scaling out (saturated: {saturated:.3f}s)")


def test_leaking_pods_grow_until_a_restart_replaces_them(scene: Scene) -> None:
    scene.deploy("cart", replicas=1, annotations={})
    # 10 MiB/s from 100 MiB: a fresh pod stays under 250 MiB for its first 15 s.
    leak = {"spec": {"template": {"metadata": {"annotations": {
        "demo.kubeheal.io/fault": "leak", "demo.kubeheal.io/leak-mib-per-second": "10"}}}}}
    scene.cluster.kubectl("patch", "-n", scene.namespace, "deployment/cart",
                          "--type=merge", "-p", json.dumps(leak))
    scene.rollout("cart")
    memory = 'max by (deployment) (demo_memory_bytes{{namespace="{ns}"}})'
    eventually(lambda: scene.query(memory).get("cart"), lambda v: v > 300 * 2**20,
               "memory of the leaking cart")

    scene.cluster.kubectl("rollout", "restart", "-n", scene.namespace, "deployment/cart")
    scene.rollout("cart")
    eventually(lambda: scene.query(memory).get("cart"), lambda v: v < 250 * 2**20,
               "memory of cart after the restart")

    # Diagnosis must not blame the restart as a change: its template differs only by the
    # restartedAt annotation that kubectl adds.
    sets = json.loads(scene.cluster.kubectl(
        "get", "rs", "-n", scene.namespace, "-l", "app=cart", "-o", "json").stdout)["items"]
    revisions = revisions_from_replicasets(sets)
    assert [(r.number, r.template_changed) for r in revisions] == [
        (1, True), (2, True), (3, False)]


def test_a_leak_of_the_template_is_oom_killed_until_the_limit_is_above_its_plateau(
        scene: Scene) -> None:
    leak = {"demo.kubeheal.io/fault": "leak", "demo.kubeheal.io/leak-mib-per-second": "20",
            "demo.kubeheal.io/leak-plateau-mib": "200"}
    name = "session"

    def deploy(limit: str) -> None:
        manifest = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "labels": {"app": name, "kubeheal.io/demo": "true"}},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": {
                "metadata": {"labels": {"app": name}, "annotations": leak},
                "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1",
                                         "resources": {"limits": {"memory": limit}}}]}}},
        }
        scene.cluster.kubectl("apply", "-n", scene.namespace, "-f", "-",
                              input=json.dumps(manifest))
        scene.rollout(name)

    def pods() -> list[Any]:
        items: list[Any] = json.loads(scene.cluster.kubectl(
            "get", "pods", "-n", scene.namespace, "-l", f"app={name}", "-o", "json").stdout
        )["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def restarts() -> list[int]:
        return [s["restartCount"] for p in pods() for s in p["status"]["containerStatuses"]]

    # 100 MiB + 20 MiB/s reaches 150Mi in 2.5 s: each pod is killed, starts again and is
    # killed again; kwok leaves the status the demo writes alone.
    deploy("150Mi")
    eventually(lambda: float(min(restarts(), default=0)), lambda n: n >= 2,
               "two OOM kills of every pod")
    (status,) = pods()[0]["status"]["containerStatuses"]
    assert status["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert status["lastState"]["terminated"]["exitCode"] == 137
    assert "running" in status["state"] and status["ready"] is True
    events = json.loads(scene.cluster.kubectl(
        "get", "events", "-n", scene.namespace, "--field-selector=reason=OOMKilling", "-o",
        "json").stdout)["items"]
    assert {e["involvedObject"]["name"] for e in events} >= {
        p["metadata"]["name"] for p in pods()}

    # Above the plateau the new pods level off at 200 MiB, and are never killed.
    deploy("512Mi")
    memory = 'max by (deployment) (demo_memory_bytes{{namespace="{ns}",deployment="session"}})'
    eventually(lambda: scene.query(memory).get(name), lambda v: v > 190 * 2**20,
               "memory of the resized pods at their plateau")
    assert all(p["spec"]["containers"][0]["resources"]["limits"]["memory"] == "512Mi"
               for p in pods())
    assert max(restarts(), default=0) == 0
