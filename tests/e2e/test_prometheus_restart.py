"""Prometheus restarts under a healthy workload: its samples have a gap of a few scrapes, and
for a few ticks the signals' range windows span it (rates read low). No incident opens: the
runbook waits until its windows lie past the gap (PrometheusSettling), then scores again.

Besides the demo's signals the runbook watches the rate of requests served well, bad when it
falls: what a rate read over the gap would look like."""

from __future__ import annotations

import time

import pytest

from loopstack import Json, LoopStack, demo_runbook

pytestmark = pytest.mark.stack

DOWN_SECONDS = 12  # two scrapes missed at the stack's 5 s scrape interval
WATCH_SECONDS = 90  # the settling time, then the debounce window many times over


def test_a_prometheus_restart_opens_no_incident(loop: LoopStack) -> None:
    ns, name = "promrestart", "stock"
    served = {"name": "served", "role": "other", "badDirection": "down",
              "minRelativeDeviation": 0.2,
              "query": 'sum by (namespace, deployment) '
                       '(rate(demo_http_requests_total{code!~"5.."}[20s]))'}
    loop.watch(ns, name, signals=[*demo_runbook(name, ns)["spec"]["signals"], served])
    assert loop.remediations(ns) == []
    loop.prometheus.stop()
    time.sleep(DOWN_SECONDS)
    loop.prometheus.start(port=loop.prometheus.port)
    deadline = time.monotonic() + WATCH_SECONDS
    while time.monotonic() < deadline:
        assert loop.remediations(ns) == [], loop.diagnostics()
        time.sleep(2)
    settling = [e for e in loop.events(ns, "PrometheusSettling")
                if e["involvedObject"]["name"] == name]
    assert settling, loop.diagnostics()
    degraded = _condition(loop.runbook(ns, name), "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("False", "Evaluated"), degraded
    loop.kubectl("delete", "runbook", name, "-n", ns)


def _condition(body: Json, type_: str) -> Json:
    found: Json = next((c for c in (body.get("status") or {}).get("conditions", [])
                        if c["type"] == type_), {})
    return found
