"""The identity an action is decided for, and what counts as a change of it."""

from __future__ import annotations

from typing import Any

from kubeheal.act.actions import eviction_floor
from kubeheal.act.pins import pin, pin_changes

REVISION = "deployment.kubernetes.io/revision"


def deployment(revision: int = 2, replicas: int = 3, image: str = "v2", uid: str = "u1",
               ready: int = 3) -> dict[str, Any]:
    return {"metadata": {"uid": uid, "annotations": {REVISION: str(revision)}},
            "spec": {"replicas": replicas,
                     "template": {"spec": {"containers": [{"image": image}]}}},
            "status": {"readyReplicas": ready}}


def hpa(min_replicas: int) -> dict[str, Any]:
    return {"metadata": {"name": "web"}, "spec": {"minReplicas": min_replicas}}


def test_the_same_target_has_no_change() -> None:
    assert pin_changes(pin(deployment()), pin(deployment())) == ""
    # Its status moving (pods becoming ready) is no change of the target.
    assert pin_changes(pin(deployment()), pin(deployment(ready=1))) == ""


def test_a_new_rollout_a_manual_scale_or_a_replaced_deployment_is_a_change() -> None:
    decided = pin(deployment())
    assert "pod template changed" in pin_changes(decided, pin(deployment(3, image="v3")))
    assert "spec.replicas 3 -> 5" in pin_changes(decided, pin(deployment(replicas=5)))
    assert "was replaced" in pin_changes(decided, pin(deployment(uid="u2")))


def test_a_newer_revision_of_the_same_template_is_a_change() -> None:
    # A human rolled back and forward again: the same template under a newer revision. A
    # rollback decided on revision 2 must not undo what the human did since.
    assert pin_changes(pin(deployment(2)), pin(deployment(4))) == \
        "revision 2 -> 4 (a newer rollout)"


def test_under_an_hpa_its_floor_counts_not_the_replicas_it_sets() -> None:
    decided = pin(deployment(), hpa=hpa(2))
    assert pin_changes(decided, pin(deployment(replicas=7), hpa=hpa(2))) == ""
    assert "minReplicas 2 -> HPA web minReplicas 4" in pin_changes(
        decided, pin(deployment(), hpa=hpa(4)))
    assert "HPA (none)" in pin_changes(pin(deployment()), pin(deployment(), hpa=hpa(2)))


def test_the_current_replica_set_is_named_from_the_revision() -> None:
    rs = [{"metadata": {"name": f"web-{n}", "annotations": {REVISION: str(n)}}}
          for n in (1, 2)]
    assert pin(deployment(2), rs).replica_set == "web-2"
    assert pin(deployment(3), rs).replica_set == ""


def ready_pod(ready: bool) -> dict[str, Any]:
    return {"status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


def test_an_eviction_keeps_the_floor_of_ready_pods() -> None:
    three = deployment(ready=3)
    assert eviction_floor(three, ready_pod(True), 2) == ""
    assert "leave 1 ready pods, below the availability floor of 2" in eviction_floor(
        deployment(ready=2), ready_pod(True), 2)
    # Evicting a pod that is not ready takes no ready pod away.
    assert eviction_floor(deployment(ready=2), ready_pod(False), 2) == ""
