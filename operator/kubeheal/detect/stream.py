"""One detector for one stream: input hygiene, a model, and warm-up.

:class:`StreamDetector` is the unit the rest of kubeheal reasons about. For each point it

1. asks the :class:`~kubeheal.detect.hygiene.InputGate` whether the point may be used;
2. lets the model score the point, *then* learn it (river's order: score, then learn);
3. reports ``WARMING_UP`` instead of a score until ``warmup`` points were learned.

The models are small adapters (:class:`PointModel`): the default
(:class:`~kubeheal.detect.novelty.NoveltyModel`) computes its probability itself; a river
anomaly detector whose scores lie in [0, 1] (HalfSpaceTrees, the reference) is wrapped by
:class:`RiverModel`, which reports its score clipped to [0, 1].

Warm-up from history (for example a Prometheus ``query_range``) is just feeding the past
points through :meth:`StreamDetector.warm_up` before the first live tick.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from kubeheal.detect.hygiene import GateConfig, InputGate
from kubeheal.detect.novelty import NoveltyConfig, NoveltyModel
from kubeheal.detect.values import AnomalyScore, InputCounters, PointStatus


@dataclass(frozen=True)
class ModelOutput:
    """What a model says about one point, before the detector's warm-up applies."""

    expected: float
    raw: float
    probability: float
    onset: float
    zscore: float = math.nan


class PointModel(Protocol):
    """Scores a value, then learns it. ``warmup`` is the number of points before scores count."""

    warmup: int

    def observe(self, timestamp: float, value: float) -> ModelOutput: ...


class RiverDetector(Protocol):
    """The part of a river anomaly detector :class:`RiverModel` uses, plus ``expected_one``."""

    def score_one(self, x: dict[Hashable, Any]) -> float: ...

    def learn_one(self, x: dict[Hashable, Any]) -> None: ...

    def expected_one(self, x: dict[Hashable, Any]) -> float: ...


class RiverModel:
    """A river anomaly detector with scores in [0, 1], reported as they are (clipped)."""

    def __init__(self, model: RiverDetector, warmup: int = 1) -> None:
        self.model = model
        self.warmup = warmup

    def observe(self, timestamp: float, value: float) -> ModelOutput:
        x: dict[Hashable, Any] = {"timestamp": timestamp, "value": value}
        expected = float(self.model.expected_one(x))
        raw = float(self.model.score_one(x))
        probability = min(max(raw, 0.0), 1.0) if math.isfinite(raw) else 0.0
        self.model.learn_one(x)
        return ModelOutput(expected, raw, probability, probability)


class Novelty:
    """:class:`~kubeheal.detect.novelty.NoveltyModel` as a :class:`PointModel`."""

    def __init__(self, config: NoveltyConfig | None = None) -> None:
        self.model = NoveltyModel(config)

    @property
    def warmup(self) -> int:
        return self.model.warmup

    @warmup.setter
    def warmup(self, points: int) -> None:
        self.model.warmup = points

    def observe(self, timestamp: float, value: float) -> ModelOutput:
        expected, z, probability, onset, _ = self.model.update(value)
        return ModelOutput(expected, z, probability, onset, self.model.z_value)


class StreamDetector:
    """Scores then learns the points of one (runbook, workload, signal) stream.

    >>> detector = StreamDetector(Novelty(), warmup=100)
    >>> detector.warm_up((60.0 * i, 5.0 + (i % 3) * 0.1) for i in range(300))
    300
    >>> detector.ready
    True
    >>> normal = detector.update(18000.0, 5.0)
    >>> normal.ready, normal.probability < 0.99
    (True, True)
    >>> spike = detector.update(18060.0, 9.0)
    >>> spike.probability > 0.999, spike.observed
    (True, 9.0)
    >>> detector.update(18060.0, float("nan")).status.name
    'SKIPPED'
    >>> detector.counters.non_finite
    1
    """

    def __init__(
        self, model: PointModel, *, warmup: int | None = None, gate: GateConfig | None = None
    ) -> None:
        self.model = model
        if warmup is not None:
            model.warmup = warmup
        self.gate = InputGate(gate)
        self.learned = 0

    @property
    def warmup(self) -> int:
        """Points learned before scores are reported."""
        return self.model.warmup

    @warmup.setter
    def warmup(self, points: int) -> None:
        self.model.warmup = points

    @property
    def counters(self) -> InputCounters:
        """Counts of points that were skipped or irregular."""
        return self.gate.counters

    @property
    def ready(self) -> bool:
        """True once ``warmup`` points were learned: scores are meaningful from then on."""
        return self.learned >= self.warmup

    def update(self, timestamp: float, value: float, learn: bool = True) -> AnomalyScore:
        """Score the point, then learn it; with ``learn`` false the model learns nothing of it
        (the input gate still sees it, as the bank's ``score_and_learn`` does)."""
        timestamp = float(timestamp)
        value = float(value)
        if not self.gate.admit(timestamp, value):
            return AnomalyScore(timestamp, value, value, 0.0, 0.0, PointStatus.SKIPPED)
        ready = self.ready
        saved = None if learn else copy.deepcopy(self.model)
        out = self.model.observe(timestamp, value)
        if saved is None:
            self.learned += 1
        else:
            self.model = saved
        if not ready:
            return AnomalyScore(
                timestamp, value, out.expected, out.raw, 0.0, PointStatus.WARMING_UP,
                onset=0.0, zscore=out.zscore,
            )
        return AnomalyScore(
            timestamp, value, out.expected, out.raw, out.probability, PointStatus.SCORED,
            onset=out.onset, zscore=out.zscore,
        )

    def warm_up(self, points: Iterable[tuple[float, float]]) -> int:
        """Learn past points before going live; returns how many were accepted."""
        accepted = 0
        for timestamp, value in points:
            if self.update(timestamp, value).status is not PointStatus.SKIPPED:
                accepted += 1
        return accepted
