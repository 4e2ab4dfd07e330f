"""The Kubernetes readers on the local cluster: Deployments, rollout history, pod health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kubernetes import client

from integration.act.workloads import (
    INSECURE,
    ready_deployment,
    rolled_out,
    set_image,
)
from kubeheal.observe.kubernetes import KubernetesError, KubernetesReader
from localstack import Cluster

pytestmark = [pytest.mark.stack, pytest.mark.filterwarnings(INSECURE)]


async def test_list_deployments_by_selector(
    cluster: Cluster, reader: KubernetesReader, namespace: str
) -> None:
    await ready_deployment(cluster, reader, namespace, "web", replicas=1)
    await ready_deployment(cluster, reader, namespace, "db", replicas=1)

    found = await reader.list_deployments(namespace, "app in (web,cache)")

    assert [d["metadata"]["name"] for d in found] == ["web"]
    assert found[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "fake/web:v1"
    assert await reader.list_deployments(namespace, "app=nothing") == []


async def test_rollout_history_lists_revisions_oldest_first(
    cluster: Cluster, reader: KubernetesReader, namespace: str
) -> None:
    await ready_deployment(cluster, reader, namespace, "web", image="fake/web:v1")
    set_image(cluster, namespace, "web", "fake/web:v2")
    await rolled_out(reader, namespace, "web")

    history = await reader.rollout_history(namespace, "web")

    assert [r.number for r in history] == [1, 2]
    assert [r.replicas for r in history] == [0, 2]
    assert history[1].ready_replicas == 2
    assert all(r.replica_set == f"web-{r.pod_template_hash}" for r in history)
    assert len({r.pod_template_hash for r in history}) == 2
    assert all(r.created is not None for r in history)


async def test_pod_health_and_pod_events(
    cluster: Cluster, api: client.ApiClient, reader: KubernetesReader, namespace: str
) -> None:
    deployment = await ready_deployment(cluster, reader, namespace, "web")
    other = await ready_deployment(cluster, reader, namespace, "webhook", replicas=1)

    health = await reader.pod_health(namespace, "web")

    assert len(health) == 2
    assert all(h.ready and h.restarts == 0 and h.phase == "Running" for h in health)
    assert all(h.last_termination_reason is None for h in health)

    # What a kubelet reports about a crash-looping pod, on ours and on a neighbour's pod.
    ours = (await reader.pods(deployment))[0]["metadata"]["name"]
    theirs = (await reader.pods(other))[0]["metadata"]["name"]
    now = datetime.now(UTC)
    core = client.CoreV1Api(api)
    for i, (pod, reason) in enumerate([(ours, "BackOff"), (ours, "Pulled"), (theirs, "BackOff")]):
        core.create_namespaced_event(namespace, {
            "metadata": {"name": f"e{i}", "namespace": namespace},
            "involvedObject": {"kind": "Pod", "name": pod, "namespace": namespace},
            "reason": reason, "message": "Back-off restarting failed container",
            "type": "Warning", "count": 3,
            "firstTimestamp": (now - timedelta(minutes=1)).isoformat(),
            "lastTimestamp": now.isoformat(),
            "source": {"component": "kubelet"},
        })

    events = await reader.pod_events(namespace, "web")

    assert [(e.pod, e.reason, e.count) for e in events] == [(ours, "BackOff", 3)]
    assert events[0].last_seen is not None
    assert await reader.pod_events(namespace, "web", since=now + timedelta(hours=1)) == []


async def test_missing_deployment_is_a_not_found_error(
    reader: KubernetesReader, namespace: str
) -> None:
    with pytest.raises(KubernetesError) as error:
        await reader.rollout_history(namespace, "nothing")
    assert error.value.kind == "not-found"
    assert 'deployments.apps "nothing" not found' in error.value.message
