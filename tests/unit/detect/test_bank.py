"""The vectorized bank against the per-stream default detector, and its bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from kubeheal.detect import DetectorBank, PointStatus
from kubeheal.detect.registry import novelty_detector


def messy_streams(streams: int, points: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    times = np.tile(np.arange(points) * 30.0, (streams, 1))
    values = rng.uniform(1, 1000, (streams, 1)) * (
        1 + 0.1 * np.sin(times / 4000.0) + 0.02 * rng.standard_normal((streams, points))
    )
    values[:, points // 2 :] *= rng.uniform(0.5, 2.0, (streams, 1))  # level shifts
    spikes = rng.random((streams, points)) < 0.01
    values[spikes] *= 5.0
    values[rng.random((streams, points)) < 0.01] = np.nan
    values[rng.random((streams, points)) < 0.005] = np.inf
    late = rng.random((streams, points)) < 0.01
    times[late] -= 45.0  # out of order or duplicate
    times[:, points - 50 :] += 86400.0  # a clock jump
    return times, values


def test_bank_and_stream_detector_give_the_same_scores() -> None:
    times, values = messy_streams(12, 700, seed=5)
    bank = DetectorBank()
    rows = bank.add_streams([f"s{k}" for k in range(12)])
    bank_scores = np.zeros(times.shape)
    bank_onsets = np.zeros(times.shape)
    bank_status = np.zeros(times.shape, dtype=int)
    bank_expected = np.zeros(times.shape)
    for j in range(times.shape[1]):
        result = bank.score_and_learn(rows, times[:, j], values[:, j])
        bank_scores[:, j] = result.probability
        bank_onsets[:, j] = result.onset
        bank_status[:, j] = result.status
        bank_expected[:, j] = result.expected
    for k in range(12):
        detector = novelty_detector()
        scores = [detector.update(t, v) for t, v in zip(times[k], values[k], strict=True)]
        # The same arithmetic in the same order: equal to the last bit.
        np.testing.assert_array_equal(bank_scores[k], [s.probability for s in scores])
        np.testing.assert_array_equal(bank_onsets[k], [s.onset_probability for s in scores])
        assert bank_status[k].tolist() == [int(s.status) for s in scores]
        np.testing.assert_array_equal(bank_expected[k], [s.expected for s in scores])
        assert bank.counters(int(rows[k])) == detector.counters
    assert (bank_status == PointStatus.SCORED).any()
    assert (bank_status == PointStatus.SKIPPED).any()


def test_bank_and_stream_detector_hold_and_resume_learning_alike() -> None:
    times, values = messy_streams(12, 700, seed=8)
    rng = np.random.default_rng(8)
    held = np.zeros(times.shape, dtype=bool)
    for k in range(12):  # holds of every length, from a single point to a long incident
        for start, length in zip(rng.integers(0, 680, 6), [1, 3, 6, 7, 20, 90], strict=True):
            held[k, start : start + length] = True
    held[0, :20] = True  # from the very first point
    held[1, 250:262] = True  # across the recentring of the 256th point
    bank = DetectorBank()
    rows = bank.add_streams([f"s{k}" for k in range(12)])
    results = [bank.score_and_learn(rows, times[:, j], values[:, j], learn=~held[:, j])
               for j in range(times.shape[1])]
    for k in range(12):
        detector = novelty_detector()
        scores = [detector.update(t, v, learn=not h)
                  for t, v, h in zip(times[k], values[k], held[k], strict=True)]
        for field in ("expected", "raw", "probability", "onset_probability", "zscore", "status"):
            np.testing.assert_array_equal(  # to the last bit
                [getattr(r.at(k), field) for r in results], [getattr(s, field) for s in scores]
            )
        assert bank.learned(int(rows[k])) == detector.learned
    assert any(r.at(0).status is PointStatus.SCORED for r in results)


def assert_same_state(a: DetectorBank, b: DetectorBank) -> None:
    """Every learned number of two banks, to the bit (window sums: the valid candidates)."""
    for name in a._f:
        np.testing.assert_array_equal(a._f[name][: a.size], b._f[name][: b.size], name)
    for table in ("_i", "_c"):
        for name, array in getattr(a, table).items():
            np.testing.assert_array_equal(array[: a.size], getattr(b, table)[name][: b.size])
    np.testing.assert_array_equal(a._values[: a.size], b._values[: b.size])
    np.testing.assert_array_equal(a._held[: a.size], b._held[: b.size])
    lags, window = a.config.lags, a.config.window
    valid = np.clip(a._i["n"][: a.size] - 2 * window + 1, 0, lags)
    for row, count in enumerate(valid.tolist()):
        np.testing.assert_array_equal(a._sums[row, lags - count :], b._sums[row, lags - count :])


def tick_by_tick(bank: DetectorBank, rows: np.ndarray, times: np.ndarray,
                 values: np.ndarray) -> None:
    for j in range(times.shape[1]):
        present = ~np.isnan(times[:, j])
        bank.score_and_learn(rows[present], times[present, j], values[present, j])


@pytest.mark.parametrize(("block", "segment"), [(8192, 256), (2, 7), (3, 1)])
def test_warm_up_equals_feeding_points_one_tick_at_a_time(block: int, segment: int) -> None:
    times, values = messy_streams(7, 300, seed=2)  # 300 points: recentred at the 256th
    times[1, 250:] = np.nan  # a shorter history
    times[2, :] = np.nan  # none
    times[3, ::2] = np.nan  # every other point (padding inside the history)
    times[4, :40] = np.nan  # a later start
    warmed, ticked = DetectorBank(), DetectorBank()
    warmed.WARM_BLOCK, warmed.WARM_SEGMENT = block, segment
    keys = [f"s{k}" for k in range(7)]
    rows = warmed.add_streams(keys)
    ticked.add_streams(keys)
    warmed.warm_up(rows, times, values)
    tick_by_tick(ticked, rows, times, values)
    assert_same_state(warmed, ticked)
    # A second warm-up of streams that learned already, some with nothing new at first.
    more_times, more_values = messy_streams(7, 120, seed=3)
    more_times += 1e6
    more_times[:3, :50] = np.nan
    warmed.warm_up(rows, more_times, more_values)
    tick_by_tick(ticked, rows, more_times, more_values)
    assert_same_state(warmed, ticked)
    final_t = np.full(7, 1e9)
    a = warmed.score_and_learn(rows, final_t, np.ones(7))
    b = ticked.score_and_learn(rows, final_t, np.ones(7))
    np.testing.assert_array_equal(a.probability, b.probability)
    assert warmed.ready(rows)[[0, 5, 6]].all()


def test_warm_up_of_streams_whose_learning_was_held_resumes_it_as_a_tick_would() -> None:
    times, values = messy_streams(4, 400, seed=9)
    banks = DetectorBank(), DetectorBank()
    for bank in banks:
        rows = bank.add_streams(["a", "b", "c", "d"])
        tick_by_tick(bank, rows, times[:, :300], values[:, :300])
        for j in range(300, 310):  # b and d hold their learning for a while
            bank.score_and_learn(rows, times[:, j], values[:, j], learn=[True, False, True, False])
    banks[0].warm_up(rows, times[:, 310:], values[:, 310:])
    tick_by_tick(banks[1], rows, times[:, 310:], values[:, 310:])
    assert_same_state(*banks)


def test_warm_up_refuses_unknown_or_repeated_rows() -> None:
    bank = DetectorBank()
    bank.add_streams(["a"])
    with pytest.raises(IndexError):
        bank.warm_up([3], [[1.0]], [[1.0]])
    with pytest.raises(ValueError, match="once"):
        bank.warm_up([0, 0], [[1.0], [2.0]], [[1.0], [1.0]])


def test_rows_are_stable_and_registration_idempotent() -> None:
    bank = DetectorBank(capacity=1)
    first = bank.add_streams(["x", "y", "z"])
    again = bank.add_streams(["z", "x"])
    assert first.tolist() == [0, 1, 2]
    assert again.tolist() == [2, 0]
    assert bank.row_of("y") == 1


def test_bad_calls_are_refused_with_a_clear_error() -> None:
    bank = DetectorBank()
    rows = bank.add_streams(["a"])
    with pytest.raises(ValueError, match="once per call"):
        bank.score_and_learn([0, 0], [1.0, 2.0], [1.0, 1.0])
    with pytest.raises(IndexError):
        bank.score_and_learn([5], [1.0], [1.0])
    with pytest.raises(ValueError):
        bank.score_and_learn(rows, [1.0, 2.0], [1.0])


def test_a_call_without_points_scores_nothing_and_changes_nothing() -> None:
    times, values = messy_streams(2, 100, seed=7)
    bank = DetectorBank()
    bank.warm_up(bank.add_streams(["a", "b"]), times, values)
    state = {name: array.copy() for name, array in {**bank._f, **bank._i}.items()}
    scores = bank.score_and_learn([], [], [])
    assert len(scores) == 0 and scores.probability.shape == (0,)
    for name, array in {**bank._f, **bank._i}.items():
        np.testing.assert_array_equal(array, state[name], name)


def test_state_stays_small_per_stream() -> None:
    bank = DetectorBank(capacity=1024)
    bank.add_streams([f"s{k}" for k in range(1024)])
    assert bank.state_bytes() / bank.capacity <= 4096


def test_a_row_that_does_not_learn_keeps_what_it_learned_and_its_gate_sees_the_point() -> None:
    times, values = messy_streams(2, 300, seed=4)
    bank = DetectorBank()
    rows = bank.add_streams(["a", "b"])
    bank.warm_up(rows, times, values)
    before = {name: array.copy() for name, array in bank._f.items()}
    history = bank._values.copy()
    learned = [bank.learned(0), bank.learned(1)]
    scores = bank.score_and_learn(rows, [1e9, 1e9], [5.0, 5.0], learn=[False, True])
    assert scores.status.tolist() == [PointStatus.SCORED, PointStatus.SCORED]
    assert [bank.learned(0), bank.learned(1)] == [learned[0], learned[1] + 1]
    np.testing.assert_array_equal(bank._values[0], history[0])
    for name in ("level", "deviation", "step", "mean", "var"):  # the recent novelty moves
        assert bank._f[name][0] == before[name][0]
    assert bank._f["last_timestamp"][0] == 1e9  # a repeat of the point is still a duplicate
    with pytest.raises(ValueError, match="one entry per row"):
        bank.score_and_learn(rows, [2e9, 2e9], [1.0, 1.0], learn=[True])


def test_extend_appends_streams_with_their_state() -> None:
    times, values = messy_streams(3, 200, seed=6)
    live, fresh, whole = DetectorBank(capacity=1), DetectorBank(), DetectorBank()
    live.warm_up(live.add_streams(["a"]), times[:1], values[:1])
    fresh.warm_up(fresh.add_streams(["b", "c"]), times[1:], values[1:])
    whole.warm_up(whole.add_streams(["a", "b", "c"]), times, values)
    assert live.extend(fresh).tolist() == [1, 2]
    assert live.keys == ["a", "b", "c"] and live.row_of("c") == 2
    final = live.score_and_learn([0, 1, 2], [1e9] * 3, [1.0] * 3)
    again = whole.score_and_learn([0, 1, 2], [1e9] * 3, [1.0] * 3)
    np.testing.assert_array_equal(final.probability, again.probability)
    with pytest.raises(ValueError, match="registered here already"):
        live.extend(whole)
