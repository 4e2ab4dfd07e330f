"""Debounce: raise an alarm only when k of the last n scored points crossed the threshold.

One anomalous point is often a scrape glitch; a human would not be paged for it and neither
should a remediation start. :class:`KOfN` keeps the last ``n`` verdicts of one stream (points
not yet scored count as quiet), alarms once ``k`` of them are anomalous, keeps the alarm while
one of them is at least at a lower ``clear`` level (hysteresis), and remembers since when the
current episode lasts, for the explanation.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeheal.detect.values import AnomalyScore, PointStatus


@dataclass(frozen=True)
class DebouncedScore:
    """A score with the debounced verdict of its stream."""

    score: AnomalyScore
    alarm: bool
    since: float | None
    """Timestamp of the first anomalous point of the current episode (None when quiet)."""


class KOfN:
    """k-of-n debouncer for one stream.

    >>> from kubeheal.detect.values import AnomalyScore, PointStatus
    >>> def s(t, p):
    ...     return AnomalyScore(t, 1.0, 0.0, 0.0, p, PointStatus.SCORED)
    >>> debouncer = KOfN(k=2, n=3, threshold=0.99)
    >>> [debouncer.update(s(t, p)).alarm for t, p in enumerate([0.5, 0.999, 0.5, 0.999, 0.2])]
    [False, False, False, True, True]
    >>> debouncer.hits  # anomalous points among the last 3
    1
    >>> debouncer.update(s(5, 0.1)).alarm, debouncer.update(s(6, 0.1)).alarm, debouncer.since
    (True, False, None)

    With a lower ``clear`` level the alarm lasts while a recent point stays above it:

    >>> sticky = KOfN(k=2, n=2, threshold=0.99, clear=0.9)
    >>> [sticky.update(s(t, p)).alarm for t, p in enumerate([0.999, 0.999, 0.95, 0.95, 0.5])]
    [False, True, True, True, True]
    >>> sticky.update(s(5, 0.5)).alarm
    False
    """

    __slots__ = ("_recent", "alarm", "clear", "k", "n", "since", "threshold")

    def __init__(
        self, k: int = 2, n: int = 3, threshold: float = 0.9999, clear: float | None = None
    ) -> None:
        if not 1 <= k <= n:
            raise ValueError("need 1 <= k <= n")
        self.k = k
        self.n = n
        self.threshold = threshold
        self.clear = threshold if clear is None else min(clear, threshold)
        """An alarm lasts while a point of the last n reaches this (hysteresis)."""
        # A tuple, not a deque: a deque costs half a kilobyte, and there are thousands.
        self._recent: tuple[tuple[bool, bool, float], ...] = ()
        self.alarm = False
        self.since: float | None = None

    @property
    def calm(self) -> bool:
        """Not in alarm, and no recent point reached ``clear``: a point below ``clear`` keeps it
        so, and changes nothing of what it will say (what lets a bank skip calm streams)."""
        return not self.alarm and not any(up for _, up, _ in self._recent)

    @property
    def hits(self) -> int:
        """Anomalous points among the last n (the alarm needs k of them)."""
        return sum(1 for flag, _, _ in self._recent if flag)

    def update(self, score: AnomalyScore) -> DebouncedScore:
        """Add one score (skipped points are ignored) and return the current verdict."""
        if score.status is not PointStatus.SKIPPED:
            anomalous = score.ready and score.probability >= self.threshold
            elevated = score.ready and score.probability >= self.clear
            kept = self._recent[max(0, len(self._recent) - self.n + 1) :]
            self._recent = (*kept, (anomalous, elevated, score.timestamp))
            hits = [t for flag, _, t in self._recent if flag]
            if len(hits) >= self.k:
                if not self.alarm:
                    self.since = hits[0]
                self.alarm = True
            elif not any(up for _, up, _ in self._recent):
                self.alarm = False
                self.since = None
        return DebouncedScore(score, self.alarm, self.since)
