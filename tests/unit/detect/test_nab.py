"""NAB scoring on hand-made cases whose scores follow from the definition by hand."""

from __future__ import annotations

import math

import pytest

from kubeheal.detect.nab import (
    PROFILES,
    LabeledScores,
    probationary_length,
    scaled_sigmoid,
    score_corpus,
    score_profile,
)

MAX_TP = 2.0 / (1.0 + math.exp(-5.0)) - 1.0


def one_file(
    detections: list[int], windows: list[tuple[int, int]], rows: int = 100
) -> LabeledScores:
    scores = [0.0] * rows
    for i in detections:
        scores[i] = 1.0
    return LabeledScores("f", scores, windows)


def test_probation_is_15_percent_capped_at_750_rows() -> None:
    assert probationary_length(100) == 15
    assert probationary_length(5000) == 750
    assert probationary_length(100_000) == 750


def test_scaled_sigmoid_matches_its_definition() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(MAX_TP)
    assert scaled_sigmoid(-0.5) == pytest.approx(2.0 / (1.0 + math.exp(-2.5)) - 1.0)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(3.0) == -1.0
    assert scaled_sigmoid(5.0) == -1.0


def test_detection_at_the_left_edge_is_perfect() -> None:
    results = score_corpus([one_file([40], [(40, 49)])], probation_percent=0.0)
    for result in results.values():
        assert result.normalized == pytest.approx(100.0)


def test_no_detection_is_null() -> None:
    results = score_corpus([one_file([], [(40, 49)])], probation_percent=0.0)
    for name, result in results.items():
        assert result.normalized == pytest.approx(0.0)
        assert result.raw == pytest.approx(-PROFILES[name].fn_weight)


def test_late_detection_earns_the_sigmoid_of_its_position() -> None:
    # Row 45 of window 40..49: position -(49 - 45 + 1) / 10 = -0.5.
    result = score_profile([one_file([45], [(40, 49)])], PROFILES["standard"], 0.0)
    tp = (2.0 / (1.0 + math.exp(-2.5)) - 1.0) / MAX_TP
    assert result.raw == pytest.approx(tp)
    assert result.normalized == pytest.approx(100.0 * (tp + 1.0) / 2.0)


def test_false_positive_before_any_window_costs_the_full_fp_weight() -> None:
    file = one_file([10, 40], [(40, 49)])
    standard = score_profile([file], PROFILES["standard"], 0.0)
    low_fp = score_profile([file], PROFILES["reward_low_FP_rate"], 0.0)
    assert standard.raw == pytest.approx(1.0 - 0.11)
    assert low_fp.raw == pytest.approx(1.0 - 0.22)
    assert standard.normalized == pytest.approx(100.0 * (1.0 - 0.11 + 1.0) / 2.0)


def test_false_positive_just_after_a_window_is_discounted() -> None:
    # Row 52 is 3 rows past the right edge 49 of a 10-row window: position 3 / 9.
    file = one_file([40, 52], [(40, 49)])
    result = score_profile([file], PROFILES["standard"], 0.0)
    fp = scaled_sigmoid(3.0 / 9.0) * 0.11
    assert result.raw == pytest.approx(1.0 + fp)


def test_sweep_keeps_the_best_threshold() -> None:
    scores = [0.0] * 100
    scores[40] = 0.9  # the true positive
    scores[10] = 0.5  # a false positive, only at lower thresholds
    result = score_profile([LabeledScores("f", scores, [(40, 49)])], PROFILES["standard"], 0.0)
    assert result.threshold == 0.9
    assert (result.true_positives, result.false_positives, result.false_negatives) == (1, 0, 0)


def test_probationary_rows_are_not_scored() -> None:
    # 100 rows: rows 0..14 are probationary; the early false positive does not count.
    file = one_file([5, 40], [(40, 49)])
    result = score_profile([file], PROFILES["standard"])
    assert result.raw == pytest.approx(1.0)


def test_missing_windows_cost_double_in_the_low_fn_profile() -> None:
    files = [one_file([40], [(40, 49)]), one_file([], [(60, 69)])]
    result = score_profile(files, PROFILES["reward_low_FN_rate"], 0.0)
    assert result.raw == pytest.approx(1.0 - 2.0)
    assert result.null == pytest.approx(-4.0)
    assert result.perfect == pytest.approx(2.0)
    assert result.normalized == pytest.approx(100.0 * 3.0 / 6.0)
