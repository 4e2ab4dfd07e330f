"""NAB scoring of anomaly scores against labeled windows. Pure: data in, numbers out.

The Numenta Anomaly Benchmark (NAB) scores a detector as follows.

- Each data file carries anomaly *windows* (inclusive row ranges). The first rows of each file
  (the probationary period, ``min(floor(0.15 * rows), 0.15 * 5000)``) are not scored: the
  detector is still learning.
- A row counts as a detection when its anomaly score is at or above the threshold.
- Inside a window only the earliest detection counts, rewarded by a scaled sigmoid of its
  relative position: ``2 * sigmoid(-5 * position) - 1`` with ``position = -(right - i + 1) /
  width``, so the window's first row is worth the full ``tp_weight`` (the reward is divided by
  the value at -1) and the reward falls to 0 at the right edge. A window without detection
  costs ``-fn_weight``.
- Every detection outside windows costs ``fp_weight`` times the same sigmoid of its distance
  past the end of the previous window (``|i - right| / (width - 1)``), so a detection just after
  a window is forgiven a little; before any window, or 3 widths past one, it costs the full
  ``-fp_weight``.
- The threshold is swept over every distinct score; for each profile the threshold with the
  best corpus-wide sum is kept.
- The raw score is normalised so that the null detector (no detection) scores 0 and the perfect
  detector (the first scorable row of every window, nothing else) scores 100.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class CostProfile:
    """An application profile: the weights of true positives, false positives, misses."""

    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


PROFILES: dict[str, CostProfile] = {
    "standard": CostProfile("standard", 1.0, 0.11, 1.0),
    "reward_low_FP_rate": CostProfile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    "reward_low_FN_rate": CostProfile("reward_low_FN_rate", 1.0, 0.11, 2.0),
}

PROBATION_PERCENT = 0.15


def probationary_length(rows: int, percent: float = PROBATION_PERCENT) -> int:
    """Rows at the start of a file that are not scored.

    >>> probationary_length(1000), probationary_length(10000)
    (150, 750)
    """
    return int(min(math.floor(percent * rows), percent * 5000))


def scaled_sigmoid(position: float) -> float:
    """NAB's reward at a relative position: about 0.987 at -1, 0 at 0, -1 from 3 on.

    >>> round(scaled_sigmoid(-1.0), 5), scaled_sigmoid(0.0), scaled_sigmoid(3.0)
    (0.98661, 0.0, -1.0)
    """
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


@dataclass(frozen=True)
class LabeledScores:
    """One data file's anomaly scores and its windows, as inclusive ``(first, last)`` rows."""

    name: str
    scores: Sequence[float] | NDArray[np.float64]
    windows: Sequence[tuple[int, int]]


@dataclass(frozen=True)
class ProfileResult:
    """The outcome of one profile on one corpus."""

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def normalized(self) -> float:
        """100 for the perfect detector, 0 for the null detector."""
        span = self.perfect - self.null
        return 100.0 * (self.raw - self.null) / span if span else 0.0


def _sigmoid(position: NDArray[np.float64]) -> NDArray[np.float64]:
    """:func:`scaled_sigmoid` on an array."""
    with np.errstate(over="ignore"):
        value = 2.0 / (1.0 + np.exp(5.0 * position)) - 1.0
    return np.where(position >= 3.0, -1.0, value)


def _sweep_rows(
    file: LabeledScores, profile: CostProfile, first_window_id: int, probation_percent: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], dict[int, float]]:
    """The scorable rows of one file (scores, weights, window ids or -1), and the perfect
    reward of each of its scorable windows."""
    n = len(file.scores)
    probation = probationary_length(n, probation_percent)
    windows = sorted(file.windows)
    rows = np.arange(n)
    window_at = np.full(n, -1, dtype=np.int64)
    for number, (first, last) in enumerate(windows):
        window_at[max(first, 0) : min(last, n - 1) + 1] = number
    firsts = np.asarray([w[0] for w in windows], dtype=np.float64)
    lasts = np.asarray([w[1] for w in windows], dtype=np.float64)
    widths = lasts - firsts + 1.0
    inside = window_at >= 0
    k = np.maximum(window_at, 0)
    weight = np.zeros(n)
    if windows:
        position = -(lasts[k] - rows + 1.0) / widths[k]
        weight = _sigmoid(position) * profile.tp_weight / scaled_sigmoid(-1.0)
        previous = np.searchsorted(lasts, rows, side="left") - 1
        p = np.maximum(previous, 0)
        past = np.where(
            previous >= 0, np.abs(lasts[p] - rows) / np.maximum(widths[p] - 1.0, 1.0), 3.0
        )
        weight = np.where(inside, weight, _sigmoid(past) * profile.fp_weight)
    else:
        weight = np.full(n, -profile.fp_weight)
    window = np.where(inside, window_at + first_window_id, -1)
    keep = rows >= probation
    perfect: dict[int, float] = {}
    for i in np.nonzero(keep & inside)[0]:
        perfect.setdefault(int(window[i]), float(weight[i]))
    scores = np.asarray(file.scores, dtype=np.float64)
    return scores[keep], weight[keep], window[keep], perfect


