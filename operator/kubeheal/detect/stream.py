"""One detector for one stream: input hygiene, a raw model, calibration and warm-up.

:class:`StreamDetector` is the unit the rest of kubeheal reasons about. For each point it

1. asks the :class:`~kubeheal.detect.hygiene.InputGate` whether the point may be used;
2. scores the point with the raw model (a river anomaly detector that also says what value it
   expected), *then* lets the model learn it (river's order: score, then learn);
3. turns the raw score into a probability with
   :class:`~kubeheal.detect.calibration.TailProbability`;
4. reports ``WARMING_UP`` instead of a score until ``warmup`` points were learned.

With ``calibrated=False`` the raw score, clipped to [0, 1], is reported as the probability
(for models such as HalfSpaceTrees whose scores are already in [0, 1]; used by the reference).

Warm-up from history (for example a Prometheus ``query_range``) is just feeding the past
points through :meth:`StreamDetector.warm_up` before the first live tick.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, Protocol

from kubeheal.detect.calibration import CalibrationConfig, TailProbability
from kubeheal.detect.hygiene import GateConfig, InputGate
from kubeheal.detect.values import AnomalyScore, InputCounters, PointStatus


class RawModel(Protocol):
    """What :class:`StreamDetector` needs from a model (a river anomaly detector plus two names).

    ``x`` is ``{"timestamp": t, "value": v}``.
    """

    drift_detected: bool

    def score_one(self, x: dict[Hashable, Any]) -> float: ...

    def learn_one(self, x: dict[Hashable, Any]) -> None: ...

    def expected_one(self, x: dict[Hashable, Any]) -> float: ...


class StreamDetector:
    """Scores then learns the points of one (runbook, workload, signal) stream.

    >>> from kubeheal.detect.baseline import RobustZScore
    >>> detector = StreamDetector(RobustZScore(), warmup=20)
    >>> detector.warm_up((60.0 * i, 5.0 + (i % 3) * 0.1) for i in range(100))
    100
    >>> detector.ready
    True
    >>> normal = detector.update(6000.0, 5.1)
    >>> normal.ready, normal.probability < 0.99
    (True, True)
    >>> spike = detector.update(6060.0, 9.0)
    >>> spike.probability > 0.9999, spike.observed, round(spike.expected, 2)
    (True, 9.0, 5.1)
    >>> detector.update(6060.0, float("nan")).status.name
    'SKIPPED'
    >>> detector.counters.non_finite
    1
    """

    def __init__(
        self,
        model: RawModel,
        *,
        warmup: int = 30,
        calibration: CalibrationConfig | None = None,
        gate: GateConfig | None = None,
        calibrated: bool = True,
    ) -> None:
        self.model = model
        self.calibrated = calibrated
        self.warmup = warmup
        self.calibrator = TailProbability(calibration)
        self.gate = InputGate(gate)
        self.learned = 0

    @property
    def counters(self) -> InputCounters:
        """Counts of points that were skipped or irregular, and of confirmed drifts."""
        return self.gate.counters

    @property
    def ready(self) -> bool:
        """True once ``warmup`` points were learned: scores are meaningful from then on."""
        return self.learned >= self.warmup

    def update(self, timestamp: float, value: float) -> AnomalyScore:
        """Score the point, then learn it."""
        timestamp = float(timestamp)
        value = float(value)
        if not self.gate.admit(timestamp, value):
            return AnomalyScore(timestamp, value, value, 0.0, 0.0, PointStatus.SKIPPED)
        x: dict[Hashable, Any] = {"timestamp": timestamp, "value": value}
        expected = float(self.model.expected_one(x))
        raw = float(self.model.score_one(x))
        ready = self.ready
        probability = 0.0
        if ready:
            probability = (
                self.calibrator.probability(raw) if self.calibrated else min(max(raw, 0.0), 1.0)
            )
        self.model.learn_one(x)
        if self.calibrated and self.learned >= self.warmup // 2:
            self.calibrator.learn(raw)
        self.learned += 1
        drifted = bool(self.model.drift_detected)
        if drifted:
            self.counters.drifts += 1
        status = PointStatus.SCORED if ready else PointStatus.WARMING_UP
        return AnomalyScore(timestamp, value, expected, raw, probability, status, drifted)

    def warm_up(self, points: Iterable[tuple[float, float]]) -> int:
        """Learn past points before going live; returns how many were accepted."""
        accepted = 0
        for timestamp, value in points:
            if self.update(timestamp, value).status is not PointStatus.SKIPPED:
                accepted += 1
        return accepted
