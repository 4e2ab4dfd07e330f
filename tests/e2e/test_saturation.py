"""Saturation is scaled out within the runbook's bounds, and the scale-out verified."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from loopstack import OPEN, TERMINAL, LoopStack, record_timing, timeline

pytestmark = pytest.mark.stack

ACTIONS = [
    {"name": "roll-back-bad-release", "kind": "rollback", "when": {"causes": ["change"]}},
    {"name": "restart-leaking-pods", "kind": "restart",
     "when": {"causes": ["resource-exhaustion"]}},
    # 3 + 3 would be 6 replicas: the bound keeps it at 5.
    {"name": "scale-out", "kind": "scale", "when": {"causes": ["saturation"]},
     "scale": {"minReplicas": 2, "maxReplicas": 5, "step": 3}},
]


def test_saturation_is_scaled_out_within_bounds(loop: LoopStack) -> None:
    ns, name = "saturation", "search"
    # Saturation is told from a fault by load rising with latency: the load detector needs a
    # calibrated history of healthy load, which a stack started moments ago does not have yet.
    loop.wait_for("two minutes of healthy history",
                  lambda: _age(loop.deployment(ns, name)) >= 120, 240, poll=5)
    loop.watch(ns, name, actions=ACTIONS)

    # 110 requests/s on 3 pods of capacity 40: the queues fill and latency soars.
    fault = loop.set_load(ns, name, 110)
    opened = loop.wait_for_phase(ns, {*OPEN, *TERMINAL}, 90)
    assert opened["spec"]["diagnosis"]["cause"] == "saturation", opened["spec"]["diagnosis"]

    done = loop.wait_for_phase(ns, TERMINAL, 240)
    record_timing("saturation", fault, done)
    assert done["status"]["phase"] == "Succeeded", timeline(done)
    status = done["status"]
    assert status["action"]["kind"] == "scale"
    assert status["action"]["params"]["replicas"] == "5"
    assert [e["outcome"] for e in status["executions"]] == ["executed"]
    assert loop.deployment(ns, name)["spec"]["replicas"] == 5
    assert len(loop.remediations(ns)) == 1
    loop.kubectl("delete", "runbook", name, "-n", ns)


def _age(deployment: dict[str, Any]) -> float:
    created = dt.datetime.fromisoformat(deployment["metadata"]["creationTimestamp"])
    return (dt.datetime.now(dt.UTC) - created).total_seconds()
