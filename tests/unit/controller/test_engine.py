"""The evaluation engine's step, with no I/O: what one tick decides from what it is given.

A signal with a static threshold makes the alarms certain: a point past it is anomalous
whatever the model says, and a debounce of 1 of 1 alarms at once and clears at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kubeheal.api.runbook import ReceivedAlert, Runbook
from kubeheal.controller import engine
from kubeheal.detect.runbook import RunbookStreams

T0 = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
BAD, GOOD = 50.0, 1.0


def runbook(**spec: Any) -> Runbook:
    return Runbook.model_validate({"metadata": {"name": "web", "namespace": "shop"}, "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "signals": [{"name": "errors", "query": "e", "badDirection": "up", "threshold": 10.0}],
        "actions": [{"name": "r", "kind": "restart"}],
        "detection": {"debounceK": 1, "debounceN": 1, "historySeconds": 0},
        **spec}})


def streams_of(book: Runbook, workloads: list[str]) -> RunbookStreams:
    """The streams of ``workloads``, made as a driver makes them before the first tick."""
    streams = RunbookStreams("shop", "web", book.spec.detection)
    values = {"errors": {w: (T0.timestamp(), GOOD) for w in workloads}}
    for signal, new in engine.new_streams(book.spec.signals, streams, values, workloads):
        streams.add(engine.warm(streams, signal.name, new, {}, {}))
    return streams


def tick(seconds: float, points: dict[str, float], workloads: list[str],
         guards: engine.Guards | None = None, **more: Any) -> engine.Tick:
    at = T0 + dt.timedelta(seconds=seconds)
    return engine.Tick(at, {"errors": {w: (at.timestamp(), v) for w, v in points.items()}},
                       workloads, guards or engine.Guards(), **more)


def test_a_tick_with_missing_series_is_skipped_with_the_reason_and_learns_nothing() -> None:
    book = runbook()
    streams = streams_of(book, ["web"])
    decision = engine.step(book, streams, tick(5, {"other": BAD}, ["web"]))
    assert decision.skipped is not None
    assert decision.skipped.startswith("signal errors: no series for any watched workload")
    assert not decision.verdicts and not decision.opened
    assert streams.learned("web", "errors") == 0
    assert engine.new_streams(book.spec.signals, streams, {"errors": {}}, ["web", "api"]) == []


def test_an_alarm_opens_an_incident_once_and_again_in_the_open_incident_is_held() -> None:
    book = runbook()
    streams = streams_of(book, ["web", "api"])
    first = engine.step(book, streams, tick(5, {"web": BAD, "api": GOOD}, ["web", "api"]))
    assert first.skipped is None
    assert [v.workload for v in first.alarms] == ["web"]
    [opening] = first.opened
    assert opening.workload == "web" and opening.alert is None
    assert opening.incident is not None and opening.onset <= T0 + dt.timedelta(seconds=5)
    assert opening.diagnosis.onset == opening.onset
    assert [e.signal for e in opening.evidence] == ["errors"]
    assert opening.evidence[0].detector is not None
    assert not first.held and not first.recovered

    # the driver opened it: the next tick is given the open incident
    guards = engine.Guards(open={"web": "web-deployment-1"}, open_of_runbook=1)
    learned = streams.learned("web", "errors")
    again = engine.step(book, streams, tick(10, {"web": BAD, "api": GOOD}, ["web", "api"],
                                            guards))
    assert [v.workload for v in again.alarms] == ["web"] and not again.opened
    assert again.held == (engine.Held("web", "open",
                                      "web: remediation web-deployment-1 is still open"),)
    assert again.holding == ("web",)
    assert streams.learned("web", "errors") == learned  # learning held in the incident
    assert streams.learned("api", "errors") == learned + 1


def test_the_cooldown_and_the_concurrency_hold_an_alarm_and_say_why() -> None:
    book = runbook(guardrails={"cooldownSeconds": 300, "maxConcurrentRemediations": 1})
    streams = streams_of(book, ["web", "api"])
    closed = T0 - dt.timedelta(seconds=60)
    cooling = engine.step(book, streams, tick(5, {"web": BAD}, ["web", "api"],
                                              engine.Guards(last_closed={"web": closed})))
    assert not cooling.opened
    assert cooling.held == (engine.Held("web", "cooldown", (
        "web: cooling down until 2026-12-02T12:04:00Z (300s after the last remediation "
        "closed)")),)

    busy = engine.Guards(open={"api": "api-deployment-1"}, open_of_runbook=1)
    full = engine.step(book, streams, tick(10, {"web": BAD, "api": GOOD}, ["web", "api"], busy))
    assert not full.opened
    assert full.held == (engine.Held(
        "web", "concurrency", "web: 1 remediations of this runbook are open (max 1)"),)

    # two alarms at one tick: the first opening counts towards the concurrency of the next
    both = engine.step(book, streams, tick(15, {"web": BAD, "api": BAD}, ["web", "api"]))
    assert [o.workload for o in both.opened] == ["api"]
    assert [(h.workload, h.kind) for h in both.held] == [("web", "concurrency")]


def test_a_recovered_signal_is_reported_and_closes_the_incident_in_replay() -> None:
    book = runbook()
    streams = streams_of(book, ["web"])
    guards = engine.Guards(open={"web": "web-replay-1"}, open_of_runbook=1)
    assert engine.step(book, streams, tick(5, {"web": BAD}, ["web"], guards)).recovered == ()
    calm = engine.step(book, streams, tick(10, {"web": GOOD}, ["web"], guards))
    assert calm.recovered == ("web",) and not calm.alarms and not calm.opened


def test_in_replay_a_recovery_frees_its_place_for_an_alarm_at_the_same_tick() -> None:
    book = runbook(guardrails={"maxConcurrentRemediations": 1})
    streams = streams_of(book, ["web", "api"])
    guards = engine.Guards(open={"web": "web-replay-1"}, open_of_runbook=1)
    points = {"web": GOOD, "api": BAD}
    live = engine.step(book, streams, tick(5, points, ["web", "api"], guards))
    assert live.recovered == ("web",) and not live.opened  # verification closes it, later
    assert [h.kind for h in live.held] == ["concurrency"]
    replayed = engine.step(book, streams, tick(10, points, ["web", "api"], guards, closing=True))
    assert replayed.recovered == ("web",)
    assert [o.workload for o in replayed.opened] == ["api"] and not replayed.held


def test_an_alert_opens_as_an_alarm_does_once_per_firing_and_only_for_a_selected_workload(
) -> None:
    book = runbook(alerts=[{"matchLabels": {"alertname": "HighErrorRate"}}])
    streams = streams_of(book, ["web"])
    started = T0 - dt.timedelta(minutes=2)
    alerts = [(f"f-{w}", ReceivedAlert(name="HighErrorRate", workload=w, starts_at=started,
                                       received_at=started)) for w in ("web", "db")]
    decision = engine.step(book, streams, tick(5, {"web": GOOD}, ["web"], alerts=alerts))
    [opening] = decision.opened
    assert opening.workload == "web" and opening.onset == started
    assert opening.alert == alerts[0] and opening.incident is None and not opening.evidence
    assert [(h.workload, h.kind) for h in decision.held] == [("db", "not-selected")]
    done = engine.step(book, streams, tick(10, {"web": GOOD}, ["web"], alerts=alerts[:1],
                                           alerted={"f-web"}))
    assert not done.opened and not done.held
