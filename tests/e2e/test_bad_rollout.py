"""A bad rollout is detected, diagnosed as a change, rolled back, and verified against the SLO."""

from __future__ import annotations

import datetime as dt

import pytest

from loopstack import LoopStack, demo_deployment, demo_runbook, demo_slo, timeline

pytestmark = pytest.mark.stack

WARM = 75  # seconds of healthy traffic before the fault: past the detectors' warm-up


def test_bad_rollout_is_rolled_back_and_verified(loop: LoopStack) -> None:
    ns, name = "rollout", "checkout"
    loop.apply(ns, demo_deployment(name), demo_slo(name, ns), demo_runbook(name, ns))
    loop.wait_available(ns, name)
    loop.wait_for("the runbook's streams to be warm", lambda: _warm(loop, ns, name), WARM * 2)

    fault = loop.inject_bad_rollout(ns, name)
    opened = loop.wait_for_phase(ns, {"Detected", "Executing", "Verifying", "Succeeded"}, 60)
    assert opened["spec"]["diagnosis"]["cause"] == "change"
    assert {e["signal"] for e in opened["spec"]["trigger"]["evidence"]} & {"error-ratio",
                                                                          "latency-p99"}
    done = loop.wait_for_phase(ns, {"Succeeded", "Escalated", "Blocked"}, 180)
    assert done["status"]["phase"] == "Succeeded", timeline(done)
    status = done["status"]
    assert status["action"]["kind"] == "rollback"
    assert [e["outcome"] for e in status["executions"]] == ["executed"]
    assert status["verification"]["result"] == "succeeded"
    assert "SLO" in status["verification"]["message"]
    steps = [step for _, step, _ in timeline(done)]
    for step in ("detected", "diagnosed", "decided", "gated", "acted", "verified"):
        assert step in steps

    # The template is the good one again, under a new revision.
    template = loop.kubectl("get", "deployment", name, "-n", ns, "-o",
                            "jsonpath={.spec.template.metadata.annotations}").stdout
    assert "bad-build" not in template
    created = dt.datetime.fromisoformat(done["metadata"]["creationTimestamp"])
    recovered = dt.datetime.fromisoformat(status["completedAt"])
    print(f"time to detect {(created - fault).total_seconds():.1f}s, "
          f"time to recover {(recovered - fault).total_seconds():.1f}s")
    metrics = loop.operator_metrics()
    assert 'kubeheal_actions_total{kind="rollback",namespace="rollout",outcome="executed"' \
        in metrics


def _warm(loop: LoopStack, ns: str, name: str) -> bool:
    out = loop.kubectl("get", "runbook", name, "-n", ns, "-o",
                       "jsonpath={.status.warmup.readyStreams}/{.status.warmup.totalStreams}",
                       check=False).stdout
    ready, _, total = out.partition("/")
    return bool(total) and total != "0" and ready == total
