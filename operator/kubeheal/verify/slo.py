"""SLO arithmetic: SLI, error-budget burn rates, budget left and the multi-window breach.

Pure functions of counts, following the Google SRE workbook ("Alerting on SLOs"): the SLI is
good events over total events (or, for a threshold SLI, good evaluations over all
evaluations); the error rate is ``1 - SLI``; the burn rate is the error rate divided by the
error budget ``1 - objective``, so a burn rate of 1 spends the budget exactly over the SLO
window; a breach needs both the short and the long window to burn faster than the threshold
(the long window proves it is significant, the short one that it is still happening).

A window without events has no SLI (``None``): no data is not a breach, and not a success.

>>> e = evaluate(short=WindowCounts(good=80, total=100), long=WindowCounts(good=970, total=1000),
...              objective=0.99, burn_rate_threshold=2.0)
>>> round(e.burn_rate_short, 6), round(e.burn_rate_long, 6), e.breaching
(20.0, 3.0, True)
>>> round(e.error_budget_remaining, 6)  # the long window stands in for the SLO window
-2.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class WindowCounts:
    """Good and total events (or evaluations) over one window."""

    good: float
    total: float

    @property
    def sli(self) -> float | None:
        return sli(self.good, self.total)


def sli(good: float, total: float) -> float | None:
    """Good over total, or None without events; clamped to [0, 1] (counter resets and
    rounding in ``increase()`` can make good exceed total a little).

    >>> sli(99, 100), sli(0, 0), sli(101, 100)
    (0.99, None, 1.0)
    """
    if not total > 0 or math.isnan(good):
        return None
    return min(1.0, max(0.0, good / total))


def threshold_counts(values: Iterable[float], maximum: float) -> WindowCounts:
    """Counts of a threshold SLI: evaluations at or below ``maximum`` are good.

    A NaN evaluation (say a latency quantile without requests) counts as evaluated but not
    good: a service that cannot show it is fast is not counted as fast.

    >>> threshold_counts([0.1, 0.3, float("nan"), 0.2], maximum=0.25)
    WindowCounts(good=2, total=4)
    """
    good = total = 0
    for value in values:
        total += 1
        good += value <= maximum  # False for NaN
    return WindowCounts(good=good, total=total)


def burn_rate(sli_value: float, objective: float) -> float:
    """How fast the error budget burns: the error rate over the budget ``1 - objective``.

    >>> round(burn_rate(0.99, 0.99), 6), round(burn_rate(0.9, 0.99), 6), burn_rate(1.0, 0.99)
    (1.0, 10.0, 0.0)
    """
    _check_objective(objective)
    return (1.0 - sli_value) / (1.0 - objective)


def error_budget_remaining(sli_value: float, objective: float) -> float:
    """Share of the budget left over the window the SLI covers: 1 untouched, 0 spent,
    negative when overspent (kept negative: how much is overspent matters).

    >>> round(error_budget_remaining(0.995, 0.99), 6), round(error_budget_remaining(0.98, 0.99), 6)
    (0.5, -1.0)
    """
    return 1.0 - burn_rate(sli_value, objective)


def meets_objective(counts: WindowCounts, objective: float) -> bool | None:
    """Whether the SLI over a window (e.g. the verification window) meets the objective;
    None without events.

    >>> meets_objective(WindowCounts(995, 1000), 0.99), meets_objective(WindowCounts(0, 0), 0.99)
    (True, None)
    """
    _check_objective(objective)
    value = counts.sli
    return None if value is None else value >= objective


@dataclass(frozen=True)
class SloEvaluation:
    """One evaluation of an SLO, as the ServiceLevelObjective status reports it."""

    sli: float | None
    """SLI over the short window."""
    burn_rate_short: float | None
    burn_rate_long: float | None
    error_budget_remaining: float | None
    breaching: bool


def evaluate(
    short: WindowCounts,
    long: WindowCounts,
    objective: float,
    burn_rate_threshold: float = 14.4,
    window: WindowCounts | None = None,
) -> SloEvaluation:
    """Evaluate an SLO from counts over its short, long and (optionally) whole window.

    ``window`` is the SLO's full window for the budget left; without it the long window
    stands in. The breach flag needs both burn rates above ``burn_rate_threshold``.

    >>> ok = evaluate(WindowCounts(100, 100), WindowCounts(0, 0), objective=0.99)
    >>> ok.sli, ok.burn_rate_short, ok.burn_rate_long, ok.breaching
    (1.0, 0.0, None, False)
    """
    _check_objective(objective)
    short_sli, long_sli = short.sli, long.sli
    budget_sli = (window or long).sli
    short_burn = None if short_sli is None else burn_rate(short_sli, objective)
    long_burn = None if long_sli is None else burn_rate(long_sli, objective)
    return SloEvaluation(
        sli=short_sli,
        burn_rate_short=short_burn,
        burn_rate_long=long_burn,
        error_budget_remaining=(
            None if budget_sli is None else error_budget_remaining(budget_sli, objective)),
        breaching=(short_burn is not None and long_burn is not None
                   and short_burn > burn_rate_threshold and long_burn > burn_rate_threshold),
    )


def _check_objective(objective: float) -> None:
    if not 0.0 < objective < 1.0:
        raise ValueError(f"objective must be in (0, 1), got {objective}")
