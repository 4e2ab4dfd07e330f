"""Behaviour of the risk score: bounded, additive, ordered the way the docstring promises."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeheal.api.remediation import ManagedBy
from kubeheal.decide import (
    Action,
    ActionKind,
    RemediationHistory,
    RiskCalibration,
    RiskWeights,
    Target,
    score_risk,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
FACTORS = [
    "action_kind",
    "pods_touched",
    "namespace_tier",
    "recent_failures",
    "rollout_recency",
    "ready_left",
]


def target(
    replicas: int = 4,
    ready: int = 4,
    tier: str | None = "staging",
    rollout_age: timedelta | None = timedelta(days=2),
) -> Target:
    return Target(
        "shop",
        "checkout",
        replicas=replicas,
        ready_replicas=ready,
        namespace_labels={"kubeheal.io/tier": tier} if tier else {},
        last_rollout_at=None if rollout_age is None else NOW - rollout_age,
    )


actions = st.one_of(
    st.builds(
        Action.restart,
        strategy=st.sampled_from(["rollout", "delete-pod"]),
        ready_replicas=st.integers(0, 50),
    ),
    st.builds(
        Action.scale,
        replicas=st.integers(0, 100),
        min_replicas=st.just(0),
        max_replicas=st.just(100),
    ),
    st.builds(Action.rollback),
)
targets = st.builds(
    target,
    replicas=st.integers(0, 50),
    ready=st.integers(-1, 60),
    tier=st.sampled_from([None, "production", "staging", "dev", "mystery"]),
    rollout_age=st.one_of(st.none(), st.timedeltas(timedelta(0), timedelta(days=30))),
)
histories = st.builds(RemediationHistory, failed_last_day=st.integers(0, 20))
weights = (
    st.lists(st.floats(0, 10), min_size=len(FACTORS), max_size=len(FACTORS))
    .filter(lambda ws: sum(ws) > 0.01)
    .map(lambda ws: RiskWeights(*ws))
)


@given(actions, targets, histories, weights)
def test_score_is_bounded_and_is_the_sum_of_contributions(
    action: Action, t: Target, history: RemediationHistory, w: RiskWeights
) -> None:
    risk = score_risk(action, t, history, NOW, weights=w)
    assert 0.0 <= risk.score <= 1.0
    assert [f.name for f in risk.factors] == FACTORS
    assert risk.score == pytest.approx(sum(f.contribution for f in risk.factors), abs=1e-5)
    assert sum(f.weight for f in risk.factors) == pytest.approx(1.0, abs=1e-5)
    for f in risk.factors:
        assert 0.0 <= f.value <= 1.0
        assert f.contribution == pytest.approx(f.weight * f.value, abs=1e-5)
        assert f.explanation


def test_kind_orders_risk_restart_scale_rollback() -> None:
    t = target()
    kinds = [
        Action.restart(strategy="rollout", ready_replicas=4),
        Action.scale(replicas=8, min_replicas=1, max_replicas=10),
        Action.rollback(),
    ]
    values = [score_risk(a, t, RemediationHistory(), NOW).factors[0].value for a in kinds]
    assert values == sorted(values)
    assert len(set(values)) == 3


def test_deleting_one_pod_is_less_risky_than_a_rollout_restart() -> None:
    t = target(replicas=10, ready=10)
    one = score_risk(Action.restart(strategy="delete-pod"), t, RemediationHistory(), NOW)
    everything = score_risk(Action.restart(strategy="rollout"), t, RemediationHistory(), NOW)
    assert one.score < everything.score


def test_production_is_riskier_than_staging_and_unknown_is_near_production() -> None:
    a = Action.restart(strategy="delete-pod")
    by_tier = {
        tier: score_risk(a, target(tier=tier), RemediationHistory(), NOW).score
        for tier in ["dev", "staging", "production", None]
    }
    assert by_tier["dev"] < by_tier["staging"] < by_tier[None] < by_tier["production"]


@given(st.integers(0, 10), st.integers(0, 10))
def test_more_failures_never_lower_risk(a: int, b: int) -> None:
    low, high = sorted([a, b])
    action, t = Action.rollback(), target()
    assert (
        score_risk(action, t, RemediationHistory(failed_last_day=low), NOW).score
        <= score_risk(action, t, RemediationHistory(failed_last_day=high), NOW).score
    )


@given(st.integers(1, 20), st.data())
def test_fewer_ready_replicas_never_lower_risk(replicas: int, data: st.DataObject) -> None:
    more = data.draw(st.integers(0, replicas))
    fewer = data.draw(st.integers(0, more))
    a = Action.restart(strategy="delete-pod")
    h = RemediationHistory()
    assert (
        score_risk(a, target(replicas, more), h, NOW).score
        <= score_risk(a, target(replicas, fewer), h, NOW).score
    )


def test_rollout_recency_depends_on_the_kind() -> None:
    restart = Action.restart(strategy="delete-pod")
    rollback = Action.rollback()
    h = RemediationHistory()

    def recency(action: Action, age: timedelta) -> float:
        return score_risk(action, target(rollout_age=age), h, NOW).factors[4].value

    # A restart right after a rollout compounds two changes; later it does not.
    assert recency(restart, timedelta(minutes=1)) > recency(restart, timedelta(hours=2)) == 0.0
    # Rolling back a fresh rollout is the safest rollback; a week-old one is stale.
    assert recency(rollback, timedelta(minutes=1)) < recency(rollback, timedelta(days=7)) == 1.0


def test_unknown_rollout_time_is_neutral() -> None:
    t = target(rollout_age=None)
    f = score_risk(Action.rollback(), t, RemediationHistory(), NOW).factors[4]
    assert f.value == RiskCalibration().unknown_rollout
    assert "unknown" in f.explanation


def test_zero_weight_removes_a_factor() -> None:
    w = RiskWeights(1, 0, 0, 0, 0, 0)
    risk = score_risk(Action.rollback(), target(), RemediationHistory(), NOW, weights=w)
    assert risk.score == pytest.approx(RiskCalibration().rollback_severity)


def test_tier_label_and_values_are_configurable() -> None:
    cal = RiskCalibration(tier_label="env", tiers={"prod": 1.0})
    t = dataclasses.replace(target(), namespace_labels={"env": "prod"})
    f = score_risk(Action.rollback(), t, RemediationHistory(), NOW, calibration=cal).factors[2]
    assert f.value == 1.0


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_invalid_weights_are_rejected(bad: float) -> None:
    with pytest.raises(ValueError):
        RiskWeights(action_kind=bad)


def test_all_zero_weights_are_rejected() -> None:
    with pytest.raises(ValueError):
        RiskWeights(0, 0, 0, 0, 0, 0)


def test_scale_share_counts_changed_pods() -> None:
    t = target(replicas=4, ready=4)
    up = Action.scale(replicas=8, min_replicas=1, max_replicas=10)
    f = score_risk(up, t, RemediationHistory(), NOW).factors[1]
    assert f.value == 0.5
    assert "4 -> 8" in f.explanation


def test_explanation_names_the_top_factors() -> None:
    risk = score_risk(Action.rollback(), target(tier="production"), RemediationHistory(), NOW)
    text = risk.explain(2)
    assert text.startswith(f"risk {risk.score:.2f}: ")
    assert "rollback" in text


def test_kind_accepts_the_api_string() -> None:
    # Untyped callers (JSON from the API) pass strings; they become kinds or fail early.
    assert Action("rollback").kind is ActionKind.ROLLBACK  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Action("delete-namespace")  # type: ignore[arg-type]


def test_a_gitops_managed_target_moves_the_score_towards_one_and_says_why() -> None:
    owner = ManagedBy(tool="flux", api_version="helm.toolkit.fluxcd.io/v2", kind="HelmRelease",
                      namespace="shop", name="web")
    plain = target()
    managed = dataclasses.replace(plain, managed_by=owner)
    for action in (Action.restart(), Action.rollback()):
        before = score_risk(action, plain, RemediationHistory(), NOW)
        after = score_risk(action, managed, RemediationHistory(), NOW)
        assert after.factors[:-1] == before.factors, "the six factors do not change"
        extra = after.factors[-1]
        assert extra.name == "gitops_managed" and "Flux HelmRelease shop/web" in extra.explanation
        assert after.score == pytest.approx(before.score + 0.3 * (1 - before.score), abs=1e-5)
        assert after.score == pytest.approx(sum(f.contribution for f in after.factors), abs=1e-5)
