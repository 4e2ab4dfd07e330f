"""Why didn't it act? ``kubeheal explain`` answers from the operator's memory, without logs:
for a healthy workload (nothing in alarm), one in cooldown after a dry-run incident, and one
whose signal has no data; and a user who may not read the Deployment is refused."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time

import pytest

from loopstack import ROOT, Json, LoopStack, demo_runbook, demo_slo

pytestmark = pytest.mark.stack

NS = "explain"
STEADY, COOLING, BLIND = "exp-steady", "exp-cooling", "exp-blind"


def kubeheal_explain(loop: LoopStack, user: str, workload: str,
                     *args: str) -> subprocess.CompletedProcess[str]:
    """``kubeheal explain WORKLOAD -n explain`` as ``user``, a command line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "operator")}
    return subprocess.run(
        [sys.executable, "-m", "kubeheal.cli", "explain", workload, "-n", NS, *args,
         "--kubeconfig", str(loop.cluster.kubeconfig_for(user))],
        capture_output=True, text=True, env=env, timeout=300, check=False)


def explained(loop: LoopStack, workload: str) -> Json:
    done = kubeheal_explain(loop, "alice", workload, "-o", "json")
    assert done.returncode == 0, done.stderr
    answer: Json = json.loads(done.stdout)
    assert answer["workload"] == workload and answer["namespace"] == NS
    return answer


def holds(book: Json) -> dict[str, str]:
    return {h["hold"]: h["reason"] for h in book["holds"]}


def degraded_reason(loop: LoopStack, name: str) -> str | None:
    conditions = (loop.runbook(NS, name).get("status") or {}).get("conditions") or []
    found = next((c for c in conditions if c["type"] == "Degraded"), None)
    return found["reason"] if found and found["status"] == "True" else None


