"""A bad rollout is detected, diagnosed as a change, rolled back, and verified against the SLO;
its outcome is counted once in the runbook's statistics, which ``kubeheal report`` reads. The
same bad rollout under a runbook in dry-run is only recorded, and its evidence (what it would
have done, confirmed by the workload still failing afterwards) is counted alike."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from loopstack import OPEN, ROOT, TERMINAL, Json, LoopStack, record_timing, timeline

pytestmark = pytest.mark.stack


def test_bad_rollout_is_rolled_back_and_verified(loop: LoopStack) -> None:
    ns, name, trial = "rollout", "checkout", "checkout-trial"
    loop.watch(ns, name)
    loop.watch(ns, trial, mode="dry-run")

    fault = loop.inject_bad_rollout(ns, name)
    loop.inject_bad_rollout(ns, trial)
    opened = loop.wait_for_phase(ns, {*OPEN, *TERMINAL}, 90, target=name)
    assert opened["spec"]["diagnosis"]["cause"] == "change"
    assert {e["signal"] for e in opened["spec"]["trigger"]["evidence"]} & {"error-ratio",
                                                                          "latency-p99"}
    # The model that raised the alarm is on the record.
    models = [e["detector"] for e in opened["spec"]["trigger"]["evidence"]]
    assert all(m["name"] == "novelty" and m["version"] and m["warm"] for m in models), models
    done = loop.wait_for_phase(ns, TERMINAL, 240, target=name)
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
    assert len(loop.remediations(ns, name)) == 1

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

    # The outcome is counted in the runbook's status, then the Remediation marked counted.
    counted = loop.wait_for("the outcome to be counted", lambda: _recorded(loop, ns, name), 60)
    outcomes = loop.runbook(ns, name)["status"]["outcomes"]
    totals = outcomes["totals"]
    assert totals["incidents"] == 1 and totals["outcomes"] == {"verified": 1}
    assert totals["autonomous"] == 1 and totals["causes"] == {"change": 1}
    assert [(a["cause"], a["kind"], a["succeeded"], a["failed"]) for a in totals["actions"]] == [
        ("change", "rollback", 1, 0)]
    assert totals["timeToRecover"]["count"] == 1 and totals["timeToDetect"]["count"] == 1
    assert outcomes["recentlyCounted"] == [counted["metadata"]["uid"]]
    assert [d["incidents"] for d in outcomes["days"]] == [1]

    # The dry run: what it would have done, confirmed by the workload still failing one
    # verification window later (nothing was done about it).
    evidence = loop.wait_for("the dry run's outcome to be counted", lambda: (
        (loop.runbook(ns, trial).get("status") or {}).get("outcomes") or {}).get("totals"), 120)
    assert set(evidence["outcomes"]) == {"dry-run"}
    seen = evidence["dryRun"]["incidents"]
    assert evidence["dryRun"]["wouldHaveDone"] == {"rollback roll-back-bad-release": seen}
    assert evidence["dryRun"]["confirmed"] == seen and evidence["falseAlarms"] == 0
    assert all(e.get("outcome") != "executed"
               for r in loop.remediations(ns, trial)
               for e in (r.get("status") or {}).get("executions", []))

    report = _kubeheal(loop, "report", "-n", ns, "-o", "json")
    assert report.returncode == 0, report.stderr
    figures = json.loads(report.stdout)
    runbooks = {f["runbook"]: f for f in figures["runbooks"]}
    overall = runbooks[name]
    assert overall["incidents"] == 1 and overall["autonomous_share"] == 1.0
    assert runbooks[trial]["dry_run_confirmed"] >= 1
    assert runbooks[trial]["would_have_done"] == {
        "rollback roll-back-bad-release": runbooks[trial]["dry_run_incidents"]}
    onset = dt.datetime.fromisoformat(done["spec"]["trigger"]["startedAt"])
    recovered_after = (recovered - onset).total_seconds()
    assert abs(overall["time_to_recover"]["p50"] - recovered_after) / recovered_after < 0.15
    assert figures["coverage"]["deployments"] == 2 and figures["coverage"]["slo_share"] == 1.0
    assert [s["name"] for s in figures["slos"]] == [f"{name}-availability",
                                                     f"{trial}-availability"]
    table = _kubeheal(loop, "report", "-n", ns)
    assert table.returncode == 0 and "Dry-run runbooks" in table.stdout, table.stderr
    print(table.stdout)
    loop.wait_for("the outcome metrics", lambda: _gauge(
        loop.operator_metrics(), "kubeheal_outcome_incidents",
        {"namespace": ns, "runbook": name, "outcome": "verified"}) == 1, 60)
    for runbook in (name, trial):
        loop.kubectl("delete", "runbook", runbook, "-n", ns)


def _recorded(loop: LoopStack, namespace: str, name: str) -> Json | None:
    remediation = loop.remediations(namespace, name)[0]
    marks = remediation["metadata"].get("annotations") or {}
    return remediation if marks.get("kubeheal.io/outcome-recorded") == "true" else None


def _gauge(metrics: str, name: str, labels: dict[str, str]) -> float | None:
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                return float(sample.value)
    return None


def _kubeheal(loop: LoopStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "operator")}
    return subprocess.run([sys.executable, "-m", "kubeheal.cli", *args, "--kubeconfig",
                           str(loop.kubeconfig)], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
