"""The alarm path of one Runbook, shared by the live loop and by ``kubeheal eval --alarms``.

What turns a point of a signal into an alarm is one engine with several drivers: the
controller (:mod:`kubeheal.controller.runbooks`) runs it on Prometheus samples every
interval, ``kubeheal eval --alarms`` runs it on labelled files. Both call these functions:

- :func:`new_detector` builds a signal's detector and debouncer from the Runbook's
  detection settings (a retired detector name serves the default), :func:`new_debouncer`
  the debouncer alone (for a stream that lives in a bank, see :mod:`kubeheal.detect.runbook`);
- :func:`observe` scores one point, keeps only the runbook's bad direction and static
  threshold (:func:`score_point`, :func:`directional`), and debounces it (k of n at the
  sensitivity's threshold);
- :func:`workload_alarm` fuses the signals of a workload: it is in alarm when a signal other
  than a load signal is;
- :func:`directional_arrays` is :func:`directional` for many points at once;
- :func:`unusual` says whether a signal is anomalous right now, before its debounce (what
  diagnosis reads from the signals that corroborate an alarm).

Pure: no I/O, the Runbook API models in, detection values out.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from kubeheal.api.runbook import BadDirection, DetectionSettings, Signal, SignalRole
from kubeheal.detect.debounce import DebouncedScore, KOfN
from kubeheal.detect.fusion import fuse
from kubeheal.detect.novelty import z_probability
from kubeheal.detect.registry import DETECTORS, resolve
from kubeheal.detect.stream import StreamDetector
from kubeheal.detect.values import AnomalyScore, IncidentScore, PointStatus

Floats = NDArray[np.float64]

CLEAR_DECADES = 0.1
"""An alarm clears below this fraction of its threshold's decades (see :func:`clear_level`):
at the default threshold (4 decades) that is a probability of about 0.6, the novelty back at
about its usual level."""


def new_detector(detection: DetectionSettings) -> tuple[StreamDetector, KOfN]:
    """A fresh detector and debouncer for one signal of one workload."""
    spec = DETECTORS[resolve(detection.detector)]
    detector = spec.stream()
    detector.warmup = spec.warmup(detection)
    return detector, new_debouncer(detection)


def new_debouncer(detection: DetectionSettings) -> KOfN:
    """A fresh k-of-n debouncer at the sensitivity's threshold, with its hysteresis."""
    threshold = detection.probability_threshold
    return KOfN(detection.debounce_k, detection.debounce_n, threshold, clear_level(threshold))


def clear_level(threshold: float, decades: float = CLEAR_DECADES) -> float:
    """The probability an alarm must fall below to clear: a fraction of ``threshold``'s decades.

    The likelihood of a lasting anomaly hovers around the threshold; without hysteresis one
    incident would close and reopen on every dip (chosen by leave-one-category-out
    cross-validation of the alarm path on nab-dev, with the default sensitivity and debounce:
    ``bench/tune_alarms.py``).

    >>> round(clear_level(0.9999), 2), round(clear_level(0.9999, 0.25), 2)
    (0.6, 0.9)
    """
    return 1.0 - float((1.0 - threshold) ** decades)


def past_threshold(value: float, threshold: float, direction: BadDirection) -> bool:
    """Whether ``value`` is past ``threshold`` in the bad ``direction``."""
    if direction is BadDirection.UP:
        return value > threshold
    if direction is BadDirection.DOWN:
        return value < threshold
    return abs(value) > abs(threshold)


def directional(score: AnomalyScore, signal: Signal) -> AnomalyScore:
    """The score with the runbook's view applied: only the bad direction counts, and a value
    past the static threshold is anomalous whatever the model says.

    >>> from kubeheal.api.runbook import Signal
    >>> s = AnomalyScore(0.0, 0.01, 0.05, -3.0, 0.9999, PointStatus.SCORED)
    >>> directional(s, Signal(name="e", query="q", bad_direction="up")).probability
    0.0
    >>> small = AnomalyScore(0.0, 105.0, 100.0, 9.0, 0.9999, PointStatus.SCORED)
    >>> directional(small, Signal(name="m", query="q", min_relative_deviation=0.1)).probability
    0.0
    >>> warm = AnomalyScore(0.0, 0.4, 0.0, 0.0, 0.0, PointStatus.WARMING_UP)
    >>> directional(warm, Signal(name="e", query="q", threshold=0.05)).probability
    1.0
    """
    if score.status is PointStatus.SKIPPED:
        return score
    quiet = dataclasses.replace(score, probability=0.0, onset=0.0, zscore=0.0)
    if signal.threshold is not None and past_threshold(
        score.observed, signal.threshold, signal.bad_direction
    ):
        return dataclasses.replace(score, probability=1.0, status=PointStatus.SCORED)
    if abs(score.observed - score.expected) < signal.min_relative_deviation * abs(score.expected):
        return quiet
    if signal.bad_direction is BadDirection.UP and score.observed < score.expected:
        return quiet
    if signal.bad_direction is BadDirection.DOWN and score.observed > score.expected:
        return quiet
    return score


