"""The lifecycle's view of a StatefulSet target: what its actions become, what they pin, and
when a rollback that must free a stuck pod is done."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kubeheal.act.pins import pin, pin_changes
from kubeheal.api.remediation import ChosenAction, Intent
from kubeheal.api.runbook import Action, ActionKind, ScaleBounds
from kubeheal.controller.lifecycle import TargetState, blocking_pod, concrete_action, settled

UID = "sts-uid"


def revision(name: str, number: int, image: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "ownerReferences": [{"uid": UID, "controller": True}],
                         "creationTimestamp": "2026-11-28T12:00:00Z"},
            "revision": number,
            "data": {"spec": {"template": {"$patch": "replace", "spec": {
                "containers": [{"name": "db", "image": image}]}}}}}


def statefulset(update_revision: str = "db-b", **spec: Any) -> dict[str, Any]:
    return {"kind": "StatefulSet",
            "metadata": {"name": "db", "uid": UID, "generation": 2},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "db", "image": "db:2"}]}}, **spec},
            "status": {"readyReplicas": 2, "availableReplicas": 2, "observedGeneration": 2,
                       "updateRevision": update_revision, "currentRevision": "db-a"}}


REVISIONS = (revision("db-a", 1, "db:1"), revision("db-b", 2, "db:2"))


def pod(name: str, revision_hash: str, ready: bool, uid: str = "") -> dict[str, Any]:
    return {"metadata": {"name": name, "uid": uid or f"uid-{name}",
                         "labels": {"controller-revision-hash": revision_hash}},
            "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


def test_rollback_goes_to_the_previous_controller_revision() -> None:
    action = Action(name="undo", kind="rollback")
    candidate, params, unfit = concrete_action(action, statefulset(), REVISIONS)
    assert unfit == "" and candidate is not None
    assert params == {"toRevision": "1", "controllerRevision": "db-a"}
    assert concrete_action(action, statefulset(update_revision="db-a"), REVISIONS)[2] == \
        "no previous ControllerRevision to roll back to"


def test_restart_is_unfit_when_pods_would_not_restart() -> None:
    restart = Action(name="restart", kind="restart")
    assert "OnDelete" in concrete_action(
        restart, statefulset(updateStrategy={"type": "OnDelete"}), REVISIONS)[2]
    assert "partition 1" in concrete_action(
        restart, statefulset(updateStrategy={"rollingUpdate": {"partition": 1}}), REVISIONS)[2]
    _, params, unfit = concrete_action(restart, statefulset(), REVISIONS)
    assert unfit == "" and params["minAvailable"] == "2"


def test_scale_is_the_same_as_for_a_deployment() -> None:
    scale = Action(name="out", kind="scale", scale=ScaleBounds(max_replicas=5, step=1))
    assert concrete_action(scale, statefulset(), REVISIONS)[1]["replicas"] == "4"


def test_the_pin_holds_the_current_controller_revision() -> None:
    pinned = pin(statefulset(), REVISIONS)
    assert (pinned.revision, pinned.replica_set, pinned.replicas) == (2, "db-b", 3)
    newer = revision("db-c", 3, "db:3")
    assert "revision 2 -> 3" in pin_changes(
        pinned, pin(statefulset(update_revision="db-c"), (*REVISIONS, newer)))


def test_only_a_not_ready_pod_of_the_bad_revision_blocks_the_rollback() -> None:
    pods = (pod("db-0", "db-a", True), pod("db-1", "db-a", True), pod("db-2", "db-b", False))
    assert blocking_pod(TargetState(statefulset(), REVISIONS, pods=pods)) == {
        "pod": "db-2", "podUid": "uid-db-2"}
    healthy = (*pods[:2], pod("db-2", "db-b", True))
    assert blocking_pod(TargetState(statefulset(), REVISIONS, pods=healthy)) == {}


def test_a_rollback_with_a_stuck_pod_is_settled_once_both_are_done() -> None:
    action = ChosenAction(name="undo", kind=ActionKind.ROLLBACK,
                          params={"toRevision": "1", "pod": "db-2", "podUid": "uid-db-2"})
    intent = Intent(action=action, issued_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), token="t1")
    applied = statefulset()
    applied["metadata"]["annotations"] = {"kubeheal.io/action-token": "t1"}
    stuck = pod("db-2", "db-b", False)
    assert not settled(intent, TargetState(statefulset(), REVISIONS))
    assert not settled(intent, TargetState(applied, REVISIONS, pods=(stuck,)))
    replaced = pod("db-2", "db-a", True, uid="uid-new")
    assert settled(intent, TargetState(applied, REVISIONS, pods=(replaced,)))
