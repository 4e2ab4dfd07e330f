"""The API models: defaults, validation with clear errors, round trips to CR JSON."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from crcases import INVALID, Invalid, examples, runbook
from kubeheal.api import Remediation, Runbook, ServiceLevelObjective
from kubeheal.api.base import explain
from kubeheal.api.remediation import Phase

MODELS = {"Runbook": Runbook, "ServiceLevelObjective": ServiceLevelObjective}


def parse(cr: dict[str, object]) -> Runbook | ServiceLevelObjective:
    return MODELS[str(cr["kind"])].model_validate(cr)


@pytest.mark.parametrize("name", sorted(examples()))
def test_every_example_parses_and_round_trips(name: str) -> None:
    cr = examples()[name]
    model = parse(cr)
    again = parse(model.to_api())
    assert again == model
    # What the user wrote survives the round trip unchanged.
    assert _subset(cr["spec"], model.to_api()["spec"])


def _subset(small: object, big: object) -> bool:
    if isinstance(small, dict):
        return isinstance(big, dict) and all(_subset(v, big.get(k)) for k, v in small.items())
    if isinstance(small, list):
        return isinstance(big, list) and len(small) == len(big) and all(
            _subset(a, b) for a, b in zip(small, big, strict=True))
    return small == big


def test_runbook_defaults() -> None:
    model = Runbook.model_validate({
        "metadata": {"name": "minimal"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "signals": [{"name": "errors", "query": "sum by (deployment) (x)"}],
            "actions": [{"name": "restart", "kind": "restart"}],
        },
    })
    spec = model.spec
    assert spec.mode == "enforce"
    assert spec.interval_seconds == 30
    assert spec.detection.detector == "novelty"
    assert (spec.detection.debounce_k, spec.detection.debounce_n) == (2, 5)
    assert spec.guardrails.cooldown_seconds == 300
    assert spec.approval.mode == "never"
    assert spec.signals[0].workload_label == "deployment"
    assert spec.signals[0].bad_direction == "up"
    assert model.to_api()["spec"]["guardrails"]["maxActionsPerHour"] == 3


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.name)
def test_invalid_cr_is_rejected_naming_the_field(case: Invalid) -> None:
    with pytest.raises(ValidationError) as caught:
        parse(case.build())
    message = explain(caught.value)
    assert any(
        line.startswith(case.field + ":") or line.startswith(case.field + ".")
        for line in message.splitlines()
    ), message
    assert case.message in message, message


def test_duplicate_signal_names_are_rejected() -> None:
    cr = runbook()
    cr["spec"]["signals"][1]["name"] = "error-ratio"
    with pytest.raises(ValidationError, match="duplicate signal names: error-ratio"):
        parse(cr)


def test_action_condition_must_name_a_known_signal() -> None:
    cr = runbook()
    cr["spec"]["actions"][0]["when"]["signals"] = ["nope"]
    with pytest.raises(ValidationError, match="names unknown signals: nope"):
        parse(cr)


def test_remediation_round_trip() -> None:
    body = {
        "apiVersion": "kubeheal.io/v1alpha1",
        "kind": "Remediation",
        "metadata": {"name": "checkout-1", "namespace": "shop"},
        "spec": {
            "runbookRef": {"name": "checkout"},
            "target": {"namespace": "shop", "name": "checkout"},
            "trigger": {
                "startedAt": "2026-11-28T10:00:00Z",
                "detectedAt": "2026-11-28T10:00:15Z",
                "score": 0.999,
                "evidence": [{"signal": "error-ratio", "observed": 0.3, "expected": 0.01,
                              "score": 0.999, "since": "2026-11-28T10:00:00Z"}],
            },
            "diagnosis": {"cause": "change", "candidates": [
                {"cause": "change", "confidence": 0.9, "evidence": ["revision 2 at 09:59:50"]}]},
        },
        "status": {"phase": "AwaitingApproval", "timeline": [
            {"time": "2026-11-28T10:00:15Z", "step": "detected", "message": "error-ratio up"}]},
    }
    model = Remediation.model_validate(body)
    assert model.status is not None and model.status.phase is Phase.AWAITING_APPROVAL
    assert not model.status.phase.terminal
    assert Remediation.model_validate(model.to_api()) == model
    assert model.to_api()["spec"]["trigger"]["evidence"][0]["signal"] == "error-ratio"


def test_detector_names_are_the_registry() -> None:
    from typing import get_args

    from kubeheal.api.runbook import DetectionSettings
    from kubeheal.detect import DEFAULT_DETECTOR, DETECTORS, RETIRED

    field = DetectionSettings.model_fields["detector"]
    # Retired names stay accepted for stored Runbooks (they run the default).
    assert set(get_args(field.annotation)) == set(DETECTORS) | set(RETIRED)
    assert field.default == DEFAULT_DETECTOR
