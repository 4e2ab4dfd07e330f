"""The generated CRDs on a real kube-apiserver: established, explained, validating."""

from __future__ import annotations

import json

import pytest

from crcases import EXAMPLES, INVALID, Invalid, examples
from localstack import Cluster

pytestmark = pytest.mark.stack


def test_crds_are_established(crds: Cluster) -> None:
    out = crds.kubectl("get", "crd", "-o", "json").stdout
    established = {
        item["metadata"]["name"]
        for item in json.loads(out)["items"]
        if any(c["type"] == "Established" and c["status"] == "True"
               for c in item["status"]["conditions"])
    }
    assert {"runbooks.kubeheal.io", "remediations.kubeheal.io",
            "servicelevelobjectives.kubeheal.io"} <= established


def test_every_example_is_accepted(crds: Cluster, namespace: str) -> None:
    result = crds.kubectl("apply", "-n", namespace, "-f", str(EXAMPLES))
    for name in examples():
        cr = examples()[name]
        assert f"{cr['kind'].lower()}.kubeheal.io/{cr['metadata']['name']} created" in \
            result.stdout
    # Printer columns and short names work.
    table = crds.kubectl("get", "rb", "-n", namespace).stdout
    assert "MODE" in table and "checkout" in table and "dry-run" in table


def test_explain_shows_descriptions(crds: Cluster) -> None:
    out = crds.kubectl("explain", "runbook.spec").stdout
    assert "What to watch, how to detect, what to do" in out
    assert "signals" in out and "Signals scored for anomalies" in out
    detail = crds.kubectl("explain", "runbook.spec.approval.mode").stdout
    assert "riskAbove" in detail


def test_server_applies_defaults(crds: Cluster, namespace: str) -> None:
    minimal = {
        "apiVersion": "kubeheal.io/v1alpha1", "kind": "Runbook",
        "metadata": {"name": "minimal", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "signals": [{"name": "errors", "query": "sum by (deployment) (x)"}],
            "actions": [{"name": "restart", "kind": "restart"}],
        },
    }
    out = crds.kubectl("create", "-o", "json", "-f", "-", input=json.dumps(minimal)).stdout
    spec = json.loads(out)["spec"]
    assert spec["mode"] == "enforce" and spec["intervalSeconds"] == 30
    assert spec["signals"][0]["workloadLabel"] == "deployment"


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.name)
def test_invalid_cr_is_rejected_naming_the_field(
    crds: Cluster, namespace: str, case: Invalid
) -> None:
    cr = case.build()
    cr["metadata"]["namespace"] = namespace
    result = crds.kubectl("create", "-f", "-", input=json.dumps(cr), check=False)
    assert result.returncode != 0, f"{case.name} was accepted"
    assert case.field in result.stderr, result.stderr
    assert case.server_fragment in result.stderr, result.stderr
