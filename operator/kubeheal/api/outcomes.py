"""Outcome statistics: what became of a runbook's incidents, kept in the Runbook's status.

Every closed Remediation is folded into its runbook's ``status.outcomes`` once (the operator
remembers the UIDs it counted lately, and the statistics and that memory are one write), so
that the record outlives both the operator's restarts and the Remediations themselves. The
figures are counts and bounded latency sketches, never one value per incident: one bucket per
UTC day for the last :data:`RETAINED_DAYS` days (what ``kubeheal report --since`` reads), and
totals since counting began.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Final

from pydantic import Field

from kubeheal.api.base import ApiModel

RETAINED_DAYS: Final = 35
"""Days of daily buckets kept; older days survive only in the totals."""
RECENT_UIDS: Final = 256
"""UIDs of the Remediations counted last, so that a Remediation is never counted twice."""
MAP_KEYS: Final = 64
"""Bound on the keys of each map (signals, causes, actions); past it, counts go to 'other'."""


class OutcomeKind(enum.StrEnum):
    """How an incident ended."""

    VERIFIED = "verified"
    """An action ran and recovery was verified."""
    FAILED = "failed"
    """Actions ran (or failed to run) and none brought recovery."""
    ESCALATED = "escalated"
    """Handed to humans without an action having run (no action fit, data missing...)."""
    BLOCKED = "blocked"
    """A guardrail or the policy engine refused the action."""
    DRY_RUN = "dry-run"
    """The runbook only recorded what it would have done."""
    REJECTED = "rejected"
    """A human rejected the action."""
    TIMED_OUT = "timed-out"
    """Nobody decided on the action in time."""


class FollowUp(enum.StrEnum):
    """What the workload did after an incident closed with no action run, one verification
    window later: still unhealthy (the incident was real), or recovered by itself."""

    CONFIRMED = "confirmed"
    RECOVERED = "recovered-unaided"
    UNKNOWN = "unknown"


class LatencySketch(ApiModel):
    """A mergeable histogram of durations with logarithmic buckets (bucket ``i`` holds
    durations in [GROWTH**(i-1), GROWTH**i) seconds, bucket 0 those under one second), so a
    quantile read from it is within about 12% of the true one, in bounded space."""

    count: int = Field(default=0, ge=0, description="Durations recorded.")
    sum_seconds: float = Field(default=0.0, ge=0.0, description="Their sum, in seconds.")
    buckets: dict[str, int] = Field(
        default_factory=dict, max_length=128,
        description="Count per bucket index (bucket i: up to 1.25**i seconds).")


class ActionOutcome(ApiModel):
    """How one action of the runbook fared for one diagnosed cause."""

    cause: str = Field(max_length=63, description="Diagnosed cause.")
    action: str = Field(max_length=63, description="Name of the action in the runbook.")
    kind: str = Field(default="", max_length=63, description="restart, scale, rollback or resize.")
    succeeded: int = Field(default=0, ge=0, description="Runs followed by verified recovery.")
    failed: int = Field(default=0, ge=0,
                        description="Runs that failed or were not followed by recovery.")


class DryRunEvidence(ApiModel):
    """What a runbook in dry-run saw and would have done, and what happened next."""

    incidents: int = Field(default=0, ge=0, description="Incidents seen in dry-run.")
    would_have_done: dict[str, int] = Field(
        default_factory=dict, max_length=64,
        description="Actions it would have run, by '<kind> <action name>'.")
    confirmed: int = Field(
        default=0, ge=0,
        description="Incidents whose workload was still unhealthy a verification window later.")
    recovered_unaided: int = Field(
        default=0, ge=0, description="Incidents whose workload recovered without any action.")


class OutcomeCounts(ApiModel):
    """Outcome figures over a stretch of time (one day, or since counting began)."""

    incidents: int = Field(default=0, ge=0, description="Closed incidents counted.")
    outcomes: dict[str, int] = Field(
        default_factory=dict, max_length=16, description="Incidents by outcome.")
    autonomous: int = Field(
        default=0, ge=0, description="Verified incidents that no human had to decide on.")
    with_human: int = Field(
        default=0, ge=0, description="Incidents in which a human decided (approved, rejected).")
    causes: dict[str, int] = Field(
        default_factory=dict, max_length=16, description="Incidents by diagnosed cause.")
    signals: dict[str, int] = Field(
        default_factory=dict, max_length=MAP_KEYS,
        description="Incidents by triggering signal (an incident may count for several).")
    false_alarms: int = Field(
        default=0, ge=0,
        description="Incidents rejected as not an incident, or whose workload recovered before "
        "any action.")
    false_alarm_signals: dict[str, int] = Field(
        default_factory=dict, max_length=MAP_KEYS,
        description="False alarms by triggering signal.")
    follow_ups: dict[str, int] = Field(
        default_factory=dict, max_length=8,
        description="Incidents closed without an action, by what the workload did next.")
    actions: list[ActionOutcome] = Field(
        default_factory=list, max_length=MAP_KEYS,
        description="Per (cause, action): runs that recovered the workload, and those that did "
        "not.")
    time_to_detect: LatencySketch = Field(
        default_factory=LatencySketch, description="Anomaly onset to incident opened.")
    time_to_recover: LatencySketch = Field(
        default_factory=LatencySketch, description="Anomaly onset to recovery verified.")
    approval_latency: LatencySketch = Field(
        default_factory=LatencySketch, description="Approval requested to a human's decision.")
    dry_run: DryRunEvidence = Field(default_factory=DryRunEvidence,
                                    description="Incidents seen in dry-run mode.")


class DailyOutcomes(OutcomeCounts):
    """The incidents that closed on one UTC day."""

    day: dt.date = Field(description="The UTC day the incidents closed.")


class OutcomeStatistics(ApiModel):
    """Outcomes of the runbook's closed incidents; written by the operator only."""

    totals: OutcomeCounts = Field(default_factory=OutcomeCounts,
                                  description="Since counting began.")
    days: list[DailyOutcomes] = Field(
        default_factory=list, max_length=RETAINED_DAYS,
        description="One bucket per UTC day with closed incidents, oldest first.")
    recently_counted: list[str] = Field(
        default_factory=list, max_length=RECENT_UIDS,
        description="UIDs of the Remediations counted last (so none is counted twice).")
    last_counted_at: dt.datetime | None = Field(
        default=None, description="When the last incident was counted.")
