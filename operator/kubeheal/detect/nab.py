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


@dataclass(frozen=True)
class _Row:
    score: float
    weight: float  # weighted sweep score
    window: int  # corpus-wide window id, or -1 outside windows


def _sweep_rows(
    file: LabeledScores, profile: CostProfile, first_window_id: int, probation_percent: float
) -> tuple[list[_Row], dict[int, float]]:
    """The scorable rows of one file, and the perfect reward of each of its scorable windows."""
    n = len(file.scores)
    probation = probationary_length(n, probation_percent)
    max_tp = scaled_sigmoid(-1.0)
    windows = sorted(file.windows)
    rows: list[_Row] = []
    perfect: dict[int, float] = {}
    window_at = np.full(n, -1, dtype=np.int64)
    for k, (first, last) in enumerate(windows):
        window_at[max(first, 0) : min(last, n - 1) + 1] = k
    previous_right: int | None = None
    previous_width = 0.0
    scores = [float(s) for s in file.scores]
    for i in range(n):
        k = int(window_at[i])
        if k >= 0:
            first, last = windows[k]
            width = float(last - first + 1)
            position = -(last - i + 1) / width
            weight = scaled_sigmoid(position) * profile.tp_weight / max_tp
            window = first_window_id + k
        else:
            if previous_right is None:
                past = 3.0
            else:
                past = abs(previous_right - i) / max(previous_width - 1.0, 1.0)
            weight = scaled_sigmoid(past) * profile.fp_weight
            window = -1
        if i >= probation:
            rows.append(_Row(scores[i], weight, window))
            if window >= 0 and window not in perfect:
                perfect[window] = weight
        if k >= 0 and i == windows[k][1]:
            previous_right = i
            previous_width = float(windows[k][1] - windows[k][0] + 1)
    return rows, perfect


def score_profile(
    files: Iterable[LabeledScores],
    profile: CostProfile,
    probation_percent: float = PROBATION_PERCENT,
) -> ProfileResult:
    """Sweep the threshold over the whole corpus and keep the best one for ``profile``."""
    rows: list[_Row] = []
    perfect: dict[int, float] = {}
    next_id = 0
    for file in files:
        file_rows, file_perfect = _sweep_rows(file, profile, next_id, probation_percent)
        rows.extend(file_rows)
        perfect.update(file_perfect)
        next_id += len(file.windows)
    rows.sort(key=lambda row: row.score, reverse=True)
    null = -profile.fn_weight * len(perfect)
    best = (null, math.inf, 0, 0, len(perfect))
    window_best: dict[int, float] = {}
    fp_sum = 0.0
    tp_sum = 0.0
    false_positives = 0
    j = 0
    while j < len(rows):
        threshold = rows[j].score
        while j < len(rows) and rows[j].score == threshold:
            row = rows[j]
            if row.window < 0:
                fp_sum += row.weight
                false_positives += 1
            elif row.window not in window_best:
                window_best[row.window] = row.weight
                tp_sum += row.weight
            elif row.weight > window_best[row.window]:
                tp_sum += row.weight - window_best[row.window]
                window_best[row.window] = row.weight
            j += 1
        detected = len(window_best)
        total = tp_sum + fp_sum - profile.fn_weight * (len(perfect) - detected)
        if total > best[0]:
            best = (total, threshold, detected, false_positives, len(perfect) - detected)
    raw, threshold, tp, fp, fn = best
    return ProfileResult(
        profile=profile.name,
        threshold=threshold,
        raw=raw,
        null=null,
        perfect=sum(perfect.values()),
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
    )


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
