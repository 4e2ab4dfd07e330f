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
        self.n = 0
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

    def score_one(self, x: dict[Hashable, Any]) -> float:
        """Absolute robust z-score of ``x["value"]``; 0 before the first point."""
        if self.n == 0:
            return 0.0
        return abs(float(x["value"]) - (self.level + self.trend)) / self.sigma()

    def learn_one(self, x: dict[Hashable, Any]) -> None:
        value = float(x["value"])
        self.drift_detected = False
        self.n += 1
        if self.n == 1:
            self.level = value
            return
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
        self.mad += scale_rate * (deviation - self.mad)
        if warm:
            z = min(max(residual / sigma, -self.drift_clip), self.drift_clip)
            self._page_hinkley.update(z)  # type: ignore[no-untyped-call]
            if self._page_hinkley.drift_detected:
                self.level = value
                self.trend = 0.0
                self.drifts += 1
                self.drift_detected = True