def score_point(
    detector: StreamDetector, signal: Signal, timestamp: float, value: float, learn: bool = True
) -> AnomalyScore:
    """Score one point of ``signal`` (learning it unless ``learn`` is false) and apply the
    runbook's direction (before debounce)."""
    return directional(detector.update(timestamp, value, learn), signal)


def directional_arrays(
    signal: Signal,
    observed: Floats,
    expected: Floats,
    probability: Floats,
    status: NDArray[np.int8],
) -> tuple[Floats, NDArray[np.bool_]]:
    """:func:`directional` on arrays (one entry per point): the probabilities, and which
    points are scored.

    >>> s = Signal(name="e", query="q", bad_direction="up", threshold=0.5)
    >>> p, scored = directional_arrays(
    ...     s, np.array([0.1, 0.2, 0.9, 0.1]), np.array([0.0, 0.3, 0.0, 0.0]),
    ...     np.array([0.99, 0.99, 0.0, 0.5]), np.array([0, 0, 1, 2], dtype=np.int8))
    >>> p.tolist(), scored.tolist()
    ([0.99, 0.0, 1.0, 0.5], [True, True, True, False])
    """
    skipped = status == PointStatus.SKIPPED
    with np.errstate(invalid="ignore"):  # a skipped point may be NaN
        if signal.threshold is None:
            past = np.zeros(len(observed), dtype=np.bool_)
        elif signal.bad_direction is BadDirection.UP:
            past = observed > signal.threshold
        elif signal.bad_direction is BadDirection.DOWN:
            past = observed < signal.threshold
        else:
            past = np.abs(observed) > abs(signal.threshold)
        past &= ~skipped
        counted = np.abs(observed - expected) >= signal.min_relative_deviation * np.abs(expected)
        if signal.bad_direction is BadDirection.UP:
            counted &= observed >= expected
        elif signal.bad_direction is BadDirection.DOWN:
            counted &= observed <= expected
    kept = np.where(counted | skipped, probability, 0.0)
    return np.where(past, 1.0, kept), past | (status == PointStatus.SCORED)


def observe(
    detector: StreamDetector,
    debouncer: KOfN,
    signal: Signal,
    timestamp: float,
    value: float,
    learn: bool = True,
) -> DebouncedScore:
    """Score one point of ``signal`` (learning it unless ``learn`` is false), apply the
    runbook's direction, debounce it."""
    return debouncer.update(score_point(detector, signal, timestamp, value, learn))


def workload_alarm(
    workload: str, scored: Mapping[str, DebouncedScore], roles: Mapping[str, SignalRole]
) -> tuple[IncidentScore, bool]:
    """The fused score of a workload, and whether it is in alarm (a non-load signal is)."""
    incident = fuse(workload, scored)
    alarm = any(d.alarm and roles[name] is not SignalRole.LOAD for name, d in scored.items())
    return incident, alarm


def unusual(score: AnomalyScore, threshold: float) -> bool:
    """Whether ``score`` is anomalous right now, before any debounce.

    Its probability reaches ``threshold``, or the value's robust z is at least that rare (as
    a Gaussian tail): a step in the level shows in the value at once, while the novelty's
    likelihood takes a few points to build up. Apply it to the :func:`directional` score, which
    clears both for deviations the runbook does not count.

    >>> step = AnomalyScore(0.0, 110.0, 60.0, 1.0, 0.9, PointStatus.SCORED, zscore=17.0)
    >>> unusual(step, 0.9999), unusual(dataclasses.replace(step, zscore=1.5), 0.9999)
    (True, False)
    """
    if not score.ready:
        return False
    if score.probability >= threshold:
        return True
    return math.isfinite(score.zscore) and float(z_probability(score.zscore)) >= threshold
