"""Values that the detection engine hands out: scores, explanations, incident scores, counters.

They are frozen dataclasses so that the controller can store, compare and log them freely;
none of them holds a reference to a model.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from dataclasses import dataclass, field
from typing import NewType

StreamKey = NewType("StreamKey", str)
"""Identifies one stream: one (runbook, workload, signal). Build it with :func:`stream_key`."""


def stream_key(runbook: str, workload: str, signal: str) -> StreamKey:
    """The key of the stream of ``signal`` for ``workload`` under ``runbook``.

    >>> stream_key("web-errors", "shop/checkout", "error_ratio")
    'web-errors/shop/checkout/error_ratio'
    """
    return StreamKey(f"{runbook}/{workload}/{signal}")


class PointStatus(enum.IntEnum):
    """What a detector did with one point."""

    SCORED = 0
    """The detector is warm: the score is meaningful."""
    WARMING_UP = 1
    """The point was learned, but the detector has not seen enough points to score."""
    SKIPPED = 2
    """The point was rejected (non-finite, duplicate or out-of-order timestamp) and counted."""


@dataclass(frozen=True)
class AnomalyScore:
    """The outcome of scoring one point of one stream, then learning it.

    ``probability`` is in [0, 1), calibrated against the stream's own history (never exactly
    1, so a stronger deviation scores higher); ``raw`` is the model's own score (the default's
    likelihood z); ``expected`` is what the model predicted before it saw ``observed``;
    ``zscore`` is the robust z of the value against the stream's level (NaN when the model
    has none). ``onset`` is the probability of a point that starts an anomaly (0 for the
    repeats the model suppresses after one; the probability itself for models that do not);
    NAB scoring reads it. ``drift`` is true where a model confirmed a level shift.
    """

    timestamp: float
    observed: float
    expected: float
    raw: float
    probability: float
    status: PointStatus
    drift: bool = False
    onset: float | None = None
    zscore: float = math.nan

    @property
    def ready(self) -> bool:
        """True when the score is meaningful (the detector is warm and the point was valid)."""
        return self.status is PointStatus.SCORED

    @property
    def onset_probability(self) -> float:
        """``onset``, or the probability for models without a notion of onset."""
        return self.probability if self.onset is None else self.onset


@dataclass
class InputCounters:
    """How many input points were not plain, in-order, finite points. Never reset."""

    non_finite: int = 0
    duplicate: int = 0
    out_of_order: int = 0
    gaps: int = 0
    clock_jumps: int = 0
    drifts: int = 0

    @property
    def skipped(self) -> int:
        """Points that were not learned."""
        return self.non_finite + self.duplicate + self.out_of_order


@dataclass(frozen=True)
class Explanation:
    """Why one signal of a workload looks anomalous, in terms a human reads."""

    signal: str
    observed: float
    expected: float
    probability: float
    since: float | None
    """Timestamp of the first anomalous point of the current episode, if any."""
    drift: bool = False
    zscore: float = math.nan
    """Robust z of the value against the stream's level, when the model has one."""

    def sentence(self) -> str:
        """One line for an Event message or a status condition: the severity in words.

        >>> Explanation("error_ratio", 0.31, 0.01, 0.99999, since=1700000000.0,
        ...             zscore=12.3).sentence()
        'error_ratio: observed 0.31, expected 0.01 (robust z 12.3, about 1 in 100,000 points) \
since 2023-11-14T22:13:20Z'
        """
        severity = rarity(self.probability)
        if math.isfinite(self.zscore):
            severity = f"robust z {self.zscore:.3g}, {severity}"
        text = (
            f"{self.signal}: observed {self.observed:.4g}, expected {self.expected:.4g}"
            f" ({severity})"
        )
        if self.since is not None:
            text += f" since {format_timestamp(self.since)}"
        if self.drift:
            text += "; level shift confirmed, model re-baselined"
        return text


@dataclass(frozen=True)
class IncidentScore:
    """The fused score of every signal of one workload at one tick."""

    workload: str
    probability: float
    alarm: bool
    explanations: tuple[Explanation, ...] = field(default_factory=tuple)
    """Signals ordered from most to least anomalous."""

    def summary(self) -> str:
        """Human-readable summary: the anomalous signals, most anomalous first."""
        state = "ANOMALOUS" if self.alarm else "normal"
        parts = "; ".join(e.sentence() for e in self.explanations)
        return f"{self.workload} {state}: {parts or 'no signal'}"


def rarity(probability: float) -> str:
    """How unusual a point of this anomaly probability is, in words people read.

    >>> rarity(0.99), rarity(0.9999), rarity(1.0 - 2.5e-9), rarity(0.3)
    ('about 1 in 100 points', 'about 1 in 10,000 points', 'about 1 in 400,000,000 points', 'usual')
    >>> rarity(1.0 - 1e-14)
    'rarer than 1 in 1,000,000,000 points'

    Detectors never say 1 exactly; a probability of 1 is a value past the signal's static
    threshold (see ``kubeheal.detect.alarms.directional``):

    >>> rarity(1.0)
    'past its threshold'
    """
    if probability >= 1.0:
        return "past its threshold"
    tail = 1.0 - probability
    if not tail < 0.5:
        return "usual"
    if tail < 1e-9:
        return "rarer than 1 in 1,000,000,000 points"
    n = 1.0 / tail
    digits = 10 ** max(math.floor(math.log10(n)) - 1, 0)
    return f"about 1 in {round(n / digits) * digits:,.0f} points"


def format_timestamp(timestamp: float) -> str:
    """UTC ISO 8601 text of a Unix timestamp, to the second.

    >>> format_timestamp(0.0)
    '1970-01-01T00:00:00Z'
    """
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
