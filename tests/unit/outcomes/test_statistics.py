"""Outcome statistics without I/O: what a closed Remediation counts as, folding it in exactly
once, percentiles from the bounded sketch, merging days, and the report built on them."""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import re
from typing import Any

import pytest

from kubeheal.api.outcomes import (
    RECENT_UIDS,
    RETAINED_DAYS,
    FollowUp,
    LatencySketch,
    OutcomeCounts,
    OutcomeKind,
    OutcomeStatistics,
)
from kubeheal.api.remediation import Remediation
from kubeheal.outcomes import sketch
from kubeheal.outcomes.figures import Coverage, runbook_figures
from kubeheal.outcomes.record import fold, incident_record, merge, needs_follow_up, since
from kubeheal.outcomes.render import RunbookInput, SloBudget, build, render

T0 = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)
DIGEST = "ab" * 32


def at(seconds: float) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).isoformat()


def execution(name: str, kind: str, outcome: str, when: float) -> dict[str, Any]:
    return {"intent": {"action": {"name": name, "kind": kind}, "issuedAt": at(when),
                       "token": f"t{when}"},
            "outcome": outcome, "completedAt": at(when)}


def remediation(phase: str, uid: str = "u1", reason: str = "", executions: Any = (),
                approvals: Any = (), closed: float = 100, cause: str = "change",
                action: dict[str, Any] | None = None,
                timeline: Any = ()) -> Remediation:
    conditions = [{"type": "Ready", "status": "True" if phase == "Succeeded" else "False",
                   "reason": reason or phase, "lastTransitionTime": at(closed)}]
    return Remediation.model_validate({
        "metadata": {"name": "web-deployment-1", "namespace": "shop", "uid": uid},
        "spec": {
            "runbookRef": {"name": "web"},
            "target": {"namespace": "shop", "name": "web"},
            "trigger": {"startedAt": at(0), "detectedAt": at(15), "score": 0.99,
                        "evidence": [{"signal": "errors", "score": 0.99},
                                     {"signal": "latency", "score": 0.98}]},
            "diagnosis": {"cause": cause},
            "approvals": list(approvals),
        },
        "status": {"phase": phase, "completedAt": at(closed), "conditions": conditions,
                   "executions": list(executions), "timeline": list(timeline),
                   **({"action": action} if action else {})},
    })


VERIFIED = remediation("Succeeded", executions=[execution("undo", "rollback", "executed", 20)])


@pytest.mark.parametrize(("rem", "outcome"), [
    (VERIFIED, OutcomeKind.VERIFIED),
    (remediation("DryRun"), OutcomeKind.DRY_RUN),
    (remediation("Blocked"), OutcomeKind.BLOCKED),
    (remediation("Escalated", reason="Rejected"), OutcomeKind.REJECTED),
    (remediation("Escalated", reason="ApprovalTimedOut"), OutcomeKind.TIMED_OUT),
    (remediation("Escalated", reason="NoActionLeft",
                 executions=[execution("undo", "rollback", "executed", 20)]), OutcomeKind.FAILED),
    (remediation("Escalated", reason="NoActionLeft",
                 executions=[execution("undo", "rollback", "not-executed", 20)]),
     OutcomeKind.ESCALATED),
    (remediation("Escalated", reason="Inconclusive"), OutcomeKind.ESCALATED),
])
def test_outcome_of_each_way_an_incident_closes(rem: Remediation, outcome: OutcomeKind) -> None:
    assert incident_record(rem).outcome is outcome


def test_a_verified_incident_records_its_delays_and_which_action_worked() -> None:
    rem = remediation("Succeeded", closed=70, executions=[
        execution("bounce", "restart", "executed", 20),
        execution("undo", "rollback", "failed", 30),
        execution("undo2", "rollback", "executed", 40)])
    record = incident_record(rem)
    assert (record.time_to_detect, record.time_to_recover) == (15, 70)
    assert [(r.name, r.succeeded) for r in record.runs] == [
        ("bounce", False), ("undo", False), ("undo2", True)]
    assert not record.human and not record.false_alarm and record.follow_up is None
    counts = fold(OutcomeStatistics(), record, T0).totals
    assert (counts.autonomous, counts.with_human) == (1, 0)
    assert [(a.cause, a.action, a.succeeded, a.failed) for a in counts.actions] == [
        ("change", "bounce", 0, 1), ("change", "undo", 0, 1), ("change", "undo2", 1, 0)]


