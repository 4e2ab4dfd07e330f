"""The resize on a real Deployment: the template's memory changes once, under its token, and
never on a target changed since the decision or by a strategy that cannot keep the floor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from integration.act.workloads import (
    INSECURE,
    api_client,
    ready_deployment,
    rolled_out,
    set_image,
)
from kubeheal.act.actions import KubernetesActions
from kubeheal.act.intent import ActionError, action_applied
from kubeheal.act.pins import pin
from kubeheal.observe.kubernetes import KubernetesReader
from localstack import Cluster

pytestmark = [pytest.mark.stack, pytest.mark.filterwarnings(INSECURE)]
MEMORY = {"pod_spec": {"containers": [{"name": "app", "image": "fake/web:v1", "resources": {
    "limits": {"memory": "256Mi", "cpu": "500m"}, "requests": {"memory": "128Mi"}}}]}}


@pytest.fixture(scope="module")
def api(cluster: Cluster) -> Iterator[client.ApiClient]:
    with api_client(cluster) as api:
        yield api


@pytest.fixture(scope="module")
def reader(api: client.ApiClient) -> KubernetesReader:
    return KubernetesReader(api)


@pytest.fixture(scope="module")
def actions(api: client.ApiClient) -> KubernetesActions:
    return KubernetesActions(api)


def resources(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container["resources"])


async def test_a_resize_rolls_pods_with_the_new_memory_once(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    before = await ready_deployment(cluster, reader, namespace, "web", **MEMORY)
    decided = pin(before)

    result = await actions.resize_memory(namespace, "web", "app", "512Mi", "256Mi", "r-1",
                                         min_available=1, pins=decided)
    assert (result.kind, result.already_applied) == ("resize", False)
    assert "from 256Mi to 512Mi" in result.message
    after = await rolled_out(reader, namespace, "web")
    assert action_applied(after, "r-1")
    assert resources(after) == {"limits": {"memory": "512Mi", "cpu": "500m"},
                                "requests": {"memory": "256Mi"}}
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    pods = [p for p in await reader.pods(after) if not p["metadata"].get("deletionTimestamp")]
    assert pods and all(p["spec"]["containers"][0]["resources"]["limits"]["memory"] == "512Mi"
                        for p in pods)

    # The same intent again (a crash, a timeout): the token says it ran; nothing changes.
    again = await actions.resize_memory(namespace, "web", "app", "512Mi", "256Mi", "r-1",
                                        min_available=1, pins=decided)
    assert again.already_applied
    assert (await reader.get_deployment(namespace, "web"))["metadata"]["generation"] == \
        after["metadata"]["generation"]


async def test_no_resize_on_a_template_changed_since_the_decision(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    decided = pin(await ready_deployment(cluster, reader, namespace, "web", **MEMORY))
    set_image(cluster, namespace, "web", "fake/web:v2")  # a human's rollout meanwhile
    with pytest.raises(ActionError) as refused:
        await actions.resize_memory(namespace, "web", "app", "512Mi", None, "r-2",
                                    min_available=1, pins=decided)
    assert refused.value.reason == "target-changed"
    now = await reader.get_deployment(namespace, "web")
    assert resources(now)["limits"]["memory"] == "256Mi" and not action_applied(now, "r-2")


async def test_a_resize_that_cannot_keep_the_floor_or_has_no_limit_changes_nothing(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    recreate = await ready_deployment(cluster, reader, namespace, "web",
                                      strategy={"type": "Recreate"}, **MEMORY)
    with pytest.raises(ActionError) as unsafe:
        await actions.resize_memory(namespace, "web", "app", "512Mi", None, "r-3",
                                    min_available=1, pins=pin(recreate))
    assert unsafe.value.reason == "unsafe" and "below the availability floor" in \
        unsafe.value.message
    bare = await ready_deployment(cluster, reader, namespace, "bare")
    with pytest.raises(ActionError) as invalid:
        await actions.resize_memory(namespace, "bare", "app", "512Mi", None, "r-4",
                                    min_available=0, pins=pin(bare))
    assert invalid.value.reason == "invalid" and "no memory limit" in invalid.value.message
    for name, token in (("web", "r-3"), ("bare", "r-4")):
        now = await reader.get_deployment(namespace, name)
        assert not action_applied(now, token)
