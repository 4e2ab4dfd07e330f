"""``kubeheal replay``'s policy engine: ``opa eval`` of the repository's policies answers as
the operator's gate does on an OPA server with the same policies loaded, and fails closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kubeheal.decide import Action, Incident, RemediationHistory, RunbookRef, Target, assess
from kubeheal.decide.policy_input import PolicyInput
from kubeheal.policy import PolicyBundle, PolicyGate
from kubeheal.replay.sources import OpaEval, ReplayError

from .conftest import POLICIES

pytestmark = pytest.mark.stack

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def question(action: Action, namespace: str = "shop", tier: str = "staging",
             ready: int = 4) -> PolicyInput:
    return assess(
        action,
        Target(namespace, "checkout", replicas=4, ready_replicas=ready,
               namespace_labels={"kubeheal.io/tier": tier},
               last_rollout_at=NOW - timedelta(days=2)),
        RemediationHistory(), Incident({"latency": 0.97}, "change", NOW - timedelta(minutes=5)),
        RunbookRef("checkout", "enforce"), NOW)


QUESTIONS = [
    question(Action.restart(strategy="delete-pod")),
    question(Action.rollback(to_revision=1), tier="production"),
    question(Action.restart(strategy="delete-pod"), namespace="kube-system"),
    question(Action.restart(strategy="delete-pod"), ready=2),
]


async def test_opa_eval_answers_as_the_gate(gate: PolicyGate, opa_bin: Path,
                                            bundle: PolicyBundle) -> None:
    local = OpaEval(str(opa_bin), POLICIES)
    outcomes = set()
    for policy_input in QUESTIONS:
        served, evaluated = await gate.decide(policy_input), await local.decide(policy_input)
        assert evaluated == served, policy_input.to_opa()
        assert evaluated.policy_version == bundle.version and evaluated.engine_available
        outcomes.add(evaluated.outcome.value)
    assert outcomes == {"allowed", "approval-required", "denied"}


async def test_opa_eval_fails_closed(tmp_path: Path, opa_bin: Path) -> None:
    missing = await OpaEval(str(tmp_path / "no-opa"), POLICIES).decide(QUESTIONS[0])
    assert not missing.allow and "policy engine unavailable" in missing.message
    broken = tmp_path / "policies"
    (broken / "kubeheal").mkdir(parents=True)
    (broken / "kubeheal" / "decision.rego").write_text("package kubeheal\n\ndecision := {")
    answer = await OpaEval(str(opa_bin), broken).decide(QUESTIONS[0])
    assert not answer.allow and "policy engine unavailable" in answer.message
    with pytest.raises(ReplayError, match=r"no \.rego files"):
        OpaEval(str(opa_bin), tmp_path / "empty")
