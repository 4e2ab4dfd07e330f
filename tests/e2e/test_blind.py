"""No data, no action: a runbook whose query is bad, or whose Prometheus is down, takes no
action whatever happens to its workload, and says why in its Degraded condition."""

from __future__ import annotations

import copy
import time

import pytest

from loopstack import Json, LoopStack, demo_runbook, demo_slo, record_timing

pytestmark = pytest.mark.stack

NS = "blind"
QUIET = 25  # seconds (five evaluations) during which nothing may happen


def degraded(loop: LoopStack, name: str) -> Json | None:
    conditions = (loop.runbook(NS, name).get("status") or {}).get("conditions") or []
    found = next((c for c in conditions if c["type"] == "Degraded"), None)
    return found if found and found["status"] == "True" else None


def ready(loop: LoopStack, name: str) -> Json:
    conditions = (loop.runbook(NS, name).get("status") or {}).get("conditions") or []
    found: Json = next(c for c in conditions if c["type"] == "Ready")
    return found


def stays_quiet(loop: LoopStack, name: str, reason: str) -> None:
    deadline = time.monotonic() + QUIET
    while time.monotonic() < deadline:
        assert loop.remediations(NS, name) == []
        condition = degraded(loop, name)
        assert condition is not None and condition["reason"] == reason, condition
        time.sleep(2)


def test_bad_promql_takes_no_action(loop: LoopStack) -> None:
    name = "catalog"
    runbook = demo_runbook(name, NS)
    signals = copy.deepcopy(runbook["spec"]["signals"])
    memory = next(s for s in signals if s["name"] == "memory")
    memory["query"] = "max by (namespace, deployment) (demo_memory_bytes"  # unclosed
    loop.apply(NS, demo_slo(name, NS), demo_runbook(name, NS, signals=signals))
    condition = loop.wait_for("the runbook to be Degraded",
                              lambda: degraded(loop, name), 60)
    assert condition["reason"] == "BadQuery"
    assert "memory" in condition["message"]
    # The user must fix it: not Ready, naming the field.
    index = [s["name"] for s in signals].index("memory")
    not_ready = ready(loop, name)
    assert (not_ready["status"], not_ready["reason"]) == ("False", "BadQuery"), not_ready
    assert not_ready["message"].startswith(f"spec.signals[{index}].query: signal memory:")

    fault = loop.inject_bad_rollout(NS, name)
    stays_quiet(loop, name, "BadQuery")
    record_timing("bad PromQL", fault, None)
    loop.kubectl("delete", "runbook", name, "-n", NS)


def test_prometheus_down_takes_no_action(loop: LoopStack) -> None:
    name = "reviews"
    loop.watch(NS, name)
    loop.prometheus.stop()
    try:
        fault = loop.inject_bad_rollout(NS, name)
        condition = loop.wait_for("the runbook to be Degraded",
                                  lambda: degraded(loop, name), 60)
        assert condition["reason"] == "PrometheusUnavailable", condition
        stays_quiet(loop, name, "PrometheusUnavailable")
        # Passing trouble, not the runbook's fault: still Ready.
        assert ready(loop, name)["status"] == "True"
        record_timing("Prometheus down", fault, None)
    finally:
        # Back on the same port, with the runbook gone: later scenarios need Prometheus.
        loop.kubectl("delete", "runbook", name, "-n", NS, check=False)
        loop.prometheus.start(port=loop.prometheus.port)
