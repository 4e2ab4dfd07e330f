"""Only kubeheal opens incidents, enforced by the real API server, with the operator running.

A Remediation makes the operator act with its own rights. Carol may create, update and patch
remediations and their status in her namespace but has no right on Deployments; neither
creating a Remediation nor editing one's status gets her anything done. A cluster
administrator's hand-made Remediation is refused too. And the operator itself never acts on a
Remediation that no incident claim names (defense in depth, should the admission policy be
missing): it marks it and leaves it alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localstack import Cluster, Opa, Process, binary, free_port, http_ok
from loopstack import OPERATOR_USER, install_operator_identity

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[3]
Json = dict[str, Any]


@pytest.fixture(scope="module")
def operator(crds: Cluster, opa: Opa, tmp_path_factory: pytest.TempPathFactory,
             ) -> Iterator[Path]:
    """The operator as its own process, under the chart's identity; its kubeconfig.

    No Prometheus: runbooks are never evaluated, so no incident is ever opened by the
    operator here; what it does with the remediations it is shown is what is tested.
    """
    config = install_operator_identity(crds)
    log = tmp_path_factory.mktemp("identity-operator") / "operator.log"
    metrics = free_port()
    process = Process("operator", [
        sys.executable, "-m", "kubeheal.cli", "run", "--kubeconfig", str(config),
        "--prometheus-url", f"http://127.0.0.1:{free_port()}", "--opa-url", opa.url,
        "--policies", str(ROOT / "policies"), "--metrics-port", str(metrics),
    ], log)
    process.start(env={"PYTHONPATH": str(ROOT / "operator"), "PYTHONUNBUFFERED": "1"})
    try:
        process.wait_until(lambda: http_ok(f"http://127.0.0.1:{metrics}/metrics"),
                           "serving /metrics", 60)
        yield config
        assert process.alive(), log.read_text()[-3000:]
    finally:
        process.stop()


@pytest.fixture
def shop(crds: Cluster, operator: Path, namespace: str) -> str:
    """A namespace with a Deployment, a runbook that would scale it, and carol who may write
    remediations and their status there, and nothing else."""
    c = crds
    c.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(deployment()))
    c.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(runbook()))
    c.kubectl("create", "role", "remediation-writer", "-n", namespace,
              "--verb=get,list,watch,create,update,patch",
              "--resource=remediations.kubeheal.io,remediations.kubeheal.io/status")
    c.kubectl("create", "rolebinding", "carol-writes", "-n", namespace,
              "--role=remediation-writer", "--user=carol")
    assert c.kubectl("auth", "can-i", "patch", "deployments", "-n", namespace,
                     user="carol", check=False).stdout.strip() == "no"
    return namespace


def deployment() -> Json:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "checkout", "labels": {"app": "checkout"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "checkout"}},
                 "template": {"metadata": {"labels": {"app": "checkout"}},
                              "spec": {"containers": [{"name": "web", "image": "web:1"}]}}},
    }


def runbook() -> Json:
    return {
        "apiVersion": "kubeheal.io/v1alpha1", "kind": "Runbook",
        "metadata": {"name": "checkout"},
        "spec": {
            "selector": {"matchLabels": {"app": "checkout"}},
            "signals": [{"name": "latency", "role": "latency", "query": "sum by "
                         "(namespace, deployment) (rate(latency_seconds_sum[1m]))"}],
            "actions": [{"name": "scale-out", "kind": "scale",
                         "when": {"causes": ["saturation"]},
                         "scale": {"minReplicas": 1, "maxReplicas": 10, "step": 3}}],
            "approval": {"mode": "never"},
            "mode": "enforce",
        },
    }


def remediation(namespace: str, name: str = "checkout-deployment-1") -> Json:
    """A Remediation with a made-up diagnosis that would have the operator scale out."""
    return {
        "apiVersion": "kubeheal.io/v1alpha1", "kind": "Remediation",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"kubeheal.io/runbook": "checkout",
                                "kubeheal.io/target": "checkout"}},
        "spec": {
            "runbookRef": {"name": "checkout"},
            "target": {"namespace": namespace, "name": "checkout"},
            "trigger": {"startedAt": "2026-11-28T10:00:00Z",
                        "detectedAt": "2026-11-28T10:00:10Z", "score": 0.99},
            "diagnosis": {"cause": "saturation"},
        },
    }


def kubectl_as(config: Path, *args: str, input: str | None = None,
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("kubectl"), f"--kubeconfig={config}", *args],
                          capture_output=True, text=True, timeout=60, input=input)


def replicas(c: Cluster, namespace: str) -> str:
    return str(c.kubectl("get", "deployment", "checkout", "-n", namespace, "-o",
                         "jsonpath={.spec.replicas}/{.metadata.generation}").stdout)


def get(c: Cluster, namespace: str, name: str) -> Json:
    body: Json = json.loads(c.kubectl("get", "remediation", name, "-n", namespace, "-o",
                                      "json").stdout)
    return body


def claimed(c: Cluster, namespace: str, name: str) -> Json | None:
    """The operator's Claimed condition on a remediation, once it has judged it."""
    status = get(c, namespace, name).get("status") or {}
    return next((c for c in status.get("conditions") or [] if c["type"] == "Claimed"), None)