def test_approval_latency_runs_from_the_request_to_the_decision() -> None:
    gated = [{"time": at(20), "step": "gated", "message": "approval required"},
             {"time": at(200), "step": "gated", "message": "asked again"}]
    rem = remediation("Succeeded", timeline=gated, approvals=[
        {"digest": DIGEST, "decision": "approved", "approver": "alice", "time": at(95)}],
        executions=[execution("undo", "rollback", "executed", 100)])
    record = incident_record(rem)
    assert record.approval_latencies == (75,) and record.human
    assert fold(OutcomeStatistics(), record, T0).totals.autonomous == 0


def test_a_rejection_as_not_an_incident_is_a_false_alarm_of_each_signal() -> None:
    rem = remediation("Escalated", reason="Rejected", approvals=[
        {"digest": DIGEST, "decision": "rejected", "approver": "bob", "time": at(60),
         "category": "not-an-incident"}])
    assert not needs_follow_up(rem)
    counts = fold(OutcomeStatistics(), incident_record(rem), T0).totals
    assert counts.false_alarms == 1
    assert counts.false_alarm_signals == {"errors": 1, "latency": 1}
    f = runbook_figures("shop", "web", "enforce", True, counts)
    assert f.false_alarm_rate_by_signal == {"errors": 1.0, "latency": 1.0}


def test_dry_run_evidence_says_what_it_would_have_done_and_what_followed() -> None:
    undo = {"name": "undo", "kind": "rollback", "params": {"toRevision": "1"}}
    stats = OutcomeStatistics()
    for uid, follow in (("a", FollowUp.CONFIRMED), ("b", FollowUp.CONFIRMED),
                        ("c", FollowUp.RECOVERED), ("d", FollowUp.UNKNOWN)):
        rem = remediation("DryRun", uid=uid, action=undo)
        assert needs_follow_up(rem)
        folded = fold(stats, incident_record(rem, follow), T0)
        assert folded is not None
        stats = folded
    dry = stats.totals.dry_run
    assert (dry.incidents, dry.confirmed, dry.recovered_unaided) == (4, 2, 1)
    assert dry.would_have_done == {"rollback undo": 4}
    assert stats.totals.false_alarms == 1  # recovered with no action: a false alarm
    assert runbook_figures("shop", "web", "dry-run", False, stats.totals).acting_incidents == 0


def test_an_incident_is_counted_once_however_often_it_is_folded() -> None:
    record = incident_record(VERIFIED)
    once = fold(OutcomeStatistics(), record, T0)
    assert once is not None
    # After a crash between the write and the annotation, the same Remediation comes again:
    # from the statistics as written (a round trip through the API's JSON), nothing to do.
    written = OutcomeStatistics.model_validate(json.loads(json.dumps(once.to_api())))
    assert fold(written, record, T0 + dt.timedelta(minutes=5)) is None
    assert written.totals.incidents == 1 and written.recently_counted == ["u1"]


def test_the_memory_of_counted_uids_is_bounded_and_keeps_the_latest() -> None:
    stats = OutcomeStatistics()
    for i in range(RECENT_UIDS + 10):
        folded = fold(stats, incident_record(remediation("DryRun", uid=f"u{i}")), T0)
        assert folded is not None
        stats = folded
    assert len(stats.recently_counted) == RECENT_UIDS
    assert stats.recently_counted[-1] == f"u{RECENT_UIDS + 9}"
    assert stats.totals.incidents == RECENT_UIDS + 10


def test_days_are_kept_for_the_retention_and_the_totals_keep_everything() -> None:
    stats = OutcomeStatistics()
    for day in range(RETAINED_DAYS + 5):
        rem = remediation("Succeeded", uid=f"d{day}", closed=day * 86400,
                          executions=[execution("undo", "rollback", "executed", 20)])
        folded = fold(stats, incident_record(rem), T0 + dt.timedelta(days=day))
        assert folded is not None
        stats = folded
    assert len(stats.days) == RETAINED_DAYS
    assert stats.days[0].day == (T0 + dt.timedelta(days=5)).date()
    assert stats.totals.incidents == RETAINED_DAYS + 5
    last_week = since(stats, (T0 + dt.timedelta(days=RETAINED_DAYS - 2)).date())
    assert last_week.incidents == 7 and last_week.outcomes == {"verified": 7}


