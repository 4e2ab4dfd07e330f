"""What `kubeheal explain` reads of a runbook's live streams: the real detectors' state (warm,
learned points, last value and expectation, the debounce count, the alarm), and whether the
signal's last query answered for the workload."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from kubeheal.api.runbook import Runbook
from kubeheal.controller.explain import due_in, stream_facts
from kubeheal.detect.runbook import RunbookStreams

RUNBOOK = Runbook.model_validate({"metadata": {"name": "web", "namespace": "shop"}, "spec": {
    "selector": {"matchLabels": {"app": "web"}},
    "signals": [{"name": "errors", "role": "errors", "query": "q", "badDirection": "up"},
                {"name": "memory", "role": "memory", "query": "m"}],
    "actions": [{"name": "r", "kind": "restart"}],
    "detection": {"warmupPoints": 50, "debounceK": 2, "debounceN": 3}}})


def evaluator(streams: RunbookStreams, series: dict[str, frozenset[str]]) -> SimpleNamespace:
    """The part of a RunbookEvaluator that stream_facts reads."""
    return SimpleNamespace(detectors=streams, streams=streams.streams, series=series)


def test_streams_as_the_detectors_hold_them() -> None:
    streams = RunbookStreams("shop", "web", RUNBOOK.spec.detection)
    history = {w: [(15.0 * i, 1.0 + (i % 4) * 0.01) for i in range(240)] for w in ("a", "b")}
    streams.add(streams.warm("errors", ["a", "b"], history))
    streams.add(streams.warm("memory", ["b"], {"b": history["b"][:10]}))
    for k in range(3):  # b's errors jump from 1 to 9 and stay there
        streams.observe(RUNBOOK.spec.signals, {
            "errors": {"a": (3600.0 + 15 * k, 1.0), "b": (3600.0 + 15 * k, 9.0)},
            "memory": {"b": (3600.0 + 15 * k, 5.0)}})
    seen = {"errors": frozenset({"a", "b"}), "memory": frozenset({"b"})}

    calm = {f.signal: f for f in stream_facts(evaluator(streams, seen), RUNBOOK, "a", False)}
    assert calm["errors"].exists and calm["errors"].warm and calm["errors"].has_series
    assert calm["errors"].learned == 243 and calm["errors"].observed == 1.0
    assert (calm["errors"].anomalous, calm["errors"].k, calm["errors"].n) == (0, 2, 3)
    assert not calm["errors"].alarm
    # a has no memory series: no stream, and the last query had no data for it.
    assert calm["memory"].has_series is False and not calm["memory"].exists
    assert calm["memory"].warmup == 50

    loud = {f.signal: f for f in stream_facts(evaluator(streams, seen), RUNBOOK, "b", True)}
    errors = loud["errors"]
    assert errors.alarm and errors.anomalous == 3 and errors.since == 3600.0
    assert errors.observed == 9.0 and errors.expected is not None and errors.expected < 2
    assert errors.probability is not None and errors.probability > 0.999
    assert errors.learning_held
    memory = loud["memory"]
    assert memory.exists and not memory.warm and memory.learned == 13
    assert memory.probability is None  # not scored while warming up


def test_a_runbook_never_evaluated_has_streams_of_unknown_data() -> None:
    facts = stream_facts(None, RUNBOOK, "a", False)
    assert [(f.signal, f.has_series, f.exists) for f in facts] == [
        ("errors", None, False), ("memory", None, False)]


def test_requests_are_deleted_when_due() -> None:
    at = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
    assert due_in({"metadata": {"creationTimestamp": "2026-12-02T11:58:00Z"}}, at) == 480.0
    answered = {"metadata": {"creationTimestamp": "2026-12-02T11:50:00Z"},
                "status": {"phase": "Answered", "answeredAt": "2026-12-02T11:59:00Z"}}
    assert due_in(answered, at) == 60.0
