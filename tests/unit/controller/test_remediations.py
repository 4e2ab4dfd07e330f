"""The remediation driver's pure choices, and how it writes a new Remediation's first status."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from kubeheal.api.remediation import Remediation
from kubeheal.api.runbook import Action
from kubeheal.controller.lifecycle import fitting_actions
from kubeheal.controller.remediations import RemediationDriver, Step
from kubeheal.controller.store import rfc3339

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
    """Just enough of ObjectStore: one object, and a record of status writes."""

    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = obj
        self.writes: list[dict[str, Any]] = []
        self.preconditions: list[str | None] = []

    async def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        return self.obj

    async def patch_status(self, plural: str, namespace: str, name: str,
                           status: dict[str, Any], resource_version: str | None = None,
                           ) -> dict[str, Any]:
        self.writes.append(status)
        self.preconditions.append(resource_version)
        return {**self.obj, "metadata": {**self.obj["metadata"], "resourceVersion": "8"}}


def driver(store: Store) -> RemediationDriver:
    none: Any = None
    return RemediationDriver(store=store, reader=none, actions=none, gate=none,
                             prometheus=none, metrics=none, claims=none,
                             evaluators={})


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