def test_merging_days_equals_counting_everything_in_one() -> None:
    records = [incident_record(remediation(phase, uid=str(i), reason=reason, closed=100 + i))
               for i, (phase, reason) in enumerate(
                   [("DryRun", ""), ("Blocked", ""), ("Escalated", "Rejected")] * 3)]
    records += [incident_record(VERIFIED)]
    one = OutcomeStatistics()
    for r in records:
        folded = fold(one, r, T0)
        assert folded is not None
        one = folded
    halves = [OutcomeStatistics(), OutcomeStatistics()]
    for i, r in enumerate(records):
        folded = fold(halves[i % 2], r, T0)
        assert folded is not None
        halves[i % 2] = folded
    merged = merge(halves[0].totals, halves[1].totals)
    assert merged.model_dump(exclude={"actions"}) == one.totals.model_dump(exclude={"actions"})
    assert sorted(map(repr, merged.actions)) == sorted(map(repr, one.totals.actions))
    assert merge(OutcomeCounts(), one.totals) == one.totals


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sketch_quantiles_are_within_the_bucket_error_of_exact_ones(seed: int) -> None:
    rng = random.Random(seed)
    values = [rng.lognormvariate(4, 1.2) for _ in range(2000)]
    s = LatencySketch()
    for v in values:
        s = sketch.observe(s, v)
    ordered = sorted(values)
    bound = math.sqrt(sketch.GROWTH) - 1 + 1e-9
    for q in (0.5, 0.9, 0.99):
        exact = ordered[math.ceil(q * len(values)) - 1]
        estimate = sketch.quantile(s, q)
        assert estimate is not None
        assert abs(estimate - exact) / exact <= bound, (q, estimate, exact)
    assert len(s.buckets) < 60 and s.count == 2000


def test_sketches_merge_as_if_observed_together() -> None:
    a = b = both = LatencySketch()
    for i, v in enumerate([0.2, 3, 30, 300, 3000, 1e12]):
        both = sketch.observe(both, v)
        if i % 2:
            a = sketch.observe(a, v)
        else:
            b = sketch.observe(b, v)
    assert sketch.merge(a, b) == both
    assert sketch.quantile(both, 1.0) == sketch.middle_of(sketch.MAX_BUCKET)


def test_report_renders_every_format_from_the_same_figures() -> None:
    stats = OutcomeStatistics()
    for rem in (VERIFIED, remediation("Escalated", uid="u2", reason="Rejected", approvals=[
            {"digest": DIGEST, "decision": "rejected", "approver": "bob", "time": at(60),
             "category": "not-an-incident"}])):
        folded = fold(stats, incident_record(rem), T0)
        assert folded is not None
        stats = folded
    report = build("namespace shop", T0 + dt.timedelta(hours=1), dt.timedelta(days=7),
                   [RunbookInput("shop", "web", "enforce", True, stats)],
                   Coverage(deployments=4, selected=3, with_slo=2), "",
                   [SloBudget("shop", "web-availability", 0.99, 0.75)])
    table = render(report, "table")
    assert re.search(r"remediated with no human +1 of 2 \(50%\)", table)
    assert "3 of 4 (75%) Deployments selected by a runbook; 2 of 4 (50%) by one with an sloRef" \
        in table
    assert re.search(r"web-availability +0\.99 +75%", table)
    markdown = render(report, "markdown")
    assert "| change | undo | rollback | 1 | 0 |" in markdown
    document = json.loads(render(report, "json"))
    assert document["overall"]["incidents"] == 2
    assert document["overall"]["false_alarms"] == 1
    assert document["overall"]["time_to_recover"]["p50"] == pytest.approx(
        sketch.middle_of(sketch.bucket_of(100)))
    assert document["coverage"]["slo_share"] == 0.5
