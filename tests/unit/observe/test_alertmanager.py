"""Alertmanager webhook payloads and runbook matching: pure, no I/O."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kubeheal.api.runbook import ALERTS_KEPT, AlertMatch, ReceivedAlert, Runbook
from kubeheal.controller.alert_receiver import authorized
from kubeheal.observe.alertmanager import (
    PayloadError,
    WebhookAlert,
    alert_workload,
    firing,
    matched,
    opened_by,
    parse_webhook,
    recorded_alerts,
    status_patch,
)

T0 = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)

# As Alertmanager 0.25 sends it (webhook_config, version 4), a firing and a resolved alert.
PAYLOAD: dict[str, Any] = {
    "receiver": "kubeheal", "status": "firing", "version": "4",
    "groupKey": '{}:{alertname="DemoHighErrorRate"}', "truncatedAlerts": 0,
    "groupLabels": {"alertname": "DemoHighErrorRate"}, "commonLabels": {},
    "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093",
    "alerts": [
        {"status": "firing", "labels": {"alertname": "DemoHighErrorRate", "namespace": "shop",
                                        "deployment": "checkout", "severity": "page"},
         "annotations": {"summary": "checkout: 31% of requests fail"},
         "startsAt": "2026-12-02T10:00:05.123+01:00", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "http://prometheus/graph?g0.expr=x", "fingerprint": "c6eadffa33fcdf37"},
        {"status": "resolved", "labels": {"alertname": "DemoHighErrorRate", "namespace": "shop",
                                          "deployment": "cart"},
         "annotations": {"description": "cart fails"},
         "startsAt": "2026-12-02T09:00:00Z", "endsAt": "2026-12-02T09:30:00Z",
         "generatorURL": "", "fingerprint": "0badc0ffee000001"},
    ],
}


def test_a_version_4_payload_reads_as_its_alerts() -> None:
    up, down = parse_webhook(PAYLOAD)
    assert up.firing and not down.firing
    assert up.name == "DemoHighErrorRate" and up.fingerprint == "c6eadffa33fcdf37"
    assert up.starts_at == dt.datetime(2026, 12, 2, 9, 0, 5, 123000, tzinfo=dt.UTC)
    assert up.summary == "checkout: 31% of requests fail"
    assert down.summary == "cart fails"  # the description when there is no summary


def test_an_alert_without_fingerprint_gets_one_from_its_labels() -> None:
    body = {"version": "4", "alerts": [
        {"status": "firing", "labels": {"a": "1", "b": "2"}, "startsAt": "2026-12-02T10:00:00"},
        {"status": "firing", "labels": {"b": "2", "a": "1"}, "startsAt": "2026-12-02T10:00:00"},
        {"status": "firing", "labels": {"a": "1"}, "startsAt": "2026-12-02T10:00:00"}]}
    one, same, other = parse_webhook(body)
    assert one.fingerprint == same.fingerprint != other.fingerprint
    assert one.starts_at.tzinfo is not None  # a naive time is taken as UTC


@pytest.mark.parametrize(("body", "says"), [
    (None, "must be a JSON object"),
    ([PAYLOAD], "must be a JSON object"),
    ({"alerts": []}, "version"),
    ({**PAYLOAD, "version": "3"}, "version"),
    ({"version": "4"}, "alerts"),
    ({"version": "4", "alerts": {"status": "firing"}}, "alerts"),
    ({"version": "4", "alerts": [{"status": "pending", "labels": {"a": "b"},
                                  "startsAt": "2026-12-02T10:00:00Z"}]}, "alerts[0].status"),
    ({"version": "4", "alerts": [{"status": "firing", "labels": {},
                                  "startsAt": "2026-12-02T10:00:00Z"}]}, "alerts[0].labels"),
    ({"version": "4", "alerts": [{"status": "firing", "labels": {"a": "b"}}]},
     "alerts[0].startsAt"),
    ({"version": "4", "alerts": [{"status": "firing", "labels": {"a": "b"},
                                  "startsAt": "yesterday"}]}, "alerts[0].startsAt"),
    ({"version": "4", "alerts": [{"status": "firing", "labels": {"a": 3},
                                  "startsAt": "2026-12-02T10:00:00Z"}]}, "alerts[0].labels.a"),
])
def test_anything_else_is_refused_naming_the_field(body: Any, says: str) -> None:
    with pytest.raises(PayloadError) as raised:
        parse_webhook(body)
    assert says in str(raised.value)


def test_too_many_alerts_are_refused() -> None:
    alert = PAYLOAD["alerts"][0]
    with pytest.raises(PayloadError, match="alerts"):
        parse_webhook({"version": "4", "alerts": [alert] * 1001})


def web_alert(labels: dict[str, str], firing_: bool = True, fingerprint: str = "f1",
              starts: dt.datetime = T0) -> WebhookAlert:
    return WebhookAlert(firing_, labels, starts, fingerprint)


def test_an_alert_matches_on_every_label_and_the_runbook_namespace() -> None:
    match = AlertMatch(match_labels={"alertname": "Slow", "severity": "page"})
    labels = {"alertname": "Slow", "severity": "page", "namespace": "shop",
              "deployment": "checkout"}
    assert alert_workload(web_alert(labels), match, "shop") == "checkout"
    assert alert_workload(web_alert(labels), match, "payments") is None
    assert alert_workload(web_alert({**labels, "severity": "ticket"}), match, "shop") is None
    assert alert_workload(web_alert({k: v for k, v in labels.items() if k != "namespace"}),
                          match, "shop") is None
    # No workload label, or an empty one: nothing to heal.
    assert alert_workload(web_alert({**labels, "deployment": ""}), match, "shop") is None
    by_service = AlertMatch(match_labels={"alertname": "Slow"}, workload_label="service")
    assert alert_workload(web_alert({**labels, "service": "cart"}), by_service, "shop") == "cart"
    assert alert_workload(web_alert(labels), by_service, "shop") is None


def test_the_first_matching_entry_of_a_runbook_wins() -> None:
    entries = [AlertMatch(match_labels={"alertname": "A"}, workload_label="service"),
               AlertMatch(match_labels={"alertname": "A"})]
    hit = matched(web_alert({"alertname": "A", "namespace": "n", "deployment": "d"}), entries,
                  "n")
    assert hit is not None and hit[0] == "d" and hit[1] is entries[1]
    assert matched(web_alert({"alertname": "B", "namespace": "n", "deployment": "d"}), entries,
                   "n") is None


def record(workload: str = "web", received: dt.datetime = T0, starts: dt.datetime = T0,
           stale: int = 3600) -> ReceivedAlert:
    return ReceivedAlert(name="A", workload=workload, starts_at=starts, received_at=received,
                         stale_after_seconds=stale)


def test_the_status_patch_records_firing_and_removes_resolved_and_stale() -> None:
    match = AlertMatch(match_labels={"alertname": "A"}, stale_after_seconds=3600)
    now = T0 + dt.timedelta(hours=2)
    recorded = {"old": record(received=T0), "down": record(received=now),
                "kept": record(received=now - dt.timedelta(minutes=5))}
    patch = status_patch(recorded, [
        (web_alert({"alertname": "A"}, fingerprint="new"), "web", match),
        (web_alert({"alertname": "A"}, firing_=False, fingerprint="down"), "web", match),
        (web_alert({"alertname": "A"}, firing_=False, fingerprint="never-seen"), "web", match),
    ], now)
    assert patch.keys() == {"old", "down", "new"}
    assert patch["old"] is None and patch["down"] is None
    assert patch["new"]["workload"] == "web" and patch["new"]["staleAfterSeconds"] == 3600
    assert ReceivedAlert.model_validate(patch["new"]).received_at == now


def test_the_status_keeps_the_newest_alerts_only() -> None:
    match = AlertMatch(match_labels={"alertname": "A"})
    recorded = {f"r{i:03d}": record(received=T0 + dt.timedelta(seconds=i))
                for i in range(ALERTS_KEPT)}
    now = T0 + dt.timedelta(minutes=5)
    patch = status_patch(recorded, [(web_alert({"alertname": "A"}, fingerprint="new"), "web",
                                     match)], now)
    assert patch["r000"] is None and patch["new"] is not None
    assert sum(1 for v in patch.values() if v is None) == 1


def test_firing_records_leave_out_the_stale_and_unreadable() -> None:
    now = T0 + dt.timedelta(minutes=30)
    status = {"alerts": {
        "late": record(received=T0, starts=T0 + dt.timedelta(minutes=1)).to_api(),
        "early": record(received=T0).to_api(),
        "stale": record(received=T0 - dt.timedelta(hours=2)).to_api(),
        "garbage": {"name": "A"},
    }}
    records = recorded_alerts(status)
    assert set(records) == {"late", "early", "stale"}
    assert [key for key, _ in firing(records, now)] == ["early", "late"]
    assert recorded_alerts(None) == {} and recorded_alerts({"alerts": None}) == {}


def test_one_firing_opens_one_incident() -> None:
    rec = record(starts=T0)
    body = {"metadata": {"name": "web-deployment-4"}, "spec": {"trigger": {"alert": {
        "fingerprint": "f1", "startsAt": "2026-12-02T10:00:00Z"}}}}
    detector = {"metadata": {"name": "web-deployment-3"}, "spec": {"trigger": {}}}
    assert opened_by("f1", rec, [detector, body]) == "web-deployment-4"
    # The same alert firing again later (a new startsAt) is a new firing.
    assert opened_by("f1", record(starts=T0 + dt.timedelta(hours=1)), [body]) is None
    assert opened_by("f2", rec, [body]) is None


def test_the_token_is_compared_whole_and_only_as_a_bearer() -> None:
    assert authorized("Bearer tok", "tok") and authorized("bearer tok", "tok")
    for header in (None, "", "tok", "Bearer", "Bearer tok2", "Bearer to", "Basic tok",
                   "Token tok"):
        assert not authorized(header, "tok"), header
    assert not authorized("Bearer ", "")  # no token configured: nobody is heard


def test_a_runbook_may_name_alerts() -> None:
    spec = {"selector": {"matchLabels": {"app": "web"}},
            "signals": [{"name": "load", "role": "load", "query": "q"}],
            "actions": [{"name": "r", "kind": "restart"}]}
    assert Runbook.model_validate({"spec": spec}).spec.alerts == []
    named = Runbook.model_validate({"spec": {**spec, "alerts": [
        {"matchLabels": {"alertname": "Slow"}, "workloadLabel": "service"}]}})
    (entry,) = named.spec.alerts
    assert entry.workload_label == "service" and entry.stale_after_seconds == 5 * 3600
    with pytest.raises(ValueError, match=r"alerts\.0\.matchLabels|match_labels"):
        Runbook.model_validate({"spec": {**spec, "alerts": [{"matchLabels": {}}]}})
