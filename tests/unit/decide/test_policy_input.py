"""The policy input carries every field the policies read, in JSON the way Rego wants it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from kubeheal.decide import (
    Action,
    Incident,
    RemediationHistory,
    RunbookRef,
    Target,
    assess,
)
from kubeheal.decide.situation import rfc3339

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
WELLFORMED = Path(__file__).parents[3] / "policies/kubeheal/guardrails/wellformed.rego"


def full_input() -> dict[str, Any]:
    return assess(
        Action.restart(strategy="delete-pod"),
        Target(
            "shop",
            "checkout",
            replicas=4,
            ready_replicas=3,
            labels={"app": "checkout"},
            namespace_labels={"kubeheal.io/tier": "production"},
            last_rollout_at=NOW - timedelta(hours=3),
        ),
        RemediationHistory(2, 5, 1, NOW - timedelta(minutes=20)),
        Incident({"latency": 0.97}, "saturation", NOW - timedelta(minutes=5)),
        RunbookRef("checkout-latency", "enforce", "riskAbove", 0.5),
        NOW,
    ).to_opa()


def test_input_has_every_field_the_policies_require() -> None:
    doc = full_input()
    required = re.findall(
        r"^\t\[(\"[^\]]+)\],$", WELLFORMED.read_text().split("required_config")[0], re.M
    )
    assert required, "could not read required_input from wellformed.rego"
    for entry in required:
        node: object = doc
        for key in json.loads(f"[{entry}]"):
            assert isinstance(node, dict) and key in node, f"missing {entry}"
            node = node[key]
        assert node is not None


def test_input_is_plain_json_with_rfc3339_times() -> None:
    doc = full_input()
    assert json.loads(json.dumps(doc)) == doc
    assert doc["now"] == "2026-11-28T12:00:00Z"
    assert doc["history"]["lastActionAt"] == "2026-11-28T11:40:00Z"
    assert doc["runbook"] == {
        "name": "checkout-latency",
        "mode": "enforce",
        "approval": {"mode": "riskAbove", "riskThreshold": 0.5},
    }
    assert doc["risk"]["factors"][0]["name"] == "action_kind"


def test_optional_times_are_null() -> None:
    doc: dict[str, Any] = assess(
        Action.rollback(),
        Target("shop", "checkout", replicas=1, ready_replicas=1),
        RemediationHistory(),
        Incident(),
        RunbookRef("r"),
        NOW,
    ).to_opa()
    assert doc["history"]["lastActionAt"] is None
    assert doc["incident"]["startedAt"] is None
    assert doc["target"]["lastRolloutAt"] is None


def test_times_are_converted_to_utc_and_naive_ones_refused() -> None:
    assert rfc3339(datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))) == (
        "2026-01-01T00:00:00Z"
    )
    with pytest.raises(ValueError, match="time zone"):
        rfc3339(datetime(2026, 1, 1))


def test_values_are_immutable() -> None:
    a = Action.scale(replicas=3, min_replicas=1, max_replicas=5)
    with pytest.raises(TypeError):
        a.params["replicas"] = 100  # type: ignore[index]


def test_decide_imports_no_io_layer() -> None:
    code = (
        "import sys, kubeheal.decide\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "{'kubernetes', 'aiohttp', 'kopf', 'opa_client'} or m.startswith("
        "('kubeheal.policy', 'kubeheal.observe', 'kubeheal.act', 'kubeheal.verify', "
        "'kubeheal.controller'))]\n"
        "print(bad)\n"
    )
    operator_dir = Path(__file__).parents[3] / "operator"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(operator_dir)},
    )
    assert out.stdout.strip() == "[]"
