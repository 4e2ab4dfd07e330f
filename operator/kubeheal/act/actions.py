"""Remediation actions on Deployments through the Kubernetes API, each settled by token.

Each action is one mutating request, so that the API server's audit log shows exactly what
ran. It reads its target, returns at once if the intent token is already there (the action
ran before), compares what it read with the identity the action was decided for (the pins:
UID, pod template, revision, replicas or the HPA's minReplicas) and refuses with reason
``target-changed`` when they differ, and otherwise changes the target with a write that also
stamps the token. The write is conditioned on the ``resourceVersion`` that was read: it fails
with a conflict when the object changed meanwhile (the Deployment controller writes its status
all the time), and the action then reads again, compares the pins again, and retries a few
times.

An answer that leaves the outcome open (a timeout, a 5xx, a dropped connection) is never
guessed: the target is read back and the token decides. Failures leave as one
:class:`~kubeheal.act.intent.ActionError`; :attr:`~kubeheal.act.intent.ActionError.retryable`
says whether the same intent may be tried again (nothing ran, or the outcome is still open
and the token will settle it) or the action failed for good.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from kubernetes import client

from kubeheal.act.intent import ActionError, ActionName, ActionResult, action_applied
from kubeheal.act.patches import (
    container_memory,
    hpa_scale_patch,
    hpa_targeting,
    resize_patch,
    restart_patch,
    revision_replica_set,
    rfc3339_now,
    rollback_patch,
    rolling_restart_floor,
    scale_patch,
)
from kubeheal.act.pins import pin, pin_changes
from kubeheal.act.statefulsets import (
    is_statefulset,
    revision_numbered,
    statefulset_restart_floor,
)
from kubeheal.act.statefulsets import rollback_patch as statefulset_rollback_patch
from kubeheal.api.base import LabelSelector
from kubeheal.api.remediation import PinnedTarget
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
READS: Final = ("read_", "list_", "get_")


def _generation(obj: Mapping[str, Any]) -> int | None:
    generation = (obj.get("metadata") or {}).get("generation")
    return int(generation) if generation is not None else None


def _ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def eviction_floor(deployment: Mapping[str, Any], pod: Mapping[str, Any],
                   min_available: int) -> str:
    """Why evicting ``pod`` would leave fewer than ``min_available`` ready pods of
    ``deployment``, or '' when it would not.

    >>> d = {"status": {"readyReplicas": 2}}
    >>> ready = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    >>> eviction_floor(d, ready, 1), eviction_floor(d, {}, 2)
    ('', '')
    >>> eviction_floor(d, ready, 2)
    'it would leave 1 ready pods, below the availability floor of 2'
    """
    ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
    after = ready - (1 if _ready(pod) else 0)
    if after >= min_available:
        return ""
    return f"it would leave {after} ready pods, below the availability floor of {min_available}"


class KubernetesActions:
    """The actions, bound to one API client; all methods are coroutines safe to retry."""

    def __init__(self, api_client: client.ApiClient, request_timeout: float = 10.0,
                 conflict_retries: int = 5, fence: Callable[[], None] | None = None) -> None:
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.autoscaling = client.AutoscalingV2Api(api_client)
        self.timeout = request_timeout
        self.conflict_retries = conflict_retries
        self.fence = fence  # raises unless this process may write (it holds the lease)

    async def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Json:
        """One request; every one but a read passes the fence right before it is sent."""
        fence = None if method.__name__.startswith(READS) else self.fence
        return await call(method, *args, timeout=self.timeout, fence=fence, **kwargs)

    async def _deployment(self, namespace: str, name: str, kind: str = "Deployment") -> Json:
        """The workload (a Deployment unless ``kind`` says StatefulSet), read now."""
        read = (self.apps.read_namespaced_stateful_set if kind == "StatefulSet"
                else self.apps.read_namespaced_deployment)
        return await self._call(read, name, namespace)

    async def _patch_deployment(self, namespace: str, name: str, body: Any,
                                content_type: str, kind: str = "Deployment") -> Json:
        patch = (self.apps.patch_namespaced_stateful_set if kind == "StatefulSet"
                 else self.apps.patch_namespaced_deployment)
        return await self._call(patch, name, namespace, body, _content_type=content_type)

    async def _revisions(self, workload: Mapping[str, Any]) -> list[Json]:
        """A StatefulSet's ControllerRevisions (its pins need them); nothing for a Deployment,
        whose revision is on the object itself."""
        if not is_statefulset(workload):
            return []
        body = await self._call(self.apps.list_namespaced_controller_revision,
                                workload["metadata"]["namespace"],
                                label_selector=selector_query(workload["spec"]["selector"]))
        return [r for r in body.get("items", []) if owned_by(r, workload)]

    async def _run(self, kind: ActionName, target: str, token: str,
                   attempt: Callable[[], Awaitable[ActionResult]],
                   read_back: Callable[[], Awaitable[bool]]) -> ActionResult:
        """Run ``attempt``, again on conflicts; turn every API failure into an ActionError.

        When the answer leaves the outcome open, ``read_back`` (whether the token is on the
        target now) settles it: applied is success, absent is a retryable failure.
        """
        if not token:
            raise ActionError("invalid", f"{kind} of {target}: an action needs a non-empty token")
        what = f"{kind} of {target}"
        for _ in range(self.conflict_retries):
            try:
                return await attempt()
            except KubernetesError as e:
                if e.kind == "conflict":
                    continue
                if e.kind != "unavailable":
                    raise ActionError(e.kind, f"{what} failed: {e.message}") from e
                return await self._settle(kind, target, token, e, read_back)
        raise ActionError("conflict", f"{what} failed: the object kept changing during "
                          f"{self.conflict_retries} attempts; try again")

    async def _settle(self, kind: ActionName, target: str, token: str, error: KubernetesError,
                      read_back: Callable[[], Awaitable[bool]]) -> ActionResult:
        what = f"{kind} of {target}"
        try:
            applied = await read_back()
        except KubernetesError as e:
            raise ActionError("ambiguous", f"{what}: outcome unknown ({error.message}; reading "
                              f"the target back failed too: {e.message}); the same intent "
                              "settles it later") from e
        if applied:
            return ActionResult(kind, target, token, None,
                                f"{what}: applied (token {token} read back after: "
                                f"{error.message})")
        raise ActionError("unavailable", f"{what}: not applied (token {token} absent after: "
                          f"{error.message}); the same intent may be tried again") from error

    def _already(self, kind: ActionName, target: str, token: str,
                 obj: Mapping[str, Any]) -> ActionResult:
        return ActionResult(kind, target, token, _generation(obj),
                            f"token {token} already on {target}: the action ran before",
                            already_applied=True)

    async def _token_on_deployment(self, namespace: str, name: str, token: str,
                                   kind: str = "Deployment") -> bool:
        return action_applied(await self._deployment(namespace, name, kind), token)

    async def _hpa(self, namespace: str, name: str,
                   kind: str = "Deployment") -> Mapping[str, Any] | None:
        hpas = await self._call(self.autoscaling.list_namespaced_horizontal_pod_autoscaler,
                                namespace)
        return hpa_targeting(hpas.get("items", []), name, kind)

    async def _same_target(self, kind: ActionName, target: str, pins: PinnedTarget,
                           deployment: Mapping[str, Any], hpa: Mapping[str, Any] | None) -> None:
        """Refuse (``target-changed``) unless the target read is the one decided for."""
        changed = pin_changes(pins, pin(deployment, await self._revisions(deployment), hpa=hpa))
        if changed:
            raise ActionError("target-changed", f"{kind} of {target} refused: the target "
                              f"changed since the decision ({changed}); nothing was changed")

    # -- restart ----------------------------------------------------------------------------

    async def _rolling_update(
            self, kind: ActionName, verb: str, namespace: str, name: str, token: str, *,
            min_available: int, pins: PinnedTarget,
            change: Callable[[Json, str], tuple[Json, str]],
            workload: str = "Deployment") -> ActionResult:
        """A change of the pod template, which the workload (a Deployment, or a StatefulSet)
        rolls out, in one strategic merge patch: ``change(deployment, why)`` gives the patch
        and what it did, ``why`` being how many pods the workload's own strategy keeps
        available. Only while that strategy keeps ``min_available`` (see
        :func:`~kubeheal.act.patches.rolling_restart_floor`, and
        :func:`~kubeheal.act.statefulsets.statefulset_restart_floor`: a StatefulSet whose
        ``updateStrategy`` or partition would keep pods from restarting is refused);
        otherwise nothing is changed and the error (reason ``unsafe``) says why."""
        target = f"{workload.lower()} {namespace}/{name}"

        async def attempt() -> ActionResult:
            deployment = await self._deployment(namespace, name, workload)
            if action_applied(deployment, token):
                return self._already(kind, target, token, deployment)
            await self._same_target(kind, target, pins, deployment,
                                    await self._hpa(namespace, name, workload))
            if deployment["spec"].get("paused"):
                raise ActionError("invalid", f"cannot {verb} paused {target}; resume it first")
            floor, why = (statefulset_restart_floor(deployment) if workload == "StatefulSet"
                          else rolling_restart_floor(deployment))
            if floor is None or floor < min_available:
                raise ActionError("unsafe", f"{verb} of {target} refused: {why}, below the "
                                  f"availability floor of {min_available}")
            body, done = change(deployment, why)
            patched = await self._patch_deployment(namespace, name, body, STRATEGIC, workload)
            return ActionResult(kind, target, token, _generation(patched), done)

        return await self._run(kind, target, token, attempt,
                               lambda: self._token_on_deployment(namespace, name, token,
                                                                 workload))

    async def restart_rollout(self, namespace: str, name: str, token: str, *,
                              min_available: int, pins: PinnedTarget,
                              kind: str = "Deployment") -> ActionResult:
        """``kubectl rollout restart``: a new pod template annotation rolls every pod of the
        Deployment (or StatefulSet, by ``kind``), as a rolling update that keeps
        ``min_available`` pods available (see :meth:`_rolling_update`)."""

        def change(deployment: Json, why: str) -> tuple[Json, str]:
            at = rfc3339_now()
            return (restart_patch(deployment, token, at),
                    f"restarted {kind.lower()} {namespace}/{name} (restartedAt {at}; {why})")

        return await self._rolling_update("rollout-restart", "restart", namespace, name, token,
                                          min_available=min_available, pins=pins,
                                          change=change, workload=kind)

    async def evict_pod(self, namespace: str, pod_name: str, token: str, deployment: str, *,
                        min_available: int, pins: PinnedTarget,
                        kind: str = "Deployment") -> ActionResult:
        """Evict one pod of ``deployment`` (a workload of ``kind``) through the Eviction API;
        its ReplicaSet (or StatefulSet) replaces it.

        The eviction keeps at least ``min_available`` ready pods (reason ``below-floor``, to be
        tried again later, when it would not), and PodDisruptionBudgets hold: an eviction they
        forbid (HTTP 429) is an error with reason ``blocked-by-pdb``, to be tried again
        later, never forced. The pod was chosen and
        recorded in the intent before this call, so the outcome is settled by that pod
        alone: once it is gone, the action has done its work and is not repeated on another
        pod. The eviction is conditioned on the pod's UID and resourceVersion, so a pod of the
        same name, or one that changed since it was read, is safe.
        """
        target = f"pod {namespace}/{pod_name}"
        gone = ActionResult("evict-pod", target, token, None,
                            f"{target} is gone already: evicted before, or replaced",
                            already_applied=True)

        async def pod_now() -> Json | None:
            try:
                return await self._call(self.core.read_namespaced_pod, pod_name, namespace)
            except KubernetesError as e:
                if e.kind == "not-found":
                    return None
                raise

        async def attempt() -> ActionResult:
            pod = await pod_now()
            if pod is None or pod["metadata"].get("deletionTimestamp"):
                return gone
            owner = await self._deployment(namespace, deployment, kind)
            await self._same_target("evict-pod", f"{kind.lower()} {namespace}/{deployment}",
                                    pins, owner, await self._hpa(namespace, deployment, kind))
            if not self._belongs(pod, owner):
                raise ActionError("invalid", f"{target} does not belong to {kind.lower()} "
                                  f"{namespace}/{deployment}")
            below = eviction_floor(owner, pod, min_available)
            if below:
                raise ActionError("below-floor", f"eviction of {target} refused: {below}; it "
                                  "is tried again later")
            if not await self._evict(pod, target):
                return gone
            return ActionResult("evict-pod", target, token, _generation(owner),
                                f"evicted {target} of {kind.lower()} {namespace}/{deployment}")

        async def evicted() -> bool:
            pod = await pod_now()
            return pod is None or bool(pod["metadata"].get("deletionTimestamp"))

        return await self._run("evict-pod", target, token, attempt, evicted)

    async def _evict(self, pod: Mapping[str, Any], target: str) -> bool:
        """Evict ``pod`` as read (conditioned on its UID and resourceVersion); False when it
        is gone already. A PodDisruptionBudget's refusal (HTTP 429) is ``blocked-by-pdb``."""
        meta = pod["metadata"]
        eviction = client.V1Eviction(
            metadata=client.V1ObjectMeta(name=meta["name"], namespace=meta["namespace"]),
            delete_options=client.V1DeleteOptions(preconditions=client.V1Preconditions(
                uid=meta["uid"], resource_version=meta["resourceVersion"])))
        try:
            await self._call(self.core.create_namespaced_pod_eviction, meta["name"],
                             meta["namespace"], eviction)
        except KubernetesError as e:
            if e.status == 429:
                raise ActionError("blocked-by-pdb", f"eviction of {target} refused by a "
                                  f"PodDisruptionBudget: {e.message}; it is tried again "
                                  "later, never forced") from e
            if e.kind == "not-found":
                return False
            raise
        return True

    @staticmethod
    def _belongs(pod: Mapping[str, Any], deployment: Mapping[str, Any]) -> bool:
        selector = LabelSelector.model_validate(deployment["spec"]["selector"])
        return selector.matches((pod.get("metadata") or {}).get("labels") or {})

    # -- scale ------------------------------------------------------------------------------

    async def scale(self, namespace: str, name: str, replicas: int, token: str, *,
                    pins: PinnedTarget, down: bool = False,
                    kind: str = "Deployment") -> ActionResult:
        """Raise the Deployment's replicas, or the floor of the HPA that scales it.

        With an autoscaling/v2 HorizontalPodAutoscaler on the Deployment, writing
        ``spec.replicas`` would be undone by the HPA; its ``minReplicas`` is raised instead
        (and ``maxReplicas`` if it is lower), with the token on the HPA, and the HPA
        controller scales the Deployment. The caller bounds ``replicas`` (the Runbook's
        scale bounds). A scale never lowers anything: with the replicas (or the HPA's floor)
        already at ``replicas`` or more, it is refused. A scale-back (``down``) is the mirror:
        it only lowers them to the decided ``replicas`` (the count before the scale-out), and
        never raises them. A StatefulSet (``kind``) is scaled the same way; its controller adds
        or removes pods one ordinal at a time.
        """
        target = f"{kind.lower()} {namespace}/{name}"
        if replicas < 0:
            raise ActionError("invalid", f"scale of {target}: replicas must be >= 0, "
                              f"got {replicas}")

        def never_lower(what: str, now: int) -> None:
            if down and now <= replicas:
                raise ActionError("invalid", f"scale-back of {target} refused: {what} is {now} "
                                  f"already, not above the decided {replicas}; a scale-back "
                                  "never raises it")
            if not down and now >= replicas:
                raise ActionError("invalid", f"scale of {target} refused: {what} is {now} "
                                  f"already, not below the decided {replicas}; a scale never "
                                  "lowers it")

        async def attempt() -> ActionResult:
            deployment = await self._deployment(namespace, name, kind)
            if action_applied(deployment, token):
                return self._already("scale", target, token, deployment)
            hpa = await self._hpa(namespace, name, kind)
            if hpa is not None and action_applied(hpa, token):
                hpa_name = hpa["metadata"]["name"]
                return self._already("scale", f"HPA {namespace}/{hpa_name}", token, hpa)
            await self._same_target("scale", target, pins, deployment, hpa)
            if hpa is None:
                before = int(deployment["spec"].get("replicas", 1))
                never_lower("spec.replicas", before)
                patched = await self._patch_deployment(
                    namespace, name, scale_patch(deployment, replicas, token), MERGE, kind)
                return ActionResult("scale", target, token, _generation(patched),
                                    f"scaled {target} from {before} to {replicas} replicas")
            hpa_name = hpa["metadata"]["name"]
            before = int(hpa["spec"].get("minReplicas", 1))
            never_lower(f"minReplicas of HPA {namespace}/{hpa_name}", before)
            patched = await self._call(
                self.autoscaling.patch_namespaced_horizontal_pod_autoscaler, hpa_name,
                namespace, hpa_scale_patch(hpa, replicas, token), _content_type=MERGE)
            return ActionResult(
                "scale", target, token, _generation(patched),
                f"{'lowered' if down else 'raised'} minReplicas of HPA {namespace}/{hpa_name} "
                f"from {before} to "
                f"{replicas}; the HPA scales {target}")

        async def read_back() -> bool:
            if await self._token_on_deployment(namespace, name, token, kind):
                return True
            hpa = await self._hpa(namespace, name, kind)
            return hpa is not None and action_applied(hpa, token)

        return await self._run("scale", target, token, attempt, read_back)

    # -- resize ---------------------------------------------------------------------------

    async def resize_memory(self, namespace: str, name: str, container: str, limit: str,
                            request: str | None, token: str, *, min_available: int,
                            pins: PinnedTarget) -> ActionResult:
        """Raise ``container``'s memory limit (and request) in the pod template to the values
        that were decided, as a rolling update that keeps ``min_available`` pods available
        (see :meth:`_rolling_update`).

        The pins include the pod template, so the limit raised is the one the decision saw:
        never raised twice, never from a value someone else wrote meanwhile.
        """

        def change(deployment: Json, why: str) -> tuple[Json, str]:
            try:
                before, _ = container_memory(deployment, container)
            except LookupError as e:
                raise ActionError("invalid", f"resize of deployment {namespace}/{name} "
                                  f"refused: {e}") from e
            return (resize_patch(deployment, container, limit, request, token),
                    f"raised the memory limit of container {container} of deployment "
                    f"{namespace}/{name} from {before} to {limit}"
                    + (f" (request {request})" if request else "") + f"; {why}")

        return await self._rolling_update("resize", "resize", namespace, name, token,
                                          min_available=min_available, pins=pins,
                                          change=change)

    # -- rollback ---------------------------------------------------------------------------

    async def rollback_to_revision(self, namespace: str, name: str, revision: int,
                                   token: str, *, pins: PinnedTarget) -> ActionResult:
        """``kubectl rollout undo --to-revision``: the pod template of revision ``revision``,
        the one that was decided (and approved), never one recomputed now, and only from the
        revision that was decided on: a newer rollout (by a human, say) is never undone.

        The Deployment controller then gives that ReplicaSet a new, highest revision number.
        """
        target = f"deployment {namespace}/{name}"

        async def attempt() -> ActionResult:
            deployment = await self._deployment(namespace, name)
            if action_applied(deployment, token):
                return self._already("rollback", target, token, deployment)
            await self._same_target("rollback", target, pins, deployment,
                              await self._hpa(namespace, name))
            if deployment["spec"].get("paused"):
                raise ActionError("invalid", f"cannot roll back paused {target}; resume it first")
            if revision_number(deployment) == revision:
                raise ActionError("invalid", f"cannot roll back {target} to revision "
                                  f"{revision}: it is the current revision")
            body = await self._call(self.apps.list_namespaced_replica_set, namespace,
                                    label_selector=selector_query(deployment["spec"]["selector"]))
            replica_sets = [rs for rs in body.get("items", []) if owned_by(rs, deployment)]
            chosen = revision_replica_set(deployment, replica_sets, revision)
            if chosen is None:
                raise ActionError("no-previous-revision", f"cannot roll back {target}: "
                                  f"revision {revision} no longer exists")
            patched = await self._patch_deployment(
                namespace, name, rollback_patch(deployment, chosen, token), JSON_PATCH)
            return ActionResult(
                "rollback", target, token, _generation(patched),
                f"rolled back {target} to revision {revision} "
                f"(ReplicaSet {chosen['metadata']['name']})")

        return await self._run("rollback", target, token, attempt,
                               lambda: self._token_on_deployment(namespace, name, token))

    async def rollback_statefulset(self, namespace: str, name: str, revision: int, token: str,
                                   *, pins: PinnedTarget, stuck_pod: str = "",
                                   stuck_uid: str = "") -> ActionResult:
        """``kubectl rollout undo statefulset --to-revision``: the pod template of the decided
        ControllerRevision, only from the revision that was decided on; then, when the
        decision recorded a pod of the bad revision stuck not Ready (``stuck_pod`` with its
        ``stuck_uid``), that pod is evicted, so that an OrderedReady StatefulSet, which waits
        for it forever (kubernetes/kubernetes#67250), recreates it at the good revision.

        Both steps are settled on their own, so the action may be called again after a crash
        anywhere: the template step by the token on the StatefulSet, the eviction by the
        recorded pod's UID being gone (its replacement has the same name and another UID).
        """
        target = f"statefulset {namespace}/{name}"

        async def template() -> ActionResult:
            statefulset = await self._deployment(namespace, name, "StatefulSet")
            if action_applied(statefulset, token):
                return self._already("rollback", target, token, statefulset)
            revisions = await self._revisions(statefulset)
            changed = pin_changes(pins, pin(statefulset, revisions,
                                            hpa=await self._hpa(namespace, name, "StatefulSet")))
            if changed:
                raise ActionError("target-changed", f"rollback of {target} refused: the target "
                                  f"changed since the decision ({changed}); nothing was changed")
            if pins.revision == revision:
                raise ActionError("invalid", f"cannot roll back {target} to revision "
                                  f"{revision}: it is the current revision")
            chosen = revision_numbered(statefulset, revisions, revision)
            if chosen is None:
                raise ActionError("no-previous-revision", f"cannot roll back {target}: "
                                  f"revision {revision} no longer exists")
            patched = await self._patch_deployment(
                namespace, name, statefulset_rollback_patch(statefulset, chosen, token),
                JSON_PATCH, "StatefulSet")
            return ActionResult(
                "rollback", target, token, _generation(patched),
                f"rolled back {target} to revision {revision} "
                f"(ControllerRevision {chosen['metadata']['name']})")

        done = await self._run("rollback", target, token, template,
                               lambda: self._token_on_deployment(namespace, name, token,
                                                                 "StatefulSet"))
        if not stuck_pod:
            return done
        freed = await self._free_stuck_pod(namespace, stuck_pod, stuck_uid, token)
        return ActionResult("rollback", target, token, done.generation_after,
                            f"{done.message}; {freed}", already_applied=done.already_applied)

    async def _free_stuck_pod(self, namespace: str, pod_name: str, uid: str,
                              token: str) -> str:
        """Evict the recorded stuck pod, if it is still that pod (by UID) and not going."""
        target = f"pod {namespace}/{pod_name}"

        async def pod_now() -> Json | None:
            try:
                pod = await self._call(self.core.read_namespaced_pod, pod_name, namespace)
            except KubernetesError as e:
                if e.kind == "not-found":
                    return None
                raise
            same = pod["metadata"].get("uid") == uid and not pod["metadata"].get(
                "deletionTimestamp")
            return pod if same else None

        async def attempt() -> ActionResult:
            pod = await pod_now()
            if pod is None:
                return ActionResult("evict-pod", target, token, None,
                                    f"stuck {target} is gone already", already_applied=True)
            if not await self._evict(pod, f"stuck {target}"):
                return ActionResult("evict-pod", target, token, None,
                                    f"stuck {target} is gone already", already_applied=True)
            return ActionResult("evict-pod", target, token, None,
                                f"evicted stuck {target} so that it is recreated at the "
                                "good revision")

        async def gone() -> bool:
            return await pod_now() is None

        return (await self._run("evict-pod", target, token, attempt, gone)).message
