"""Property tests: no detector crashes on any input, scores stay in range, state stays bounded."""

from __future__ import annotations

import math
import pickle

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeheal.detect import DETECTORS, DetectorBank, PointStatus
from kubeheal.detect.registry import novelty_detector

finite = st.floats(allow_nan=False, allow_infinity=False)
anything = st.floats(allow_nan=True, allow_infinity=True)
steps = st.floats(min_value=-100.0, max_value=1e5, allow_nan=False)

DAY = 86400.0


def adversarial() -> dict[str, list[tuple[float, float]]]:
    """Streams that broke detectors before, 600 points each (long enough to be warm)."""
    t = [60.0 * i for i in range(600)]
    gaps = [60.0 * i + (i // 100) * 3 * DAY for i in range(600)]
    return {
        "all zeros": [(x, 0.0) for x in t],
        "constant": [(x, 42.0) for x in t],
        "zeros then a step": [(x, 0.0 if i < 300 else 5.0) for i, x in enumerate(t)],
        "negative": [(x, -1000.0 - (i % 7)) for i, x in enumerate(t)],
        "1e300": [(x, 1e300 if i % 50 == 0 else 1.0) for i, x in enumerate(t)],
        "huge and tiny": [(x, 1e90 if i % 2 else 1e-90) for i, x in enumerate(t)],
        "NaN every other point": [
            (x, math.nan if i % 2 else float(i % 5)) for i, x in enumerate(t)
        ],
        "duplicate timestamps": [(60.0 * (i // 2), float(i % 3)) for i in range(600)],
        "backward timestamps": [
            (x if i % 10 else x - 3600.0, float(i % 4)) for i, x in enumerate(t)
        ],
        "gaps of days": [(x, float(i % 9)) for i, x in enumerate(gaps)],
    }


def check(points: list[tuple[float, float]]) -> None:
    for name in sorted(DETECTORS):
        detector = DETECTORS[name].stream()
        for t, value in points:
            score = detector.update(t, value)
            assert 0.0 <= score.probability < 1.0 or (
                name == "hst" and score.probability == 1.0
            ), (name, score)
            assert 0.0 <= score.onset_probability <= score.probability, (name, score)
            if score.status is not PointStatus.SKIPPED:
                assert math.isfinite(score.expected), (name, score)
        assert detector.counters.skipped + detector.learned == len(points)


def test_adversarial_streams_never_crash_any_detector() -> None:
    for points in adversarial().values():
        check(points)


def test_adversarial_streams_give_the_same_scores_in_the_bank() -> None:
    streams = adversarial()
    bank = DetectorBank()
    rows = bank.add_streams(list(streams))
    length = len(next(iter(streams.values())))
    for j in range(length):
        t = [points[j][0] for points in streams.values()]
        v = [points[j][1] for points in streams.values()]
        result = bank.score_and_learn(rows, t, v)
        assert np.all((result.probability >= 0.0) & (result.probability < 1.0))
    detector = novelty_detector()
    for t_, v_ in streams["zeros then a step"]:
        last = detector.update(t_, v_)
    row = bank.row_of("zeros then a step")
    assert bank.counters(int(row)) == detector.counters
    assert last.ready


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(anything, anything), min_size=1, max_size=300))
def test_any_input_never_crashes_any_detector(points: list[tuple[float, float]]) -> None:
    check(points)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(steps, finite), min_size=1, max_size=400))
def test_finite_input_gives_finite_scores_in_range(points: list[tuple[float, float]]) -> None:
    detector = novelty_detector()
    t = 0.0
    for step, value in points:
        t += step
        score = detector.update(t, value)
        assert 0.0 <= score.probability < 1.0
        assert math.isfinite(score.raw)
        if score.status is not PointStatus.SKIPPED:
            assert math.isfinite(score.expected)


@settings(max_examples=25, deadline=None)
@given(st.lists(finite, min_size=1, max_size=300), st.integers(0, 2**31))
def test_bank_scores_are_in_range(values: list[float], seed: int) -> None:
    rng = np.random.default_rng(seed)
    bank = DetectorBank()
    rows = bank.add_streams(["a", "b"])
    for j, value in enumerate(values):
        result = bank.score_and_learn(rows, [60.0 * j, 60.0 * j], [value, rng.normal()])
        assert np.all((result.probability >= 0.0) & (result.probability < 1.0))
        assert np.all(np.isfinite(result.raw))


def test_per_stream_state_is_bounded_over_long_streams() -> None:
    rng = np.random.default_rng(0)
    for name in sorted(DETECTORS):
        detector = DETECTORS[name].stream()
        sizes = []
        for n in (2000, 6000):
            while detector.learned < n:
                detector.update(detector.learned * 60.0, float(rng.normal()))
            sizes.append(len(pickle.dumps(detector)))
        assert sizes[1] <= sizes[0] * 1.05 + 256, name
