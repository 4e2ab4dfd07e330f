"""Two runbooks on two workloads of one namespace, both in trouble at once: each incident is
handled on its own workload with its own action, and neither touches the other."""

from __future__ import annotations

import pytest

from loopstack import TERMINAL, LoopStack, record_timing, timeline

pytestmark = pytest.mark.stack

TOKEN = "kubeheal.io/action-token"


def test_two_runbooks_at_once(loop: LoopStack) -> None:
    ns, front, back = "pair", "front", "back"
    loop.watch(ns, front)
    loop.watch(ns, back)

    faults = {front: loop.inject_bad_rollout(ns, front),
              back: loop.inject_leak(ns, back, grown_mib=100)}
    done = {name: loop.wait_for_phase(ns, TERMINAL, 300, target=name) for name in faults}
    record_timing("two at once: bad rollout", faults[front], done[front])
    record_timing("two at once: memory leak", faults[back], done[back])
    for remediation in done.values():
        assert remediation["status"]["phase"] == "Succeeded", timeline(remediation)
    assert done[front]["status"]["action"]["kind"] == "rollback"
    assert done[back]["status"]["action"]["kind"] == "restart"
    for name in faults:
        mine = loop.remediations(ns, name)
        assert len(mine) == 1
        assert mine[0]["metadata"]["labels"]["kubeheal.io/runbook"] == name
        executions = mine[0]["status"]["executions"]
        assert [e["outcome"] for e in executions] == ["executed"]
        annotations = loop.deployment(ns, name)["metadata"]["annotations"]
        assert annotations[TOKEN] == executions[0]["intent"]["token"]
    for name in faults:
        loop.kubectl("delete", "runbook", name, "-n", ns)
