"""Fusion: one incident score per workload from the debounced scores of its signals.

A workload is anomalous when at least one of its signals is in a debounced alarm. The fused
probability is ``1 - prod(1 - p_i)`` over the signals (the chance that not all of them are
normal, if they were independent), and the explanation lists the signals in alarm first, then
by probability, each with observed vs expected value and since when.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeheal.detect.debounce import DebouncedScore
from kubeheal.detect.values import Explanation, IncidentScore


def fuse(workload: str, signals: Mapping[str, DebouncedScore], top: int = 3) -> IncidentScore:
    """Fuse the latest debounced score of each signal of ``workload``.

    >>> from kubeheal.detect.values import AnomalyScore, PointStatus
    >>> latency = AnomalyScore(1.7e9, 2.4, 0.3, 40.0, 0.99999, PointStatus.SCORED)
    >>> cpu = AnomalyScore(1.7e9, 0.5, 0.45, 0.8, 0.4, PointStatus.SCORED)
    >>> incident = fuse("shop/checkout", {
    ...     "latency_p99": DebouncedScore(latency, alarm=True, since=1.7e9 - 120),
    ...     "cpu": DebouncedScore(cpu, alarm=False, since=None)})
    >>> incident.alarm, incident.explanations[0].signal
    (True, 'latency_p99')
    >>> print(incident.explanations[0].sentence())
    latency_p99: observed 2.4, expected 0.3 (about 1 in 100,000 points) since 2023-11-14T22:11:20Z
    """
    quiet = 1.0
    for debounced in signals.values():
        if debounced.score.ready:
            quiet *= 1.0 - debounced.score.probability
    ranked = sorted(
        signals.items(),
        key=lambda item: (item[1].alarm, item[1].score.probability),
        reverse=True,
    )
    explanations = tuple(
        Explanation(
            signal=name,
            observed=d.score.observed,
            expected=d.score.expected,
            probability=d.score.probability,
            since=d.since,
            drift=d.score.drift,
            zscore=d.score.zscore,
        )
        for name, d in ranked[:top]
        if d.alarm or d.score.drift
    )
    alarm = any(d.alarm for d in signals.values())
    return IncidentScore(workload, 1.0 - quiet, alarm, explanations)
