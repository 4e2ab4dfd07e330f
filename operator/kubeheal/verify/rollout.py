"""Whether a Deployment's (or StatefulSet's) rollout finished, with ``kubectl rollout status``
semantics.

:func:`rollout_status` is pure: it reads one Deployment (or StatefulSet) object.
:func:`wait_for_rollout` polls a reader until the rollout completes, fails (its progress
deadline passed) or the caller's deadline passes; it never raises for a slow or failed
rollout, it says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from kubeheal.observe.kubernetes import KubernetesError

RolloutState = Literal["complete", "progressing", "failed", "timed-out"]


@dataclass(frozen=True)
class RolloutStatus:
    """Where a rollout stands, and the sentence ``kubectl rollout status`` would print."""

    state: RolloutState
    message: str

    @property
    def complete(self) -> bool:
        return self.state == "complete"


class DeploymentReader(Protocol):
    """What :func:`wait_for_rollout` needs; :class:`~kubeheal.observe.kubernetes.KubernetesReader`
    provides it."""

    async def get_deployment(self, namespace: str, name: str) -> dict[str, Any]: ...


def rollout_status(deployment: Mapping[str, Any]) -> RolloutStatus:
    """The rollout state of a Deployment object.

    >>> d = {"metadata": {"name": "web", "generation": 2},
    ...      "spec": {"replicas": 2},
    ...      "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2,
    ...                 "availableReplicas": 2}}
    >>> rollout_status(d).message
    'Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination'
    >>> d["status"]["replicas"] = 2
    >>> rollout_status(d)
    RolloutStatus(state='complete', message='deployment "web" successfully rolled out')
    """
    if deployment.get("kind") == "StatefulSet":
        return statefulset_rollout_status(deployment)
    meta, spec = deployment.get("metadata") or {}, deployment.get("spec") or {}
    status = deployment.get("status") or {}
    name = meta.get("name", "")
    if int(meta.get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return RolloutStatus("progressing", "Waiting for deployment spec update to be observed")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and \
                condition.get("reason") == "ProgressDeadlineExceeded":
            return RolloutStatus("failed", f'deployment "{name}" exceeded its progress deadline')
    wanted = int(spec["replicas"]) if spec.get("replicas") is not None else 1
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    waiting = f'Waiting for deployment "{name}" rollout to finish: '
    if updated < wanted:
        return RolloutStatus(
            "progressing", f"{waiting}{updated} out of {wanted} new replicas have been updated")
    if total > updated:
        return RolloutStatus(
            "progressing", f"{waiting}{total - updated} old replicas are pending termination")
    if available < updated:
        return RolloutStatus(
            "progressing", f"{waiting}{available} of {updated} updated replicas are available")
    return RolloutStatus("complete", f'deployment "{name}" successfully rolled out')


def statefulset_rollout_status(statefulset: Mapping[str, Any]) -> RolloutStatus:
    """The rollout state of a StatefulSet: its spec observed, every pod at the update
    revision (``status.currentRevision == status.updateRevision``) and Ready.

    A partition leaves the pods below it at the old revision on purpose: the rollout is then
    complete once the pods from the partition up are updated and every pod is Ready.

    >>> s = {"kind": "StatefulSet", "metadata": {"name": "db", "generation": 2},
    ...      "spec": {"replicas": 3},
    ...      "status": {"observedGeneration": 2, "replicas": 3, "readyReplicas": 2,
    ...                 "updatedReplicas": 2, "currentRevision": "db-a",
    ...                 "updateRevision": "db-b"}}
    >>> rollout_status(s).message
    'Waiting for statefulset "db" rollout to finish: 2 of 3 pods updated'
    >>> s["status"].update(updatedReplicas=3, currentRevision="db-b")
    >>> rollout_status(s).message
    'Waiting for statefulset "db" rollout to finish: 2 of 3 pods ready'
    >>> s["status"]["readyReplicas"] = 3
    >>> rollout_status(s)
    RolloutStatus(state='complete', message='statefulset "db" successfully rolled out')
    """
    meta, spec = statefulset.get("metadata") or {}, statefulset.get("spec") or {}
    status = statefulset.get("status") or {}
    name = meta.get("name", "")
    if int(meta.get("generation") or 0) > int(status.get("observedGeneration") or 0):
        return RolloutStatus("progressing", "Waiting for statefulset spec update to be observed")
    wanted = int(spec["replicas"]) if spec.get("replicas") is not None else 1
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    rolling = ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {})
    partition = int(rolling.get("partition") or 0)
    waiting = f'Waiting for statefulset "{name}" rollout to finish: '
    if partition > 0:
        if updated < wanted - partition:
            return RolloutStatus("progressing", f"{waiting}{updated} of {wanted - partition} "
                                 f"pods from partition {partition} up updated")
    elif status.get("updateRevision") != status.get("currentRevision") or updated < wanted:
        return RolloutStatus("progressing", f"{waiting}{updated} of {wanted} pods updated")
    if ready < wanted or int(status.get("replicas") or 0) != wanted:
        return RolloutStatus("progressing", f"{waiting}{ready} of {wanted} pods ready")
    return RolloutStatus("complete", f'statefulset "{name}" successfully rolled out')


def rollout_complete(deployment: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether the rollout is complete, and why not.

    >>> rollout_complete({"metadata": {"name": "web", "generation": 3},
    ...                   "status": {"observedGeneration": 2}})
    (False, 'Waiting for deployment spec update to be observed')
    """
    status = rollout_status(deployment)
    return status.complete, status.message


async def wait_for_rollout(
    reader: DeploymentReader,
    namespace: str,
    name: str,
    deadline_s: float,
    poll_s: float = 0.5,
) -> RolloutStatus:
    """Poll the Deployment until its rollout completes or fails, for at most ``deadline_s``.

    A read that fails for a passing reason (API unavailable, a conflict) is retried until the
    deadline; a Deployment that is gone or unreadable (not found, forbidden) fails at once.
    On the deadline the state is ``timed-out`` and the message is the last one seen.
    """
    deadline = time.monotonic() + deadline_s
    last = RolloutStatus("progressing", "no status read yet")
    while True:
        try:
            last = rollout_status(await reader.get_deployment(namespace, name))
        except KubernetesError as e:
            if e.kind in ("not-found", "forbidden"):
                return RolloutStatus("failed", f"deployment {namespace}/{name}: {e.message}")
            last = RolloutStatus("progressing", f"cannot read deployment: {e.message}")
        if last.state != "progressing":
            return last
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return RolloutStatus(
                "timed-out",
                f"rollout of deployment {namespace}/{name} not complete after "
                f"{deadline_s:g}s: {last.message}")
        await asyncio.sleep(min(poll_s, remaining))
