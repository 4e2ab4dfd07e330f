"""Waiting for rollouts on the local cluster: complete, failed (progress deadline), timed out."""

from __future__ import annotations

import pytest

from integration.act.workloads import INSECURE, apply, deployment_manifest, set_image
from kubeheal.observe.kubernetes import KubernetesReader
from kubeheal.verify.rollout import rollout_complete, wait_for_rollout
from localstack import Cluster

pytestmark = [pytest.mark.stack, pytest.mark.filterwarnings(INSECURE)]

UNSCHEDULABLE = {"nodeSelector": {"kubeheal.io/no-such-node": "true"}}


async def test_new_deployment_and_image_change_complete(
    cluster: Cluster, reader: KubernetesReader, namespace: str
) -> None:
    apply(cluster, deployment_manifest(namespace, "web", replicas=3))
    first = await wait_for_rollout(reader, namespace, "web", deadline_s=90)
    assert first.complete, first.message
    assert first.message == 'deployment "web" successfully rolled out'

    set_image(cluster, namespace, "web", "fake/web:v2")
    second = await wait_for_rollout(reader, namespace, "web", deadline_s=90)
    assert second.complete, second.message
    deployment = await reader.get_deployment(namespace, "web")
    assert rollout_complete(deployment) == (True, second.message)
    assert deployment["status"]["updatedReplicas"] == deployment["status"]["readyReplicas"] == 3


async def test_a_passed_progress_deadline_fails_the_wait(
    cluster: Cluster, reader: KubernetesReader, namespace: str
) -> None:
    apply(cluster, deployment_manifest(namespace, "stuck", progressDeadlineSeconds=1,
                                       pod_spec=UNSCHEDULABLE))
    status = await wait_for_rollout(reader, namespace, "stuck", deadline_s=90)
    assert status.state == "failed"
    assert status.message == 'deployment "stuck" exceeded its progress deadline'


async def test_the_callers_deadline_ends_the_wait(
    cluster: Cluster, reader: KubernetesReader, namespace: str
) -> None:
    apply(cluster, deployment_manifest(namespace, "stuck", pod_spec=UNSCHEDULABLE))
    status = await wait_for_rollout(reader, namespace, "stuck", deadline_s=1, poll_s=0.2)
    assert status.state == "timed-out"
    assert f"rollout of deployment {namespace}/stuck not complete after 1s" in status.message


async def test_a_missing_deployment_fails_at_once(
    reader: KubernetesReader, namespace: str
) -> None:
    status = await wait_for_rollout(reader, namespace, "nothing", deadline_s=90)
    assert status.state == "failed"
    assert "not found" in status.message
