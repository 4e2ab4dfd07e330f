"""What diagnosis is told about an incident: plain frozen values the controller builds from what
it observed (detector evidence, ReplicaSet revisions, pod statuses, upstream incidents).

Times are aware datetimes; naive ones are refused, since a rollout and an onset compared across
time zones would make a wrong diagnosis look right.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from kubeheal.api.runbook import SignalRole

OOM_KILLED = "OOMKilled"


class Direction(enum.StrEnum):
    """Which way an anomalous signal moved from what was expected."""

    UP = "up"
    DOWN = "down"


def _aware(moment: dt.datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} {moment!r} has no time zone")


def slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (time in seconds, value) points, e.g. memory in bytes per second;
    None with fewer than two distinct times.

    >>> slope([(0.0, 100.0), (10.0, 120.0), (20.0, 140.0)])
    2.0
    >>> slope([(5.0, 1.0)]) is None
    True
    """
    if len(points) < 2:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread


@dataclass(frozen=True)
class SignalAnomaly:
    """One anomalous signal of the workload.

    ``observed`` and ``expected`` are optional; when both are known and positive,
    :attr:`ratio` says how far the signal moved.

    >>> SignalAnomaly("error-ratio", SignalRole.ERRORS, Direction.UP, 0.3, 0.005).ratio
    60.0
    """

    name: str
    role: SignalRole
    direction: Direction
    observed: float | None = None
    expected: float | None = None

    @property
    def ratio(self) -> float | None:
        """observed / expected, or None when either is unknown or expected is not positive."""
        if self.observed is None or self.expected is None or self.expected <= 0:
            return None
        return self.observed / self.expected

    def describe(self) -> str:
        """A short text such as ``error-ratio (errors) up: 0.3 vs 0.005 expected``."""
        text = f"{self.name} ({self.role.value}) {self.direction.value}"
        if self.observed is not None and self.expected is not None:
            text += f": {self.observed:.4g} vs {self.expected:.4g} expected"
        elif self.observed is not None:
            text += f": {self.observed:.4g}"
        return text


LOAD_RISE_RATIO = 1.25
"""How far above what was expected a load signal counts as risen even when its detector is
not confident: load is what tells saturation from a fault, and a load detector warmed on a
short, flat history may score a real rise low."""


def tells_the_diagnosis(role: SignalRole, alarm: bool, anomalous: bool,
                        observed: float, expected: float) -> bool:
    """Whether a signal of the workload is evidence for the diagnosis: in alarm, anomalous at
    the onset, or a load (or saturation) signal well above what was expected.

    >>> tells_the_diagnosis(SignalRole.LOAD, False, False, 110.0, 60.0)
    True
    >>> tells_the_diagnosis(SignalRole.LOAD, False, False, 64.0, 60.0)
    False
    >>> tells_the_diagnosis(SignalRole.ERRORS, False, False, 0.2, 0.01)
    False
    >>> tells_the_diagnosis(SignalRole.LOAD, False, False, 110.0, 0.0)  # nothing expected yet
    False
    """
    if alarm or anomalous:
        return True
    return (role in (SignalRole.LOAD, SignalRole.SATURATION) and expected > 0
            and observed >= LOAD_RISE_RATIO * expected)


@dataclass(frozen=True)
class Revision:
    """A ReplicaSet revision of the workload (``deployment.kubernetes.io/revision``).

    ``template_changed`` is False for a revision that only restarted the pods (a rollout
    restart changes nothing but the ``restartedAt`` annotation): it is not a change that a
    rollback would undo.
    """

    number: int
    created_at: dt.datetime
    name: str = ""
    template_changed: bool = True

    def __post_init__(self) -> None:
        _aware(self.created_at, f"revision {self.number} creation time")


@dataclass(frozen=True)
class PodHealth:
    """Health facts of one pod of the workload; ``oom_containers`` names its containers
    whose last termination was an OOM kill."""

    name: str
    restarts: int = 0
    oom_kills: int = 0
    last_termination_reason: str | None = None
    oom_containers: tuple[str, ...] = ()

    @property
    def oom_killed(self) -> bool:
        """Whether the pod was OOM-killed: counted, or as its last termination reason."""
        return self.oom_kills > 0 or self.last_termination_reason == OOM_KILLED


@dataclass(frozen=True)
class UpstreamAnomaly:
    """A dependency of the workload that is itself anomalous, and since when."""

    name: str
    onset: dt.datetime

    def __post_init__(self) -> None:
        _aware(self.onset, f"onset of upstream {self.name}")


@dataclass(frozen=True)
class DiagnosisInput:
    """Everything diagnosis knows about one incident of one workload.

    ``memory_slope`` is the trend of the workload's memory in bytes per second (None when not
    measured); ``upstream`` lists anomalous dependencies with their onsets.
    """

    onset: dt.datetime
    signals: tuple[SignalAnomaly, ...] = ()
    revisions: tuple[Revision, ...] = ()
    pods: tuple[PodHealth, ...] = ()
    memory_slope: float | None = None
    upstream: tuple[UpstreamAnomaly, ...] = ()

    def __post_init__(self) -> None:
        _aware(self.onset, "onset")
        for name in ("signals", "revisions", "pods", "upstream"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def moved(self, role: SignalRole, direction: Direction) -> tuple[SignalAnomaly, ...]:
        """The anomalous signals of a role that moved in a direction."""
        return tuple(s for s in self.signals if s.role is role and s.direction is direction)


@dataclass(frozen=True)
class DiagnosisSettings:
    """Tunables of the rules.

    ``change_window``: how long before the onset a new revision counts as the likely change;
    ``clock_skew``: how far after the onset a revision may be stamped and still count (clocks
    of the API server and of Prometheus differ a little); ``min_upstream_lead``: how much
    earlier a dependency must have turned anomalous to count as anomalous first.
    """

    change_window: dt.timedelta = field(default=dt.timedelta(minutes=10))
    clock_skew: dt.timedelta = field(default=dt.timedelta(seconds=30))
    min_upstream_lead: dt.timedelta = field(default=dt.timedelta(seconds=0))

    def __post_init__(self) -> None:
        if self.change_window <= dt.timedelta(0):
            raise ValueError("change_window must be positive")
        if self.clock_skew < dt.timedelta(0) or self.min_upstream_lead < dt.timedelta(0):
            raise ValueError("clock_skew and min_upstream_lead must not be negative")
