"""A flapping workload: right after a verified recovery the fault comes back. The cooldown
holds the next incident back, and once it has passed the rate limit blocks the action."""

from __future__ import annotations

import datetime as dt

import pytest

from loopstack import OPEN, TERMINAL, Json, LoopStack, record_timing, timeline

pytestmark = pytest.mark.stack

COOLDOWN = 40


def test_cooldown_and_rate_limit_hold(loop: LoopStack) -> None:
    ns, name = "flap", "profile"
    loop.watch(ns, name, guardrails={"cooldownSeconds": COOLDOWN, "maxActionsPerHour": 1})

    fault = loop.inject_bad_rollout(ns, name)
    first = loop.wait_for_phase(ns, TERMINAL, 240)
    record_timing("flapping: first incident", fault, first)
    assert first["status"]["phase"] == "Succeeded", timeline(first)
    closed = dt.datetime.fromisoformat(first["status"]["completedAt"])

    again = loop.inject_bad_rollout(ns, name)  # the fault is back at once

    def held_back() -> list[Json]:
        return [e for e in loop.events(ns, "IncidentHeldBack") if "cooling down" in e["message"]]

    held = loop.wait_for("the next incident to be held back by the cooldown", held_back, 90)
    assert any(name in e["message"] for e in held)

    def second() -> Json | None:
        later = loop.remediations(ns)[1:]
        return later[0] if later and (later[0].get("status") or {}).get("phase") in TERMINAL \
            else None

    blocked: Json = loop.wait_for("a second incident, after the cooldown, to be closed",
                                  second, COOLDOWN + 120)
    record_timing("flapping: second incident", again, blocked)
    created = dt.datetime.fromisoformat(blocked["metadata"]["creationTimestamp"])
    assert (created - closed).total_seconds() >= COOLDOWN - 1  # timestamps are to the second
    assert blocked["status"]["phase"] == "Blocked", timeline(blocked)
    allowed = next(c for c in blocked["status"]["conditions"] if c["type"] == "PolicyAllowed")
    assert (allowed["status"], allowed["reason"]) == ("False", "RunbookGuardrail")
    assert "rate limit" in allowed["message"]
    assert blocked["status"].get("executions", []) == []
    # The first rollback stays the only action: the bad build is running again, untouched.
    assert [e["outcome"] for r in loop.remediations(ns)
            for e in (r.get("status") or {}).get("executions", [])] == ["executed"]
    template = loop.deployment(ns, name)["spec"]["template"]["metadata"].get("annotations") or {}
    assert template.get("demo.kubeheal.io/fault") == "bad-build"
    assert not [r for r in loop.remediations(ns)
                if (r.get("status") or {}).get("phase") in OPEN
                and (r.get("status") or {}).get("executions")]
    loop.kubectl("delete", "runbook", name, "-n", ns)
