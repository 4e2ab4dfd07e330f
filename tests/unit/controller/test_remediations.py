"""The remediation driver's pure choices, and how it writes a new Remediation's first status."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from kubeheal.api.remediation import Remediation, RemediationStatus
from kubeheal.api.runbook import Action
from kubeheal.controller.lifecycle import (
    AskPolicy,
    CountLearning,
    Observations,
    Outcome,
    PostEvent,
    WriteStatus,
    fitting_actions,
)
from kubeheal.controller.metrics import OperatorMetrics
from kubeheal.controller.remediations import RemediationDriver, Step
from kubeheal.controller.store import rfc3339
from kubeheal.observe.kubernetes import KubernetesError

ACTIONS = [
    Action.model_validate({"name": "roll-back", "kind": "rollback",
                           "when": {"causes": ["change"]}}),
    Action.model_validate({"name": "restart", "kind": "restart",
                           "when": {"causes": ["resource-exhaustion"]}}),
    Action.model_validate({"name": "scale-out", "kind": "scale", "when": {"causes": ["saturation"]},
                           "scale": {"maxReplicas": 6}}),
    Action.model_validate({"name": "restart-on-errors", "kind": "restart",
                           "when": {"signals": ["errors"]}}),
]


def body(created: dt.datetime, status: dict[str, Any] | None = None,
         candidates: tuple[str, ...] = ("change", "resource-exhaustion"),
         evidence: tuple[str, ...] = ("memory",)) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "kubeheal.io/v1alpha1", "kind": "Remediation",
        "metadata": {"name": "cart-1", "namespace": "shop", "resourceVersion": "7",
                     "creationTimestamp": rfc3339(created),
                     "labels": {"kubeheal.io/target": "cart"}},
        "spec": {
            "runbookRef": {"name": "cart"},
            "target": {"namespace": "shop", "name": "cart"},
            "trigger": {"startedAt": rfc3339(created), "detectedAt": rfc3339(created),
                        "score": 0.99,
                        "evidence": [{"signal": s, "score": 1.0} for s in evidence]},
            "diagnosis": {"cause": candidates[0], "candidates": [
                {"cause": c, "confidence": 0.8 - 0.1 * i} for i, c in enumerate(candidates)]},
        },
    }
    if status is not None:
        doc["status"] = status
    return doc


def names(actions: list[Action]) -> list[str]:
    return [a.name for a in actions]


def test_actions_follow_the_ranked_causes_then_the_unconditional_ones() -> None:
    rem = Remediation.model_validate(body(dt.datetime.now(dt.UTC)))
    assert names(fitting_actions(ACTIONS, rem, [])) == ["roll-back", "restart"]
    assert names(fitting_actions(ACTIONS, rem, ["roll-back"])) == ["restart"]
    assert names(fitting_actions(ACTIONS, rem, ["roll-back", "restart"])) == []


def test_signal_conditions_hold_for_every_cause() -> None:
    rem = Remediation.model_validate(body(dt.datetime.now(dt.UTC), candidates=("unknown",),
                                          evidence=("errors",)))
    assert names(fitting_actions(ACTIONS, rem, [])) == ["restart-on-errors"]


class Store:
    """Just enough of ObjectStore: one object, a record of status writes and Events, and as
    many conflicts as asked for on the first status writes."""

    def __init__(self, obj: dict[str, Any], conflicts: int = 0) -> None:
        self.obj = obj
        self.conflicts = conflicts
        self.writes: list[dict[str, Any]] = []
        self.preconditions: list[str | None] = []
        self.events: list[str] = []

    async def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        return self.obj

    async def patch_status(self, plural: str, namespace: str, name: str,
                           status: dict[str, Any], resource_version: str | None = None,
                           ) -> dict[str, Any]:
        if self.conflicts:
            self.conflicts -= 1
            raise KubernetesError("conflict", "the object has been modified", 409)
        self.writes.append(status)
        self.preconditions.append(resource_version)
        return {**self.obj, "metadata": {**self.obj["metadata"], "resourceVersion": "8"}}


    async def post_event(self, body: dict[str, Any], type_: str, reason: str,
                         message: str) -> None:
        self.events.append(reason)


class FailingGate:
    async def decide(self, policy_input: Any) -> Any:
        raise RuntimeError("the operator died while asking")


def driver(store: Store, gate: Any = None) -> RemediationDriver:
    none: Any = None
    return RemediationDriver(store=store, reader=none, actions=none, gate=gate,
                             prometheus=none, metrics=OperatorMetrics(), claims=none,
                             evaluators={})


def learned(d: RemediationDriver) -> float:
    return d.metrics.learned_decisions.labels("shop", "cart", "reorder", "true")._value.get()


def test_a_new_remediation_leaves_its_first_status_to_the_evaluator_for_a_moment() -> None:
    store = Store(body(dt.datetime.now(dt.UTC)))
    step = asyncio.run(driver(store).step("shop", "cart-1"))
    assert step == Step(wait=True)
    assert store.writes == []  # nothing that could race the evaluator's first write


def test_a_first_status_never_written_is_written_by_the_driver_if_still_missing() -> None:
    store = Store(body(dt.datetime.now(dt.UTC) - dt.timedelta(seconds=10)))
    step = asyncio.run(driver(store).step("shop", "cart-1"))
    assert step == Step(wait=False)
    assert store.writes[0]["phase"] == "Detected"
    assert store.writes[0]["timeline"][0]["step"] == "detected"
    # Only if nobody wrote one since it was read: a precondition, not a sleep.
    assert store.preconditions == ["7"]


def test_what_a_step_reports_is_reported_once_by_the_write_that_commits_it() -> None:
    store = Store(body(dt.datetime.now(dt.UTC), status={"phase": "Detected"}), conflicts=1)
    d = driver(store)
    rem = Remediation.model_validate(store.obj)
    status = RemediationStatus.model_validate({"phase": "Detected"})
    outcome = Outcome(status, (CountLearning("reorder", changed=True),
                               PostEvent("Normal", "LearnedOrder", "scale-out first"),
                               WriteStatus(status)), wait=True)
    obs = Observations(dt.datetime.now(dt.UTC), None)
    with pytest.raises(KubernetesError):  # someone wrote meanwhile: the step starts over
        asyncio.run(d._apply(dict(store.obj), rem, outcome, obs))
    assert (learned(d), store.events) == (0, [])
    assert asyncio.run(d._apply(dict(store.obj), rem, outcome, obs)) == Step(wait=True)
    assert (learned(d), store.events) == (1, ["LearnedOrder"])


def test_what_a_step_reports_waits_for_the_policys_answer_to_be_written() -> None:
    store = Store(body(dt.datetime.now(dt.UTC), status={"phase": "Detected"}))
    d = driver(store, gate=FailingGate())
    rem = Remediation.model_validate(store.obj)
    status = RemediationStatus.model_validate({"phase": "Detected"})
    none: Any = None
    outcome = Outcome(status, (CountLearning("reorder", changed=True),
                               PostEvent("Normal", "LearnedOrder", "scale-out first"),
                               AskPolicy(none, then="gated")), wait=False)
    with pytest.raises(RuntimeError):
        asyncio.run(d._apply(dict(store.obj), rem, outcome, Observations(dt.datetime.now(dt.UTC),
                                                                         None)))
    assert (learned(d), store.events) == (0, [])
