"""Approvals enforced by the real API server: who may approve, as whom, and only once."""

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
    set_phase(c, namespace, "checkout-1", "AwaitingApproval")
    yield namespace, "checkout-1"


def as_operator(*args: str, input: str | None = None) -> None:
    subprocess.run(["kubectl", f"--kubeconfig={OPERATOR}", *args], input=input,
                   capture_output=True, text=True, timeout=60, check=True)


def set_phase(c: Cluster, namespace: str, name: str, phase: str) -> None:
    as_operator("patch", "remediation", name, "-n", namespace, "--subresource=status",
                "--type=merge", "-p", json.dumps({"status": {"phase": phase}}))


def kubeheal(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "operator")}
    return subprocess.run([sys.executable, "-m", "kubeheal.cli", *args,
                           "--kubeconfig", str(kubeconfig)],
                          capture_output=True, text=True, env=env, timeout=60)


def approval_of(c: Cluster, namespace: str, name: str) -> dict[str, str] | None:
    out = c.kubectl("get", "remediation", name, "-n", namespace, "-o", "json").stdout
    approval: dict[str, str] | None = json.loads(out)["spec"].get("approval")
    return approval


def patch_approval(c: Cluster, user: str, namespace: str, approver: str,
                   decision: str = "approved", token_config: Path | None = None,
                   ) -> subprocess.CompletedProcess[str]:
    body = {"spec": {"approval": {"decision": decision, "approver": approver,
                                  "time": "2026-11-28T10:05:00Z"}}}
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
    assert f"remediation {namespace}/{name} approved by alice" in result.stdout
    approval = approval_of(approvals, namespace, name)
    assert approval is not None
    assert (approval["decision"], approval["approver"]) == ("approved", "alice")
    assert approval["reason"] == "bad release, roll back"


def test_alice_cannot_approve_as_bob(approvals: Cluster, pending: tuple[str, str]) -> None:
    namespace, name = pending
    result = patch_approval(approvals, "alice", namespace, approver="bob")
    assert result.returncode != 0
    assert 'spec.approval.approver: must be the requesting user "alice", not "bob"' \
        in result.stderr
    assert approval_of(approvals, namespace, name) is None


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
    assert approval_of(approvals, namespace, name) is None


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
    # Through the CLI: one clear line.
    again = kubeheal(alice, "reject", name, "-n", namespace)
    assert again.returncode == 1
    assert again.stderr.strip() == f"kubeheal: remediation {namespace}/{name} was already " \
        "approved by alice"
    # Straight at the API server, even as an administrator: refused.
    flip = patch_approval(approvals, "admin", namespace, approver="admin", decision="rejected")
    assert flip.returncode != 0
    assert 'the decision "approved" by alice is final and cannot be changed or removed' \
        in flip.stderr
    removal = approvals.kubectl("patch", "remediation", name, "-n", namespace, "--type=json",
                                "-p", '[{"op":"remove","path":"/spec/approval"}]', check=False)
    assert removal.returncode != 0 and "is final" in removal.stderr
    assert approval_of(approvals, namespace, name)["decision"] == "approved"  # type: ignore[index]


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
