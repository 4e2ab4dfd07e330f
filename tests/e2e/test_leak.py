"""A memory leak is restarted away, and the restart verified."""

from __future__ import annotations

import pytest

from loopstack import OPEN, TERMINAL, LoopStack, record_timing, timeline

pytestmark = pytest.mark.stack


def test_memory_leak_is_restarted_and_verified(loop: LoopStack) -> None:
    ns, name = "leak", "cart"
    loop.watch(ns, name)

    # The running pods leak: memory doubles (100 MiB more), short of the pressure that
    # slows a pod down and makes it fail.
    fault = loop.inject_leak(ns, name, grown_mib=100)
    opened = loop.wait_for_phase(ns, {*OPEN, *TERMINAL}, 90)
    assert "memory" in {e["signal"] for e in opened["spec"]["trigger"]["evidence"]}
    causes = [c["cause"] for c in opened["spec"]["diagnosis"]["candidates"]]
    assert "resource-exhaustion" in causes, opened["spec"]["diagnosis"]

    done = loop.wait_for_phase(ns, TERMINAL, 240)
    record_timing("memory leak", fault, done)
    assert done["status"]["phase"] == "Succeeded", timeline(done)
    status = done["status"]
    assert status["action"]["kind"] == "restart"
    assert [e["outcome"] for e in status["executions"]] == ["executed"]
    assert status["verification"]["result"] == "succeeded"
    assert len(loop.remediations(ns)) == 1

    # The restarted pods come from the template, which does not leak.
    running = loop.pods(ns, name)
    assert running
    assert not any((p["metadata"].get("annotations") or {}).get("demo.kubeheal.io/fault")
                   for p in running)
    loop.kubectl("delete", "runbook", name, "-n", ns)
