"""Detectors built on river's HalfSpaceTrees.

- :func:`scaled_half_space_trees` is the reference every other detector is measured against:
  ``preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees()`` with river's default parameters,
  on the raw value alone.
- :class:`WindowedHalfSpaceTrees` feeds HalfSpaceTrees a small window of derived features
  (the step from the previous value and the distance from the recent mean, standardized), so
  that a jump that stays within the historical range is still out of the ordinary.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable
from typing import Any

from river import anomaly, compose, preprocessing, stats
from river import base as river_base


def scaled_half_space_trees(seed: int = 42) -> compose.Pipeline:
    """river's HalfSpaceTrees with default parameters after a MinMaxScaler."""
    return preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(seed=seed)


class ReferenceTrees(river_base.AnomalyDetector):
    """:func:`scaled_half_space_trees` on ``x["value"]``, with the detector contract.

    >>> model = ReferenceTrees()
    >>> for i in range(300):
    ...     model.learn_one({"value": float(i % 7)})
    >>> 0.0 <= model.score_one({"value": 3.0}) <= 1.0
    True
    """

    def __init__(self, seed: int = 42) -> None:
        self.seed = seed
        self._pipeline = scaled_half_space_trees(seed)
        self._last = 0.0
        self.drift_detected = False

    def expected_one(self, x: dict[Hashable, Any]) -> float:
        return self._last

    def score_one(self, x: dict[Hashable, Any]) -> float:
        return float(self._pipeline.score_one({"value": float(x["value"])}))

    def learn_one(self, x: dict[Hashable, Any]) -> None:
        self._last = float(x["value"])
        self._pipeline.learn_one({"value": self._last})


class WindowedHalfSpaceTrees(river_base.AnomalyDetector):
    """HalfSpaceTrees over standardized features of the last ``window`` values.

    The features are the value's distance from the recent mean and its step from the previous
    value, each in units of its running standard deviation (``river.stats.EWMean`` and
    ``EWVar``) and squashed into (0, 1) with ``0.5 + 0.5 * tanh(z / squash)``. Unlike a
    MinMaxScaler, which maps every point beyond the seen range onto the edge, the squashing
    keeps far outliers in the sparsely populated corners where HalfSpaceTrees sees little mass.

    Parameters
    ----------
    window
        Number of recent values the mean is computed over.
    fading
        Fading factor of the running standard deviations.
    squash
        Scale of the tanh squashing, in standard deviations.
    n_trees, height, tree_window
        HalfSpaceTrees' parameters.
    seed
        Random seed of the trees.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(5)
    >>> model = WindowedHalfSpaceTrees()
    >>> for _ in range(600):
    ...     model.learn_one({"value": 10 + rng.gauss(0, 1)})
    >>> model.score_one({"value": 10.0}) < model.score_one({"value": 40.0})
    True
    """

    def __init__(
        self,
        window: int = 6,
        fading: float = 0.02,
        squash: float = 4.0,
        n_trees: int = 10,
        height: int = 8,
        tree_window: int = 250,
        seed: int = 42,
    ) -> None:
        self.window = window
        self.fading = fading
        self.squash = squash
        self.n_trees = n_trees
        self.height = height
        self.tree_window = tree_window
        self.seed = seed
        self._recent: deque[float] = deque(maxlen=window)
        self._distance_var = stats.EWVar(fading)
        self._step_var = stats.EWVar(fading)
        self._trees = anomaly.HalfSpaceTrees(
            n_trees=n_trees,
            height=height,
            window_size=tree_window,
            limits={"distance": (0.0, 1.0), "step": (0.0, 1.0)},
            seed=seed,
        )
        self.drift_detected = False

    def _squashed(self, x: float, variance: float) -> float:
        std = math.sqrt(max(variance, 0.0))
        if std <= 0.0:
            return 0.5 if x == 0.0 else 0.5 + 0.5 * math.copysign(1.0, x)
        return 0.5 + 0.5 * math.tanh(x / (self.squash * std))

    def _raw_features(self, value: float) -> tuple[float, float]:
        if not self._recent:
            return 0.0, 0.0
        return value - sum(self._recent) / len(self._recent), value - self._recent[-1]

    def _features(self, value: float) -> dict[Hashable, float]:
        distance, step = self._raw_features(value)
        return {
            "distance": self._squashed(distance, float(self._distance_var.get())),
            "step": self._squashed(step, float(self._step_var.get())),
        }

    def expected_one(self, x: dict[Hashable, Any]) -> float:
        return sum(self._recent) / len(self._recent) if self._recent else float(x["value"])

    def score_one(self, x: dict[Hashable, Any]) -> float:
        """``-log(1 - s)`` of HalfSpaceTrees' score ``s``: spreads the scores crowded near 1."""
        score = float(self._trees.score_one(self._features(float(x["value"]))))  # type: ignore[no-untyped-call]
        return -math.log(max(1.0 - score, 1e-6))

    def learn_one(self, x: dict[Hashable, Any]) -> None:
        value = float(x["value"])
        self._trees.learn_one(self._features(value))  # type: ignore[no-untyped-call]
        if self._recent:
            distance, step = self._raw_features(value)
            self._distance_var.update(distance)
            self._step_var.update(step)
        self._recent.append(value)
