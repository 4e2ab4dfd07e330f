"""The demo service's pure edges: Kubernetes objects to model facts, and the exposition that
Prometheus scrapes (names, labels, types, monotonic counters)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kubeheal.demo.model import DEFAULT_MEMORY_LIMIT, MIB, Fault, Simulation
from kubeheal.demo.service import (
    demo_registry,
    parse_quantity,
    pod_facts_from,
    workload_from,
)

START = "2026-11-28T12:00:00Z"


def pod_json(name: str, *, phase: str = "Running", ready: bool = True,
             annotations: dict[str, str] | None = None, image: str = "app:1",
             limits: dict[str, str] | None = None, deleting: bool = False,
             restarts: int = 0) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "shop",
                            "annotations": annotations or {}, "creationTimestamp": START}
    if deleting:
        meta["deletionTimestamp"] = START
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": "app", "image": image,
                                 "resources": {"limits": limits or {}}}]},
        "status": {
            "phase": phase, "startTime": START,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "app", "restartCount": restarts}],
        },
    }


def deployment_json(annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "checkout", "namespace": "shop",
                         "annotations": annotations or {}},
            "spec": {"selector": {"matchLabels": {"app": "checkout"}}}}


@pytest.mark.parametrize(("text", "expected"), [
    ("512Mi", 512 * MIB), ("1Gi", 1024 * MIB), ("1G", 1e9), ("100", 100.0), ("500m", 0.5),
    ("1.5Gi", 1536 * MIB), ("", None), ("Mi", None), ("12XB", None),
])
def test_parse_quantity(text: str, expected: float | None) -> None:
    assert parse_quantity(text) == expected


def test_pod_facts_from_a_running_pod() -> None:
    facts = pod_facts_from(
        pod_json("checkout-1", image="app:2-bad", limits={"memory": "1Gi"}, restarts=2),
        "checkout",
    )
    assert facts is not None
    assert (facts.namespace, facts.deployment, facts.pod) == ("shop", "checkout", "checkout-1")
    assert facts.fault is Fault.BAD_BUILD
    assert facts.memory_limit == 1024 * MIB
    assert facts.restarts == 2
    assert facts.ready
    assert facts.started_at == 1_795_867_200.0


def test_pod_facts_defaults_and_leak_rate() -> None:
    facts = pod_facts_from(pod_json("p", annotations={
        "demo.kubeheal.io/fault": "leak", "demo.kubeheal.io/leak-mib-per-second": "5"}), "d")
    assert facts is not None
    assert facts.fault is Fault.LEAK
    assert facts.leak_rate == 5 * MIB
    assert facts.memory_limit == DEFAULT_MEMORY_LIMIT


def test_pending_pods_are_left_out_and_terminating_ones_not_ready() -> None:
    assert pod_facts_from(pod_json("p", phase="Pending"), "d") is None
    terminating = pod_facts_from(pod_json("p", deleting=True), "d")
    assert terminating is not None and not terminating.ready
    unready = pod_facts_from(pod_json("p", ready=False), "d")
    assert unready is not None and not unready.ready


def test_workload_from_reads_load_and_capacity_annotations() -> None:
    w = workload_from(
        deployment_json({"demo.kubeheal.io/load": "200", "demo.kubeheal.io/capacity": "bogus"}),
        [pod_json("b"), pod_json("a"), pod_json("c", phase="Succeeded")],
    )
    assert (w.load, w.capacity) == (200.0, 40.0)
    assert [p.pod for p in w.pods] == ["a", "b"]


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_exposition_names_labels_and_monotonic_counters() -> None:
    clock = [1_800_000_000.0]
    sim = Simulation(seed=1)
    registry = demo_registry(sim, threading.Lock(), lambda: clock[0])
    sim.observe([workload_from(deployment_json({"demo.kubeheal.io/load": "30"}),
                               [pod_json("a"), pod_json("b")])], clock[0])

    clock[0] += 2
    first = families(generate_latest(registry).decode())
    clock[0] += 3
    second = families(generate_latest(registry).decode())

    assert first["demo_http_requests"].type == "counter"
    assert first["demo_http_request_duration_seconds"].type == "histogram"
    assert first["demo_memory_bytes"].type == "gauge"
    assert first["demo_pod_restarts"].type == "counter"

    def requests(fams: dict[str, Any]) -> dict[tuple[str, str], float]:
        return {(s.labels["pod"], s.labels["code"]): s.value
                for s in fams["demo_http_requests"].samples if s.name.endswith("_total")}

    r1, r2 = requests(first), requests(second)
    assert set(r1) == {(p, c) for p in "ab" for c in ("200", "500")}
    assert all(r2[k] >= r1[k] for k in r1)
    assert sum(r2.values()) - sum(r1.values()) == pytest.approx(30.0 * 3)

    sample = second["demo_memory_bytes"].samples[0]
    assert set(sample.labels) == {"namespace", "deployment", "pod"}
    assert sample.labels["namespace"] == "shop" and sample.labels["deployment"] == "checkout"
    les = [s.labels["le"] for s in second["demo_http_request_duration_seconds"].samples
           if s.name.endswith("_bucket") and s.labels["pod"] == "a"]
    assert les[0] == "0.005" and les[-2] == "5.0" and les[-1] == "+Inf"
