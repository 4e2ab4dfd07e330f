"""Detectors built on river's HalfSpaceTrees.

- :func:`scaled_half_space_trees` is the reference every other detector is measured against:
  ``preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees()`` with river's default parameters,
  on the raw value alone.
- :class:`WindowedHalfSpaceTrees` feeds HalfSpaceTrees a small window of derived features
  (the value, its step from the previous value, its distance from the recent mean), so that a
  jump that stays within the historical range is still out of the ordinary.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable
from typing import Any

from river import anomaly, compose, preprocessing
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
    """HalfSpaceTrees over derived features of the last ``window`` values.

    Parameters
    ----------
    window
        Number of recent values the features are computed from.
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
        n_trees: int = 10,
        height: int = 8,
        tree_window: int = 250,
        seed: int = 42,
    ) -> None:
        self.window = window
        self.n_trees = n_trees
        self.height = height
        self.tree_window = tree_window
        self.seed = seed
        self._recent: deque[float] = deque(maxlen=window)
        self._pipeline = preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(
            n_trees=n_trees, height=height, window_size=tree_window, seed=seed
        )
        self.drift_detected = False

    def _features(self, value: float) -> dict[str, float]:
        if not self._recent:
            return {"value": value, "step": 0.0, "from_mean": 0.0}
        mean = sum(self._recent) / len(self._recent)
        return {"value": value, "step": value - self._recent[-1], "from_mean": value - mean}

    def expected_one(self, x: dict[Hashable, Any]) -> float:
        return sum(self._recent) / len(self._recent) if self._recent else float(x["value"])

    def score_one(self, x: dict[Hashable, Any]) -> float:
        """``-log(1 - s)`` of HalfSpaceTrees' score ``s``: spreads the scores crowded near 1."""
        score = float(self._pipeline.score_one(self._features(float(x["value"]))))
        return -math.log(max(1.0 - score, 1e-6))

    def learn_one(self, x: dict[Hashable, Any]) -> None:
        value = float(x["value"])
        self._pipeline.learn_one(self._features(value))
        self._recent.append(value)
