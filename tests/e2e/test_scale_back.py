"""A temporary scale-out goes back: saturation is scaled out and verified; once the load is
back at its level before the incident for the hold, the replicas return to the count before,
through a scale-back of its own, gated, executed once and recorded on both incidents."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from auditlog import AuditLog
from loopstack import OPERATOR_USER, TERMINAL, Json, LoopStack, timeline

pytestmark = pytest.mark.stack

NS, NAME = "scaleback", "finder"
HOLD = 30
ACTIONS = [
    {"name": "scale-out", "kind": "scale", "when": {"causes": ["saturation"]},
     "scale": {"minReplicas": 2, "maxReplicas": 5, "step": 3,
               "scaleBack": {"holdSeconds": HOLD, "baselineSeconds": 120}}},
]


def test_a_verified_scale_out_goes_back_once_the_load_is_back(loop: LoopStack) -> None:
    # The load detector needs a calibrated history of healthy load (see test_saturation).
    loop.wait_for("two minutes of healthy history",
                  lambda: _age(loop.deployment(NS, NAME)) >= 120, 240, poll=5)
    loop.watch(NS, NAME, actions=ACTIONS)
    audit = AuditLog(loop.cluster.audit_log)
    since = dt.datetime.now(dt.UTC)

    # 110 requests/s on 3 pods of capacity 40: saturated; 5 pods serve it.
    loop.set_load(NS, NAME, 110)
    out = loop.wait_for_phase(NS, TERMINAL, 330)
    assert out["spec"]["diagnosis"]["cause"] == "saturation", out["spec"]["diagnosis"]
    assert out["status"]["phase"] == "Succeeded", timeline(out)
    assert out["status"]["action"]["params"]["replicas"] == "5"
    plan = out["status"]["scaleBack"]
    assert plan["state"] in ("Planned", "Waiting"), plan
    assert plan["loadBefore"] == pytest.approx(60, rel=0.1), plan  # the demo's 60 requests/s
    assert loop.deployment(NS, NAME)["spec"]["replicas"] == 5

    # While the load stays high, the scale-out holds.
    loop.wait_for("the way back to be checked", lambda: _plan(loop, out)["state"] == "Waiting",
                  60)
    assert loop.deployment(NS, NAME)["spec"]["replicas"] == 5

    loop.set_load(NS, NAME, 60)
    back = loop.wait_for("the scale-back to close", lambda: _scale_back(loop, out, TERMINAL),
                         300, poll=2)
    assert back["status"]["phase"] == "Succeeded", timeline(back)
    assert back["spec"]["scaleBackOf"]["remediation"] == out["metadata"]["name"]
    assert back["spec"]["scaleBackOf"]["replicas"] == 3
    action = back["status"]["action"]
    assert (action["params"]["direction"], action["params"]["replicas"]) == ("down", "3")
    assert [e["outcome"] for e in back["status"]["executions"]] == ["executed"]
    assert back["status"]["policy"]["allow"] is True
    assert loop.deployment(NS, NAME)["spec"]["replicas"] == 3

    # Recorded on the scale-out's incident, and once: the watcher stopped at the scale-back.
    plan = _plan(loop, out)
    assert (plan["state"], plan["followUp"]) == ("Opened", back["metadata"]["name"]), plan
    loop.wait_for("the scale-back's outcome to be recorded", lambda: (
        _get(loop, back["metadata"]["name"])["metadata"].get("annotations") or {}).get(
        "kubeheal.io/outcome-recorded") == "true", 120)
    assert [r["metadata"]["name"] for r in loop.remediations(NS, NAME)] == [
        out["metadata"]["name"], back["metadata"]["name"]]
    assert len(loop.events(NS, "ScaleBackOpened")) == 1
    # The evidence from the API server: two actions by the operator, out and back.
    acted = audit.workload_actions(OPERATOR_USER, NS, NAME, since=since)
    assert len(acted) == 2, [(a.verb, a.resource, a.name, a.code) for a in acted]
    assert loop.deployment(NS, NAME)["spec"]["replicas"] == 3
    loop.kubectl("delete", "runbook", NAME, "-n", NS)


def _get(loop: LoopStack, name: str) -> Json:
    return next(r for r in loop.remediations(NS, NAME) if r["metadata"]["name"] == name)


def _plan(loop: LoopStack, out: Json) -> dict[str, Any]:
    plan: dict[str, Any] = _get(loop, out["metadata"]["name"])["status"]["scaleBack"]
    return plan


def _scale_back(loop: LoopStack, out: Json, phases: tuple[str, ...]) -> Json | None:
    return next((r for r in loop.remediations(NS, NAME)
                 if (r["spec"].get("scaleBackOf") or {}).get("remediation")
                 == out["metadata"]["name"]
                 and (r.get("status") or {}).get("phase") in phases), None)


def _age(deployment: Json) -> float:
    created = dt.datetime.fromisoformat(deployment["metadata"]["creationTimestamp"])
    return (dt.datetime.now(dt.UTC) - created).total_seconds()