@dataclass(frozen=True)
class _Sweep:
    """Every candidate threshold (descending) with the corpus total and counts at it."""

    thresholds: NDArray[np.float64]
    totals: NDArray[np.float64]
    detected: NDArray[np.int64]
    false_positives: NDArray[np.int64]
    null: float
    perfect: float
    windows: int


def _sweep(
    files: Iterable[LabeledScores], profile: CostProfile, probation_percent: float
) -> _Sweep:
    parts = []
    perfect: dict[int, float] = {}
    next_id = 0
    for file in files:
        scores, weights, window, file_perfect = _sweep_rows(
            file, profile, next_id, probation_percent
        )
        parts.append((scores, weights, window))
        perfect.update(file_perfect)
        next_id += len(file.windows)
    scores = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
    weights = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)
    window = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    scores, weights, window = scores[order], weights[order], window[order]
    outside = window < 0
    fp_sum = np.cumsum(np.where(outside, weights, 0.0))
    fp_count = np.cumsum(outside, dtype=np.int64)
    # In each window only the best (earliest) detection so far counts.
    at = np.nonzero(~outside)[0]
    ids = window[at]
    grouped = at[np.argsort(ids, kind="stable")]
    gid = window[grouped]
    best = np.maximum.accumulate(weights[grouped] + 10.0 * gid) - 10.0 * gid
    first = np.ones(len(grouped), dtype=np.bool_)
    first[1:] = gid[1:] != gid[:-1]
    previous = np.where(first, 0.0, np.concatenate([[0.0], best[:-1]]))
    gain = np.zeros(len(scores))
    gain[grouped] = best - previous
    new = np.zeros(len(scores), dtype=np.int64)
    new[grouped] = first
    tp_sum = np.cumsum(gain)
    detected = np.cumsum(new)
    ends = np.nonzero(np.append(scores[1:] != scores[:-1], True))[0] if len(scores) else at
    windows = len(perfect)
    totals = tp_sum[ends] + fp_sum[ends] - profile.fn_weight * (windows - detected[ends])
    return _Sweep(
        thresholds=scores[ends],
        totals=totals,
        detected=detected[ends],
        false_positives=fp_count[ends],
        null=-profile.fn_weight * windows,
        perfect=sum(perfect.values()),
        windows=windows,
    )


def _result(sweep: _Sweep, profile: CostProfile, at: int | None) -> ProfileResult:
    if at is None:
        return ProfileResult(profile.name, math.inf, sweep.null, sweep.null, sweep.perfect,
                             0, 0, sweep.windows)
    detected = int(sweep.detected[at])
    return ProfileResult(
        profile=profile.name,
        threshold=float(sweep.thresholds[at]),
        raw=float(sweep.totals[at]),
        null=sweep.null,
        perfect=sweep.perfect,
        true_positives=detected,
        false_positives=int(sweep.false_positives[at]),
        false_negatives=sweep.windows - detected,
    )


def score_profile(
    files: Iterable[LabeledScores],
    profile: CostProfile,
    probation_percent: float = PROBATION_PERCENT,
) -> ProfileResult:
    """Sweep the threshold over the whole corpus and keep the best one for ``profile``."""
    sweep = _sweep(files, profile, probation_percent)
    if not len(sweep.totals) or sweep.totals.max() <= sweep.null:
        return _result(sweep, profile, None)
    return _result(sweep, profile, int(np.argmax(sweep.totals)))


def score_at_threshold(
    files: Iterable[LabeledScores],
    profile: CostProfile,
    threshold: float,
    probation_percent: float = PROBATION_PERCENT,
) -> ProfileResult:
    """``profile``'s result with a given threshold (rows scoring at least it detect).

    >>> scores = [0.0] * 100
    >>> scores[40], scores[10] = 0.9, 0.5
    >>> file = LabeledScores("f", scores, [(40, 49)])
    >>> r = score_at_threshold([file], PROFILES["standard"], 0.5, 0.0)
    >>> r.true_positives, r.false_positives
    (1, 1)
    """
    sweep = _sweep(files, profile, probation_percent)
    reached = np.nonzero(sweep.thresholds >= threshold)[0]
    return _result(sweep, profile, int(reached[-1]) if len(reached) else None)


def score_corpus(
    files: Sequence[LabeledScores],
    profiles: Iterable[CostProfile] = PROFILES.values(),
    probation_percent: float = PROBATION_PERCENT,
) -> dict[str, ProfileResult]:
    """Every profile's result on ``files``.

    A hand-checkable case: 100 rows, no probation, one window over rows 40-49, and a detector
    that fires only on row 40 (the window's left edge) scores the perfect 100:

    >>> scores = [0.0] * 100
    >>> scores[40] = 1.0
    >>> result = score_corpus([LabeledScores("f", scores, [(40, 49)])], probation_percent=0.0)
    >>> round(result["standard"].normalized, 6)
    100.0
    """
    return {p.name: score_profile(files, p, probation_percent) for p in profiles}
