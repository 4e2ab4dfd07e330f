"""Learning within guardrails: for a workload whose saturation a restart never fixed and a
scale-out always did, a runbook that lists the restart first, with learning set to reorder,
scales out first, says why, and counts the verified outcome into the statistics it learns
from.

The statistics start seeded (twelve incidents each way, written as the operator writes them),
so that the scenario is one incident long."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from typing import Any

import pytest

from localstack import binary
from loopstack import OPEN, TERMINAL, LoopStack, record_timing, timeline

pytestmark = pytest.mark.stack

ACTIONS = [
    {"name": "restart-pods", "kind": "restart", "when": {"causes": ["saturation"]}},
    {"name": "scale-out", "kind": "scale", "when": {"causes": ["saturation"]},
     "scale": {"minReplicas": 2, "maxReplicas": 5, "step": 3}},
]
RUNS = 12


def seeded_outcomes() -> dict[str, Any]:
    """What twelve saturation incidents of this runbook left: each first restarted in vain,
    then scaled out and verified."""
    actions = [
        {"cause": "saturation", "action": "restart-pods", "kind": "restart", "failed": RUNS},
        {"cause": "saturation", "action": "scale-out", "kind": "scale", "succeeded": RUNS},
    ]
    counts = {"incidents": RUNS, "outcomes": {"verified": RUNS}, "autonomous": RUNS,
              "causes": {"saturation": RUNS}, "actions": actions}
    day = dt.datetime.now(dt.UTC).date().isoformat()
    return {"totals": counts, "days": [{"day": day, **counts}]}


def test_scale_is_tried_first_once_outcomes_say_restart_never_helps(loop: LoopStack) -> None:
    ns, name = "learning", "recommend"
    # Saturation is told by load rising with latency: the load detector needs a calibrated
    # history of healthy load (as in the saturation scenario).
    loop.wait_for("two minutes of healthy history",
                  lambda: _age(loop.deployment(ns, name)) >= 120, 240, poll=5)
    loop.watch(ns, name, actions=ACTIONS, learning={"mode": "reorder"})
    assert loop.operator_kubeconfig is not None
    subprocess.run(
        [binary("kubectl"), f"--kubeconfig={loop.operator_kubeconfig}", "patch", "runbook",
         name, "-n", ns, "--subresource=status", "--type=merge", "-p",
         json.dumps({"status": {"outcomes": seeded_outcomes()}})],
        capture_output=True, text=True, timeout=300, check=True)

    fault = loop.set_load(ns, name, 110)
    opened = loop.wait_for_phase(ns, {*OPEN, *TERMINAL}, 180)
    assert opened["spec"]["diagnosis"]["cause"] == "saturation", opened["spec"]["diagnosis"]

    done = loop.wait_for_phase(ns, TERMINAL, 300)
    record_timing("learned order", fault, done)
    status = done["status"]
    assert status["phase"] == "Succeeded", timeline(done)
    # the restart, first in the runbook, never ran
    assert [(e["intent"]["action"]["name"], e["outcome"]) for e in status["executions"]] == \
        [("scale-out", "executed")], timeline(done)
    assert loop.deployment(ns, name)["spec"]["replicas"] == 5
    why = (f"scale-out before restart-pods: {RUNS} of {RUNS} verified for saturation in this "
           f"runbook (restart-pods: 0 of {RUNS})")
    assert status["learning"] == {
        "mode": "reorder", "cause": "saturation", "runbookOrder": ["restart-pods", "scale-out"],
        "learnedOrder": ["scale-out", "restart-pods"], "reason": why}
    decided = [message for _, step, message in timeline(done) if step == "decided"]
    assert decided[0] == f"learned order scale-out, restart-pods: {why}", decided
    assert any(why in e["message"] for e in loop.events(ns, "LearnedOrder"))
    # the policy engine judged the learned choice like any other
    assert status["policy"]["allow"] is True
    labels = {"namespace": ns, "runbook": name, "mode": "reorder", "changed": "true"}
    counted = [line.rsplit(" ", 1)[1] for line in loop.operator_metrics().splitlines()
               if line.startswith("kubeheal_learned_decisions_total{")
               and all(f'{k}="{v}"' in line for k, v in labels.items())]
    assert counted == ["1.0"], counted

    # the verified outcome counts into the statistics the next decision learns from
    def scale_outs() -> int:
        outcomes = (loop.runbook(ns, name).get("status") or {}).get("outcomes") or {}
        return next((a.get("succeeded", 0) for a in outcomes.get("totals", {}).get("actions", [])
                     if (a["cause"], a["action"]) == ("saturation", "scale-out")), 0)

    loop.wait_for("the scale-out to be counted", lambda: scale_outs() == RUNS + 1, 120)
    loop.kubectl("delete", "runbook", name, "-n", ns)


def _age(deployment: dict[str, Any]) -> float:
    created = dt.datetime.fromisoformat(deployment["metadata"]["creationTimestamp"])
    return (dt.datetime.now(dt.UTC) - created).total_seconds()
