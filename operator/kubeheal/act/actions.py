"""Remediation actions on Deployments through the Kubernetes API, each idempotent by token.

Each action reads its target, returns at once if the intent token is already there (the
action ran before), and otherwise changes the target with a patch that also stamps the token.
A patch conditioned on the ``resourceVersion`` that was read fails with a conflict when the
object changed meanwhile (the Deployment controller writes its status all the time); the
action then reads again and retries a few times. Every failure leaves as one
:class:`~kubeheal.act.intent.ActionError` whose message names the target and the cause.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from kubernetes import client

from kubeheal.act.intent import ActionError, ActionName, ActionResult, action_applied
from kubeheal.act.patches import (
    current_revision,
    hpa_scale_patch,
    hpa_targeting,
    previous_revision,
    restart_patch,
    rfc3339_now,
    rollback_patch,
    scale_patch,
    token_patch,
)
from kubeheal.api.base import LabelSelector
from kubeheal.observe.kubernetes import (
    Json,
    KubernetesError,
    call,
    owned_by,
    revision_number,
    selector_query,
)

STRATEGIC: Final = "application/strategic-merge-patch+json"
MERGE: Final = "application/merge-patch+json"
JSON_PATCH: Final = "application/json-patch+json"


def _generation(obj: Mapping[str, Any]) -> int | None:
    generation = (obj.get("metadata") or {}).get("generation")
    return int(generation) if generation is not None else None


def _controller_of(obj: Mapping[str, Any], kind: str) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == kind:
            name: str = ref["name"]
            return name
    return None


class KubernetesActions:
    """The actions, bound to one API client; all methods are coroutines safe to retry."""

    def __init__(self, api_client: client.ApiClient, request_timeout: float = 10.0,
                 conflict_retries: int = 5) -> None:
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.autoscaling = client.AutoscalingV2Api(api_client)
        self.timeout = request_timeout
        self.conflict_retries = conflict_retries

    async def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Json:
        return await call(method, *args, timeout=self.timeout, **kwargs)

    async def _deployment(self, namespace: str, name: str) -> Json:
        return await self._call(self.apps.read_namespaced_deployment, name, namespace)

    async def _patch_deployment(self, namespace: str, name: str, body: Any,
                                content_type: str) -> Json:
        return await self._call(self.apps.patch_namespaced_deployment, name, namespace, body,
                                _content_type=content_type)

    async def _run(self, kind: ActionName, target: str, token: str,
                   attempt: Callable[[], Awaitable[ActionResult]]) -> ActionResult:
        """Run ``attempt``, again on conflicts; turn every API failure into an ActionError."""
        if not token:
            raise ActionError("invalid", f"{kind} of {target}: an action needs a non-empty token")
        what = f"{kind} of {target}"
        for _ in range(self.conflict_retries):
            try:
                return await attempt()
            except KubernetesError as e:
                if e.kind != "conflict":
                    raise ActionError(e.kind, f"{what} failed: {e.message}") from e
        raise ActionError("conflict", f"{what} failed: the object kept changing during "
                          f"{self.conflict_retries} attempts; try again")

    def _already(self, kind: ActionName, target: str, token: str,
                 deployment: Mapping[str, Any]) -> ActionResult:
        return ActionResult(kind, target, token, _generation(deployment),
                            f"token {token} already on {target}: the action ran before",
                            already_applied=True)

    # -- restart ----------------------------------------------------------------------------

    async def restart_rollout(self, namespace: str, name: str, token: str) -> ActionResult:
        """``kubectl rollout restart``: a new pod template annotation rolls every pod."""
        target = f"deployment {namespace}/{name}"

        async def attempt() -> ActionResult:
            deployment = await self._deployment(namespace, name)
            if action_applied(deployment, token):
                return self._already("rollout-restart", target, token, deployment)
            if deployment["spec"].get("paused"):
                raise ActionError("invalid", f"cannot restart paused {target}; resume it first")
            at = rfc3339_now()
            patched = await self._patch_deployment(
                namespace, name, restart_patch(deployment, token, at), STRATEGIC)
            return ActionResult("rollout-restart", target, token, _generation(patched),
                                f"restarted {target} (restartedAt {at})")

        return await self._run("rollout-restart", target, token, attempt)

    async def delete_pod(self, namespace: str, pod_name: str, token: str,
                         deployment: str | None = None) -> ActionResult:
        """Delete one pod of a Deployment; its ReplicaSet replaces it.

        The Deployment (``deployment``, or found through the pod's owners) is stamped with
        the token first, then the pod is deleted on the condition that it is still the same
        pod (UID). If the pod is gone and the token is on the Deployment, the action ran.
        """
        target = f"pod {namespace}/{pod_name}"

        async def attempt() -> ActionResult:
            try:
                pod: Json | None = await self._call(self.core.read_namespaced_pod, pod_name,
                                                    namespace)
            except KubernetesError as e:
                if e.kind != "not-found" or deployment is None:
                    raise
                pod = None
            owner = deployment or await self._deployment_of(namespace, pod or {})
            d = await self._deployment(namespace, owner)
            if pod is None:
                if action_applied(d, token):
                    return self._already("delete-pod", target, token, d)
                raise ActionError("not-found", f"{target} not found; nothing to delete")
            if not self._belongs(pod, d):
                raise ActionError("invalid", f"{target} does not belong to deployment "
                                  f"{namespace}/{owner}")
            if not action_applied(d, token):
                d = await self._patch_deployment(namespace, owner, token_patch(token), MERGE)
            uid = pod["metadata"]["uid"]
            try:
                await self._call(self.core.delete_namespaced_pod, pod_name, namespace,
                                 body=client.V1DeleteOptions(
                                     preconditions=client.V1Preconditions(uid=uid)))
            except KubernetesError as e:
                if e.kind != "not-found":
                    raise
                return self._already("delete-pod", target, token, d)
            return ActionResult("delete-pod", target, token, _generation(d),
                                f"deleted {target} of deployment {namespace}/{owner}")

        return await self._run("delete-pod", target, token, attempt)

    async def _deployment_of(self, namespace: str, pod: Mapping[str, Any]) -> str:
        name = (pod.get("metadata") or {}).get("name")
        replica_set = _controller_of(pod, "ReplicaSet")
        if replica_set is None:
            raise ActionError("invalid", f"pod {namespace}/{name} has no ReplicaSet owner")
        rs = await self._call(self.apps.read_namespaced_replica_set, replica_set, namespace)
        owner = _controller_of(rs, "Deployment")
        if owner is None:
            raise ActionError("invalid", f"pod {namespace}/{name} belongs to no Deployment")
        return owner

    @staticmethod
    def _belongs(pod: Mapping[str, Any], deployment: Mapping[str, Any]) -> bool:
        selector = LabelSelector.model_validate(deployment["spec"]["selector"])
        return selector.matches((pod.get("metadata") or {}).get("labels") or {})

    # -- scale ------------------------------------------------------------------------------

    async def scale(self, namespace: str, name: str, replicas: int, token: str) -> ActionResult:
        """Set the Deployment's replicas, or the floor of the HPA that scales it.

        With an autoscaling/v2 HorizontalPodAutoscaler on the Deployment, writing
        ``spec.replicas`` would be undone by the HPA; its ``minReplicas`` is raised instead
        (and ``maxReplicas`` if it is lower), and the HPA controller scales the Deployment.
        The caller bounds ``replicas`` (the Runbook's scale bounds).
        """
        target = f"deployment {namespace}/{name}"
        if replicas < 0:
            raise ActionError("invalid", f"scale of {target}: replicas must be >= 0, "
                              f"got {replicas}")

        async def attempt() -> ActionResult:
            deployment = await self._deployment(namespace, name)
            if action_applied(deployment, token):
                return self._already("scale", target, token, deployment)
            hpas = await self._call(self.autoscaling.list_namespaced_horizontal_pod_autoscaler,
                                    namespace)
            hpa = hpa_targeting(hpas.get("items", []), name)
            if hpa is None:
                before = deployment["spec"].get("replicas")
                patched = await self._patch_deployment(
                    namespace, name, scale_patch(deployment, replicas, token), MERGE)
                return ActionResult("scale", target, token, _generation(patched),
                                    f"scaled {target} from {before} to {replicas} replicas")
            hpa_name = hpa["metadata"]["name"]
            before = hpa["spec"].get("minReplicas", 1)
            await self._call(self.autoscaling.patch_namespaced_horizontal_pod_autoscaler,
                             hpa_name, namespace, hpa_scale_patch(hpa, replicas, token),
                             _content_type=MERGE)
            # The token goes on the Deployment last: it is there only once the HPA changed.
            patched = await self._patch_deployment(namespace, name, token_patch(token), MERGE)
            return ActionResult(
                "scale", target, token, _generation(patched),
                f"raised minReplicas of HPA {namespace}/{hpa_name} from {before} to "
                f"{replicas}; the HPA scales {target}")

        return await self._run("scale", target, token, attempt)

    # -- rollback ---------------------------------------------------------------------------

    async def rollback_to_previous_revision(self, namespace: str, name: str,
                                            token: str) -> ActionResult:
        """``kubectl rollout undo``: the pod template of the revision before the current one.

        The Deployment controller then gives that ReplicaSet a new, highest revision number.
        """
        target = f"deployment {namespace}/{name}"

        async def attempt() -> ActionResult:
            deployment = await self._deployment(namespace, name)
            if action_applied(deployment, token):
                return self._already("rollback", target, token, deployment)
            if deployment["spec"].get("paused"):
                raise ActionError("invalid", f"cannot roll back paused {target}; resume it first")
            body = await self._call(self.apps.list_namespaced_replica_set, namespace,
                                    label_selector=selector_query(deployment["spec"]["selector"]))
            replica_sets = [rs for rs in body.get("items", []) if owned_by(rs, deployment)]
            previous = previous_revision(deployment, replica_sets)
            if previous is None:
                current = current_revision(deployment, replica_sets)
                raise ActionError("no-previous-revision", f"cannot roll back {target}: " + (
                    f"it has no revision before revision {current}" if current is not None
                    else "it has no revisions yet"))
            patched = await self._patch_deployment(
                namespace, name, rollback_patch(deployment, previous, token), JSON_PATCH)
            return ActionResult(
                "rollback", target, token, _generation(patched),
                f"rolled back {target} to revision {revision_number(previous)} "
                f"(ReplicaSet {previous['metadata']['name']})")

        return await self._run("rollback", target, token, attempt)
