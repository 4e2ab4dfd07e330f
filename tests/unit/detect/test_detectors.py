"""Every registered detector on crafted streams: spikes, level shifts, clean seasons, bad input."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from numpy.typing import NDArray

from kubeheal.detect import DETECTORS, KOfN, PointStatus, StreamDetector
from kubeheal.detect.registry import seasonal_detector


def seasonal_stream(
    n: int, seed: int = 0, period: int = 288
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A level of 100 with a cycle of ``period`` points and unit Gaussian noise, every minute."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    values = 100.0 + 10.0 * np.sin(2 * np.pi * i / period) + rng.standard_normal(n)
    return i * 60.0, values


THRESHOLD = 0.9999
PERIOD = 288


def make(name: str) -> StreamDetector:
    if name == "seasonal":
        return seasonal_detector(season_length=PERIOD)
    return DETECTORS[name].stream()


QUALITY = ["robust", "seasonal", "hst_window"]
# HalfSpaceTrees' mass scores separate far less sharply than z-scores do.
FLAG = {"robust": THRESHOLD, "seasonal": THRESHOLD, "hst_window": 0.8}


def warmed(name: str, n: int = 1200, seed: int = 0) -> tuple[StreamDetector, float]:
    detector = make(name)
    t, v = seasonal_stream(n, seed, period=PERIOD)
    detector.warm_up(zip(t.tolist(), v.tolist(), strict=True))
    assert detector.ready
    return detector, float(t[-1])


@pytest.mark.parametrize("name", QUALITY)
def test_large_spike_is_flagged_on_the_point_itself(name: str) -> None:
    detector, last = warmed(name)
    i = 1200
    expected = 100.0 + 10.0 * math.sin(2 * math.pi * i / PERIOD)
    score = detector.update(last + 60.0, expected + 40.0)
    assert score.ready
    assert score.probability >= FLAG[name]
    assert score.observed == expected + 40.0


@pytest.mark.parametrize("name", QUALITY)
def test_level_shift_is_flagged_within_a_few_points(name: str) -> None:
    detector, last = warmed(name)
    flagged = []
    for k in range(1, 6):
        i = 1200 + k
        value = 100.0 + 10.0 * math.sin(2 * math.pi * i / PERIOD) + 25.0
        flagged.append(detector.update(last + 60.0 * k, value).probability >= FLAG[name])
    assert any(flagged)


@pytest.mark.parametrize("name", QUALITY)
def test_clean_seasonal_stream_raises_no_alarm_after_warm_up(name: str) -> None:
    detector = make(name)
    debouncer = KOfN(k=2, n=3, threshold=THRESHOLD)
    t, v = seasonal_stream(10_000, seed=3, period=PERIOD)
    alarms = 0
    for timestamp, value in zip(t.tolist(), v.tolist(), strict=True):
        score = detector.update(timestamp, value)
        if debouncer.update(score).alarm and score.ready:
            alarms += 1
    assert alarms == 0


BAD = [
    (60.0, math.nan),
    (120.0, math.inf),
    (math.nan, 1.0),
    (math.inf, 1.0),
    (180.0, -math.inf),
]


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_bad_points_do_not_crash_and_are_counted(name: str) -> None:
    detector = make(name)
    detector.warm_up([(0.0, 1.0), (60.0, 2.0)])
    for timestamp, value in BAD:
        assert detector.update(timestamp, value).status is PointStatus.SKIPPED
    assert detector.update(60.0, 5.0).status is PointStatus.SKIPPED  # duplicate
    assert detector.update(30.0, 5.0).status is PointStatus.SKIPPED  # late
    detector.update(120.0, 3.0)
    detector.update(120.0 + 86400.0, 3.0)  # clock jump: accepted
    detector.update(120.0 + 86400.0 + 3600.0, 3.0)  # gap: accepted
    counters = detector.counters
    assert counters.non_finite == len(BAD)
    assert (counters.duplicate, counters.out_of_order) == (1, 1)
    assert (counters.clock_jumps, counters.gaps) == (1, 1)
    assert detector.learned == 5


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_not_ready_until_warm(name: str) -> None:
    detector = make(name)
    first = detector.update(0.0, 1.0)
    assert first.status is PointStatus.WARMING_UP
    assert not first.ready
    assert first.probability == 0.0


def test_level_shift_re_baselines_and_says_so() -> None:
    detector, last = warmed("robust")
    scores = []
    for k in range(1, 200):
        i = 1200 + k
        value = 100.0 + 10.0 * math.sin(2 * math.pi * i / PERIOD) + 60.0
        scores.append(detector.update(last + 60.0 * k, value))
    drifts = [k for k, s in enumerate(scores) if s.drift]
    assert drifts and drifts[0] < 15
    assert detector.counters.drifts >= 1
    assert max(s.probability for s in scores[100:]) < THRESHOLD
    assert np.isclose(scores[-1].expected, scores[-1].observed, atol=15.0)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_contract_pickle_round_trip_keeps_the_scores(name: str) -> None:
    detector = make(name)
    t, v = seasonal_stream(400, seed=9, period=PERIOD)
    detector.warm_up(zip(t[:350].tolist(), v[:350].tolist(), strict=True))
    copy = pickle.loads(pickle.dumps(detector))
    for a, b in zip(t[350:].tolist(), v[350:].tolist(), strict=True):
        assert copy.update(a, b) == detector.update(a, b)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_contract_fresh_detectors_are_independent(name: str) -> None:
    spec = DETECTORS[name]
    first, second = spec.stream(), spec.stream()
    first.warm_up([(60.0 * i, float(i % 5)) for i in range(50)])
    assert second.learned == 0
    assert second.update(0.0, 1.0).status is PointStatus.WARMING_UP
