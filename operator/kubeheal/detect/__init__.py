"""Online anomaly detection on river: detectors, calibration, debounce, fusion, evaluation. Pure.

One stream is one (runbook, workload, signal): a sequence of (timestamp, value) points.
Every detector scores a point, *then* learns it (river's contract), reports "not ready" until
it is warm, and turns its raw score into a probability in [0, 1] calibrated on the stream's
own history. Nothing here does network I/O; only :mod:`~kubeheal.detect.corpus` reads and
writes files (the NAB corpus and ``kubeheal eval``).

How the controller uses it::

    from kubeheal.detect import DetectorBank, KOfN, fuse, stream_key

    bank = DetectorBank()                       # the default detector ("robust"), vectorized
    key = stream_key(runbook, workload, signal)
    rows = bank.add_streams([key, ...])         # once per stream; idempotent, rows are stable
    bank.warm_up(rows, past_t, past_v)          # Prometheus query_range: 2-D arrays
                                                # (streams x points), NaN timestamps pad
    debouncers = {key: KOfN(k=2, n=3, threshold=0.9999), ...}   # one per stream

    # every tick, one point per stream (rows distinct):
    scores = bank.score_and_learn(rows, timestamps, values)     # BankScores (arrays)
    per_signal = {signal: debouncers[key].update(scores.at(j)) for j, ...}
    incident = fuse(workload, per_signal)       # IncidentScore
    incident.alarm, incident.probability, incident.summary()
    # "shop/checkout ANOMALOUS (p=1.0000): latency_p99: observed 1.5, expected 0.25
    #  (p=1.0000) since 2026-01-01T10:05:00Z"

What the numbers mean: ``AnomalyScore.probability`` is in [0, 1], calibrated against the
stream's own history (so one threshold such as 0.9999 suits every stream); ``raw`` is the
model's robust z-score; ``expected`` is what the model predicted. ``status`` is
``WARMING_UP`` until 60 points were learned (``ready`` is false, probability 0) and
``SKIPPED`` for rejected points (NaN, inf, duplicate or late timestamps), which
``bank.counters(row)`` / ``StreamDetector.counters`` count with gaps, clock jumps and drifts.
``drift`` is true on the tick where a level shift was confirmed and the model re-baselined;
the explanation then says so.

For one stream and any registered detector, ``DETECTORS[name].stream()`` gives a
:class:`StreamDetector` with ``warm_up(points)`` and ``update(timestamp, value) ->
AnomalyScore``; ``DETECTORS`` is also what ``kubeheal eval --detector NAME`` and ``bench/``
use.

Modules: :mod:`values` (AnomalyScore, Explanation, IncidentScore, InputCounters),
:mod:`hygiene` (bad input), :mod:`baseline` (robust z-score, the default's model),
:mod:`forecast` (Holt-Winters), :mod:`trees` (HalfSpaceTrees), :mod:`calibration`,
:mod:`stream` (one stream), :mod:`bank` (many streams), :mod:`debounce`, :mod:`fusion`,
:mod:`registry` (DETECTORS), :mod:`nab` (NAB scoring), :mod:`synthetic` (labeled corpus),
:mod:`corpus` (files and ``kubeheal eval``).
"""

from kubeheal.detect.bank import BankScores, DetectorBank, RobustConfig
from kubeheal.detect.calibration import CalibrationConfig, TailProbability
from kubeheal.detect.debounce import DebouncedScore, KOfN
from kubeheal.detect.fusion import fuse
from kubeheal.detect.hygiene import GateConfig, InputGate
from kubeheal.detect.registry import DEFAULT_DETECTOR, DETECTORS, DetectorSpec
from kubeheal.detect.stream import StreamDetector
from kubeheal.detect.values import (
    AnomalyScore,
    Explanation,
    IncidentScore,
    InputCounters,
    PointStatus,
    StreamKey,
    stream_key,
)

__all__ = [
    "DEFAULT_DETECTOR",
    "DETECTORS",
    "AnomalyScore",
    "BankScores",
    "CalibrationConfig",
    "DebouncedScore",
    "DetectorBank",
    "DetectorSpec",
    "Explanation",
    "GateConfig",
    "IncidentScore",
    "InputCounters",
    "InputGate",
    "KOfN",
    "PointStatus",
    "RobustConfig",
    "StreamDetector",
    "StreamKey",
    "TailProbability",
    "fuse",
    "stream_key",
]
