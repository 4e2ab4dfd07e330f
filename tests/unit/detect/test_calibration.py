"""Calibration of a young stream: its long-term distribution is its whole short history."""

from __future__ import annotations

import numpy as np

from kubeheal.detect import DETECTORS, DetectorBank
from kubeheal.detect.calibration import TailProbability


def test_a_tiny_first_score_does_not_make_ordinary_scores_anomalous() -> None:
    # Seen on the real stack: the first score a stream's calibrator learned was 0.004, and
    # with a long-term mean that moved by 0.2 % a point every ordinary score that followed
    # (0.1 .. 2) had probability 1.0 for hundreds of points.
    calibrator = TailProbability()
    for raw in [0.004, 0.48, 0.66, 0.58, 0.33, 1.81, 1.32, 1.03, 0.47, 0.08, 0.2, 1.78]:
        calibrator.learn(raw)
    assert calibrator.probability(0.6) < 0.99
    assert calibrator.probability(30.0) > 0.999


def test_the_bank_calibrates_young_streams_like_the_stream_detector() -> None:
    rng = np.random.default_rng(7)
    values = 0.005 + 1e-4 * rng.standard_normal(40)
    bank = DetectorBank()
    row = bank.add_streams(["s"])
    detector = DETECTORS["robust"].stream()
    for t, v in enumerate(values):
        a = detector.update(float(t), float(v)).probability
        b = float(bank.score_and_learn(row, [float(t)], [float(v)]).probability[0])
        assert abs(a - b) < 1e-9, (t, a, b)
