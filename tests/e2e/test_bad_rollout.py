"""A bad rollout is detected, diagnosed as a change, rolled back, and verified against the SLO."""

from __future__ import annotations

import datetime as dt

import pytest

from loopstack import OPEN, TERMINAL, LoopStack, record_timing, timeline

pytestmark = pytest.mark.stack


def test_bad_rollout_is_rolled_back_and_verified(loop: LoopStack) -> None:
    ns, name = "rollout", "checkout"
    loop.watch(ns, name)

    fault = loop.inject_bad_rollout(ns, name)
    opened = loop.wait_for_phase(ns, {*OPEN, *TERMINAL}, 90)
    assert opened["spec"]["diagnosis"]["cause"] == "change"
    assert {e["signal"] for e in opened["spec"]["trigger"]["evidence"]} & {"error-ratio",
                                                                          "latency-p99"}
    # The model that raised the alarm is on the record.
    models = [e["detector"] for e in opened["spec"]["trigger"]["evidence"]]
    assert all(m["name"] == "novelty" and m["version"] and m["warm"] for m in models), models
    done = loop.wait_for_phase(ns, TERMINAL, 240)
    record_timing("bad rollout", fault, done)
    assert done["status"]["phase"] == "Succeeded", timeline(done)
    status = done["status"]
    assert status["action"]["kind"] == "rollback"
    assert [e["outcome"] for e in status["executions"]] == ["executed"]
    # Labelled with the hour of its action, which the namespace's rate limit selects by.
    acted = dt.datetime.fromisoformat(status["executions"][0]["completedAt"])
    assert done["metadata"]["labels"]["kubeheal.io/acted-hour"] in {
        (acted - dt.timedelta(hours=h)).strftime("%Y%m%d%H") for h in (0, 1)}
    assert status["verification"]["result"] == "succeeded"
    assert "SLO" in status["verification"]["message"]
    steps = [step for _, step, _ in timeline(done)]
    for step in ("detected", "diagnosed", "decided", "gated", "acted", "verified"):
        assert step in steps, timeline(done)
    assert len(loop.remediations(ns)) == 1

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
    loop.kubectl("delete", "runbook", name, "-n", ns)
