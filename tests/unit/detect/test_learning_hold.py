"""Learning held while an incident is open: a lasting fault is judged against the baseline of
before it, so it does not become the new normal, and recovery shows as the old normal."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from kubeheal.api.runbook import DetectionSettings, Signal
from kubeheal.detect.alarms import new_detector, observe
from kubeheal.detect.novelty import NoveltyModel
from kubeheal.detect.registry import reference_trees_detector

INTERVAL = 15.0
WARM = 600
FAULT = 150  # points the step fault lasts
RECOVERY = 60  # points of the old normal after it
SHAPES = ("flat", "cycle")


def series(shape: str, seed: int = 0) -> np.ndarray:
    """Noise around 100 (with a cycle of amplitude 5, or flat), then a step of +40 for FAULT
    points, then the old normal again."""
    rng = np.random.default_rng(seed)
    i = np.arange(WARM + FAULT + RECOVERY)
    values = 100.0 + rng.standard_normal(len(i))
    if shape == "cycle":
        values += 5.0 * np.sin(i / 20.0)
    values[WARM : WARM + FAULT] += 40.0
    return values


def alarms(shape: str, hold: bool, seed: int = 0) -> list[bool]:
    """The debounced alarm at each point after the warm-up; with ``hold``, learning stops from
    the point after the first alarm (the incident opened) until the fault has ended and the
    alarm cleared (the incident closed)."""
    values = series(shape, seed)
    signal = Signal(name="latency", query="q", bad_direction="up")
    detector, debouncer = new_detector(DetectionSettings())
    detector.warm_up((INTERVAL * i, float(v)) for i, v in enumerate(values[:WARM]))
    out: list[bool] = []
    open_ = False
    for i in range(WARM, len(values)):
        alarm = observe(detector, debouncer, signal, INTERVAL * i, float(values[i]),
                        learn=not (hold and open_)).alarm
        open_ = alarm or (open_ and i < WARM + FAULT)
        out.append(alarm)
    return out


@pytest.mark.parametrize("shape", SHAPES)
def test_without_holding_a_lasting_step_fault_fades_into_the_normal(shape: str) -> None:
    for seed in range(3):
        seen = alarms(shape, hold=False, seed=seed)
        onset = seen.index(True)
        assert onset < 5
        # The fault lasts FAULT points, yet the model learns it as normal well before.
        assert not any(seen[80:FAULT]), (seed, seen[:FAULT])


@pytest.mark.parametrize("shape", SHAPES)
def test_holding_learning_keeps_a_lasting_step_fault_in_alarm_until_it_ends(shape: str) -> None:
    for seed in range(3):
        seen = alarms(shape, hold=True, seed=seed)
        onset = seen.index(True)
        assert onset < 5
        assert all(seen[onset:FAULT]), (seed, seen[:FAULT])
        # Back to the old normal, the alarm clears for good: recovery is judged against it,
        # and resuming learning raises no new alarm.
        assert not any(seen[FAULT + 40 :]), (seed, seen[FAULT:])


def state(model: NoveltyModel) -> bytes:
    """What the model learned (not the recent novelty nor the refractory count)."""
    learned = (model.n, model.level, model.deviation, model.step, model.last, model.offset,
               model.mean, model.var, model.learned, model.values.tobytes(), model.sums.tobytes())
    return pickle.dumps(learned)


def test_points_scored_while_learning_is_held_leave_the_model_as_it_was() -> None:
    values = series("cycle")
    model = NoveltyModel()
    for v in values[:WARM]:
        model.update(float(v))
    before = state(model)
    held = [model.update(float(v), learn=False) for v in values[WARM : WARM + FAULT]]
    assert state(model) == before
    assert all(probability > 0.999 for _, _, probability, _, _ in held[10:])


def test_a_river_model_scores_without_learning_when_held() -> None:
    detector = reference_trees_detector()
    detector.warm_up((INTERVAL * i, float(v)) for i, v in enumerate(series("flat")[:300]))
    model = pickle.dumps(detector.model.model)
    learned = detector.learned
    score = detector.update(INTERVAL * 300, 500.0, learn=False)
    assert score.ready
    assert detector.learned == learned
    assert pickle.dumps(detector.model.model) == model
