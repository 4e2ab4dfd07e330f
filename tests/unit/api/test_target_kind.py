"""A Runbook names the kind of workload it heals; one kind per runbook."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from crcases import runbook
from kubeheal.api import Runbook
from kubeheal.api.base import WorkloadReference


def test_target_kind_defaults_to_deployment_and_takes_statefulset() -> None:
    cr = runbook()
    assert Runbook.model_validate(cr).spec.target_kind == "Deployment"
    cr["spec"]["targetKind"] = "StatefulSet"
    model = Runbook.model_validate(cr)
    assert model.spec.target_kind == "StatefulSet"
    assert model.to_api()["spec"]["targetKind"] == "StatefulSet"
    assert WorkloadReference(kind="StatefulSet", namespace="a", name="b").kind == "StatefulSet"


def test_other_kinds_are_rejected() -> None:
    cr = runbook()
    cr["spec"]["targetKind"] = "DaemonSet"
    with pytest.raises(ValidationError, match="targetKind"):
        Runbook.model_validate(cr)


def test_scale_back_is_for_deployments_only() -> None:
    cr = runbook()
    cr["spec"]["targetKind"] = "StatefulSet"
    assert any(s.get("role") == "load" for s in cr["spec"]["signals"])
    cr["spec"]["actions"].append({"name": "out", "kind": "scale", "scale": {
        "maxReplicas": 4, "scaleBack": {}}})
    with pytest.raises(ValidationError, match="scaleBack is for Deployments only"):
        Runbook.model_validate(cr)
