"""Calibration: turn a model's raw scores into an anomaly probability in [0, 1].

Raw scores of different models (a z-score, a forecast error, a tree mass) live on different
scales, and even one model's scores differ from stream to stream: a noisy queue depth yields
larger z-scores than a smooth CPU curve. The calibrator therefore judges a raw score only
against the same stream's past raw scores:

1. ``short`` is an exponentially weighted mean of the last few raw scores (one outlier is
   enough to move it; a lasting deviation keeps it up);
2. ``long`` is the long-term distribution (mean and variance, exponentially weighted with a
   slow fading factor) of that short-term mean;
3. the probability is one minus the upper tail of ``short`` against ``long``, under a
   Laplace (exponential-tailed) law with that mean and variance.

Because the reference distribution is the stream's own, the alarm threshold on the
probability adapts to the stream: a stream that is always jumpy needs a larger jump to alarm.
Raw scores are capped, and short-term means winsorized at ``winsor`` standard deviations,
before they enter the long-term statistics, so that one incident does not blind the
calibrator for days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray
from river import stats

FloatOrArray = TypeVar("FloatOrArray", float, NDArray[np.float64])


def upper_tail(z: FloatOrArray) -> FloatOrArray:
    """P(Z > z) for a Laplace variable Z with mean 0 and standard deviation 1.

    A heavy (exponential) tail rather than a Gaussian one: production metrics have more
    extreme points than a normal law predicts, and an exponential tail keeps extreme scores
    distinct in float64 (a Gaussian tail rounds ``1 - tail`` to exactly 1 from z = 8.3 on,
    where the Laplace tail still separates scores up to z = 25). Written with numpy
    operations so that the bank and the per-stream detector compute the same numbers.

    >>> float(upper_tail(0.0))
    0.5
    >>> round(float(upper_tail(3.0)), 5), round(float(upper_tail(-3.0)), 5)
    (0.00718, 0.99282)
    >>> 1.0 - float(upper_tail(20.0)) < 1.0
    True
    """
    x = np.asarray(z, dtype=np.float64) * math.sqrt(2.0)
    half = 0.5 * np.exp(-np.abs(x))
    result = np.where(x >= 0.0, half, 1.0 - half)
    if isinstance(z, float):
        return float(result)
    return result


@dataclass(frozen=True)
class CalibrationConfig:
    """Parameters of :class:`TailProbability` (and of the bank's calibration)."""

    short_fading: float = 0.3
    """Fading factor of the short-term mean of raw scores (1 = only the last score)."""
    long_fading: float = 0.002
    """Fading factor of the long-term distribution (about 1/memory in points). Until a stream
    has that many points, its scores weigh equally (rate ``max(long_fading, 1/n)``): the
    distribution of a young stream is its whole history, not its first score."""
    raw_cap: float = 30.0
    """Raw scores are capped at this value before calibration."""
    min_std: float = 0.05
    """Floor of the long-term standard deviation, so a dead-calm history cannot alarm on dust."""
    winsor: float = 4.0
    """Short-term means are learned at most this many standard deviations above the mean."""


class TailProbability:
    """Calibrates raw anomaly scores of one stream into probabilities, on ``river.stats``.

    ``probability(raw)`` does not learn; ``learn(raw)`` does. Call them in that order for
    each point (score, then learn).

    >>> calibrator = TailProbability()
    >>> for raw in [0.5, 1.0, 0.7, 1.2, 0.9] * 40:
    ...     calibrator.learn(raw)
    >>> calibrator.probability(0.9) < 0.99
    True
    >>> calibrator.probability(25.0) > 0.9999
    True
    """

    def __init__(self, config: CalibrationConfig | None = None) -> None:
        self.config = config if config is not None else CalibrationConfig()
        self._short = stats.EWMean(self.config.short_fading)
        self._long_mean = 0.0
        self._long_var = 0.0
        self._n = 0

    def _short_with(self, raw: float) -> float:
        capped = min(raw, self.config.raw_cap)
        if self._n == 0:
            return capped
        previous = float(self._short.get())
        return previous + self.config.short_fading * (capped - previous)

    def _std(self) -> float:
        return max(math.sqrt(max(self._long_var, 0.0)), self.config.min_std)

    def probability(self, raw: float) -> float:
        """The calibrated probability that ``raw`` is anomalous, without learning it."""
        if self._n == 0:
            return 0.0
        short = self._short_with(raw)
        z = (short - self._long_mean) / self._std()
        return 1.0 - upper_tail(z)

    def learn(self, raw: float) -> None:
        """Add ``raw`` to the stream's history of raw scores."""
        short = self._short_with(raw)
        self._short.update(min(raw, self.config.raw_cap))
        if self._n == 0:
            self._long_mean, self._long_var = short, 0.0
        else:
            short = min(short, self._long_mean + self.config.winsor * self._std())
            rate = max(self.config.long_fading, 1.0 / (self._n + 1))
            diff = short - self._long_mean
            increment = rate * diff
            self._long_mean += increment
            self._long_var = (1.0 - rate) * (self._long_var + diff * increment)
        self._n += 1
