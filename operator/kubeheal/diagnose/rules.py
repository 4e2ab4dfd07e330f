"""The rules of diagnosis: each reads the incident's facts and proposes at most one cause, with a
confidence in [0, 1] and the evidence for it, or nothing when it does not apply.

Each rule collects independent pieces of evidence, each with the probability that it alone
points to the cause, and combines them with a noisy-OR (``1 - prod(1 - p)``): more evidence
only ever raises the confidence, and it stays below 1. The weights are round numbers chosen so
that the textbook cases come out clearly (a bad release minutes before the onset, a leak, a load
spike), not fitted; they are named constants so that tests and readers can see them.

- :func:`recent_change`: a new revision of the pod template shortly before the onset.
- :func:`resource_exhaustion`: memory growth, OOM kills, restarts.
- :func:`saturation`: load up with latency up and errors flat.
- :func:`upstream_first`: a dependency that turned anomalous before this workload did. The cause
  then lies outside the workload, which the causes we act on do not name: ``unknown``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kubeheal.api.runbook import Cause, SignalRole
from kubeheal.diagnose.facts import DiagnosisInput, DiagnosisSettings, Direction

# Change: a revision at the onset scores CHANGE_AT_ONSET, one at the edge of the window
# CHANGE_AT_EDGE, linearly in between; errors rising add CHANGE_WITH_ERRORS.
CHANGE_AT_ONSET = 0.9
CHANGE_AT_EDGE = 0.5
CHANGE_WITH_ERRORS = 0.3
# Resource exhaustion.
OOM_KILL_WEIGHT = 0.85
MEMORY_UP_WEIGHT = 0.6
MEMORY_SLOPE_WEIGHT = 0.4
RESTARTS_WEIGHT = 0.35
MIN_MEMORY_SLOPE = 4096.0  # bytes/s (about 14 MiB an hour): slower growth is noise
# Saturation.
LOAD_UP_WEIGHT = 0.4
LOAD_RATIO_BONUS = 0.15  # per doubling of the load, up to LOAD_RATIO_BONUS_MAX
LOAD_RATIO_BONUS_MAX = 0.3
LATENCY_UP_WEIGHT = 0.5
ERRORS_FLAT_WEIGHT = 0.3
ERRORS_UP_PENALTY = 0.6  # saturation seldom shows as errors first: scale the confidence down
# Upstream first.
UPSTREAM_WEIGHT = 0.5


@dataclass(frozen=True)
class Candidate:
    """A probable cause with its confidence and the evidence for it, most telling first."""

    cause: Cause
    confidence: float
    evidence: tuple[str, ...]

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0 or math.isnan(self.confidence):
            raise ValueError(f"confidence {self.confidence!r} is not in [0, 1]")


Rule = Callable[[DiagnosisInput, DiagnosisSettings], Candidate | None]


def noisy_or(probabilities: Iterable[float]) -> float:
    """The probability that at least one of independent pieces of evidence holds.

    >>> noisy_or([]), noisy_or([0.5]), noisy_or([0.5, 0.5])
    (0.0, 0.5, 0.75)
    """
    miss = 1.0
    for p in probabilities:
        miss *= 1.0 - min(max(p, 0.0), 1.0)
    return 1.0 - miss


def duration(delta: dt.timedelta) -> str:
    """A short human duration.

    >>> duration(dt.timedelta(seconds=42)), duration(dt.timedelta(seconds=150))
    ('42s', '2m30s')
    >>> duration(dt.timedelta(hours=3, minutes=5))
    '3h5m'
    """
    seconds = round(abs(delta.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{seconds}s" if seconds else f"{minutes}m"
    return f"{seconds}s"


def recent_change(facts: DiagnosisInput, settings: DiagnosisSettings) -> Candidate | None:
    """A revision of the pod template created shortly before the onset: ``change``.

    The closer to the onset, the more likely; revisions that only restarted pods do not count,
    and neither does a workload's first known revision: a workload created minutes before
    the onset has changed from nothing, and there is nothing to roll back to.

    >>> from kubeheal.diagnose.facts import Revision, SignalAnomaly
    >>> onset = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    >>> facts = DiagnosisInput(onset, revisions=(
    ...     Revision(1, onset - dt.timedelta(days=2)),
    ...     Revision(2, onset - dt.timedelta(minutes=1))))
    >>> c = recent_change(facts, DiagnosisSettings())
    >>> c.cause.value, round(c.confidence, 2), c.evidence[0]
    ('change', 0.86, 'revision 2 created 1m before the onset (window 10m)')
    >>> new_workload = DiagnosisInput(onset, revisions=(
    ...     Revision(1, onset - dt.timedelta(minutes=5)),))
    >>> recent_change(new_workload, DiagnosisSettings()) is None
    True
    """
    earliest = facts.onset - settings.change_window
    latest = facts.onset + settings.clock_skew
    first = min((r.number for r in facts.revisions), default=None)
    recent = [
        r for r in facts.revisions
        if r.template_changed and r.number != first and earliest <= r.created_at <= latest
    ]
    if not recent:
        return None
    revision = max(recent, key=lambda r: (r.created_at, r.number))
    lag = max(facts.onset - revision.created_at, dt.timedelta(0))
    closeness = 1.0 - lag / settings.change_window
    confidence = CHANGE_AT_EDGE + (CHANGE_AT_ONSET - CHANGE_AT_EDGE) * closeness
    label = f"revision {revision.number}" + (f" ({revision.name})" if revision.name else "")
    when = (
        f"{duration(lag)} before the onset" if revision.created_at <= facts.onset
        else f"{duration(revision.created_at - facts.onset)} after the onset (clock skew)"
    )
    evidence = [f"{label} created {when} (window {duration(settings.change_window)})"]
    errors = facts.moved(SignalRole.ERRORS, Direction.UP)
    if errors:
        confidence = noisy_or([confidence, CHANGE_WITH_ERRORS])
        evidence.append(f"errors rose, as after a faulty release: {errors[0].describe()}")
    return Candidate(Cause.CHANGE, confidence, tuple(evidence))


def resource_exhaustion(facts: DiagnosisInput, settings: DiagnosisSettings) -> Candidate | None:
    """Memory growth, OOM kills or restarts: ``resource-exhaustion``.

    >>> from kubeheal.diagnose.facts import PodHealth
    >>> onset = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    >>> facts = DiagnosisInput(onset, pods=(PodHealth("web-1", restarts=2, oom_kills=1),))
    >>> c = resource_exhaustion(facts, DiagnosisSettings())
    >>> c.cause.value, round(c.confidence, 3), c.evidence
    ('resource-exhaustion', 0.902, ('1 pod OOM-killed: web-1', '2 restarts: web-1 (2)'))
    """
    weights: list[float] = []
    evidence: list[str] = []
    oom = [p.name + (f" ({', '.join(p.oom_containers)})" if p.oom_containers else "")
           for p in facts.pods if p.oom_killed]
    if oom:
        weights.append(OOM_KILL_WEIGHT)
        evidence.append(f"{len(oom)} pod{'s' * (len(oom) > 1)} OOM-killed: {_names(oom)}")
    memory = facts.moved(SignalRole.MEMORY, Direction.UP)
    if memory:
        weights.append(MEMORY_UP_WEIGHT)
        evidence.append(f"memory rose: {memory[0].describe()}")
    if facts.memory_slope is not None and facts.memory_slope >= MIN_MEMORY_SLOPE:
        weights.append(MEMORY_SLOPE_WEIGHT)
        evidence.append(f"memory grows by {facts.memory_slope * 60 / 2**20:.3g} MiB/min")
    restarted = [p for p in facts.pods if p.restarts > 0]
    restart_signals = facts.moved(SignalRole.RESTARTS, Direction.UP)
    if restarted or restart_signals:
        weights.append(RESTARTS_WEIGHT)
        if restarted:
            total = sum(p.restarts for p in restarted)
            pods = _names([f"{p.name} ({p.restarts})" for p in restarted])
            evidence.append(f"{total} restart{'s' * (total > 1)}: {pods}")
        else:
            evidence.append(f"restarts rose: {restart_signals[0].describe()}")
    if not weights:
        return None
    return Candidate(Cause.RESOURCE_EXHAUSTION, noisy_or(weights), tuple(evidence))


def saturation(facts: DiagnosisInput, settings: DiagnosisSettings) -> Candidate | None:
    """Load up, with latency up and errors flat: ``saturation``.

    A rise in a ``saturation`` signal (CPU, queue length) counts as load. Load alone is weak
    evidence; errors rising too make saturation less likely than a fault.

    >>> from kubeheal.diagnose.facts import SignalAnomaly
    >>> onset = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    >>> facts = DiagnosisInput(onset, signals=(
    ...     SignalAnomaly("load", SignalRole.LOAD, Direction.UP, 200.0, 50.0),
    ...     SignalAnomaly("latency-p99", SignalRole.LATENCY, Direction.UP, 1.2, 0.05)))
    >>> c = saturation(facts, DiagnosisSettings())
    >>> c.cause.value, round(c.confidence, 3)
    ('saturation', 0.895)
    """
    load = facts.moved(SignalRole.LOAD, Direction.UP) + facts.moved(
        SignalRole.SATURATION, Direction.UP
    )
    if not load:
        return None
    ratios = [r for r in (s.ratio for s in load) if r is not None and r > 1.0]
    bonus = min(LOAD_RATIO_BONUS * math.log2(max(ratios)), LOAD_RATIO_BONUS_MAX) if ratios else 0
    weights = [LOAD_UP_WEIGHT + bonus]
    evidence = [f"load rose: {load[0].describe()}"]
    latency = facts.moved(SignalRole.LATENCY, Direction.UP)
    errors = facts.moved(SignalRole.ERRORS, Direction.UP)
    if latency:
        weights.append(LATENCY_UP_WEIGHT)
        evidence.append(f"latency rose with it: {latency[0].describe()}")
        if not errors:
            weights.append(ERRORS_FLAT_WEIGHT)
            evidence.append("errors stayed flat")
    confidence = noisy_or(weights)
    if errors:
        confidence *= ERRORS_UP_PENALTY
        evidence.append(f"but errors rose too, which saturation seldom causes first: "
                        f"{errors[0].describe()}")
    return Candidate(Cause.SATURATION, confidence, tuple(evidence))


def upstream_first(facts: DiagnosisInput, settings: DiagnosisSettings) -> Candidate | None:
    """Dependencies anomalous before this workload: the cause may lie upstream (``unknown``).

    >>> from kubeheal.diagnose.facts import UpstreamAnomaly
    >>> onset = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    >>> facts = DiagnosisInput(onset, upstream=(
    ...     UpstreamAnomaly("payments", onset - dt.timedelta(seconds=45)),
    ...     UpstreamAnomaly("search", onset + dt.timedelta(seconds=30))))
    >>> upstream_first(facts, DiagnosisSettings()).evidence
    ('upstream payments anomalous since 45s before the onset',)
    """
    first = sorted(
        (u for u in facts.upstream
         if u.onset < facts.onset and facts.onset - u.onset >= settings.min_upstream_lead),
        key=lambda u: (u.onset, u.name),
    )
    if not first:
        return None
    evidence = tuple(
        f"upstream {u.name} anomalous since {duration(facts.onset - u.onset)} before the onset"
        for u in first
    )
    return Candidate(Cause.UNKNOWN, noisy_or(UPSTREAM_WEIGHT for _ in first), evidence)


RULES: tuple[Rule, ...] = (recent_change, resource_exhaustion, saturation, upstream_first)


def why_nothing_fits(facts: DiagnosisInput, settings: DiagnosisSettings) -> tuple[str, ...]:
    """The reasons no rule applied, for the ``unknown`` candidate's evidence."""
    reasons = []
    first = min(facts.revisions, key=lambda r: r.number, default=None)
    new = first is not None and facts.onset - first.created_at <= settings.change_window
    changed = [r for r in facts.revisions
               if r.template_changed and r.created_at <= facts.onset and not (new and r is first)]
    if new and first is not None:
        reasons.append(f"revision {first.number} is the first known revision of the workload "
                       f"(created {duration(facts.onset - first.created_at)} before the onset): "
                       "not a change, nothing to roll back to")
    if changed:
        last = max(changed, key=lambda r: r.created_at)
        reasons.append(
            f"last template change (revision {last.number}) was "
            f"{duration(facts.onset - last.created_at)} before the onset, outside the "
            f"{duration(settings.change_window)} window"
        )
    else:
        reasons.append(f"no template change in the {duration(settings.change_window)} "
                       "before the onset")
    reasons.append("no memory growth, OOM kills or restarts")
    reasons.append("load did not rise")
    if facts.signals:
        reasons.append("anomalous: " + "; ".join(s.describe() for s in facts.signals[:4]))
    return tuple(reasons)


def _names(names: list[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
