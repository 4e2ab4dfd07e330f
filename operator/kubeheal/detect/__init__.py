"""Online anomaly detection on river: detectors, calibration, debounce, fusion, evaluation. Pure.

One stream is one (runbook, workload, signal): a sequence of (timestamp, value) points.
Every detector scores a point, *then* learns it (river's contract), reports "not ready" until
it is warm, and turns its raw score into a probability in [0, 1] calibrated on the stream's
own history. Nothing here does network I/O; only :mod:`~kubeheal.detect.corpus` reads and
writes files (the NAB corpus and ``kubeheal eval``).

How the controller uses it, per tick::

    from kubeheal.detect import DetectorBank, KOfN, fuse, stream_key

    bank = DetectorBank()                                   # the default detector, vectorized
    rows = bank.add_streams([stream_key(rb, wl, sig) for ...])   # once per stream
    bank.warm_up(rows, past_timestamps, past_values)        # 2-D (streams x points), NaN-padded
    scores = bank.score_and_learn(rows, timestamps, values) # every tick: one point per row
    debouncers = {key: KOfN(k=2, n=3) for key in ...}       # one per stream
    debounced = {signal: debouncers[key].update(scores.at(j)) for j, ...}
    incident = fuse("namespace/workload", debounced)        # IncidentScore, with explanations
    incident.alarm, incident.summary()

Or, for one stream and any registered detector, ``DETECTORS[name].stream()`` gives a
:class:`StreamDetector` with ``warm_up(points)`` and ``update(timestamp, value) ->
AnomalyScore``.

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
