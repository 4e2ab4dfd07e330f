"""One closed incident, as the statistics count it, and folding it in exactly once.

:func:`incident_record` reads what counts of a closed Remediation (its outcome, cause,
signals, actions and their fate, its delays, whether a human decided, whether it was a false
alarm); :func:`fold` adds that record to a runbook's statistics, unless its UID is among those
counted lately, in which case it returns None: the caller then writes nothing. The statistics
and the UID are one write, so a crash between closing a Remediation and counting it, or
between counting it and marking it counted, neither loses nor double-counts it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from kubeheal.api.outcomes import (
    MAP_KEYS,
    RECENT_UIDS,
    RETAINED_DAYS,
    ActionOutcome,
    DailyOutcomes,
    DryRunEvidence,
    FollowUp,
    OutcomeCounts,
    OutcomeKind,
    OutcomeStatistics,
)
from kubeheal.api.remediation import Phase, Remediation
from kubeheal.outcomes import sketch

NOT_AN_INCIDENT = "not-an-incident"
"""The category of a rejection that says the alarm was false."""
OTHER = "other"


@dataclass(frozen=True)
class ActionRun:
    """One action that ran, or was called and failed, and whether recovery followed."""

    name: str
    kind: str
    succeeded: bool


@dataclass(frozen=True)
class IncidentRecord:
    """What the statistics keep of one closed incident."""

    uid: str
    closed_at: dt.datetime
    outcome: OutcomeKind
    cause: str
    signals: tuple[str, ...]
    runs: tuple[ActionRun, ...] = ()
    human: bool = False
    time_to_detect: float | None = None
    time_to_recover: float | None = None
    approval_latencies: tuple[float, ...] = ()
    not_an_incident: bool = False
    follow_up: FollowUp | None = None
    would_have_done: str = ""

    @property
    def false_alarm(self) -> bool:
        return self.not_an_incident or self.follow_up is FollowUp.RECOVERED


def outcome_of(rem: Remediation) -> OutcomeKind:
    """How a closed incident ended, from its phase and the reason it was closed for."""
    status = rem.status
    assert status is not None and status.phase.terminal
    if status.phase is Phase.SUCCEEDED:
        return OutcomeKind.VERIFIED
    if status.phase is Phase.DRY_RUN:
        return OutcomeKind.DRY_RUN
    if status.phase is Phase.BLOCKED:
        return OutcomeKind.BLOCKED
    reason = next((c.reason for c in status.conditions if c.type == "Ready"), "")
    if reason == "Rejected":
        return OutcomeKind.REJECTED
    if reason == "ApprovalTimedOut":
        return OutcomeKind.TIMED_OUT
    if any(e.outcome != "not-executed" for e in status.executions):
        return OutcomeKind.FAILED
    return OutcomeKind.ESCALATED


def acted(rem: Remediation) -> bool:
    """Whether any action was called (executed, or failed on the target)."""
    return rem.status is not None and any(e.outcome != "not-executed"
                                          for e in rem.status.executions)


def rejected_as_not_an_incident(rem: Remediation) -> bool:
    return any(a.decision == "rejected" and a.category == NOT_AN_INCIDENT
               for a in rem.spec.approvals)


def needs_follow_up(rem: Remediation) -> bool:
    """Whether the incident closed with no action run (and was not already called a false
    alarm by a human): only what the workload did next tells if it was real."""
    return not acted(rem) and not rejected_as_not_an_incident(rem)


def incident_record(rem: Remediation, follow_up: FollowUp | None = None) -> IncidentRecord:
    """The record of a closed Remediation; ``follow_up`` for one that needed it."""
    status = rem.status
    assert status is not None and status.phase.terminal
    trigger = rem.spec.trigger
    closed = status.completed_at or (status.timeline[-1].time if status.timeline
                                     else trigger.detected_at)
    outcome = outcome_of(rem)
    executed = [e for e in status.executions if e.outcome != "not-executed"]
    runs = tuple(
        ActionRun(e.intent.action.name, e.intent.action.kind.value,
                  succeeded=(outcome is OutcomeKind.VERIFIED and i == len(executed) - 1
                             and e.outcome == "executed"))
        for i, e in enumerate(executed))
    gated = [t.time for t in status.timeline if t.step == "gated"]
    latencies = []
    for approval in rem.spec.approvals:
        asked = [t for t in gated if t <= approval.time]
        if asked:
            latencies.append((approval.time - asked[-1]).total_seconds())
    action = status.action
    return IncidentRecord(
        uid=str((rem.metadata.model_extra or {}).get("uid") or ""),
        closed_at=closed,
        outcome=outcome,
        cause=rem.spec.diagnosis.cause.value,
        signals=tuple(dict.fromkeys(e.signal for e in trigger.evidence)),
        runs=runs,
        human=bool(rem.spec.approvals),
        time_to_detect=max(0.0, (trigger.detected_at - trigger.started_at).total_seconds()),
        time_to_recover=max(0.0, (closed - trigger.started_at).total_seconds())
        if outcome is OutcomeKind.VERIFIED else None,
        approval_latencies=tuple(latencies),
        not_an_incident=rejected_as_not_an_incident(rem),
        follow_up=follow_up if needs_follow_up(rem) else None,
        would_have_done=f"{action.kind.value} {action.name}"
        if outcome is OutcomeKind.DRY_RUN and action is not None else "",
    )


def _add(counts: Mapping[str, int], key: str, n: int = 1, limit: int = MAP_KEYS
         ) -> dict[str, int]:
    """``counts`` with ``n`` more under ``key``; a new key past ``limit`` counts as 'other'.

    >>> _add({"a": 1}, "a"), _add({"a": 1}, "b", limit=1)
    ({'a': 2}, {'a': 1, 'other': 1})
    """
    out = dict(counts)
    if key not in out and len(out) >= limit - 1 and key != OTHER:
        key = OTHER
    out[key] = out.get(key, 0) + n
    return out


def _add_run(actions: list[ActionOutcome], cause: str, action: str, kind: str,
             succeeded: int, failed: int) -> list[ActionOutcome]:
    out = [a.model_copy() for a in actions]
    found = next((a for a in out if (a.cause, a.action) == (cause, action)), None)
    if found is None:
        if len(out) >= MAP_KEYS:  # the least used pair makes room
            out.remove(min(out, key=lambda a: a.succeeded + a.failed))
        found = ActionOutcome(cause=cause, action=action, kind=kind)
        out.append(found)
    found.succeeded += succeeded
    found.failed += failed
    found.kind = kind or found.kind
    return out


def count(counts: OutcomeCounts, record: IncidentRecord) -> OutcomeCounts:
    """``counts`` with one more incident."""
    c = counts.model_copy(deep=True)
    c.incidents += 1
    c.outcomes = _add(c.outcomes, record.outcome.value)
    c.autonomous += int(record.outcome is OutcomeKind.VERIFIED and not record.human)
    c.with_human += int(record.human)
    c.causes = _add(c.causes, record.cause)
    for signal in record.signals:
        c.signals = _add(c.signals, signal)
        if record.false_alarm:
            c.false_alarm_signals = _add(c.false_alarm_signals, signal)
    c.false_alarms += int(record.false_alarm)
    if record.follow_up is not None:
        c.follow_ups = _add(c.follow_ups, record.follow_up.value)
    for run in record.runs:
        c.actions = _add_run(c.actions, record.cause, run.name, run.kind,
                             int(run.succeeded), int(not run.succeeded))
    if record.time_to_detect is not None:
        c.time_to_detect = sketch.observe(c.time_to_detect, record.time_to_detect)
    if record.time_to_recover is not None:
        c.time_to_recover = sketch.observe(c.time_to_recover, record.time_to_recover)
    for latency in record.approval_latencies:
        c.approval_latency = sketch.observe(c.approval_latency, latency)
    if record.outcome is OutcomeKind.DRY_RUN:
        d = c.dry_run
        d.incidents += 1
        if record.would_have_done:
            d.would_have_done = _add(d.would_have_done, record.would_have_done)
        d.confirmed += int(record.follow_up is FollowUp.CONFIRMED)
        d.recovered_unaided += int(record.follow_up is FollowUp.RECOVERED)
    return c


def merge(a: OutcomeCounts, b: OutcomeCounts) -> OutcomeCounts:
    """The figures of two stretches of time in one (days into a week, say)."""

    def maps(x: Mapping[str, int], y: Mapping[str, int], limit: int = MAP_KEYS
             ) -> dict[str, int]:
        out = dict(x)
        for key, n in y.items():
            out = _add(out, key, n, limit)
        return out

    actions = [x.model_copy() for x in a.actions]
    for run in b.actions:
        actions = _add_run(actions, run.cause, run.action, run.kind, run.succeeded, run.failed)
    return OutcomeCounts(
        incidents=a.incidents + b.incidents,
        outcomes=maps(a.outcomes, b.outcomes, 16),
        autonomous=a.autonomous + b.autonomous,
        with_human=a.with_human + b.with_human,
        causes=maps(a.causes, b.causes, 16),
        signals=maps(a.signals, b.signals),
        false_alarms=a.false_alarms + b.false_alarms,
        false_alarm_signals=maps(a.false_alarm_signals, b.false_alarm_signals),
        follow_ups=maps(a.follow_ups, b.follow_ups, 8),
        actions=actions,
        time_to_detect=sketch.merge(a.time_to_detect, b.time_to_detect),
        time_to_recover=sketch.merge(a.time_to_recover, b.time_to_recover),
        approval_latency=sketch.merge(a.approval_latency, b.approval_latency),
        dry_run=DryRunEvidence(
            incidents=a.dry_run.incidents + b.dry_run.incidents,
            would_have_done=maps(a.dry_run.would_have_done, b.dry_run.would_have_done),
            confirmed=a.dry_run.confirmed + b.dry_run.confirmed,
            recovered_unaided=a.dry_run.recovered_unaided + b.dry_run.recovered_unaided),
    )


def fold(stats: OutcomeStatistics, record: IncidentRecord, now: dt.datetime
         ) -> OutcomeStatistics | None:
    """The statistics with the incident counted, or None when it was counted already.

    Its day's bucket grows (days older than :data:`RETAINED_DAYS` before ``now`` are dropped;
    the totals keep them), and its UID joins the bounded list of those counted lately.
    """
    if record.uid and record.uid in stats.recently_counted:
        return None
    day = record.closed_at.astimezone(dt.UTC).date()
    oldest = now.astimezone(dt.UTC).date() - dt.timedelta(days=RETAINED_DAYS - 1)
    days = {d.day: d for d in stats.days if d.day >= oldest}
    if day >= oldest:
        before = days.get(day) or DailyOutcomes(day=day)
        days[day] = DailyOutcomes(day=day, **count(before, record).model_dump(exclude={"day"}))
    recent = [*stats.recently_counted, record.uid] if record.uid else stats.recently_counted
    return OutcomeStatistics(
        totals=count(stats.totals, record),
        days=[days[d] for d in sorted(days)][-RETAINED_DAYS:],
        recently_counted=recent[-RECENT_UIDS:],
        last_counted_at=now,
    )


def since(stats: OutcomeStatistics, start: dt.date) -> OutcomeCounts:
    """The figures of the (UTC) days from ``start`` on."""
    merged = OutcomeCounts()
    for d in stats.days:
        if d.day >= start:
            merged = merge(merged, OutcomeCounts(**d.model_dump(exclude={"day"})))
    return merged

