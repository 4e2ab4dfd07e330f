"""Each action on a real Deployment: the API server changes it, controllers and kwok follow."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from integration.act.workloads import (
    INSECURE,
    apply,
    eventually,
    image,
    ready_deployment,
    rolled_out,
    set_image,
)
from kubeheal.act.actions import KubernetesActions
from kubeheal.act.intent import TOKEN_ANNOTATION, ActionError, action_applied
from kubeheal.act.patches import hpa_targeting
from kubeheal.act.pins import pin
from kubeheal.api.remediation import PinnedTarget
from kubeheal.observe.kubernetes import (
    KubernetesReader,
    api_client_from_kubeconfig,
    revision_number,
)
from localstack import Cluster

pytestmark = [pytest.mark.stack, pytest.mark.filterwarnings(INSECURE)]


async def pins(actions: KubernetesActions, reader: KubernetesReader, namespace: str,
               name: str = "web") -> PinnedTarget:
    """The target's identity as a decision would pin it now."""
    hpas = actions.autoscaling.list_namespaced_horizontal_pod_autoscaler(
        namespace, _preload_content=False)
    hpa = hpa_targeting(json.loads(hpas.data).get("items", []), name)
    return pin(await reader.get_deployment(namespace, name), hpa=hpa)


async def test_rollout_restart_rolls_a_new_replica_set(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    before = await ready_deployment(cluster, reader, namespace, "web")
    assert not action_applied(before, "restart-1")

    decided = await pins(actions, reader, namespace)
    result = await actions.restart_rollout(namespace, "web", "restart-1", min_available=1,
                                           pins=decided)

    assert (result.kind, result.token, result.already_applied) == (
        "rollout-restart", "restart-1", False)
    assert result.generation_after == before["metadata"]["generation"] + 1
    after = await rolled_out(reader, namespace, "web")
    assert action_applied(after, "restart-1") and not action_applied(after, "restart-0")
    assert "kubectl.kubernetes.io/restartedAt" in after["spec"]["template"]["metadata"][
        "annotations"]
    history = await reader.rollout_history(namespace, "web")
    assert [r.number for r in history] == [1, 2]
    assert [r.replicas for r in history] == [0, 2]

    again = await actions.restart_rollout(namespace, "web", "restart-1", min_available=1,
                                          pins=decided)
    assert again.already_applied
    assert len(await reader.rollout_history(namespace, "web")) == 2, "no second restart"


@pytest.mark.parametrize(("strategy", "why"), [
    ({"type": "Recreate"}, "strategy Recreate stops every pod"),
    ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "100%"}},
     "RollingUpdate keeps 0 of 2 pods available"),
])
async def test_a_restart_that_cannot_keep_the_floor_changes_nothing(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str,
    strategy: dict[str, Any], why: str,
) -> None:
    before = await ready_deployment(cluster, reader, namespace, "web", strategy=strategy)

    with pytest.raises(ActionError) as refused:
        await actions.restart_rollout(namespace, "web", "restart-1", min_available=1,
                                      pins=await pins(actions, reader, namespace))

    assert refused.value.reason == "unsafe" and not refused.value.retryable
    assert why in refused.value.message
    assert "below the availability floor of 1" in refused.value.message
    after = await reader.get_deployment(namespace, "web")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert not action_applied(after, "restart-1")


async def test_scale_brings_more_ready_pods(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    await ready_deployment(cluster, reader, namespace, "web", replicas=1)

    decided = await pins(actions, reader, namespace)
    result = await actions.scale(namespace, "web", 3, "scale-1", pins=decided)

    assert "from 1 to 3 replicas" in result.message
    after = await rolled_out(reader, namespace, "web")
    assert after["spec"]["replicas"] == 3
    assert after["status"]["readyReplicas"] == 3
    assert action_applied(after, "scale-1")
    assert (await actions.scale(namespace, "web", 5, "scale-1", pins=decided)).already_applied
    assert (await reader.get_deployment(namespace, "web"))["spec"]["replicas"] == 3


def apply_hpa(cluster: Cluster, namespace: str, minimum: int, maximum: int) -> None:
    """An autoscaling/v2 HPA of Deployment web."""
    apply(cluster, {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": "web"},
                 "minReplicas": minimum, "maxReplicas": maximum},
    })


