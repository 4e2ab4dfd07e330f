"""Property tests: finite input gives finite scores in range, and state stays bounded."""

from __future__ import annotations

import math
import pickle

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeheal.detect import DETECTORS, DetectorBank, PointStatus
from kubeheal.detect.registry import robust_detector

finite = st.floats(allow_nan=False, allow_infinity=False)
anything = st.floats(allow_nan=True, allow_infinity=True)
steps = st.floats(min_value=-100.0, max_value=1e5, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(steps, finite), min_size=1, max_size=200))
def test_finite_input_gives_finite_scores_in_range(points: list[tuple[float, float]]) -> None:
    detector = robust_detector()
    t = 0.0
    for step, value in points:
        t += step
        score = detector.update(t, value)
        assert 0.0 <= score.probability <= 1.0
        assert math.isfinite(score.raw) and score.raw >= 0.0
        if score.status is not PointStatus.SKIPPED:
            assert math.isfinite(score.expected)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(anything, anything), min_size=1, max_size=80))
def test_any_input_never_crashes_any_detector(points: list[tuple[float, float]]) -> None:
    for name in sorted(DETECTORS):
        detector = DETECTORS[name].stream()
        for t, value in points:
            score = detector.update(t, value)
            assert 0.0 <= score.probability <= 1.0
        assert detector.counters.skipped + detector.learned == len(points)


@settings(max_examples=25, deadline=None)
@given(st.lists(finite, min_size=1, max_size=150), st.integers(0, 2**31))
def test_bank_scores_are_in_range(values: list[float], seed: int) -> None:
    rng = np.random.default_rng(seed)
    bank = DetectorBank()
    rows = bank.add_streams(["a", "b"])
    for j, value in enumerate(values):
        result = bank.score_and_learn(rows, [60.0 * j, 60.0 * j], [value, rng.normal()])
        assert np.all((result.probability >= 0.0) & (result.probability <= 1.0))
        assert np.all(np.isfinite(result.raw))


def test_per_stream_state_is_bounded_over_long_streams() -> None:
    rng = np.random.default_rng(0)
    for name in ("robust", "seasonal"):
        detector = DETECTORS[name].stream()
        sizes = []
        for n in (2000, 6000):
            while detector.learned < n:
                detector.update(detector.learned * 60.0, float(rng.normal()))
            sizes.append(len(pickle.dumps(detector)))
        assert sizes[1] <= sizes[0] * 1.05 + 256, name
