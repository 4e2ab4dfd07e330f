"""Approvals enforced by the real API server: who may approve, as whom, which action (the
pending digest), and only by appending one final decision at a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from localstack import Cluster
from loopstack import install_operator_identity

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[3]
DIGEST, NEXT = "a" * 64, "b" * 64
OPERATOR = Path()


@pytest.fixture(scope="module")
def approvals(crds: Cluster) -> Cluster:
    crds.kubectl("apply", "-f", str(ROOT / "deploy" / "rbac"))
    global OPERATOR  # only the operator's identity opens remediations and writes their status
    OPERATOR = install_operator_identity(crds)
    return crds


@pytest.fixture
def pending(approvals: Cluster, namespace: str) -> Iterator[tuple[str, str]]:
    """A Remediation awaiting approval; alice may approve here, carol may only edit."""
    c = approvals
    c.kubectl("create", "rolebinding", "alice-approves", "-n", namespace,
              "--clusterrole=kubeheal-approver", "--user=alice")
    c.kubectl("create", "role", "remediation-editor", "-n", namespace,
              "--verb=get,list,patch,update", "--resource=remediations.kubeheal.io")
    c.kubectl("create", "rolebinding", "carol-edits", "-n", namespace,
              "--role=remediation-editor", "--user=carol")
    c.kubectl("create", "serviceaccount", "kubeheal-operator", "-n", namespace)
    c.kubectl("create", "rolebinding", "operator", "-n", namespace,
              "--clusterrole=kubeheal-operator",
              f"--serviceaccount={namespace}:kubeheal-operator")
    remediation = {
        "apiVersion": "kubeheal.io/v1alpha1", "kind": "Remediation",
        "metadata": {"name": "checkout-1", "namespace": namespace},
        "spec": {
            "runbookRef": {"name": "checkout"},
            "target": {"namespace": namespace, "name": "checkout"},
            "trigger": {"startedAt": "2026-11-28T10:00:00Z", "detectedAt": "2026-11-28T10:00:10Z",
                        "score": 0.99},
            "diagnosis": {"cause": "change"},
        },
    }
    as_operator("create", "-f", "-", input=json.dumps(remediation))
    await_approval(c, namespace, "checkout-1", DIGEST)
    yield namespace, "checkout-1"


def as_operator(*args: str, input: str | None = None) -> None:
    subprocess.run(["kubectl", f"--kubeconfig={OPERATOR}", *args], input=input,
                   capture_output=True, text=True, timeout=60, check=True)


def await_approval(c: Cluster, namespace: str, name: str, digest: str,
                   action: str = "roll-back") -> None:
    """What the operator writes when an action needs approval."""
    as_operator("patch", "remediation", name, "-n", namespace, "--subresource=status",
                "--type=merge", "-p", json.dumps({"status": {
                    "phase": "AwaitingApproval", "pendingApproval": {
                        "action": action, "digest": digest,
                        "requestedAt": "2026-11-28T10:01:00Z"}}}))


def set_phase(c: Cluster, namespace: str, name: str, phase: str) -> None:
    as_operator("patch", "remediation", name, "-n", namespace, "--subresource=status",
                "--type=merge", "-p", json.dumps({"status": {"phase": phase,
                                                             "pendingApproval": None}}))


def kubeheal(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "operator")}
    return subprocess.run([sys.executable, "-m", "kubeheal.cli", *args,
                           "--kubeconfig", str(kubeconfig)],
                          capture_output=True, text=True, env=env, timeout=60)


def approvals_of(c: Cluster, namespace: str, name: str) -> list[dict[str, str]]:
    out = c.kubectl("get", "remediation", name, "-n", namespace, "-o", "json").stdout
    approvals: list[dict[str, str]] = json.loads(out)["spec"].get("approvals") or []
    return approvals


def entry(approver: str, decision: str = "approved", digest: str = DIGEST) -> dict[str, str]:
    return {"digest": digest, "decision": decision, "approver": approver,
            "time": "2026-11-28T10:05:00Z"}


def patch_approval(c: Cluster, user: str, namespace: str, approver: str,
                   decision: str = "approved", token_config: Path | None = None,
                   digest: str = DIGEST, keep: list[dict[str, str]] | None = None,
                   ) -> subprocess.CompletedProcess[str]:
    """Append one decision (after ``keep``, the list as it is) with a merge patch."""
    body = {"spec": {"approvals": [*(keep or []), entry(approver, decision, digest)]}}
    args = ["patch", "remediation", "checkout-1", "-n", namespace, "--type=merge",
            "-p", json.dumps(body)]
    if token_config is not None:
        return subprocess.run(["kubectl", f"--kubeconfig={token_config}", *args],
                              capture_output=True, text=True, timeout=60)
    return c.kubectl(*args, user=user, check=False)


def test_alice_approves_as_alice(approvals: Cluster, pending: tuple[str, str]) -> None:
    namespace, name = pending
    result = kubeheal(approvals.kubeconfig_for("alice"), "approve", name, "-n", namespace,
                      "--reason", "bad release, roll back")
    assert result.returncode == 0, result.stderr
    assert f"remediation {namespace}/{name}: roll-back approved by alice" in result.stdout
    [approval] = approvals_of(approvals, namespace, name)
    assert (approval["decision"], approval["approver"]) == ("approved", "alice")
    assert approval["digest"] == DIGEST
    assert approval["reason"] == "bad release, roll back"


def test_alice_cannot_approve_as_bob(approvals: Cluster, pending: tuple[str, str]) -> None:
    namespace, name = pending
    result = patch_approval(approvals, "alice", namespace, approver="bob")
    assert result.returncode != 0
    assert 'the approver must be the requesting user "alice", not "bob"' in result.stderr
    assert approvals_of(approvals, namespace, name) == []


def test_carol_without_the_role_cannot_approve(
    approvals: Cluster, pending: tuple[str, str]
) -> None:
    namespace, name = pending
    result = kubeheal(approvals.kubeconfig_for("carol"), "approve", name, "-n", namespace)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kubeheal: not allowed:")
    assert "user carol may not approve remediations" in lines[0]
    assert 'the RBAC verb "approve"' in lines[0]
    assert approvals_of(approvals, namespace, name) == []


def test_operator_service_account_cannot_approve(
    approvals: Cluster, pending: tuple[str, str]
) -> None:
    namespace, name = pending
    token = approvals.kubectl("create", "token", "kubeheal-operator", "-n", namespace).stdout
    config = approvals.kubeconfig_for(f"operator-{namespace}", token.strip())
    user = f"system:serviceaccount:{namespace}:kubeheal-operator"
    result = patch_approval(approvals, "", namespace, approver=user, token_config=config)
    assert result.returncode != 0
    assert f"user {user} may not approve remediations" in result.stderr
    # The operator can still write its status.
    set_phase(approvals, namespace, name, "Escalated")


def test_a_decision_cannot_be_flipped(approvals: Cluster, pending: tuple[str, str]) -> None:
    namespace, name = pending
    alice = approvals.kubeconfig_for("alice")
    assert kubeheal(alice, "approve", name, "-n", namespace).returncode == 0
    recorded = approvals_of(approvals, namespace, name)
    # Through the CLI: one clear line.
    again = kubeheal(alice, "reject", name, "-n", namespace)
    assert again.returncode == 1
    assert again.stderr.strip() == f"kubeheal: remediation {namespace}/{name}: roll-back was " \
        "already approved by alice"
    # Straight at the API server, even as an administrator: a replaced decision is refused,
    assert recorded[0]["approver"] == "alice"
    flip = patch_approval(approvals, "admin", namespace, approver="admin", decision="rejected")
    assert flip.returncode != 0
    assert "spec.approvals is append-only" in flip.stderr
    # a removed one too,
    removal = approvals.kubectl("patch", "remediation", name, "-n", namespace, "--type=json",
                                "-p", '[{"op":"remove","path":"/spec/approvals/0"}]',
                                check=False)
    assert removal.returncode != 0 and "append-only" in removal.stderr
    # and a second decision on the same action.
    twice = patch_approval(approvals, "admin", namespace, approver="admin", decision="rejected",
                           keep=recorded)
    assert twice.returncode != 0
    assert approvals_of(approvals, namespace, name) == recorded


def test_only_the_pending_action_can_be_approved(
    approvals: Cluster, pending: tuple[str, str]
) -> None:
    namespace, name = pending
    other = patch_approval(approvals, "alice", namespace, approver="alice", digest=NEXT)
    assert other.returncode != 0
    assert f"digest {NEXT} does not name the action awaiting approval " \
        f"(status.pendingApproval.digest is {DIGEST})" in other.stderr
    set_phase(approvals, namespace, name, "Executing")
    early = patch_approval(approvals, "alice", namespace, approver="alice")
    assert early.returncode != 0 and "(no action awaits approval)" in early.stderr
    assert approvals_of(approvals, namespace, name) == []


def test_each_action_needs_its_own_approval(
    approvals: Cluster, pending: tuple[str, str]
) -> None:
    namespace, name = pending
    alice = approvals.kubeconfig_for("alice")
    assert kubeheal(alice, "approve", name, "-n", namespace).returncode == 0
    first = approvals_of(approvals, namespace, name)
    # The operator moves on to another action that needs approval too.
    await_approval(approvals, namespace, name, NEXT, action="scale-out")
    result = kubeheal(alice, "reject", name, "-n", namespace, "--reason", "not now")
    assert result.returncode == 0, result.stderr
    assert f"remediation {namespace}/{name}: scale-out rejected by alice" in result.stdout
    both = approvals_of(approvals, namespace, name)
    assert both[0] == first[0]
    assert [(a["digest"], a["decision"]) for a in both] == [(DIGEST, "approved"),
                                                            (NEXT, "rejected")]
    # Two decisions in one update are refused: one at a time.
    await_approval(approvals, namespace, name, "c" * 64)
    batch = {"spec": {"approvals": [*both, entry("alice", digest="c" * 64),
                                    entry("alice", digest="d" * 64)]}}
    two = approvals.kubectl("patch", "remediation", name, "-n", namespace, "--type=merge",
                            "-p", json.dumps(batch), user="alice", check=False)
    assert two.returncode != 0 and "append-only" in two.stderr


def test_cli_errors_are_one_clear_line(approvals: Cluster, pending: tuple[str, str]) -> None:
    namespace, name = pending
    alice = approvals.kubeconfig_for("alice")
    missing = kubeheal(alice, "approve", "nope", "-n", namespace)
    assert (missing.returncode, missing.stderr.strip()) == (
        1, f"kubeheal: remediation {namespace}/nope not found")
    set_phase(approvals, namespace, name, "Executing")
    early = kubeheal(alice, "reject", name, "-n", namespace)
    assert (early.returncode, early.stderr.strip()) == (
        1, f"kubeheal: remediation {namespace}/{name} is not awaiting approval (phase Executing)")
