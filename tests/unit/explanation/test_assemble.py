"""The explanation of one workload, assembled from facts: every hold with its reason."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from kubeheal.decide import RemediationHistory
from kubeheal.explanation.assemble import (
    HOLDS,
    ActionPreview,
    RunbookFacts,
    StreamFacts,
    explain,
)
from kubeheal.explanation.render import render

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
T = NOW.timestamp()


def stream(signal: str = "error-ratio", role: str = "errors", **changes: Any) -> StreamFacts:
    facts = StreamFacts(signal, role, has_series=True, exists=True, warm=True, learned=300,
                        warmup=12, last_at=T - 3, observed=0.004, expected=0.005,
                        probability=0.4, anomalous=0, k=2, n=3)
    return dataclasses.replace(facts, **changes)


def book(*streams: StreamFacts, **changes: Any) -> RunbookFacts:
    facts = RunbookFacts("web", "enforce", 5, cooldown_seconds=60, max_concurrent=1,
                         max_actions_per_hour=4, evaluated_at=T - 2, evaluation_ok=True,
                         evaluation_reason="Evaluated", evaluation_message="1 workloads",
                         streams=streams or (stream(),))
    return dataclasses.replace(facts, **changes)


def remediation(name: str, phase: str, created: str, closed: str | None = None,
                runbook: str = "web") -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": created},
            "spec": {"runbookRef": {"name": runbook}, "diagnosis": {"cause": "change"}},
            "status": {"phase": phase, "completedAt": closed,
                       "action": {"kind": "rollback", "name": "roll-back"},
                       "timeline": [{"message": "dry-run: would roll back"}]}}


def held(doc: dict[str, Any], index: int = 0) -> dict[str, str]:
    return {h["hold"]: h["reason"] for h in doc["runbooks"][index]["holds"]}


def test_a_healthy_workload_is_held_by_nothing_but_the_absence_of_an_alarm() -> None:
    doc = explain("shop", "web", [book(stream(), stream("load", "load", anomalous=3,
                                                          alarm=True))],
                  [], RemediationHistory(), NOW)
    assert held(doc) == {"no-alarm": "no signal is in alarm: error-ratio 0 of the last 3 "
                                     "points anomalous (an alarm needs 2)"}
    assert doc["runbooks"][0]["inAlarm"] is False  # load alone never alarms
    [errors, load] = doc["runbooks"][0]["streams"]
    assert errors["rarity"] is not None and errors["debounce"] == {"anomalous": 0, "k": 2,
                                                                   "n": 3}
    assert load["alarm"] is True
    assert doc["summary"].startswith("web: no signal is in alarm")


def test_an_alarm_with_nothing_in_the_way_says_so() -> None:
    alarm = stream(anomalous=2, alarm=True, since=T - 10, probability=0.99999)
    doc = explain("shop", "web", [book(alarm)], [], RemediationHistory(), NOW)
    assert held(doc) == {}
    assert doc["summary"] == "web: in alarm, nothing holds an action back"
    assert doc["runbooks"][0]["streams"][0]["alarmSince"] == "2026-12-02T11:59:50Z"


def test_cooldown_counts_from_the_last_closed_remediation_of_the_workload() -> None:
    rems = [remediation("web-deployment-1", "Succeeded", "2026-12-02T11:00:00Z",
                        "2026-12-02T11:10:00Z"),
            remediation("web-deployment-2", "DryRun", "2026-12-02T11:59:00Z",
                        "2026-12-02T11:59:30Z", runbook="other")]
    doc = explain("shop", "web", [book(cooldown_seconds=60)], rems, RemediationHistory(), NOW)
    assert held(doc)["cooldown"].startswith("cooling down until 2026-12-02T12:00:30Z (60s after")
    assert [r["name"] for r in doc["remediations"]["recent"]] == ["web-deployment-2",
                                                                  "web-deployment-1"]
    later = explain("shop", "web", [book(cooldown_seconds=60)], rems, RemediationHistory(),
                    NOW + dt.timedelta(seconds=31))
    assert "cooldown" not in held(later)


def test_an_open_incident_holds_the_next_one_and_counts_towards_concurrency() -> None:
    rems = [remediation("web-deployment-3", "AwaitingApproval", "2026-12-02T11:58:00Z")]
    doc = explain("shop", "web", [book(open_of_runbook=1)], rems, RemediationHistory(), NOW)
    reasons = held(doc)
    assert "remediation web-deployment-3 is open (phase AwaitingApproval)" in \
        reasons["open-incident"]
    assert "concurrency" not in reasons  # said once, by the open incident itself
    assert [r["name"] for r in doc["remediations"]["open"]] == ["web-deployment-3"]
    other = explain("shop", "web", [book(open_of_runbook=1)], [], RemediationHistory(), NOW)
    assert held(other)["concurrency"] == "1 remediations of this runbook are open (max 1)"


def test_rate_limit_and_dry_run() -> None:
    doc = explain("shop", "web", [book(mode="dry-run", max_actions_per_hour=2)], [],
                  RemediationHistory(actions_last_hour=2), NOW)
    reasons = held(doc)
    assert reasons["rate-limit"] == ("rate limit: 2 actions on the target in the last hour "
                                     "(max 2)")
    assert "acts on nothing" in reasons["dry-run"]


def test_missing_data_is_said_and_never_read_as_calm() -> None:
    failed = book(evaluation_ok=False, evaluation_reason="NoData",
                  evaluation_message="signal memory: no series for any watched workload")
    reasons = held(explain("shop", "web", [failed], [], RemediationHistory(), NOW))
    assert list(reasons) == ["evaluation-failed"]
    assert "NoData: signal memory: no series" in reasons["evaluation-failed"]

    blind = book(stream(), stream("memory", "memory", has_series=False, exists=False))
    reasons = held(explain("shop", "web", [blind], [], RemediationHistory(), NOW))
    assert reasons["no-data"].startswith("no data for this workload: memory returned no series")

    stale = book(stream(last_at=T - 11))
    assert "stale" in held(explain("shop", "web", [stale], [], RemediationHistory(), NOW))
    cold = book(stream(warm=False, learned=5))
    assert held(explain("shop", "web", [cold], [], RemediationHistory(), NOW))[
        "warming-up"] == "error-ratio has learned 5 of its 12 warm-up points"
    never = book(evaluated_at=None, evaluation_ok=None)
    assert list(held(explain("shop", "web", [never], [], RemediationHistory(), NOW))) == [
        "not-evaluated"]
    invalid = book(problem="spec.signals: field required")
    assert list(held(explain("shop", "web", [invalid], [], RemediationHistory(), NOW))) == [
        "invalid"]


def test_policy_previews_and_the_hold_when_no_action_would_run() -> None:
    denied = ActionPreview("scale-out", "scale", "saturation", {"replicas": "6"}, risk=0.4,
                           allow=False, reasons=("namespace is protected",))
    unfit = ActionPreview("roll-back", "rollback", "change",
                          unfit="no previous revision to roll back to")
    doc = explain("shop", "web", [book(previews=(denied, unfit))], [], RemediationHistory(), NOW)
    actions = {a["action"]: a for a in doc["runbooks"][0]["actions"]}
    assert actions["scale-out"]["verdict"] == "denied"
    assert actions["roll-back"] == {
        "action": "roll-back", "kind": "rollback", "assumedCause": "change", "params": {},
        "risk": None, "verdict": "cannot-apply",
        "reasons": ["no previous revision to roll back to"]}
    assert held(doc)["policy"] == ("no action would run now: scale-out: namespace is "
                                   "protected; roll-back: no previous revision to roll back to")
    approval = dataclasses.replace(denied, allow=True, require_approval=True)
    doc = explain("shop", "web", [book(previews=(approval, unfit))], [], RemediationHistory(),
                  NOW)
    assert "policy" not in held(doc)
    assert doc["runbooks"][0]["actions"][0]["verdict"] == "approval-required"


def test_no_runbook_and_every_hold_kind_is_known() -> None:
    doc = explain("shop", "web", [], [], RemediationHistory(), NOW)
    assert doc["summary"] == "no runbook selects web: kubeheal does not watch it"
    assert doc["runbooks"] == []
    everything = [book(mode="dry-run", previews=(ActionPreview("r", "restart", allow=False),),
                       streams=(stream(has_series=False), stream("l", warm=False)),
                       open_of_runbook=1)]
    kinds = {h["hold"] for b in explain("shop", "web", everything, [],
                                        RemediationHistory(actions_last_hour=9), NOW)["runbooks"]
             for h in b["holds"]}
    assert kinds <= set(HOLDS)


def test_the_document_is_json_and_renders_as_text() -> None:
    rems = [remediation("web-deployment-2", "DryRun", "2026-12-02T11:59:00Z",
                        "2026-12-02T11:59:30Z")]
    preview = ActionPreview("scale-out", "scale", "saturation", {"replicas": "6"}, risk=0.4,
                            allow=True)
    doc = explain("shop", "web", [book(previews=(preview,))], rems, RemediationHistory(), NOW,
                  {"replicas": 3, "readyReplicas": 3, "revision": "2"})
    assert json.loads(render(doc, "json")) == doc
    text = render(doc, "table")
    assert text.splitlines()[0] == "shop/web: 3/3 ready, revision 2"
    assert "Summary: web: " in text and "cooldown: cooling down until" in text
    assert "scale-out (scale replicas=6, risk 0.40, cause saturation): allowed" in text
    assert "web-deployment-2" in text and "DryRun" in text
