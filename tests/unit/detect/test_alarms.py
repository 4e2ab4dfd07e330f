"""The alarm path shared by the live loop and ``kubeheal eval --alarms``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kubeheal.api.runbook import DetectionSettings, Signal
from kubeheal.detect.alarms import new_debouncer, new_detector, observe, workload_alarm
from kubeheal.detect.corpus import incident_onsets, run_alarms, signal_scores
from kubeheal.detect.novelty import NoveltyModel
from kubeheal.detect.stream import Novelty
from kubeheal.detect.synthetic import LabeledSeries


@pytest.mark.parametrize("retired", ["robust", "seasonal", "hst_window"])
def test_a_retired_detector_name_is_accepted_and_runs_the_default(retired: str) -> None:
    detection = DetectionSettings.model_validate({"detector": retired})
    detector, debouncer = new_detector(detection)
    assert isinstance(detector.model, Novelty)
    assert isinstance(detector.model.model, NoveltyModel)
    assert detector.warmup == detection.warmup_points
    assert (debouncer.k, debouncer.n) == (detection.debounce_k, detection.debounce_n)


def stream(points: int, shift_at: int | None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(points) * 30.0
    v = 10.0 + np.sin(np.arange(points) / 20.0) + 0.1 * rng.standard_normal(points)
    if shift_at is not None:
        v[shift_at:] += 8.0
    return t, v


def test_a_lasting_shift_alarms_once_and_only_in_the_bad_direction() -> None:
    detection = DetectionSettings()
    roles = {"latency": Signal(name="latency", query="q").role}
    for direction, expected in (("up", True), ("down", False)):
        signal = Signal(name="latency", query="q", bad_direction=direction)
        detector, debouncer = new_detector(detection)
        t, v = stream(700, shift_at=600)
        alarms = []
        for a, b in zip(t.tolist(), v.tolist(), strict=True):
            debounced = observe(detector, debouncer, signal, a, b)
            alarms.append(workload_alarm("shop/checkout", {"latency": debounced}, roles)[1])
        assert not any(alarms[100:600])
        assert any(alarms[600:610]) is expected, direction


def test_eval_alarms_counts_one_onset_per_incident() -> None:
    t, v = stream(900, shift_at=None)
    v[600:640] += 8.0  # one incident of 40 points
    series = LabeledSeries(t, v, ((600, 640),))
    onsets = run_alarms({"cat/f.csv": series}, DetectionSettings())["cat/f.csv"]
    assert onsets.sum() >= 1
    assert set(np.nonzero(onsets)[0]) <= set(range(600, 700))
    assert math.isclose(onsets[600:700].sum(), onsets.sum())
    assert onsets[600:640].sum() == 1


def test_eval_alarms_opens_incidents_where_the_live_loop_alarms() -> None:
    """The eval replays the scores through the same debouncer and fusion as ``observe``: its
    onsets are the ticks where the live loop's workload alarm starts (the cooldown of 0)."""
    t, v = stream(1500, shift_at=None, seed=5)
    v[700:730] += 6.0
    v[1100:1103] -= 9.0
    v[1300:] += np.linspace(0.0, 20.0, 200)
    detection = DetectionSettings()
    signal = Signal(name="value", query="value", bad_direction="both")
    roles = {signal.name: signal.role}
    detector, debouncer = new_detector(detection)
    alarms = [
        workload_alarm("w", {"value": observe(detector, debouncer, signal, a, b)}, roles)[1]
        for a, b in zip(t.tolist(), v.tolist(), strict=True)
    ]
    starts = [i for i, a in enumerate(alarms) if a and (i == 0 or not alarms[i - 1])]
    assert len(starts) >= 2
    corpus = {"cat/f.csv": LabeledSeries(t, v, ())}
    onsets = incident_onsets(
        signal_scores(corpus, detection), lambda: new_debouncer(detection), cooldown_seconds=0.0
    )["cat/f.csv"]
    assert list(np.nonzero(onsets)[0]) == starts


@pytest.mark.parametrize("cooldown", [0.0, 3600.0])
def test_eval_alarms_through_the_operators_engine_equals_the_replay_of_the_scores(
    cooldown: float,
) -> None:
    """``run_alarms`` drives RunbookStreams (every file a workload of one bank, one tick per
    point); replaying each file's scores through its own debouncer gives the same onsets."""
    corpus = {}
    for k, length in enumerate((1500, 900, 1200)):  # files of different lengths
        t, v = stream(length, shift_at=None, seed=10 + k)
        v[700:730] += 6.0 + k
        v[800:803] -= 9.0
        v[k * 5 : k * 5 + 2] = np.nan  # skipped points
        t[500] = t[499]  # a duplicate timestamp
        corpus[f"cat/f{k}.csv"] = LabeledSeries(t, v, ())
    detection = DetectionSettings()
    engine = run_alarms(corpus, detection, cooldown_seconds=cooldown)
    replay = incident_onsets(signal_scores(corpus, detection), lambda: new_debouncer(detection),
                             cooldown_seconds=cooldown)
    assert sum(onsets.sum() for onsets in replay.values()) >= 3
    for key in corpus:
        np.testing.assert_array_equal(engine[key], replay[key])
