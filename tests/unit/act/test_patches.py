"""The patches the actions send, and the revision a rollback returns to."""

from __future__ import annotations

import copy
from typing import Any

from kubeheal.act.intent import RESTARTED_AT_ANNOTATION, TOKEN_ANNOTATION
from kubeheal.act.patches import (
    hpa_scale_patch,
    hpa_targeting,
    previous_revision,
    restart_patch,
    revision_replica_set,
    rollback_patch,
    rolling_restart_floor,
    scale_patch,
)

REV = "deployment.kubernetes.io/revision"


def deployment(revision: str | None = "3", **annotations: str) -> dict[str, Any]:
    extra = {} if revision is None else {REV: revision}
    return {
        "metadata": {"name": "web", "uid": "uid-web", "resourceVersion": "41",
                     "annotations": {**extra, **annotations}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "web:v3"}]}}},
    }


def replica_set(revision: int, image: str, owner: str = "uid-web",
                **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"web-h{revision}",
            "annotations": {REV: str(revision), **annotations},
            "ownerReferences": [{"kind": "Deployment", "uid": owner, "controller": True}],
        },
        "spec": {"template": {
            "metadata": {"labels": {"app": "web", "pod-template-hash": f"h{revision}"},
                         "annotations": {RESTARTED_AT_ANNOTATION: "2026-11-28T10:00:00Z"}},
            "spec": {"containers": [{"name": "app", "image": image}]},
        }},
    }


def test_previous_revision_is_the_highest_below_the_current_one() -> None:
    # Revisions are not contiguous after rollbacks: 1 and 2 were reused as 4 and 5.
    history = [replica_set(3, "web:v1"), replica_set(6, "web:v3"), replica_set(5, "web:v2"),
               replica_set(9, "web:x", owner="uid-other")]
    chosen = previous_revision(deployment("6"), history)
    assert chosen is not None and chosen["metadata"]["name"] == "web-h5"


def test_previous_revision_ignores_newer_replica_sets_than_the_deployments_revision() -> None:
    # The controller has not yet annotated the Deployment with revision 4.
    chosen = previous_revision(deployment("3"), [replica_set(2, "a"), replica_set(3, "b"),
                                                 replica_set(4, "c")])
    assert chosen is not None and chosen["metadata"]["name"] == "web-h2"


def test_without_a_revision_annotation_the_newest_replica_set_is_current() -> None:
    chosen = previous_revision(deployment(None), [replica_set(1, "a"), replica_set(2, "b")])
    assert chosen is not None and chosen["metadata"]["name"] == "web-h1"


def test_a_single_revision_has_no_previous_one() -> None:
    assert previous_revision(deployment("1"), [replica_set(1, "web:v1")]) is None
    assert previous_revision(deployment(None), []) is None


def test_rollback_patch_copies_the_template_without_the_hash_label() -> None:
    source = replica_set(2, "web:v2", **{"kubernetes.io/change-cause": "v2"})
    before = copy.deepcopy(source)
    ops = rollback_patch(
        deployment("3", **{"kubernetes.io/change-cause": "v3", "team": "shop"}), source, "tok")
    assert source == before, "the ReplicaSet read from the API is not modified"
    by_path = {op["path"]: op for op in ops}
    assert by_path["/metadata/resourceVersion"]["value"] == "41"
    template = by_path["/spec/template"]["value"]
    assert template["metadata"]["labels"] == {"app": "web"}
    assert template["spec"]["containers"][0]["image"] == "web:v2"
    assert template["metadata"]["annotations"] == {
        RESTARTED_AT_ANNOTATION: "2026-11-28T10:00:00Z"}
    # Like kubectl: annotations come from the ReplicaSet, the controller's own are kept.
    assert by_path["/metadata/annotations"]["value"] == {
        REV: "3", "kubernetes.io/change-cause": "v2", TOKEN_ANNOTATION: "tok"}


def test_restart_and_scale_patches_stamp_the_token_in_the_same_write() -> None:
    restart = restart_patch(deployment(), "tok", "2026-11-28T13:00:00Z")
    assert restart["metadata"] == {"resourceVersion": "41",
                                   "annotations": {TOKEN_ANNOTATION: "tok"}}
    assert restart["spec"]["template"]["metadata"]["annotations"] == {
        RESTARTED_AT_ANNOTATION: "2026-11-28T13:00:00Z"}
    scale = scale_patch(deployment(), 5, "tok")
    assert scale == {"metadata": {"resourceVersion": "41",
                                  "annotations": {TOKEN_ANNOTATION: "tok"}},
                     "spec": {"replicas": 5}}


def test_hpa_is_found_by_its_scale_target() -> None:
    def hpa(kind: str, name: str) -> dict[str, Any]:
        return {"metadata": {"name": f"{kind}-{name}"},
                "spec": {"scaleTargetRef": {"kind": kind, "name": name}}}

    hpas = [hpa("StatefulSet", "web"), hpa("Deployment", "db"), hpa("Deployment", "web")]
    found = hpa_targeting(hpas, "web")
    assert found is not None and found["metadata"]["name"] == "Deployment-web"
    assert hpa_targeting(hpas[:2], "web") is None


def test_hpa_patch_raises_the_ceiling_only_when_needed() -> None:
    hpa = {"metadata": {"resourceVersion": "5"}, "spec": {"minReplicas": 1, "maxReplicas": 5}}
    assert hpa_scale_patch(hpa, 4, "tok")["spec"] == {"minReplicas": 4}
    assert hpa_scale_patch(hpa, 8, "tok")["spec"] == {"minReplicas": 8, "maxReplicas": 8}
    assert hpa_scale_patch(hpa, 8, "tok")["metadata"]["annotations"] == {TOKEN_ANNOTATION: "tok"}


def test_a_rolling_restart_keeps_replicas_minus_max_unavailable_of_the_available_pods() -> None:
    def floor(replicas: int, available: int, **rolling: int | str) -> int | None:
        return rolling_restart_floor({
            "spec": {"replicas": replicas, "strategy": {"type": "RollingUpdate",
                                                        "rollingUpdate": rolling}},
            "status": {"availableReplicas": available}})[0]

    assert floor(8, 8) == 6, "default maxUnavailable 25%"
    assert floor(3, 3) == 3, "25% of 3 rounds down to 0 unavailable"
    assert floor(4, 4, maxUnavailable=1, maxSurge=0) == 3
    assert floor(4, 2, maxUnavailable=1) == 2, "never more than what is available now"
    assert floor(10, 10, maxUnavailable="35%") == 7
    assert floor(2, 2, maxUnavailable="100%") == 0


def test_a_recreate_deployment_guarantees_no_pod_during_a_restart() -> None:
    floor, why = rolling_restart_floor({"spec": {"replicas": 5, "strategy": {"type": "Recreate"}},
                                        "status": {"availableReplicas": 5}})
    assert floor is None and "Recreate" in why


def test_the_replica_set_of_a_revision_is_the_deployments_own() -> None:
    mine, foreign = replica_set(2, "web:v2"), replica_set(2, "other", owner="uid-other")
    assert revision_replica_set(deployment("3"), [foreign, mine], 2) is mine
    assert revision_replica_set(deployment("3"), [foreign], 2) is None
