"""Values that the detection engine hands out: scores, explanations, incident scores, counters.

They are frozen dataclasses so that the controller can store, compare and log them freely;
none of them holds a reference to a model.
"""

from __future__ import annotations

import datetime as dt
import enum
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

    ``probability`` is calibrated to [0, 1] against the stream's own history; ``raw`` is the
    model's uncalibrated score (for example a robust z-score); ``expected`` is what the model
    predicted before it saw ``observed``. ``drift`` is true on the point where the model
    confirmed a level shift or regime change and re-baselined.
    """

    timestamp: float
    observed: float
    expected: float
    raw: float
    probability: float
    status: PointStatus
    drift: bool = False

    @property
    def ready(self) -> bool:
        """True when the score is meaningful (the detector is warm and the point was valid)."""
        return self.status is PointStatus.SCORED


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

    def sentence(self) -> str:
        """One line for an Event message or a status condition.

        >>> Explanation("error_ratio", 0.31, 0.01, 0.9999, since=1700000000.0).sentence()
        'error_ratio: observed 0.31, expected 0.01 (p=0.9999) since 2023-11-14T22:13:20Z'
        """
        text = (
            f"{self.signal}: observed {self.observed:.4g}, expected {self.expected:.4g}"
            f" (p={self.probability:.4f})"
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
        return f"{self.workload} {state} (p={self.probability:.4f}): {parts or 'no signal'}"


def format_timestamp(timestamp: float) -> str:
    """UTC ISO 8601 text of a Unix timestamp, to the second.

    >>> format_timestamp(0.0)
    '1970-01-01T00:00:00Z'
    """
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
