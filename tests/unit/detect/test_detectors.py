"""Every registered detector on crafted streams: spikes, level shifts, clean seasons, bad input."""

from __future__ import annotations

import itertools
import math
import pickle

import numpy as np
import pytest
from numpy.typing import NDArray

from kubeheal.detect import DETECTORS, KOfN, PointStatus, StreamDetector


def seasonal_stream(
    n: int, seed: int = 0, period: int = 288
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A level of 100 with a cycle of ``period`` points and unit Gaussian noise, every minute."""
    rng = np.random.default_rng(seed)
    i = np.arange(n, dtype=np.float64)
    values = 100.0 + 10.0 * np.sin(2 * np.pi * i / period) + rng.standard_normal(n)
    return i * 60.0, values


THRESHOLD = 0.9999
PERIOD = 288


def make(name: str) -> StreamDetector:
    return DETECTORS[name].stream()


QUALITY = [name for name in DETECTORS if name != "hst"]
FLAG = {"novelty": THRESHOLD}


def warmed(name: str, n: int = 1200, seed: int = 0) -> tuple[StreamDetector, float]:
    detector = make(name)
    t, v = seasonal_stream(n, seed, period=PERIOD)
    detector.warm_up(zip(t.tolist(), v.tolist(), strict=True))
    assert detector.ready
    return detector, float(t[-1])


@pytest.mark.parametrize("name", QUALITY)
def test_large_spike_is_flagged_while_it_is_in_the_window(name: str) -> None:
    # The default judges windows of recent points: a spike is flagged while it is in one.
    detector, last = warmed(name)
    scores = []
    for k in range(3):
        i = 1200 + k
        expected = 100.0 + 10.0 * math.sin(2 * math.pi * i / PERIOD)
        scores.append(detector.update(last + 60.0 * (k + 1), expected + (40.0 if k == 0 else 0.0)))
    assert all(s.ready for s in scores)
    assert max(s.probability for s in scores) >= FLAG[name]
    assert scores[0].observed - scores[0].expected > 30.0


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


@pytest.mark.parametrize("name", QUALITY)
def test_a_stronger_deviation_scores_higher_and_never_exactly_1(name: str) -> None:
    detector, last = warmed(name)
    i = 1200
    expected = 100.0 + 10.0 * math.sin(2 * math.pi * i / PERIOD)
    state = pickle.dumps(detector)
    ladder = [4.0, 8.0, 16.0, 32.0, 64.0, 1e3, 1e4, 1e6, 1e9, 1e12]
    scores = []
    for size in ladder:
        fresh = pickle.loads(state)
        scores.append(fresh.update(last + 60.0, expected + size).probability)
    assert all(b > a for a, b in itertools.pairwise(scores)), scores
    assert max(scores) < 1.0


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
