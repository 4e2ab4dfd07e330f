"""ServiceLevelObjectives: the SLI measured now and over the burn-rate windows.

The SLO's queries are instant queries (rates over their own short range); the SLI over a
window W is the ratio of their averages over W, which Prometheus computes with a subquery,
``avg_over_time((<query>)[W:step])``. A threshold SLI is the share of those steps where the
query stayed at or below its bound.
"""

from __future__ import annotations

import math

from kubeheal.api.slo import ServiceLevelObjective
from kubeheal.observe.prometheus import PrometheusClient, QueryError
from kubeheal.verify.slo import SloEvaluation, WindowCounts, evaluate


def subquery(query: str, window_seconds: int) -> str:
    """The average of ``query`` over a window, at about 100 steps (at least 1 s).

    >>> subquery("sum(rate(x[1m]))", 3600)
    'avg_over_time((sum(rate(x[1m])))[3600s:36s])'
    """
    step = max(1, window_seconds // 100)
    return f"avg_over_time(({query})[{window_seconds}s:{step}s])"


def threshold_query(query: str, maximum: float) -> str:
    """1 while ``query`` is at or below ``maximum``, else 0.

    >>> threshold_query("p99", 0.3)
    '(p99) <= bool 0.3'
    """
    return f"({query}) <= bool {maximum:g}"


async def _scalar(prometheus: PrometheusClient, query: str) -> float | None:
    samples = await prometheus.query(query)
    values = [s.value for s in samples if math.isfinite(s.value)]
    return sum(values) if values else None


async def window_counts(prometheus: PrometheusClient, slo: ServiceLevelObjective,
                        window_seconds: int | None) -> WindowCounts:
    """Good and total (rates, or steps for a threshold SLI) over a window; now when None."""
    sli = slo.spec.sli

    def over(query: str) -> str:
        return query if window_seconds is None else subquery(query, window_seconds)

    if sli.ratio is not None:
        good = await _scalar(prometheus, over(sli.ratio.good))
        total = await _scalar(prometheus, over(sli.ratio.total))
        return WindowCounts(good or 0.0, total or 0.0)
    assert sli.threshold is not None
    share = await _scalar(prometheus, over(threshold_query(sli.threshold.query,
                                                           sli.threshold.max)))
    return WindowCounts(0.0, 0.0) if share is None else WindowCounts(share, 1.0)


async def current_sli(prometheus: PrometheusClient, slo: ServiceLevelObjective) -> float | None:
    """The SLI right now, as the SLO's own queries define it; None without traffic."""
    return (await window_counts(prometheus, slo, None)).sli


async def evaluate_slo(prometheus: PrometheusClient,
                       slo: ServiceLevelObjective) -> SloEvaluation:
    """Burn rates over the short and long windows, and the budget left over the whole window.

    Raises ``QueryError`` when Prometheus cannot answer: the status then says so.
    """
    spec = slo.spec
    short = await window_counts(prometheus, slo, spec.short_window_seconds)
    long = await window_counts(prometheus, slo, spec.long_window_seconds)
    whole = await window_counts(prometheus, slo, spec.window_seconds)
    return evaluate(short, long, spec.objective, spec.burn_rate_threshold, whole)



def queries(slo: ServiceLevelObjective) -> tuple[tuple[str, str], ...]:
    """(field, PromQL) of each query the SLO names."""
    sli = slo.spec.sli
    if sli.ratio is not None:
        return (("spec.sli.ratio.good", sli.ratio.good), ("spec.sli.ratio.total", sli.ratio.total))
    assert sli.threshold is not None
    return (("spec.sli.threshold.query", sli.threshold.query),)


async def bad_query(prometheus: PrometheusClient, slo: ServiceLevelObjective,
                    ) -> tuple[str, str] | None:
    """The field of the SLO whose query Prometheus refuses, and why; None when all parse.

    Asked only once an evaluation failed with a bad query, to name the field to fix.
    """
    for field, query in queries(slo):
        try:
            await prometheus.query(query)
        except QueryError as e:
            if e.kind == "bad-query":
                return field, e.message
    return None
