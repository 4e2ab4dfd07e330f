"""SLO arithmetic: SLI, burn rates, budget left and the multi-window breach."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeheal.verify.slo import (
    WindowCounts,
    burn_rate,
    error_budget_remaining,
    evaluate,
    meets_objective,
    sli,
    threshold_counts,
)

objectives = st.floats(min_value=0.5, max_value=0.9999)
slis = st.floats(min_value=0.0, max_value=1.0)


def test_breach_needs_both_windows_above_the_threshold() -> None:
    burning_now = WindowCounts(good=70, total=100)      # burn 30 at 99%
    burning_long = WindowCounts(good=800, total=1000)   # burn 20
    calm_long = WindowCounts(good=995, total=1000)      # burn 0.5
    assert evaluate(burning_now, burning_long, 0.99).breaching
    assert not evaluate(burning_now, calm_long, 0.99).breaching, "a blip is not a breach"
    assert not evaluate(WindowCounts(100, 100), burning_long, 0.99).breaching, "recovered"


def test_no_events_means_no_sli_and_no_breach() -> None:
    e = evaluate(WindowCounts(0, 0), WindowCounts(0, 0), 0.99)
    assert (e.sli, e.burn_rate_short, e.burn_rate_long, e.error_budget_remaining) == (
        None, None, None, None)
    assert not e.breaching


def test_budget_uses_the_full_window_when_given() -> None:
    e = evaluate(WindowCounts(90, 100), WindowCounts(900, 1000), 0.99,
                 window=WindowCounts(99_950, 100_000))
    assert e.error_budget_remaining == pytest.approx(0.95)
    assert e.sli == pytest.approx(0.9)


def test_threshold_sli_counts_nan_as_not_good() -> None:
    counts = threshold_counts([0.2, 0.5, math.nan, 0.25], maximum=0.25)
    assert counts == WindowCounts(good=2, total=4)
    assert counts.sli == 0.5
    assert threshold_counts([], maximum=1.0).sli is None


def test_objective_outside_zero_one_is_refused() -> None:
    with pytest.raises(ValueError, match="objective"):
        burn_rate(0.9, 1.0)
    with pytest.raises(ValueError, match="objective"):
        meets_objective(WindowCounts(1, 1), 0.0)


def test_meets_objective_at_the_boundary() -> None:
    assert meets_objective(WindowCounts(99, 100), 0.99)
    assert not meets_objective(WindowCounts(98, 100), 0.99)


@given(slis, objectives)
def test_budget_left_and_burn_rate_add_up_to_one(value: float, objective: float) -> None:
    assert error_budget_remaining(value, objective) + burn_rate(value, objective) == \
        pytest.approx(1.0)


@given(slis, slis, objectives)
def test_burn_rate_falls_as_the_sli_rises(a: float, b: float, objective: float) -> None:
    low, high = sorted((a, b))
    assert burn_rate(high, objective) <= burn_rate(low, objective)


@given(st.floats(min_value=0, max_value=1e9), st.floats(min_value=0, max_value=1e9))
def test_sli_is_a_share(good: float, total: float) -> None:
    value = sli(good, total)
    if total == 0:
        assert value is None
    else:
        assert value is not None and 0.0 <= value <= 1.0
