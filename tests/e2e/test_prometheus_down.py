"""Prometheus stops right after the action: verification has no data, which is inconclusive,
not a failure. The remediation waits in Verifying with an Inconclusive condition, then goes to
humans (Escalated, reason Inconclusive); no second action is ever taken."""

from __future__ import annotations

import pytest

from loopstack import TERMINAL, Json, LoopStack, timeline

pytestmark = pytest.mark.stack

TOKEN = "kubeheal.io/action-token"


def test_prometheus_stopped_after_the_action_escalates_as_inconclusive(loop: LoopStack) -> None:
    ns, name = "promdown", "inventory"
    loop.watch(ns, name, verification={"windowSeconds": 20, "rolloutTimeoutSeconds": 30})
    loop.inject_bad_rollout(ns, name)
    acted = loop.wait_for_phase(ns, {"Verifying", *TERMINAL}, 180)
    loop.prometheus.stop()
    try:
        assert acted["status"]["phase"] == "Verifying", timeline(acted)

        def inconclusive() -> Json | None:
            return next((r for r in loop.remediations(ns)
                         if _condition(r, "Inconclusive").get("status") == "True"), None)

        waiting = loop.wait_for("an Inconclusive condition", inconclusive, 90)
        assert waiting["status"]["phase"] == "Verifying", timeline(waiting)
        assert _condition(waiting, "Inconclusive")["reason"] == "PrometheusUnavailable"
        done = loop.wait_for_phase(ns, TERMINAL, 180)
    finally:
        loop.prometheus.restart()
    status = done["status"]
    assert status["phase"] == "Escalated", timeline(done)
    assert _condition(done, "Ready")["reason"] == "Inconclusive"
    assert status["verification"]["result"] == "inconclusive"
    # Exactly one action: the rollback decided first; nothing after it.
    assert [e["outcome"] for e in status["executions"]] == ["executed"]
    assert status["triedActions"] == [status["action"]["name"]]
    assert "intent" not in status or status["intent"] is None
    token = loop.deployment(ns, name)["metadata"]["annotations"][TOKEN]
    assert token == status["executions"][0]["intent"]["token"]
    assert len(loop.remediations(ns)) == 1
    loop.kubectl("delete", "runbook", name, "-n", ns)


def _condition(remediation: Json, type_: str) -> Json:
    found: Json = next((c for c in (remediation.get("status") or {}).get("conditions", [])
                        if c["type"] == type_), {})
    return found
