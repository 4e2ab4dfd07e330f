"""The robust baseline: a Huber-clipped exponentially weighted level and scale, with re-baselining.

The model expects the next value to be the current *level* plus one step of *trend* (Holt's
linear exponential smoothing, which follows daily cycles with little lag)
and measures surprise in units of the current *scale* (an exponentially weighted mean absolute
deviation, turned into a standard-deviation equivalent). Both are updated with residuals
clipped at ``huber`` scales, so a spike moves neither of them much: the next spike is still a
surprise. That robustness has a price after a genuine level shift, where the clipped level
would take long to catch up; a Page-Hinkley test (``river.drift.PageHinkley``) on the signed,
clipped z-scores confirms such a shift within a few points, and the model then re-baselines
(the level jumps to the new value) instead of alarming for hours.

A metric that freezes (an exporter stuck on its last value) is the opposite of a spike: no
residual at all. The model counts exact repeats and scores a run of them by how rarely this
stream repeats itself.

This is the model behind the default detector; :mod:`kubeheal.detect.bank` runs the same
arithmetic over thousands of streams at once.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

from river import base as river_base
from river import drift

MAD_TO_STD = math.sqrt(math.pi / 2.0)
"""Ratio of the standard deviation to the mean absolute deviation of a normal distribution."""


class RobustZScore(river_base.AnomalyDetector):
    """Robust z-score of each value against an adaptive level and scale.

    Parameters
    ----------
    level_fading
        Fading factor of the level (higher follows faster).
    trend_fading
        Fading factor of the trend (Holt's linear method), relative to the level's.
    scale_fading
        Fading factor of the mean absolute deviation.
    huber
        Residuals are clipped at this many scales before they are learned.
    warmup
        Points learned with plain (unclipped, ``1/n``-weighted) updates.
    min_scale
        Absolute floor of the scale, in the unit of the values.
    relative_min_scale
        Floor of the scale relative to the level's magnitude.
    drift_threshold, drift_alpha, drift_delta, drift_clip
        The Page-Hinkley test on z-scores clipped at ``drift_clip``.
    repeat_fading, max_run, min_repeat_rate
        The stuck-metric test: a run of ``r`` exact repeats of the last value, in a stream
        that repeats itself with rate ``p``, is as surprising as ``p ** r`` (``r`` capped at
        ``max_run``, ``p`` floored at ``min_repeat_rate``). Repeats do not shrink the scale,
        so a frozen exporter neither hides its freeze nor makes its recovery look anomalous.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(7)
    >>> model = RobustZScore()
    >>> for _ in range(200):
    ...     model.learn_one({"value": 10.0 + rng.gauss(0.0, 1.0)})
    >>> model.score_one({"value": 11.0}) < 3.0
    True
    >>> model.score_one({"value": 30.0}) > 10.0
    True
    >>> shifted = []
    >>> for _ in range(30):
    ...     model.learn_one({"value": 50.0 + rng.gauss(0.0, 1.0)})
    ...     shifted.append(model.drift_detected)
    >>> any(shifted[:10]), model.drifts, abs(model.expected_one({}) - 50.0) < 3.0
    (True, 1, True)
    """

    def __init__(
        self,
        level_fading: float = 0.1,
        trend_fading: float = 0.2,
        scale_fading: float = 0.02,
        huber: float = 3.0,
        warmup: int = 30,
        min_scale: float = 1e-9,
        relative_min_scale: float = 1e-4,
        drift_threshold: float = 25.0,
        drift_alpha: float = 0.9,
        drift_delta: float = 0.005,
        drift_clip: float = 6.0,
        repeat_fading: float = 0.02,
        max_run: int = 10,
        min_repeat_rate: float = 1e-3,
    ) -> None:
        self.level_fading = level_fading
        self.trend_fading = trend_fading
        self.scale_fading = scale_fading
        self.huber = huber
        self.warmup = warmup
        self.min_scale = min_scale
        self.relative_min_scale = relative_min_scale
        self.drift_threshold = drift_threshold
        self.drift_alpha = drift_alpha
        self.drift_delta = drift_delta
        self.drift_clip = drift_clip
        self.repeat_fading = repeat_fading
        self.max_run = max_run
        self.min_repeat_rate = min_repeat_rate
        self.n = 0
        self.last = 0.0
        self.run = 0
        self.repeat_rate = 0.0
        self.level = 0.0
        self.trend = 0.0
        self.mad = 0.0
        self.drifts = 0
        self.drift_detected = False
        self._page_hinkley = drift.PageHinkley(
            min_instances=warmup,
            delta=drift_delta,
            threshold=drift_threshold,
            alpha=drift_alpha,
        )

    def sigma(self) -> float:
        """The current scale as a standard deviation, never below its floors."""
        floor = max(self.min_scale, self.relative_min_scale * abs(self.level))
        return max(self.mad * MAD_TO_STD, floor)

    def expected_one(self, x: dict[Hashable, Any]) -> float:
        """The value the model expects next: the level plus one step of trend."""
        return self.level + self.trend

    def stuck_score(self, run: int) -> float:
        """How surprising ``run`` exact repeats are, as a z-score (``sqrt(2 ln 1/p**run)``)."""
        rate = max(self.repeat_rate, self.min_repeat_rate)
        return math.sqrt(2.0 * min(run, self.max_run) * -math.log(rate))

    def score_one(self, x: dict[Hashable, Any]) -> float:
        """Robust z-score of ``x["value"]``, or its stuck score if larger; 0 at first."""
        if self.n == 0:
            return 0.0
        value = float(x["value"])
        z = abs(value - (self.level + self.trend)) / self.sigma()
        if value == self.last:
            return max(z, self.stuck_score(self.run + 1))
        return z

    def learn_one(self, x: dict[Hashable, Any]) -> None:
        value = float(x["value"])
        self.drift_detected = False
        self.n += 1
        if self.n == 1:
            self.level = value
            self.last = value
            return
        repeat = value == self.last
        self.run = self.run + 1 if repeat else 0
        repeat_rate = max(self.repeat_fading, 1.0 / (self.n - 1))
        self.repeat_rate += repeat_rate * (float(repeat) - self.repeat_rate)
        self.last = value
        sigma = self.sigma()
        residual = value - (self.level + self.trend)
        warm = self.n > self.warmup
        if warm:
            bound = self.huber * sigma
            clipped = min(max(residual, -bound), bound)
            deviation = min(abs(residual), bound / MAD_TO_STD)
        else:
            clipped = residual
            deviation = abs(residual)
        level_rate = max(self.level_fading, 1.0 / self.n)
        scale_rate = max(self.scale_fading, 1.0 / (self.n - 1))
        self.level += self.trend + level_rate * clipped
        self.trend += self.trend_fading * level_rate * clipped
        if not repeat:
            self.mad += scale_rate * (deviation - self.mad)
        if warm:
            z = min(max(residual / sigma, -self.drift_clip), self.drift_clip)
            self._page_hinkley.update(z)  # type: ignore[no-untyped-call]
            if self._page_hinkley.drift_detected:
                self.level = value
                self.trend = 0.0
                self.drifts += 1
                self.drift_detected = True
