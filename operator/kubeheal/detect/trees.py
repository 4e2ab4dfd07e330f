"""The reference detector: river's HalfSpaceTrees, as a user would first try it.

:func:`scaled_half_space_trees` is what every other detector is measured against:
``preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees()`` with river's default parameters,
on the raw value alone. A kubeheal detector that does not beat it on real labelled data has
no reason to exist.
"""

from __future__ import annotations

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

    def expected_one(self, x: dict[Hashable, Any]) -> float:
        return self._last

    def score_one(self, x: dict[Hashable, Any]) -> float:
        return float(self._pipeline.score_one({"value": float(x["value"])}))

    def learn_one(self, x: dict[Hashable, Any]) -> None:
        self._last = float(x["value"])
        self._pipeline.learn_one({"value": self._last})