async def test_scale_raises_the_floor_of_an_hpa(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    await ready_deployment(cluster, reader, namespace, "web", replicas=1)
    apply_hpa(cluster, namespace, 1, 2)

    decided = await pins(actions, reader, namespace)
    assert decided.hpa == "web" and decided.hpa_min_replicas == 1
    result = await actions.scale(namespace, "web", 3, "scale-hpa", pins=decided)

    assert "HPA" in result.message
    hpa = actions.autoscaling.read_namespaced_horizontal_pod_autoscaler("web", namespace)
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (3, 3)
    assert hpa.metadata.annotations[TOKEN_ANNOTATION] == "scale-hpa"
    assert not action_applied(await reader.get_deployment(namespace, "web"), "scale-hpa"), \
        "one write: the HPA's"
    assert (await actions.scale(namespace, "web", 5, "scale-hpa", pins=decided)).already_applied

    async def scaled_by_hpa() -> bool:
        d = await reader.get_deployment(namespace, "web")
        return bool(d["spec"]["replicas"] == 3)

    await eventually(scaled_by_hpa, "scaled to 3 by the HPA controller", timeout=120)


async def test_rollback_returns_to_the_previous_template_under_a_new_revision(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    await ready_deployment(cluster, reader, namespace, "web", image="fake/web:v1")
    set_image(cluster, namespace, "web", "fake/web:v2")
    bad = await rolled_out(reader, namespace, "web")
    assert (image(bad), revision_number(bad)) == ("fake/web:v2", 2)

    decided = await pins(actions, reader, namespace)
    result = await actions.rollback_to_revision(namespace, "web", 1, "undo-1", pins=decided)

    assert "to revision 1" in result.message
    after = await rolled_out(reader, namespace, "web")
    assert image(after) == "fake/web:v1"
    assert revision_number(after) == 3
    assert "pod-template-hash" not in after["spec"]["template"]["metadata"]["labels"]
    assert action_applied(after, "undo-1")
    history = await reader.rollout_history(namespace, "web")
    assert [r.number for r in history] == [2, 3], "revision 1 lives on as revision 3"
    assert (await actions.rollback_to_revision(namespace, "web", 1, "undo-1",
                                               pins=decided)).already_applied


async def test_rollback_goes_to_the_decided_revision_not_the_previous_one(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    await ready_deployment(cluster, reader, namespace, "web", image="fake/web:v1")
    for tag in ("v2", "v3"):
        set_image(cluster, namespace, "web", f"fake/web:{tag}")
        await rolled_out(reader, namespace, "web")

    await actions.rollback_to_revision(namespace, "web", 1, "undo-1",
                                       pins=await pins(actions, reader, namespace))

    after = await rolled_out(reader, namespace, "web")
    assert image(after) == "fake/web:v1", "revision 1 as decided, not revision 2 (v2)"


async def test_rollback_to_a_revision_that_is_gone_or_current_is_refused(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    await ready_deployment(cluster, reader, namespace, "web")

    decided = await pins(actions, reader, namespace)
    with pytest.raises(ActionError) as gone:
        await actions.rollback_to_revision(namespace, "web", 7, "undo-1", pins=decided)
    with pytest.raises(ActionError) as current:
        await actions.rollback_to_revision(namespace, "web", 1, "undo-1", pins=decided)

    assert gone.value.reason == "no-previous-revision"
    assert f"deployment {namespace}/web" in gone.value.message
    assert "revision 7 no longer exists" in gone.value.message
    assert current.value.reason == "invalid" and "it is the current revision" in \
        current.value.message
    assert not action_applied(await reader.get_deployment(namespace, "web"), "undo-1")


async def test_evicting_a_pod_replaces_it_once(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    deployment = await ready_deployment(cluster, reader, namespace, "web")
    pods = await reader.pods(deployment)
    victim, survivor = pods[0]["metadata"]["name"], pods[1]["metadata"]["name"]

    decided = await pins(actions, reader, namespace)
    result = await actions.evict_pod(namespace, victim, "evict-1", "web", min_available=1,
                                     pins=decided)

    assert f"evicted pod {namespace}/{victim} of deployment {namespace}/web" == result.message

    async def replaced() -> list[str] | None:
        names = sorted(p["metadata"]["name"] for p in await reader.pods(deployment))
        return names if victim not in names and len(names) == 2 else None

    names = await eventually(replaced, "replaced")
    assert survivor in names
    again = await actions.evict_pod(namespace, victim, "evict-1", "web", min_available=1,
                                    pins=decided)
    assert again.already_applied, "the recorded pod is gone: no other pod is evicted"
    assert sorted(p["metadata"]["name"] for p in await reader.pods(deployment)) == names


async def test_a_pod_disruption_budget_blocks_an_eviction_without_force(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    deployment = await ready_deployment(cluster, reader, namespace, "web")
    apply(cluster, {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
    })
    policy = client.PolicyV1Api(actions.core.api_client)

    def budget_observed() -> bool:
        pdb = policy.read_namespaced_pod_disruption_budget("web", namespace)
        return bool(pdb.status and pdb.status.observed_generation and
                    pdb.status.current_healthy == 2)

    async def observed() -> bool:
        return budget_observed()

    await eventually(observed, "PDB observed by the disruption controller")
    victim = (await reader.pods(deployment))[0]["metadata"]["name"]

    with pytest.raises(ActionError) as blocked:
        await actions.evict_pod(namespace, victim, "evict-1", "web", min_available=0,
                                pins=await pins(actions, reader, namespace))

    assert blocked.value.reason == "blocked-by-pdb" and blocked.value.retryable
    assert "PodDisruptionBudget" in blocked.value.message
    assert victim in {p["metadata"]["name"] for p in await reader.pods(deployment)}


async def test_failures_are_action_errors_with_one_clear_message(
    cluster: Cluster, actions: KubernetesActions, reader: KubernetesReader, namespace: str
) -> None:
    await ready_deployment(cluster, reader, namespace, "web", replicas=1)
    decided = await pins(actions, reader, namespace)
    with pytest.raises(ActionError) as missing:
        await actions.restart_rollout(namespace, "nothing", "t-1", min_available=1,
                                      pins=decided)
    assert missing.value.reason == "not-found"
    assert 'deployments.apps "nothing" not found' in missing.value.message

    carol = api_client_from_kubeconfig(cluster.kubeconfig_for("carol"))
    with carol, pytest.raises(ActionError) as forbidden:
        await KubernetesActions(carol).scale(namespace, "web", 2, "t-2", pins=decided)
    assert forbidden.value.reason == "forbidden"
    assert 'User "carol" cannot get resource "deployments"' in forbidden.value.message

    gone = await actions.evict_pod(namespace, "not-a-pod", "t-3", "web", min_available=0,
                                   pins=decided)
    assert gone.already_applied and "is gone already" in gone.message


# -- acting exactly as decided ------------------------------------------------------------------


async def test_no_action_runs_on_a_target_changed_since_the_decision(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    await ready_deployment(cluster, reader, namespace, "web", replicas=2)
    decided = await pins(actions, reader, namespace)
    cluster.kubectl("scale", "-n", namespace, "deployment/web", "--replicas=3")  # a human
    before = await reader.get_deployment(namespace, "web")

    for act in (
        actions.restart_rollout(namespace, "web", "t-1", min_available=1, pins=decided),
        actions.scale(namespace, "web", 4, "t-2", pins=decided),
        actions.rollback_to_revision(namespace, "web", 1, "t-3", pins=decided),
    ):
        with pytest.raises(ActionError) as refused:
            await act
        assert refused.value.reason == "target-changed" and not refused.value.retryable
        assert "spec.replicas 2 -> 3" in refused.value.message
    pod = (await reader.pods(before))[0]["metadata"]["name"]
    with pytest.raises(ActionError) as evict:
        await actions.evict_pod(namespace, pod, "t-4", "web", min_available=0, pins=decided)
    assert evict.value.reason == "target-changed"
    after = await reader.get_deployment(namespace, "web")
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"]["replicas"] == 3
    assert not any(action_applied(after, t) for t in ("t-1", "t-2", "t-3"))
    assert pod in {p["metadata"]["name"] for p in await reader.pods(after)}


async def test_a_rollback_never_undoes_a_newer_rollout(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    await ready_deployment(cluster, reader, namespace, "web", image="fake/web:v1")
    set_image(cluster, namespace, "web", "fake/web:v2")
    await rolled_out(reader, namespace, "web")
    decided = await pins(actions, reader, namespace)  # decided on revision 2 (v2): back to 1
    set_image(cluster, namespace, "web", "fake/web:v3")  # a human's fix, revision 3
    await rolled_out(reader, namespace, "web")

    with pytest.raises(ActionError) as refused:
        await actions.rollback_to_revision(namespace, "web", 1, "undo-1", pins=decided)

    assert refused.value.reason == "target-changed"
    assert "revision 2 -> 3" in refused.value.message
    after = await reader.get_deployment(namespace, "web")
    assert image(after) == "fake/web:v3" and not action_applied(after, "undo-1")


async def test_a_scale_never_lowers_the_replicas(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    await ready_deployment(cluster, reader, namespace, "web", replicas=3)

    with pytest.raises(ActionError) as refused:
        await actions.scale(namespace, "web", 2, "t-1",
                            pins=await pins(actions, reader, namespace))

    assert "spec.replicas is 3 already, not below the decided 2" in refused.value.message
    after = await reader.get_deployment(namespace, "web")
    assert after["spec"]["replicas"] == 3 and not action_applied(after, "t-1")


async def test_an_eviction_below_the_availability_floor_is_refused(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    deployment = await ready_deployment(cluster, reader, namespace, "web", replicas=2)
    victim = (await reader.pods(deployment))[0]["metadata"]["name"]

    with pytest.raises(ActionError) as refused:
        await actions.evict_pod(namespace, victim, "t-1", "web", min_available=2,
                                pins=await pins(actions, reader, namespace))

    assert refused.value.reason == "below-floor" and refused.value.retryable
    assert "leave 1 ready pods, below the availability floor of 2" in refused.value.message
    assert victim in {p["metadata"]["name"] for p in await reader.pods(deployment)}


async def test_a_scale_back_lowers_the_replicas_and_never_raises_them(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    await ready_deployment(cluster, reader, namespace, "web", replicas=3)
    decided = await pins(actions, reader, namespace)

    with pytest.raises(ActionError) as refused:
        await actions.scale(namespace, "web", 4, "back-0", pins=decided, down=True)
    assert "is 3 already, not above the decided 4" in refused.value.message

    result = await actions.scale(namespace, "web", 1, "back-1", pins=decided, down=True)
    assert "from 3 to 1 replicas" in result.message
    after = await rolled_out(reader, namespace, "web")
    assert after["spec"]["replicas"] == 1 and action_applied(after, "back-1")
    assert (await actions.scale(namespace, "web", 1, "back-1", pins=decided,
                                down=True)).already_applied


async def test_a_scale_back_lowers_the_floor_of_an_hpa(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    await ready_deployment(cluster, reader, namespace, "web", replicas=3)
    apply_hpa(cluster, namespace, 3, 3)

    decided = await pins(actions, reader, namespace)
    assert decided.hpa_min_replicas == 3
    result = await actions.scale(namespace, "web", 1, "back-hpa", pins=decided, down=True)

    assert "lowered minReplicas of HPA" in result.message
    hpa = actions.autoscaling.read_namespaced_horizontal_pod_autoscaler("web", namespace)
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (1, 3)
    assert hpa.metadata.annotations[TOKEN_ANNOTATION] == "back-hpa"


# -- resize ---------------------------------------------------------------------------------

MEMORY = {"pod_spec": {"containers": [{"name": "app", "image": "fake/web:v1", "resources": {
    "limits": {"memory": "256Mi", "cpu": "500m"}, "requests": {"memory": "128Mi"}}}]}}


def resources(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container["resources"])


async def test_a_resize_rolls_pods_with_the_new_memory_once(
    cluster: Cluster, reader: KubernetesReader, actions: KubernetesActions, namespace: str
) -> None:
    before = await ready_deployment(cluster, reader, namespace, "web", **MEMORY)
    decided = await pins(actions, reader, namespace)

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
    await ready_deployment(cluster, reader, namespace, "web", **MEMORY)
    decided = await pins(actions, reader, namespace)
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
    await ready_deployment(cluster, reader, namespace, "web", strategy={"type": "Recreate"},
                           **MEMORY)
    with pytest.raises(ActionError) as unsafe:
        await actions.resize_memory(namespace, "web", "app", "512Mi", None, "r-3",
                                    min_available=1, pins=await pins(actions, reader, namespace))
    assert unsafe.value.reason == "unsafe" and "below the availability floor" in \
        unsafe.value.message
    await ready_deployment(cluster, reader, namespace, "bare")
    with pytest.raises(ActionError) as invalid:
        await actions.resize_memory(namespace, "bare", "app", "512Mi", None, "r-4",
                                    min_available=0,
                                    pins=await pins(actions, reader, namespace, "bare"))
    assert invalid.value.reason == "invalid" and "no memory limit" in invalid.value.message
    for name, token in (("web", "r-3"), ("bare", "r-4")):
        now = await reader.get_deployment(namespace, name)
        assert not action_applied(now, token)
