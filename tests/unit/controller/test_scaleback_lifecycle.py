"""The scale-back in the remediation lifecycle: the scale-out records its way back, and the
scale-back is decided, pinned and gated like any action, never below the count before."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kubeheal.api.remediation import Phase, Remediation, RemediationStatus
from kubeheal.api.runbook import Runbook
from kubeheal.controller.lifecycle import (
    AskPolicy,
    CallAction,
    Observations,
    TargetState,
    WriteStatus,
    fire,
)
from kubeheal.policy.decision import PolicyDecision

T0 = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
SCALE = {"name": "scale-out", "kind": "scale", "when": {"causes": ["saturation"]},
         "scale": {"minReplicas": 2, "maxReplicas": 9, "step": 3,
                   "scaleBack": {"holdSeconds": 120}}}


def runbook() -> Runbook:
    return Runbook.model_validate({
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "signals": [{"name": "latency", "role": "latency", "query": "q1"},
                             {"name": "load", "role": "load", "query": "q2"}],
                 "actions": [SCALE]}})


def remediation(name: str = "web-deployment-1", **spec: Any) -> Remediation:
    return Remediation.model_validate({
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"runbookRef": {"name": "web"}, "target": {"namespace": "shop", "name": "web"},
                 "trigger": {"startedAt": T0.isoformat(), "detectedAt": T0.isoformat(),
                             "score": 0.99, "evidence": [{"signal": "latency", "score": 1.0}]},
                 "diagnosis": {"cause": "saturation"}, **spec}})


SCALE_BACK = remediation("web-deployment-2", scaleBackOf={
    "remediation": "web-deployment-1", "action": "scale-out", "replicas": 3, "scaledTo": 6,
    "loadSignal": "load", "loadBefore": 60.0})


def target(replicas: int) -> TargetState:
    return TargetState({
        "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "generation": 2,
                     "labels": {"app": "web"}},
        "spec": {"replicas": replicas, "template": {}},
        "status": {"readyReplicas": replicas, "availableReplicas": replicas}})


def obs(replicas: int, **kwargs: Any) -> Observations:
    return Observations(T0, runbook(), target=target(replicas), claimed=True, **kwargs)


def allow() -> PolicyDecision:
    return PolicyDecision(allow=True, require_approval=False, reasons=(), violations=(),
                          policy_version="v1")


def test_a_temporary_scale_out_records_its_way_back_with_the_level_before() -> None:
    out = fire("decide", remediation(), RemediationStatus(), obs(3, load_level=61.5))
    action, plan = out.status.action, out.status.scale_back
    assert action is not None and action.params["replicas"] == "6"
    assert plan is not None
    assert (plan.state, plan.load_signal, plan.load_before, plan.hold_seconds) == \
        ("Planned", "load", 61.5, 120)
    assert "61.5" in plan.message


def test_the_scale_back_is_decided_down_to_the_pinned_count_and_asks_the_policy() -> None:
    out = fire("decide", SCALE_BACK, RemediationStatus(), obs(6))
    action = out.status.action
    assert action is not None and action.name == "scale-out"
    assert (action.params["replicas"], action.params["direction"], action.params["from"]) == \
        ("3", "down", "6")
    assert action.pinned is not None and action.pinned.replicas == 6
    assert out.status.scale_back is None  # the scale-back itself is not temporary
    [ask] = [e for e in out.effects if isinstance(e, AskPolicy)]
    params = ask.input.action.params
    assert (params["replicas"], params["direction"], params["replicasBefore"]) == (3, "down", 3)


def test_a_scale_back_over_someone_elses_scale_does_nothing_and_says_so() -> None:
    out = fire("decide", SCALE_BACK, RemediationStatus(), obs(8))
    assert out.status.phase is Phase.BLOCKED
    assert not [e for e in out.effects if isinstance(e, AskPolicy)]
    assert "spec.replicas is 8, not the 6" in out.status.timeline[-1].message


def test_the_scale_back_runs_once_through_its_intent_as_a_scale_down() -> None:
    decided = fire("decide", SCALE_BACK, RemediationStatus(), obs(6)).status
    executing = fire("gated", SCALE_BACK, decided, obs(6, policy=allow())).status
    assert executing.phase is Phase.EXECUTING
    out = fire("prepare", SCALE_BACK, executing, obs(6))
    [call] = [e for e in out.effects if isinstance(e, CallAction)]
    assert isinstance(out.effects[0], WriteStatus)  # the intent is on record before the call
    assert call.intent.action.params["direction"] == "down"
    assert call.intent.token == "web-deployment-2.1"


def test_a_failed_scale_back_is_not_tried_again() -> None:
    status = RemediationStatus(tried_actions=["scale-out"])
    out = fire("decide", SCALE_BACK, status, obs(6))
    assert out.status.phase is Phase.ESCALATED


def test_a_scale_back_the_runbook_no_longer_declares_does_nothing() -> None:
    book = runbook()
    assert book.spec.actions[0].scale is not None
    book.spec.actions[0].scale.scale_back = None
    out = fire("decide", SCALE_BACK, RemediationStatus(),
               Observations(T0, book, target=target(6), claimed=True))
    assert out.status.phase is Phase.BLOCKED
    assert "no longer makes scale-out a temporary scale-out" in out.status.timeline[-1].message
