"""Decisions with the runbook's learning: off changes nothing, suggest records the learned
order and keeps the runbook's, reorder tries the learned order; the policy, the runbook's own
guardrails and the actions that fit still hold. Pure: each test fires one transition."""

from __future__ import annotations

from typing import Any

import pytest

from kubeheal.api.outcomes import ActionOutcome, OutcomeCounts, OutcomeStatistics
from kubeheal.api.remediation import Phase, Remediation, RemediationStatus
from kubeheal.api.runbook import Runbook
from kubeheal.controller.lifecycle import (
    AskPolicy,
    CountLearning,
    Observations,
    Outcome,
    PostEvent,
    TargetState,
    fire,
)
from kubeheal.decide import RemediationHistory
from unit.controller.test_lifecycle import at, deployment, replica_set

ACTIONS = [
    {"name": "undo", "kind": "rollback", "when": {"causes": ["change"]}},
    {"name": "restart-pods", "kind": "restart", "when": {"causes": ["saturation"]}},
    {"name": "scale-out", "kind": "scale", "when": {"causes": ["saturation"]},
     "scale": {"maxReplicas": 6, "step": 2}},
]
# restart never helped saturation in this runbook, scale did; undo did for a change
WELL_KNOWN = OutcomeStatistics(totals=OutcomeCounts(actions=[
    ActionOutcome(cause="saturation", action="restart-pods", kind="restart", failed=5),
    ActionOutcome(cause="saturation", action="scale-out", kind="scale", succeeded=8, failed=1),
    ActionOutcome(cause="change", action="undo", kind="rollback", succeeded=30),
]))


def runbook(mode: str | None, **spec: Any) -> Runbook:
    return Runbook.model_validate({
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "signals": [{"name": "latency", "role": "latency", "query": "q"}],
            "actions": ACTIONS,
            **({"learning": {"mode": mode}} if mode else {}),
            **spec,
        },
    })


def remediation(name: str = "web-7") -> Remediation:
    return Remediation.model_validate({
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "runbookRef": {"name": "web"},
            "target": {"namespace": "shop", "name": "web"},
            "trigger": {"startedAt": at(0).isoformat(), "detectedAt": at(0).isoformat(),
                        "score": 0.99, "evidence": [{"signal": "latency", "score": 1.0}]},
            "diagnosis": {"cause": "saturation"},
        },
    })


def decide(mode: str | None, outcomes: OutcomeStatistics | None = WELL_KNOWN,
           status: RemediationStatus | None = None, rem: Remediation | None = None,
           **kwargs: Any) -> Outcome:
    target = TargetState(deployment(), (replica_set(1), replica_set(2)))
    obs = Observations(at(10), runbook(mode), target=target, outcomes=outcomes, **kwargs)
    return fire("decide", rem or remediation(), status or RemediationStatus(), obs)


def chosen(out: Outcome) -> str:
    assert out.status.action is not None
    return out.status.action.name


def test_learning_off_changes_nothing() -> None:
    for mode in (None, "off"):
        out = decide(mode)
        assert chosen(out) == "restart-pods"
        assert out.status.learning is None
        assert not [e for e in out.effects if isinstance(e, PostEvent | CountLearning)]
        assert out == decide(mode, outcomes=None)  # the statistics are not even read


def test_reorder_tries_the_action_that_worked_first_and_says_why() -> None:
    out = decide("reorder")
    assert chosen(out) == "scale-out"
    record = out.status.learning
    assert record is not None and record.mode == "reorder" and record.cause == "saturation"
    assert record.runbook_order == ["restart-pods", "scale-out"]
    assert record.learned_order == ["scale-out", "restart-pods"]
    why = ("scale-out before restart-pods: 8 of 9 verified for saturation in this runbook "
           "(restart-pods: 0 of 5)")
    assert record.reason == why
    messages = [e.message for e in out.status.timeline if e.step == "decided"]
    assert messages[0] == f"learned order scale-out, restart-pods: {why}"
    assert messages[1].startswith("scale-out (scale replicas=5")
    [event] = [e for e in out.effects if isinstance(e, PostEvent)]
    assert event.reason == "LearnedOrder" and why in event.message
    assert CountLearning("reorder", changed=True) in out.effects
    # the policy engine still judges the learned choice
    [ask] = [e for e in out.effects if isinstance(e, AskPolicy)]
    assert ask.input.action.kind == "scale"


def test_suggest_keeps_the_runbooks_order_and_records_the_learned_one() -> None:
    out = decide("suggest")
    assert chosen(out) == "restart-pods"
    record = out.status.learning
    assert record is not None and record.mode == "suggest"
    assert record.learned_order == ["scale-out", "restart-pods"]
    assert out.status.timeline[0].message.startswith(
        "learning suggests scale-out before restart-pods: 8 of 9 verified")
    assert "the runbook's order is kept" in out.status.timeline[0].message
    assert CountLearning("suggest", changed=True) in out.effects


def test_without_outcomes_reorder_keeps_the_runbooks_order() -> None:
    out = decide("reorder", outcomes=None)
    assert chosen(out) == "restart-pods"
    assert out.status.timeline[0].message.startswith("learning (reorder): no verified or failed")
    assert not [e for e in out.effects if isinstance(e, PostEvent)]
    assert CountLearning("reorder", changed=False) in out.effects


def test_learning_never_adds_an_action_that_does_not_fit() -> None:
    # undo worked 30 of 30 times, for a change: it does not fit saturation
    for name in (f"web-{i}" for i in range(30)):
        out = decide("reorder", rem=remediation(name))
        assert chosen(out) in {"restart-pods", "scale-out"}
        assert out.status.learning is not None
        assert "undo" not in out.status.learning.learned_order


def test_after_the_learned_action_the_next_is_the_runbooks_other() -> None:
    first = decide("reorder")
    failed = RemediationStatus(tried_actions=["scale-out"], decisions=first.status.decisions)
    out = decide("reorder", status=failed)
    assert chosen(out) == "restart-pods"
    assert out.status.timeline[0].message == (
        "learning (reorder): restart-pods is the only action that fits for saturation")


def test_the_runbooks_own_guardrails_still_block_a_learned_action() -> None:
    out = decide("reorder", history=RemediationHistory(actions_last_hour=3))
    assert out.status.phase is Phase.BLOCKED
    assert not [e for e in out.effects if isinstance(e, AskPolicy)]


@pytest.mark.parametrize("mode", ["suggest", "reorder"])
def test_a_decision_is_reproducible(mode: str) -> None:
    assert decide(mode) == decide(mode)
