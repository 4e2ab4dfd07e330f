"""Online anomaly detection on river: detectors, calibration, debounce, fusion, evaluation. Pure.

One stream is one (runbook, workload, signal): a sequence of (timestamp, value) points.
Every detector scores a point, *then* learns it (river's contract), reports "not ready" until
it is warm, and turns its raw score into a probability in [0, 1] calibrated on the stream's
own history. Nothing here does network I/O; only :mod:`~kubeheal.detect.corpus` reads and
writes files (the NAB corpus and ``kubeheal eval``).

How the controller uses it::

    from kubeheal.detect import DETECTORS, KOfN, fuse, stream_key

    detector = DETECTORS["novelty"].stream()    # the default detector, one per stream
    detector.warm_up(history)                   # Prometheus query_range: (t, v) pairs
    debouncer = KOfN(k=2, n=5, threshold=0.9999, clear=0.6)
    per_signal = {signal: debouncer.update(detector.update(t, v)), ...}
    incident = fuse(workload, per_signal)       # IncidentScore
    incident.alarm, incident.probability, incident.summary()
    # "shop/checkout ANOMALOUS: latency_p99: observed 1.5, expected 0.25
    #  (robust z Z, about 1 in N points) since 2026-01-01T10:05:00Z"

:class:`DetectorBank` computes the default detector for thousands of streams per tick, with
the same numbers (``bank.add_streams``, ``bank.warm_up``, ``bank.score_and_learn``);
:class:`~kubeheal.detect.runbook.RunbookStreams` holds every stream of one Runbook (in a bank
where the detector has one) and is what the controller keeps.

What the numbers mean: ``AnomalyScore.probability`` is in [0, 1), never exactly 1, calibrated
against the stream's own history (so one threshold suits every stream); ``raw`` is the
model's own score (the default's likelihood z); ``zscore`` the robust z of the value;
``expected`` what the model predicted. ``status`` is ``WARMING_UP`` until the detector's
warm-up was learned (``ready`` is false, probability 0) and ``SKIPPED`` for rejected points
(NaN, inf, duplicate or late timestamps), which ``StreamDetector.counters`` counts with gaps
and clock jumps. ``onset`` is the score of a point that starts an anomaly (what NAB scores).

``DETECTORS`` is also what ``kubeheal eval --detector NAME`` and ``bench/`` use; retired
names (``RETIRED``) resolve to the default with :func:`resolve`.

Modules: :mod:`values` (AnomalyScore, Explanation, IncidentScore, InputCounters),
:mod:`hygiene` (bad input), :mod:`novelty` (the default's model), :mod:`trees` (the
HalfSpaceTrees reference), :mod:`stream` (one stream), :mod:`bank` (many streams),
:mod:`debounce`, :mod:`fusion`, :mod:`alarms` (the alarm path shared with the controller),
:mod:`runbook` (the streams of one Runbook),
:mod:`registry` (DETECTORS), :mod:`nab` (NAB scoring), :mod:`synthetic` (labeled corpus),
:mod:`corpus` (files and ``kubeheal eval``).
"""

from kubeheal.detect.bank import BankScores, DetectorBank
from kubeheal.detect.debounce import DebouncedScore, KOfN
from kubeheal.detect.fusion import fuse
from kubeheal.detect.hygiene import GateConfig, InputGate
from kubeheal.detect.novelty import PARAMETER_VERSION, NoveltyConfig
from kubeheal.detect.registry import DEFAULT_DETECTOR, DETECTORS, RETIRED, DetectorSpec, resolve
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
    "PARAMETER_VERSION",
    "RETIRED",
    "AnomalyScore",
    "BankScores",
    "DebouncedScore",
    "DetectorBank",
    "DetectorSpec",
    "Explanation",
    "GateConfig",
    "IncidentScore",
    "InputCounters",
    "InputGate",
    "KOfN",
    "NoveltyConfig",
    "PointStatus",
    "StreamDetector",
    "StreamKey",
    "fuse",
    "resolve",
    "stream_key",
]
