"""Debounce and fusion: what the controller sees for one workload."""

from __future__ import annotations

import numpy as np

from kubeheal.detect import DetectorBank, KOfN, PointStatus, fuse, stream_key


def test_one_bad_signal_makes_a_debounced_incident_with_a_readable_explanation() -> None:
    signals = ["request_rate", "error_ratio", "latency_p99"]
    keys = [stream_key("checkout-slo", "shop/checkout", s) for s in signals]
    bank = DetectorBank()
    rows = bank.add_streams(keys)
    rng = np.random.default_rng(0)
    history_t = np.tile(np.arange(500) * 30.0, (3, 1))
    base = np.array([[200.0], [0.01], [0.25]])
    history_v = base * (1 + 0.02 * rng.standard_normal((3, 500)))
    bank.warm_up(rows, history_t, history_v)
    debouncers = {s: KOfN(k=2, n=3, threshold=0.9999) for s in signals}
    incidents = []
    for tick in range(500, 520):
        values = base[:, 0] * (1 + 0.02 * rng.standard_normal(3))
        if tick >= 510:
            values[2] = 1.5  # latency jumps from 0.25 s to 1.5 s
        scores = bank.score_and_learn(rows, np.full(3, tick * 30.0), values)
        debounced = {s: debouncers[s].update(scores.at(j)) for j, s in enumerate(signals)}
        incidents.append(fuse("shop/checkout", debounced))
    assert not any(i.alarm for i in incidents[:10])
    onset = next(k for k, i in enumerate(incidents) if i.alarm)
    assert 10 <= onset <= 12
    incident = incidents[onset]
    top = incident.explanations[0]
    assert top.signal == "latency_p99"
    assert top.observed == 1.5
    assert abs(top.expected - 0.25) < 0.05
    assert top.since == 510 * 30.0
    assert "latency_p99: observed 1.5, expected 0.2" in incident.summary()
    assert "ANOMALOUS" in incident.summary()


def test_skipped_points_do_not_move_the_debouncer() -> None:
    from kubeheal.detect.values import AnomalyScore

    debouncer = KOfN(k=1, n=1, threshold=0.5)
    hot = AnomalyScore(0.0, 1.0, 0.0, 9.0, 0.9, PointStatus.SCORED)
    skipped = AnomalyScore(1.0, float("nan"), float("nan"), 0.0, 0.0, PointStatus.SKIPPED)
    assert debouncer.update(hot).alarm
    assert debouncer.update(skipped).alarm
    assert debouncer.since == 0.0