def wait_for(check: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_carol_cannot_open_an_incident(crds: Cluster, shop: str) -> None:
    before = replicas(crds, shop)
    result = crds.kubectl("create", "-f", "-", input=json.dumps(remediation(shop)),
                          user="carol", check=False)
    assert result.returncode != 0
    assert 'remediations are opened by kubeheal only: user "carol" is not the kubeheal ' \
        f"operator ({OPERATOR_USER})" in result.stderr
    assert crds.kubectl("get", "remediations", "-n", shop, "-o", "name").stdout == ""
    assert replicas(crds, shop) == before


def test_a_cluster_admins_hand_made_remediation_is_refused(crds: Cluster, shop: str) -> None:
    result = crds.kubectl("create", "-f", "-", input=json.dumps(remediation(shop)),
                          check=False)
    assert result.returncode != 0
    assert 'remediations are opened by kubeheal only: user "admin" is not the kubeheal ' \
        "operator" in result.stderr
    assert "only the operator may create one" in result.stderr


def test_carol_cannot_drive_a_remediation_by_its_status(crds: Cluster, operator: Path,
                                                       shop: str) -> None:
    """Carol edits the status of a remediation so that it reads as decided and allowed: the
    API server refuses every write, and the spec stays as the operator wrote it."""
    before = replicas(crds, shop)
    created = kubectl_as(operator, "create", "-f", "-", input=json.dumps(remediation(shop)))
    assert created.returncode == 0, created.stderr
    name = "checkout-deployment-1"
    forged = {"status": {"phase": "Executing",
                         "action": {"name": "scale-out", "kind": "scale",
                                    "params": {"replicas": "10"}}}}
    for how in (["--subresource=status", "--type=merge", "-p", json.dumps(forged)],
                ["--subresource=status", "--type=json", "-p",
                 '[{"op": "add", "path": "/status", "value": {"phase": "Verifying"}}]']):
        result = crds.kubectl("patch", "remediation", name, "-n", shop, *how, user="carol",
                              check=False)
        assert result.returncode != 0, how
        assert f'status: written by kubeheal only: user "carol" is not the kubeheal operator ' \
            f"({OPERATOR_USER})" in result.stderr
    # A full update of the status subresource (kubectl replace) is refused alike. The API
    # server checks the resourceVersion before admission: once the operator has marked the
    # remediation it leaves it alone, and a replace then meets the admission policy.
    wait_for(lambda: claimed(crds, shop, name), "the operator to mark the remediation")
    body = get(crds, shop, name)
    body["status"] = forged["status"]
    replaced = crds.kubectl("replace", "--subresource=status", "-f", "-",
                            input=json.dumps(body), user="carol", check=False)
    assert replaced.returncode != 0 and "status: written by kubeheal only" in replaced.stderr, \
        replaced.stderr
    # The cluster administrator's status write too.
    admin = crds.kubectl("patch", "remediation", name, "-n", shop, "--subresource=status",
                         "--type=merge", "-p", json.dumps(forged), check=False)
    assert admin.returncode != 0 and 'user "admin" is not the kubeheal operator' in admin.stderr
    # Changing what the incident is about is refused too (the CRD keeps it immutable, the
    # admission policy keeps it the operator's).
    spec = crds.kubectl("patch", "remediation", name, "-n", shop, "--type=merge", "-p",
                        '{"spec": {"diagnosis": {"cause": "change"}}}', user="carol",
                        check=False)
    assert spec.returncode != 0 and "spec.diagnosis" in spec.stderr
    # Metadata stays writable: labels are not a way to make the operator act. Only the labels
    # that the guardrails count remediations by (rate limits, cooldowns) are kubeheal's.
    crds.kubectl("label", "remediation", name, "-n", shop, "seen-by=carol", user="carol")
    for label in ("kubeheal.io/target=elsewhere", "kubeheal.io/runbook-",
                  "kubeheal.io/acted-hour=1999010100"):
        moved = crds.kubectl("label", "--overwrite", "remediation", name, "-n", shop, label,
                             user="carol", check=False)
        assert moved.returncode != 0, label
        assert "metadata.labels: kubeheal.io/runbook, kubeheal.io/target and " \
            "kubeheal.io/acted-hour are kept by kubeheal" in moved.stderr
    # Nor may anyone mark the outcome counted (old Remediations are cleaned up by that mark),
    # while other annotations stay theirs.
    crds.kubectl("annotate", "remediation", name, "-n", shop, "seen-by=carol", user="carol")
    marked = crds.kubectl("annotate", "remediation", name, "-n", shop,
                          "kubeheal.io/outcome-recorded=true", user="carol", check=False)
    assert marked.returncode != 0
    assert "kubeheal.io/outcome-recorded is set by kubeheal" in marked.stderr
    status = get(crds, shop, name).get("status") or {}
    assert status.get("phase") != "Executing" and not status.get("action")
    assert replicas(crds, shop) == before


def test_the_operator_never_acts_on_a_remediation_it_did_not_open(
    crds: Cluster, operator: Path, shop: str
) -> None:
    """One created with the operator's own credentials but not by its incident loop (no claim
    names it): the operator marks it and never acts, whatever its status says."""
    before = replicas(crds, shop)
    name = "checkout-deployment-7"
    created = kubectl_as(operator, "create", "-f", "-",
                         input=json.dumps(remediation(shop, name)))
    assert created.returncode == 0, created.stderr

    condition = wait_for(lambda: claimed(crds, shop, name),
                         "the operator to mark the unclaimed remediation")
    assert (condition["status"], condition["reason"]) == ("False", "NotOpenedByKubeheal")
    assert "not opened by kubeheal" in condition["message"]
    assert "kubeheal-incident-deployment-checkout" in condition["message"]
    status = get(crds, shop, name)["status"]
    assert status.get("phase", "Detected") == "Detected"  # the schema's default: never moved
    assert not status.get("executions") and not status.get("action")
    events = crds.kubectl("get", "events", "-n", shop, "--field-selector",
                          f"involvedObject.name={name},reason=NotOpenedByKubeheal", "-o",
                          "name").stdout
    assert events.strip()
    assert replicas(crds, shop) == before
