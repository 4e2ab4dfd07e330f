"""A runbook over 1,500 Deployments keeps a valid, bounded status with the right counts.

The CRD once listed every watched workload in the status, capped at 1,000 items: past that
every status write was refused and the runbook showed nothing. Here one runbook selects 1,500
zero-replica Deployments, each with one signal served by a static exporter on loopback and
scraped by the real Prometheus, three of them past the signal's threshold; the operator runs
as the chart's identity. Its status must count all of them and name only a bounded sample,
the workloads in alarm first.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kubernetes import client

from kubeheal.api.runbook import WORKLOAD_SAMPLE_SIZE, RunbookStatus
from kubeheal.observe.kubernetes import api_client_from_kubeconfig
from loopstack import TERMINAL, LoopStack

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

NAMESPACE = "bounded"
WORKLOADS = tuple(f"w-{i:04}" for i in range(1500))
IN_ALARM = ("w-0007", "w-0700", "w-1499")


def exposition() -> bytes:
    """One series per workload: 1 for the healthy ones, 5 (past the threshold) for three."""
    lines = ["# TYPE bounded_level gauge"] + [
        f'bounded_level{{namespace="{NAMESPACE}",deployment="{w}"}} '
        f'{5 if w in IN_ALARM else 1}' for w in WORKLOADS]
    return ("\n".join(lines) + "\n").encode()


class Exporter(http.server.BaseHTTPRequestHandler):
    body = exposition()

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_: Any) -> None:
        return


def deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name, "fleet": "bounded"}},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app",
                                                       "image": "registry.example/app:1"}]}}},
    }


RUNBOOK = {
    "apiVersion": "kubeheal.io/v1alpha1", "kind": "Runbook",
    "metadata": {"name": "fleet", "namespace": NAMESPACE},
    "spec": {
        "selector": {"matchLabels": {"fleet": "bounded"}},
        "signals": [{"name": "level", "role": "errors", "threshold": 2,
                     "query": "sum by (namespace, deployment) (bounded_level)"}],
        "detection": {"warmupPoints": 1, "historySeconds": 0, "debounceK": 1, "debounceN": 1},
        "actions": [{"name": "restart", "kind": "restart"}],
        "guardrails": {"maxConcurrentRemediations": 1000},
        "mode": "dry-run",
        "intervalSeconds": 5,
    },
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopStack]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Exporter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    loop = LoopStack(tmp_path_factory.mktemp("bounded"), (NAMESPACE,), scrape_interval="2s",
                     extra_targets=(f"127.0.0.1:{server.server_address[1]}",))
    try:
        loop.start()
        api = client.AppsV1Api(api_client_from_kubeconfig(loop.kubeconfig))
        with ThreadPoolExecutor(16) as pool:  # concurrent creates: 1,500 in well under a minute
            list(pool.map(lambda w: api.create_namespaced_deployment(NAMESPACE, deployment(w)),
                          WORKLOADS))
        loop.start_operator()
        yield loop
    finally:
        loop.stop()
        server.shutdown()


def test_a_runbook_over_1500_workloads_has_a_bounded_status_with_the_right_counts(
        stack: LoopStack) -> None:
    stack.apply(NAMESPACE, RUNBOOK)

    def counted() -> dict[str, Any] | None:
        status: dict[str, Any] = stack.runbook(NAMESPACE, "fleet").get("status") or {}
        workloads, warmup = status.get("workloads") or {}, status.get("warmup") or {}
        done = (workloads.get("watched") == len(WORKLOADS)
                and warmup.get("readyStreams") == warmup.get("totalStreams") == len(WORKLOADS)
                and workloads.get("inAlarm") == len(IN_ALARM))
        return status if done else None

    status = stack.wait_for("every workload counted, warm, three in alarm", counted, 240)
    RunbookStatus.model_validate(status)  # what the CRD holds is what the API describes
    sample = status["workloads"]["sample"]
    assert len(sample) == WORKLOAD_SAMPLE_SIZE
    assert sorted(w["name"] for w in sample[:len(IN_ALARM)]) == sorted(IN_ALARM)
    assert all(w["inAlarm"] and w["score"] > 0.99 for w in sample[:len(IN_ALARM)])
    rest = sample[len(IN_ALARM):]
    assert not any(w["inAlarm"] for w in rest)
    order = [(-w.get("score", -1.0), w["name"]) for w in rest]  # highest score, then by name
    assert order == sorted(order)

    # One incident per workload in alarm; the dry runs close, and the count follows.
    def closed() -> list[dict[str, Any]] | None:
        items = stack.remediations(NAMESPACE)
        done = len(items) == len(IN_ALARM) and all(
            (r.get("status") or {}).get("phase") in TERMINAL for r in items)
        return items if done else None

    remediations = stack.wait_for("the three dry runs to close", closed, 180)
    assert sorted(r["spec"]["target"]["name"] for r in remediations) == sorted(IN_ALARM)
    stack.wait_for("no open remediation counted",
                   lambda: stack.runbook(NAMESPACE, "fleet")["status"].get("openRemediations")
                   == 0, 60)
    printed = stack.kubectl("get", "runbook", "fleet", "-n", NAMESPACE, "-o", "wide").stdout
    assert "1500" in printed, printed
    assert json.loads(stack.kubectl("get", "runbook", "fleet", "-n", NAMESPACE, "-o",
                                    "json").stdout)["status"]["workloads"]["inAlarm"] == 3
