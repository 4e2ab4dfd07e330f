"""Each action on a real StatefulSet: the API server changes it, the StatefulSet controller and
kwok follow (kwok never makes a pod of an image tagged ``-bad`` Ready)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from integration.act.workloads import INSECURE, apply, eventually, image
from kubeheal.act.actions import KubernetesActions
from kubeheal.act.intent import ActionError, action_applied
from kubeheal.act.pins import pin
from kubeheal.act.statefulsets import REVISION_LABEL
from kubeheal.api.remediation import PinnedTarget
from kubeheal.controller.lifecycle import TargetState, blocking_pod
from kubeheal.observe.kubernetes import KubernetesReader
from kubeheal.verify.rollout import rollout_status
from localstack import Cluster

pytestmark = [pytest.mark.stack, pytest.mark.filterwarnings(INSECURE)]


def manifest(namespace: str, image: str = "fake/db:v1", replicas: int = 3,
             **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": namespace, "labels": {"app": "db"}},
        "spec": {
            "replicas": replicas, "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}},
                         "spec": {"containers": [{"name": "db", "image": image}]}},
            **spec,
        },
    }


async def rolled_out(reader: KubernetesReader, namespace: str) -> dict[str, Any]:
    async def complete() -> dict[str, Any] | None:
        statefulset = await reader.get_statefulset(namespace, "db")
        return statefulset if rollout_status(statefulset).complete else None

    return await eventually(complete, "rolled out", timeout=120)


async def target(reader: KubernetesReader, namespace: str) -> TargetState:
    statefulset = await reader.get_statefulset(namespace, "db")
    return TargetState(statefulset, tuple(await reader.controller_revisions(statefulset)),
                       pods=tuple(await reader.pods(statefulset)))


async def pins(reader: KubernetesReader, namespace: str) -> PinnedTarget:
    now = await target(reader, namespace)
    return pin(now.deployment, now.replica_sets)


def set_image(cluster: Cluster, namespace: str, new: str) -> None:
    cluster.kubectl("set", "image", "statefulset/db", "-n", namespace, f"db={new}")


async def test_rollback_of_a_stuck_rollout_evicts_the_stuck_pod_once(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    apply(cluster, manifest(namespace))
    await rolled_out(reader, namespace)
    set_image(cluster, namespace, "fake/db:v2-bad")

    async def stuck() -> TargetState | None:
        now = await target(reader, namespace)
        return now if blocking_pod(now) else None

    bad = await eventually(stuck, "stuck on a pod of the bad image", timeout=120)
    chosen = blocking_pod(bad)
    assert chosen["pod"] == "db-2", chosen
    decided = pin(bad.deployment, bad.replica_sets)
    assert decided.revision == 2

    result = await actions.rollback_statefulset(
        namespace, "db", 1, "undo-1", pins=decided, stuck_pod=chosen["pod"],
        stuck_uid=chosen["podUid"])
    assert "to revision 1" in result.message and "evicted stuck pod" in result.message

    after = await rolled_out(reader, namespace)
    assert image(after) == "fake/db:v1" and action_applied(after, "undo-1")
    pods = await reader.pods(after)
    assert {p["metadata"]["labels"][REVISION_LABEL] for p in pods} == {
        after["status"]["updateRevision"]}
    assert next(p for p in pods if p["metadata"]["name"] == "db-2")["metadata"]["uid"] != \
        chosen["podUid"]
    # Called again (a resume after a crash), it changes nothing: the token and the UID settle it.
    again = await actions.rollback_statefulset(
        namespace, "db", 1, "undo-1", pins=decided, stuck_pod=chosen["pod"],
        stuck_uid=chosen["podUid"])
    assert again.already_applied and "gone already" in again.message


async def test_a_rollback_from_a_revision_changed_since_the_decision_is_refused(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    apply(cluster, manifest(namespace))
    await rolled_out(reader, namespace)
    set_image(cluster, namespace, "fake/db:v2")
    await rolled_out(reader, namespace)
    decided = await pins(reader, namespace)
    set_image(cluster, namespace, "fake/db:v3")
    await rolled_out(reader, namespace)

    with pytest.raises(ActionError) as refused:
        await actions.rollback_statefulset(namespace, "db", 1, "undo-1", pins=decided)
    assert refused.value.reason == "target-changed"
    assert image(await reader.get_statefulset(namespace, "db")) == "fake/db:v3"


async def test_restart_rolls_every_pod_and_is_refused_when_on_delete(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    apply(cluster, manifest(namespace, updateStrategy={"type": "OnDelete"}))
    await rolled_out(reader, namespace)
    with pytest.raises(ActionError) as refused:
        await actions.restart_rollout(namespace, "db", "r-1", min_available=1,
                                      pins=await pins(reader, namespace), kind="StatefulSet")
    assert refused.value.reason == "unsafe" and "OnDelete" in str(refused.value)
    assert not action_applied(await reader.get_statefulset(namespace, "db"), "r-1")

    cluster.kubectl("patch", "statefulset", "db", "-n", namespace, "--type=merge", "-p",
                    json.dumps({"spec": {"updateStrategy": {"type": "RollingUpdate"}}}))
    before = {p["metadata"]["name"]: p["metadata"]["uid"]
              for p in await reader.pods(await rolled_out(reader, namespace))}
    result = await actions.restart_rollout(namespace, "db", "r-2", min_available=2,
                                           pins=await pins(reader, namespace),
                                           kind="StatefulSet")
    assert "keeping 2 of 3 available" in result.message
    after = await rolled_out(reader, namespace)
    await eventually(lambda: _all_replaced(reader, after, before), "every pod replaced")


async def _all_replaced(reader: KubernetesReader, statefulset: dict[str, Any],
                        before: dict[str, str]) -> bool:
    pods = await reader.pods(statefulset)
    return len(pods) == len(before) and all(
        before.get(p["metadata"]["name"]) != p["metadata"]["uid"] for p in pods)


async def test_scale_raises_the_replicas_with_the_token(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    apply(cluster, manifest(namespace, replicas=2))
    await rolled_out(reader, namespace)
    result = await actions.scale(namespace, "db", 3, "s-1", pins=await pins(reader, namespace),
                                 kind="StatefulSet")
    assert "from 2 to 3" in result.message
    after = await rolled_out(reader, namespace)
    assert after["status"]["readyReplicas"] == 3 and action_applied(after, "s-1")
