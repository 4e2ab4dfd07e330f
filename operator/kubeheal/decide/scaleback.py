"""When a temporary scale-out goes back, and to what: pure decisions, no I/O.

A runbook's scale action may declare ``scaleBack`` (:class:`~kubeheal.api.runbook.ScaleBack`).
The scale-out then records the load's level before the incident (:func:`level_before`, the
median of the load signal over a window before the onset). Once the incident is verified, the
scale-out is undone when all of these hold (:func:`way_back`):

- the load was back at that level (within the tolerance) at every point of the last
  ``holdSeconds`` (:func:`held_back`); a gap in the load data is inconclusive: wait, never
  scale in on missing data;
- nobody changed the replicas (or the HPA's minReplicas) since the scale-out
  (:func:`changed_since`): if someone did, their choice stands and nothing is done;
- no new incident of the workload was opened since: the new incident takes precedence, and
  the scale-back is abandoned.

The scale-back returns the replicas, or the HPA's minReplicas, to the count pinned when the
scale-out was decided, never lower (:func:`scale_back_action`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from kubeheal.api.remediation import RemediationStatus, ScaleBackOf
from kubeheal.api.runbook import ActionKind, ScaleBounds
from kubeheal.decide.actions import Action, JsonValue

MIN_BASELINE_POINTS: Final = 3
"""Points the window before the onset must hold for its median to be a level."""
GAP_INTERVALS: Final = 2
"""A gap in the load data longer than this many intervals (plus a second) is missing data."""
GIVE_UP_SECONDS: Final = 86400.0
"""A scale-out whose load is not back within this long after it ran stays: humans decide."""


def level_before(values: Sequence[float]) -> float | None:
    """The load's level before the incident: the median of the finite values, or None with
    fewer than :data:`MIN_BASELINE_POINTS` of them.

    >>> level_before([60.0, 61.0, float("nan"), 58.0, 90.0])
    60.5
    >>> level_before([60.0, float("nan")]) is None
    True
    """
    finite = [v for v in values if math.isfinite(v)]
    if len(finite) < MIN_BASELINE_POINTS:
        return None
    return float(statistics.median(finite))


Back = Literal["back", "not-back", "inconclusive"]


def _at(stamp: float) -> str:
    return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class HoldVerdict:
    """Whether the load was back at its level over a whole window, and why (or why not)."""

    verdict: Back
    message: str


def held_back(points: Sequence[tuple[float, float]], level: float, tolerance: float,
              start: float, end: float, interval: float) -> HoldVerdict:
    """Whether every point of the load from ``start`` to ``end`` (seconds since the epoch) is
    at most ``level * (1 + tolerance)``; inconclusive when the data has a gap longer than
    :data:`GAP_INTERVALS` intervals anywhere in the window (its edges included) or a point
    that is not a number.

    >>> pts = [(float(t), 60.0) for t in range(0, 65, 5)]
    >>> held_back(pts, 60.0, 0.1, 0, 60, 5).verdict
    'back'
    >>> held_back(pts[:-1] + [(60.0, 70.0)], 60.0, 0.1, 0, 60, 5).message
    'load 70 at 1970-01-01T00:01:00Z is above 66 (the level before the incident 60, +10%)'
    >>> held_back(pts[:4] + pts[8:], 60.0, 0.1, 0, 60, 5).message[-51:]
    '00:00:40Z (25s): missing data, so no scale-back yet'
    >>> held_back([], 60.0, 0.1, 0, 60, 5).verdict
    'inconclusive'
    """
    ceiling = level * (1.0 + tolerance)
    window = sorted((t, v) for t, v in points if start <= t <= end)
    bad = next(((t, v) for t, v in window if not math.isfinite(v)), None)
    if bad is not None:
        return HoldVerdict("inconclusive", f"load at {_at(bad[0])} is not a number: missing "
                                           "data, so no scale-back yet")
    stamps = [start, *(t for t, _ in window), end]
    widest = max(itertools.pairwise(stamps), key=lambda pair: pair[1] - pair[0])
    if widest[1] - widest[0] > GAP_INTERVALS * interval + 1:
        return HoldVerdict("inconclusive", f"no load data from {_at(widest[0])} to "
                           f"{_at(widest[1])} ({widest[1] - widest[0]:g}s): missing data, so no "
                           "scale-back yet")
    above = [(t, v) for t, v in window if v > ceiling]
    if above:
        t, v = above[-1]
        return HoldVerdict("not-back", f"load {v:.4g} at {_at(t)} is above {ceiling:.4g} (the "
                           f"level before the incident {level:.4g}, +{tolerance:.0%})")
    peak = max(v for _, v in window)
    return HoldVerdict("back", f"load at most {peak:.4g} from {_at(start)} to {_at(end)}, within "
                       f"{ceiling:.4g} (the level before the incident {level:.4g}, "
                       f"+{tolerance:.0%})")


@dataclass(frozen=True)
class ScaleOut:
    """The executed scale-out that a scale-back undoes: the pinned counts before it, what it
    set, and when it ran."""

    action: str
    replicas: int
    hpa: str
    hpa_min_replicas: int | None
    scaled_to: int
    executed_at: dt.datetime
    token: str = ""


def scaled_out(status: RemediationStatus) -> ScaleOut | None:
    """The last scale that a Remediation executed, with its pins; None if none ran.

    >>> from kubeheal.api.remediation import (ChosenAction, ExecutionRecord, Intent,
    ...                                       PinnedTarget)
    >>> at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> pins = PinnedTarget(uid="u", template_hash="h", replicas=3)
    >>> act = ChosenAction(name="out", kind="scale", params={"replicas": "5"}, pinned=pins)
    >>> run = ExecutionRecord(intent=Intent(action=act, issued_at=at, token="t"),
    ...                       outcome="executed", completed_at=at)
    >>> out = scaled_out(RemediationStatus(executions=[run]))
    >>> out.replicas, out.scaled_to, out.hpa
    (3, 5, '')
    >>> scaled_out(RemediationStatus()) is None
    True
    """
    for record in reversed(status.executions):
        action = record.intent.action
        if record.outcome != "executed" or action.kind is not ActionKind.SCALE \
                or action.pinned is None or action.params.get("direction") == "down":
            continue
        pins = action.pinned
        return ScaleOut(action.name, pins.replicas, pins.hpa, pins.hpa_min_replicas,
                        int(action.params["replicas"]), record.completed_at, record.intent.token)
    return None


def changed_since(out: ScaleOut | ScaleBackOf, replicas: int, hpa: str,
                  hpa_min_replicas: int | None) -> str:
    """What someone changed since the scale-out (the Deployment's replicas, or the HPA's
    minReplicas when an HPA scales it), or '' when it is still as the scale-out left it.

    >>> out = ScaleOut("out", 3, "", None, 5, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    >>> changed_since(out, 5, "", None)
    ''
    >>> changed_since(out, 7, "", None)
    'spec.replicas is 7, not the 5 the scale-out set: changed since, so it stays'
    >>> changed_since(out, 5, "web", 5)
    'HPA web now scales the Deployment (none did at the scale-out)'
    """
    if out.hpa and hpa != out.hpa:
        return f"HPA {out.hpa} no longer scales the Deployment"
    if not out.hpa and hpa:
        return f"HPA {hpa} now scales the Deployment (none did at the scale-out)"
    what, now = (f"minReplicas of HPA {hpa}", hpa_min_replicas) if hpa else \
        ("spec.replicas", replicas)
    if now != out.scaled_to:
        return (f"{what} is {now}, not the {out.scaled_to} the scale-out set: changed since, "
                "so it stays")
    return ""


WayBackState = Literal["Waiting", "Abandoned"]


@dataclass(frozen=True)
class WayBack:
    """What becomes of a pending scale-back now: wait, give up (saying why), or ``open`` the
    scale-back's Remediation."""

    state: WayBackState
    message: str
    open: bool = False


def way_back(*, phase: str, out: ScaleOut | None, level: float | None, later_incident: str,
             changed: str, hold_seconds: int, hold: HoldVerdict | None,
             now: dt.datetime) -> WayBack:
    """The next step of a temporary scale-out's way back (all checks made by the caller).

    >>> t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> out = ScaleOut("out", 3, "", None, 5, t)
    >>> later = t + dt.timedelta(seconds=700)
    >>> args = dict(phase="Succeeded", out=out, level=60.0, later_incident="", changed="",
    ...             hold_seconds=600, now=later)
    >>> way_back(**args, hold=HoldVerdict("back", "ok")).open
    True
    >>> way_back(**args, hold=HoldVerdict("inconclusive", "gap")).state
    'Waiting'
    >>> way_back(**{**args, "later_incident": "web-deployment-4"}, hold=None).message
    'a new incident (web-deployment-4) was opened for the workload first: no scale-back'
    >>> way_back(**{**args, "now": t}, hold=None).message[:33]
    'holding the scale-out until 2026-'
    """
    if phase != "Succeeded":
        return WayBack("Abandoned", f"the incident closed {phase}, not verified: no "
                       "scale-back; humans decide")
    if out is None:
        return WayBack("Abandoned", "no scale-out was executed: nothing to scale back")
    if later_incident:
        return WayBack("Abandoned", f"a new incident ({later_incident}) was opened for the "
                       "workload first: no scale-back")
    if changed:
        return WayBack("Abandoned", f"{changed}: no scale-back")
    if (now - out.executed_at).total_seconds() > GIVE_UP_SECONDS:
        return WayBack("Abandoned", f"the load was not back within {GIVE_UP_SECONDS:.0f}s of "
                       "the scale-out: it stays; scale back by hand")
    if level is None:
        return WayBack("Waiting", "the load's level before the incident is not known yet "
                       "(no data before the onset): missing data, so no scale-back yet")
    due = out.executed_at + dt.timedelta(seconds=hold_seconds)
    if now < due or hold is None:
        return WayBack("Waiting", f"holding the scale-out until {due:%Y-%m-%dT%H:%M:%SZ} at "
                       f"least ({hold_seconds}s after it ran)")
    if hold.verdict == "back":
        return WayBack("Waiting", hold.message, open=True)
    return WayBack("Waiting", hold.message)


def scale_back_action(of: ScaleBackOf, bounds: ScaleBounds, replicas: int, hpa: str,
                      hpa_min_replicas: int | None) -> tuple[Action | None, dict[str, str], str]:
    """The scale-back made concrete on the target as read now: back to the count before the
    scale-out (the runbook's minimum if that is higher), never below it; or None and why not.

    >>> of = ScaleBackOf(remediation="web-1", action="out", replicas=3, scaled_to=5,
    ...                  load_signal="load", load_before=60.0)
    >>> candidate, params, _ = scale_back_action(of, ScaleBounds(max_replicas=9), 5, "", None)
    >>> params["replicas"], params["from"], params["direction"], candidate.params["replicasBefore"]
    ('3', '5', 'down', 3)
    >>> scale_back_action(of, ScaleBounds(max_replicas=9), 6, "", None)[2][:28]
    'spec.replicas is 6, not the '
    """
    changed = changed_since(of, replicas, hpa, hpa_min_replicas)
    if changed:
        return None, {}, changed
    before = of.hpa_min_replicas if of.hpa and of.hpa_min_replicas is not None else of.replicas
    wanted = max(before, bounds.min_replicas)
    if wanted >= of.scaled_to:
        return None, {}, (f"already at {of.scaled_to}, not above {wanted} (the count before the "
                          "scale-out, or the runbook's minimum)")
    candidate = scale_back_candidate(wanted, of.scaled_to, before, bounds.min_replicas,
                                     bounds.max_replicas, of.hpa)
    return candidate, {key: str(value) for key, value in candidate.params.items()}, ""


def scale_back_candidate(replicas: int, scaled_to: int, before: int, min_replicas: int,
                         max_replicas: int, hpa: str = "") -> Action:
    """The policy's view of a scale-back: a scale down from what the scale-out set to the count
    before it (``params.direction`` is ``down``); under an HPA (``params.hpa``) the counts
    are its minReplicas.

    >>> dict(scale_back_candidate(3, 5, 3, 2, 9).params)  # doctest: +NORMALIZE_WHITESPACE
    {'replicas': 3, 'minReplicas': 2, 'maxReplicas': 9, 'direction': 'down', 'from': 5,
     'replicasBefore': 3}
    """
    params: dict[str, JsonValue] = {
        "replicas": replicas, "minReplicas": min_replicas, "maxReplicas": max_replicas,
        "direction": "down", "from": scaled_to, "replicasBefore": before}
    if hpa:
        params["hpa"] = hpa
    return Action(ActionKind.SCALE, params)