def test_explain_says_why_nothing_was_done(loop: LoopStack) -> None:
    # alice may read the namespace (view) and ask; bob may ask, and read nothing else.
    loop.kubectl("create", "rolebinding", "alice-views", "-n", NS, "--clusterrole=view",
                 "--user=alice")
    for user in ("alice", "bob"):
        loop.kubectl("create", "rolebinding", f"{user}-explains", "-n", NS,
                     "--clusterrole=kubeheal-explainer", f"--user={user}")

    # A signal with no data: its query answers for no workload at all.
    blind = demo_runbook(BLIND, NS)
    signals = copy.deepcopy(blind["spec"]["signals"])
    memory = next(s for s in signals if s["name"] == "memory")
    memory["query"] = 'max by (namespace, deployment) (demo_memory_bytes{deployment="none"})'
    loop.apply(NS, demo_slo(BLIND, NS), demo_runbook(BLIND, NS, signals=signals))
    loop.watch(NS, STEADY)
    loop.watch(NS, COOLING, mode="dry-run",
               guardrails={"cooldownSeconds": 900, "maxActionsPerHour": 4})

    # A dry-run incident closes at once; the workload then cools down.
    loop.inject_bad_rollout(NS, COOLING)
    loop.wait_for_phase(NS, {"DryRun"}, 180, target=COOLING)
    loop.wait_for("the blind runbook to say it has no data",
                  lambda: degraded_reason(loop, BLIND) == "NoData", 60)

    asked = time.monotonic()
    steady = explained(loop, STEADY)
    print(f"kubeheal explain {STEADY}: answered in {time.monotonic() - asked:.1f}s "
          "(command line, from start to exit)")
    [book] = steady["runbooks"]
    assert book["name"] == STEADY and book["mode"] == "enforce"
    assert book["lastEvaluation"]["ok"] is True, book
    assert {s["signal"] for s in book["streams"]} == {"error-ratio", "latency-p99", "load",
                                                      "memory"}
    for stream in book["streams"]:
        assert stream["hasData"] and stream["exists"] and stream["warm"], stream
        assert stream["observed"] is not None and stream["expected"] is not None, stream
        assert stream["debounce"]["n"] == 3 and stream["debounce"]["k"] == 2, stream
        assert stream["alarm"] is False, stream
    # (A busy machine may delay an evaluation past two intervals: the stream is then stale.)
    assert "no-alarm" in holds(book) and set(holds(book)) <= {"no-alarm", "stale"}, book["holds"]
    assert "no signal is in alarm" in holds(book)["no-alarm"]
    previews = {a["action"]: a for a in book["actions"]}
    assert previews["roll-back-bad-release"]["verdict"] == "cannot-apply"
    assert previews["roll-back-bad-release"]["reasons"] == ["no previous revision to roll back to"]
    scale = previews["scale-out"]
    assert scale["params"]["replicas"] == "6" and scale["assumedCause"] == "saturation"
    assert scale["verdict"] in ("allowed", "approval-required"), scale
    assert not any("policy engine unavailable" in r for r in scale["reasons"]), scale
    assert steady["remediations"] == {"open": [], "recent": []}
    # A preview is no decision: nothing was opened, counted or done to the workload.
    assert loop.remediations(NS, STEADY) == []

    cooling = explained(loop, COOLING)
    [book] = cooling["runbooks"]
    reasons = holds(book)
    assert "cooldown" in reasons and "cooling down until" in reasons["cooldown"], book["holds"]
    assert "900s after the last remediation" in reasons["cooldown"]
    assert "dry-run" in reasons, book["holds"]
    [recent] = cooling["remediations"]["recent"][:1]
    assert recent["phase"] == "DryRun" and recent["runbook"] == COOLING, recent
    assert recent["cause"] == "change", recent
    rollback = next(a for a in book["actions"] if a["action"] == "roll-back-bad-release")
    assert rollback["verdict"] != "cannot-apply" and rollback["params"]["toRevision"] == "1"

    blind_answer = explained(loop, BLIND)
    [book] = blind_answer["runbooks"]
    reasons = holds(book)
    assert list(reasons) == ["evaluation-failed"], book["holds"]
    assert "NoData" in reasons["evaluation-failed"]
    assert "signal memory: no series for any watched workload" in reasons["evaluation-failed"]
    assert "no action is taken on missing data" in reasons["evaluation-failed"]
    memory_stream = next(s for s in book["streams"] if s["signal"] == "memory")
    assert memory_stream["hasData"] is False and memory_stream["exists"] is False

    # The same for a human: a table, one line of summary, each hold with its reason.
    text = kubeheal_explain(loop, "alice", COOLING)
    assert text.returncode == 0, text.stderr
    print(f"$ kubeheal explain {COOLING} -n {NS}\n{text.stdout}")  # shown with -s
    assert f"{NS}/{COOLING}" in text.stdout and "Summary: " in text.stdout
    assert "cooldown: cooling down until" in text.stdout
    assert "policy preview, not recorded, nothing executed" in text.stdout

    # bob may ask but not read the Deployment: refused, and told what he lacks.
    refused = kubeheal_explain(loop, "bob", STEADY)
    print(f"$ kubeheal explain {STEADY} -n {NS}   # as bob\n{refused.stderr}")
    assert refused.returncode == 1, refused.stdout
    assert "refused" in refused.stderr, refused.stderr
    assert f"may not get deployments/{STEADY}" in refused.stderr, refused.stderr
    assert refused.stdout == ""
    # How long the operator takes to answer (the command line's own start is left out): a
    # request made by hand, from its creation to the answer in its status.
    asked_by_hand = {"apiVersion": "kubeheal.io/v1alpha1", "kind": "ExplanationRequest",
                     "metadata": {"name": "by-hand", "namespace": NS},
                     "spec": {"target": {"name": STEADY},
                              "requester": {"username": "alice"}}}
    loop.cluster.kubectl("create", "-f", "-", user="alice", input=json.dumps(asked_by_hand))
    status = loop.wait_for("the answer to a request made by hand", lambda: json.loads(
        loop.kubectl("get", "explanationrequest", "by-hand", "-n", NS, "-o", "json").stdout
    ).get("status"), 60)
    assert status["phase"] == "Answered" and status["explanation"]["workload"] == STEADY
    created = json.loads(loop.kubectl("get", "explanationrequest", "by-hand", "-n", NS, "-o",
                                      "json").stdout)["metadata"]["creationTimestamp"]
    print(f"request {created} answered {status['answeredAt']} (1 s resolution)")
    # Nobody may ask in someone else's name.
    forged = {"apiVersion": "kubeheal.io/v1alpha1", "kind": "ExplanationRequest",
              "metadata": {"name": "forged", "namespace": NS},
              "spec": {"target": {"name": STEADY}, "requester": {"username": "alice"}}}
    out = loop.cluster.kubectl("create", "-f", "-", user="bob", input=json.dumps(forged),
                               check=False)
    assert out.returncode != 0 and "spec.requester.username must be the user" in out.stderr, \
        out.stderr
