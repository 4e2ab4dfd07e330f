"""Who asks `kubeheal explain` is the API server's word (deploy/admission/explanation.yaml):
an ExplanationRequest names the very user who creates it, with groups that user holds; its
spec never changes; and only the operator writes an answer. Checked by the real API server."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localstack import Cluster
from loopstack import install_operator_identity

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[3]
OPERATOR = Path()
Json = dict[str, Any]


@pytest.fixture(scope="module")
def admission(crds: Cluster) -> Cluster:
    crds.kubectl("apply", "-f", str(ROOT / "deploy" / "rbac"))
    global OPERATOR  # the only identity that may write an answer
    OPERATOR = install_operator_identity(crds)
    return crds


@pytest.fixture
def asking(admission: Cluster, namespace: str) -> Iterator[str]:
    """carol may ask in the namespace, and also write requests and their status."""
    admission.kubectl("create", "rolebinding", "carol-explains", "-n", namespace,
                      "--clusterrole=kubeheal-explainer", "--user=carol")
    admission.kubectl("create", "role", "explanation-writer", "-n", namespace,
                      "--verb=get,update,patch",
                      "--resource=explanationrequests.kubeheal.io,"
                      "explanationrequests.kubeheal.io/status")
    admission.kubectl("create", "rolebinding", "carol-writes", "-n", namespace,
                      "--role=explanation-writer", "--user=carol")
    yield namespace


def request(namespace: str, name: str, username: str, groups: list[str] | None = None) -> str:
    requester: Json = {"username": username}
    if groups is not None:
        requester["groups"] = groups
    return json.dumps({"apiVersion": "kubeheal.io/v1alpha1", "kind": "ExplanationRequest",
                       "metadata": {"name": name, "namespace": namespace},
                       "spec": {"target": {"name": "checkout"}, "requester": requester}})


def create(c: Cluster, user: str, body: str) -> subprocess.CompletedProcess[str]:
    return c.kubectl("create", "-f", "-", user=user, input=body, check=False)


def test_a_request_names_its_creator(admission: Cluster, asking: str) -> None:
    # The policy may take a moment to be in force after it is installed: wait for a refusal.
    deadline = time.monotonic() + 60
    while True:
        forged = create(admission, "carol", request(asking, "as-alice", "alice"))
        if forged.returncode != 0 or time.monotonic() > deadline:
            break
        admission.kubectl("delete", "explanationrequest", "as-alice", "-n", asking)
        time.sleep(1)
    assert forged.returncode != 0
    assert 'spec.requester.username must be the user creating the request ("carol"), not ' \
           '"alice"' in forged.stderr, forged.stderr

    masters = create(admission, "carol", request(asking, "as-admin", "carol",
                                                 ["system:masters"]))
    assert masters.returncode != 0
    assert 'spec.requester.groups may name only groups that user "carol" holds' in \
        masters.stderr, masters.stderr

    mine = create(admission, "carol", request(asking, "mine", "carol",
                                              ["system:authenticated"]))
    assert mine.returncode == 0, mine.stderr

    # Nobody but the operator plants an answer; nobody changes the question.
    planted = admission.kubectl(
        "patch", "explanationrequest", "mine", "-n", asking, "--subresource=status",
        "--type=merge", "-p", json.dumps({"status": {"phase": "Answered"}}), user="carol",
        check=False)
    assert planted.returncode != 0
    assert "an explanation is answered by kubeheal only" in planted.stderr, planted.stderr
    moved = admission.kubectl(
        "patch", "explanationrequest", "mine", "-n", asking, "--type=merge", "-p",
        json.dumps({"spec": {"target": {"name": "payments"}}}), user="carol", check=False)
    assert moved.returncode != 0 and "immutable" in moved.stderr, moved.stderr
    answered = subprocess.run(
        ["kubectl", f"--kubeconfig={OPERATOR}", "patch", "explanationrequest", "mine", "-n",
         asking, "--subresource=status", "--type=merge", "-p",
         json.dumps({"status": {"phase": "Refused", "message": "no"}})],
        capture_output=True, text=True, timeout=60, check=False)
    assert answered.returncode == 0, answered.stderr
