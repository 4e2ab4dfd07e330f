"""Properties of the decisions over many generated candidates, on the real OPA.

Every well-formed input gets a real decision (no evaluation error), and the guardrails that
must always hold do: protected namespaces and dry runs are denied, risky or production
rollbacks are never allowed without approval.
"""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeheal.decide import (
    Action,
    Incident,
    PolicyInput,
    RemediationHistory,
    RunbookRef,
    Target,
    assess,
)
from kubeheal.policy import PolicyBundle, PolicyDecision, PolicyGate

pytestmark = pytest.mark.stack

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@st.composite
def policy_inputs(draw: st.DrawFn) -> PolicyInput:
    replicas = draw(st.integers(0, 20))
    action = draw(
        st.one_of(
            st.builds(
                Action.restart,
                strategy=st.sampled_from(["rollout", "delete-pod"]),
                ready_replicas=st.integers(0, replicas),
            ),
            st.builds(
                Action.scale,
                replicas=st.integers(0, 40),
                min_replicas=st.integers(0, 5),
                max_replicas=st.integers(5, 30),
            ),
            st.builds(Action.rollback),
        )
    )
    age = draw(st.one_of(st.none(), st.integers(0, 30 * 86400)))
    target = Target(
        draw(st.sampled_from(["shop", "payments", "kube-system"])),
        "checkout",
        replicas=replicas,
        ready_replicas=draw(st.integers(0, replicas)),
        namespace_labels={"kubeheal.io/tier": draw(st.sampled_from(["production", "dev", "x"]))},
        last_rollout_at=None if age is None else NOW - timedelta(seconds=age),
    )
    last = draw(st.one_of(st.none(), st.integers(0, 7200)))
    history = RemediationHistory(
        draw(st.integers(0, 5)),
        draw(st.integers(0, 12)),
        draw(st.integers(0, 4)),
        None if last is None else NOW - timedelta(seconds=last),
    )
    runbook = RunbookRef(
        "r",
        draw(st.sampled_from(["enforce", "dry-run"])),
        draw(st.sampled_from(["never", "always"])),
    )
    return assess(action, target, history, Incident(), runbook, NOW)


async def ask(url: str, value: PolicyInput) -> PolicyDecision:
    async with PolicyGate(url, timeout=5.0) as gate:
        return await gate.decide(value)


@pytest.fixture
def loaded(opa: tuple[str, subprocess.Popen[bytes]], bundle: PolicyBundle) -> None:
    """The repository's policies, loaded once into the test's OPA."""

    async def load() -> None:
        async with PolicyGate(opa[0]) as gate:
            await gate.load_bundle(bundle)

    asyncio.run(load())


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=policy_inputs())
def test_decisions_hold_the_invariants(
    opa: tuple[str, subprocess.Popen[bytes]], loaded: None, value: PolicyInput
) -> None:
    d = asyncio.run(ask(opa[0], value))
    assert d.engine_available, d.message
    assert d.allow == (not d.violations)
    guardrails = {f.guardrail for f in d.violations}
    if value.target.namespace == "kube-system":
        assert "protected-namespace" in guardrails
    if value.runbook.mode == "dry-run":
        assert "dry-run" in guardrails
    production = value.target.namespace_labels.get("kubeheal.io/tier") == "production"
    if d.allow and (value.risk.score > 0.6 or (production and value.action.kind == "rollback")):
        assert d.require_approval
