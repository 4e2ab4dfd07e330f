"""A risky action in a production-tier namespace waits for a human: approved, it runs and is
verified; rejected, or not decided in time, the incident is escalated and nothing runs. The
humans hear of each request and each escalation at the receivers (a generic webhook and a
Slack one, both failing the first two deliveries), and approve with the command they were
sent."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from loopstack import ROOT, TERMINAL, Json, LoopStack, record_timing, timeline
from receiver import LocalReceiver

pytestmark = pytest.mark.stack

NS = "approval"
APPROVED, REJECTED, LATE = "pay-approved", "pay-rejected", "pay-late"


def kubeheal(loop: LoopStack, command: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A ``kubeheal ...`` command line as alice, who holds the approve verb in the namespace."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "operator")}
    program, *given = shlex.split(command)
    assert program == "kubeheal"
    return subprocess.run(
        [sys.executable, "-m", "kubeheal.cli", *given, *args, "--kubeconfig",
         str(loop.cluster.kubeconfig_for("alice"))],
        capture_output=True, text=True, env=env, timeout=300, check=False)


def notified(receiver: LocalReceiver, event: str, remediation: Json) -> Json:
    """The webhook's payload of ``event`` for the remediation, once accepted; the Slack
    message of the same notification too, and both were retried after the failures."""
    name = remediation["metadata"]["name"]
    payload = receiver.wait_for("/webhook", lambda b: b["event"] == event
                                and b["remediation"] == {"namespace": NS, "name": name}, 90)
    slack = receiver.wait_for("/slack", lambda b: payload["id"] in str(b["blocks"]), 90)
    for path, body in (("/webhook", payload), ("/slack", slack)):
        assert receiver.statuses(path, body) == [503, 503, 200], (path, body)
    assert payload["summary"] in slack["text"]
    return payload


def test_rollbacks_in_production_need_approval(loop: LoopStack,
                                               receiver: LocalReceiver) -> None:
    loop.kubectl("label", "namespace", NS, "kubeheal.io/tier=production", "--overwrite")
    loop.kubectl("create", "rolebinding", "alice-approves", "-n", NS,
                 "--clusterrole=kubeheal-approver", "--user=alice")
    loop.watch(NS, APPROVED)
    loop.watch(NS, REJECTED)
    loop.watch(NS, LATE, approval={"mode": "never", "timeoutSeconds": 10})

    faults = {name: loop.inject_bad_rollout(NS, name) for name in (APPROVED, REJECTED, LATE)}
    waiting = {name: loop.wait_for_phase(NS, {"AwaitingApproval"}, 120, target=name)
               for name in (APPROVED, REJECTED)}
    for remediation in waiting.values():
        assert remediation["status"]["action"]["kind"] == "rollback"
        assert remediation["status"]["policy"]["requireApproval"] is True
        assert any("production" in r for r in remediation["status"]["policy"]["reasons"])

    requests = {name: notified(receiver, "ApprovalRequested", remediation)
                for name, remediation in waiting.items()}
    for name, request in requests.items():
        status = waiting[name]["status"]
        assert request["action"]["kind"] == "rollback"
        assert request["action"]["digest"] == status["pendingApproval"]["digest"]
        assert request["risk"] == status["risk"]["score"]
        assert any("production" in r for r in request["policyReasons"])
        assert request["target"] == {"kind": "Deployment", "namespace": NS, "name": name}

    # The humans run the very commands they were sent.
    approve = kubeheal(loop, requests[APPROVED]["commands"]["approve"],
                       "--reason", "the release is bad")
    assert approve.returncode == 0, approve.stderr
    reject = kubeheal(loop, requests[REJECTED]["commands"]["reject"],
                      "--reason", "a load test, not an incident", "--not-an-incident")
    assert reject.returncode == 0, reject.stderr

    approved = loop.wait_for_phase(NS, TERMINAL, 240, target=APPROVED)
    record_timing("approval: approved", faults[APPROVED], approved)
    assert approved["status"]["phase"] == "Succeeded", timeline(approved)
    assert [(a["approver"], a["decision"]) for a in approved["spec"]["approvals"]] == [
        ("alice", "approved")]
    assert [e["outcome"] for e in approved["status"]["executions"]] == ["executed"]

    rejected = loop.wait_for_phase(NS, TERMINAL, 60, target=REJECTED)
    record_timing("approval: rejected", faults[REJECTED], rejected)
    assert rejected["status"]["phase"] == "Escalated", timeline(rejected)
    assert _condition(rejected, "Approved")["reason"] == "Rejected"
    assert rejected["status"].get("executions", []) == []

    late = loop.wait_for_phase(NS, TERMINAL, 120, target=LATE)
    record_timing("approval: timed out", faults[LATE], late)
    assert late["status"]["phase"] == "Escalated", timeline(late)
    assert _condition(late, "Approved")["reason"] == "ApprovalTimedOut"
    assert late["status"].get("executions", []) == []

    escalations = {name: notified(receiver, "Escalated", remediation)
                   for name, remediation in ((REJECTED, rejected), (LATE, late))}
    assert escalations[REJECTED]["reason"] == "Rejected"
    assert "alice" in escalations[REJECTED]["message"]
    assert escalations[LATE]["reason"] == "ApprovalTimedOut"
    assert "approve" not in escalations[LATE]["commands"]
    assert not [b for b in receiver.accepted("/webhook")
                if b["event"] == "Escalated" and b["target"]["name"] == APPROVED]
    counted = {(s.labels["receiver"], s.labels.get("event", s.labels.get("reason"))): s.value
               for family in text_string_to_metric_families(loop.operator_metrics())
               for s in family.samples
               if s.name in ("kubeheal_notifications_total",
                             "kubeheal_notification_delivery_failures_total")
               and s.labels.get("outcome", "delivered") == "delivered"}
    for path, name in (("/webhook", "webhook"), ("/slack", "slack")):
        delivered = list(receiver.accepted(path))
        assert counted[name, "ApprovalRequested"] >= 3 and counted[name, "Escalated"] >= 2
        assert counted[name, "http-503"] >= 2 * len(delivered)  # (and any still retried)

    # Nothing touched the two workloads whose rollback was not approved.
    for name in (REJECTED, LATE):
        template = loop.deployment(NS, name)["spec"]["template"]["metadata"]
        assert (template.get("annotations") or {}).get("demo.kubeheal.io/fault") == "bad-build"
        assert "kubeheal.io/action-token" not in (
            loop.deployment(NS, name)["metadata"].get("annotations") or {})

    # Each outcome is counted in its runbook's statistics: the human's part, the false alarm,
    # and what the workload did after the incident closed with nothing run (still unhealthy
    # a verification window later: the alarm was real).
    outcomes = {name: loop.wait_for(f"the outcome of {name} counted",
                                    lambda name=name: _counted(loop, name), 90)
                for name in (APPROVED, REJECTED, LATE)}
    assert outcomes[APPROVED]["outcomes"] == {"verified": 1}
    assert outcomes[APPROVED]["withHuman"] == 1 and outcomes[APPROVED]["autonomous"] == 0
    assert outcomes[APPROVED]["approvalLatency"]["count"] == 1
    assert outcomes[REJECTED]["outcomes"] == {"rejected": 1}
    assert outcomes[REJECTED]["falseAlarms"] == 1
    assert set(outcomes[REJECTED]["falseAlarmSignals"]) == set(outcomes[REJECTED]["signals"])
    # (The late one's workload stays bad: it may open another incident after its cooldown.)
    late_incidents = outcomes[LATE]["incidents"]
    assert outcomes[LATE]["outcomes"] == {"timed-out": late_incidents}
    assert outcomes[LATE]["followUps"] == {"confirmed": late_incidents}
    assert outcomes[LATE]["falseAlarms"] == 0
    report = kubeheal(loop, f"kubeheal report -n {NS}")
    assert report.returncode == 0, report.stderr
    print(report.stdout)
    assert re.search(r"false alarms +1 of \d", report.stdout), report.stdout
    assert re.search(r"pay-rejected +enforce +1 +0 of 1 \(0%\) .* 100%", report.stdout)
    # Alice may read runbooks and SLOs, not Deployments: she sees no coverage, and why.
    assert "unknown: cannot list Deployments" in report.stdout
    admin = subprocess.run(
        [sys.executable, "-m", "kubeheal.cli", "report", "-n", NS, "--kubeconfig",
         str(loop.kubeconfig)], capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT / "operator")})
    assert "3 of 3 (100%) Deployments selected by a runbook" in admin.stdout, admin.stderr
    print(admin.stdout)
    for name in (APPROVED, REJECTED, LATE):
        loop.kubectl("delete", "runbook", name, "-n", NS)


def _counted(loop: LoopStack, runbook: str) -> Json | None:
    """The runbook's outcome totals once its one Remediation is marked counted."""
    marked = [r for r in loop.remediations(NS, runbook)
              if (r["metadata"].get("annotations") or {}).get("kubeheal.io/outcome-recorded")]
    totals: Json = ((loop.runbook(NS, runbook).get("status") or {}).get("outcomes") or {}) \
        .get("totals") or {}
    return totals if marked and totals.get("incidents") else None


def _condition(remediation: Json, type_: str) -> Json:
    found: Json = next(c for c in remediation["status"]["conditions"] if c["type"] == type_)
    return found
