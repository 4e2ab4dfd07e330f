"""Two runbooks selecting one Deployment: one incident, whatever the number of runbooks.

The API server guarantees it (the workload's IncidentClaim, written with a resourceVersion
precondition), not timing: both runbooks see the same bad rollout at the same
ticks, and the second is held back. The claim lives as long as the incident.
"""

from __future__ import annotations

import json

import pytest

from loopstack import TERMINAL, LoopStack, demo_runbook, timeline

pytestmark = pytest.mark.stack


def test_two_runbooks_one_workload_one_incident(loop: LoopStack) -> None:
    ns, name = "claim", "basket"
    twin = demo_runbook(name, ns)
    twin["metadata"]["name"] = f"{name}-twin"
    loop.watch(ns, name)
    loop.apply(ns, twin)
    loop.wait_for("the twin runbook to be warm", lambda: loop.warm(ns, f"{name}-twin"), 240)

    loop.inject_bad_rollout(ns, name)
    done = loop.wait_for_phase(ns, TERMINAL, 300, target=name)
    assert done["status"]["phase"] == "Succeeded", timeline(done)

    def held_back() -> list[str]:
        return [e["message"] for e in loop.events(ns, "IncidentHeldBack")
                if e["message"].startswith(f"{name}: ")]

    reasons = loop.wait_for("a runbook to be held back", held_back, 60)
    assert any("basket-deployment-1" in r or "at the same moment" in r or "cooling down" in r
               for r in reasons), reasons
    (only,) = loop.remediations(ns, name)
    assert only["metadata"]["name"] == "basket-deployment-1"
    assert [e["outcome"] for e in only["status"]["executions"]] == ["executed"]
    # The claim lived as long as the incident: closing it released the claim.
    claims = json.loads(loop.kubectl("get", "incidentclaims", "-n", ns, "-o", "json").stdout)
    assert claims["items"] == [], claims["items"]
    for runbook in (name, f"{name}-twin"):
        loop.kubectl("delete", "runbook", runbook, "-n", ns)
