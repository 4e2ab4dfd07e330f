"""Readers of the Kubernetes API: Deployments, their rollout history, their pods' health.

The official ``kubernetes`` client is synchronous; every call here runs in a worker thread
(:func:`call`) so that the operator's event loop never blocks. Objects come back as the
API's own JSON (camelCase dicts), exactly what ``kubectl get -o json`` shows, and the facts
the loop needs are extracted by pure functions (:func:`revisions`, :func:`pod_health`,
:func:`pod_event`) that the unit tests exercise without a cluster.

Failures become :class:`KubernetesError` with a kind (``not-found``, ``forbidden``,
``conflict``, ``invalid``, ``unavailable``) and the API server's own message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from kubeheal.api.base import LabelSelector

REVISION_ANNOTATION: Final = "deployment.kubernetes.io/revision"
CHANGE_CAUSE_ANNOTATION: Final = "kubernetes.io/change-cause"
POD_TEMPLATE_HASH: Final = "pod-template-hash"
POD_EVENT_REASONS: Final = frozenset(
    {"OOMKilling", "OOMKilled", "BackOff", "Killing", "Unhealthy"}
)
"""Event reasons that tell of a pod in trouble (OOM kills, crash loops, failed probes)."""

Json = dict[str, Any]
_LONG_AGO: Final = datetime.min.replace(tzinfo=UTC)
KubernetesErrorKind = Literal["not-found", "forbidden", "conflict", "invalid", "unavailable"]


class KubernetesError(Exception):
    """A Kubernetes API call that failed, with the server's message and what it means."""

    def __init__(self, kind: KubernetesErrorKind, message: str, status: int | None = None):
        super().__init__(f"{kind}: {message}")
        self.kind: KubernetesErrorKind = kind
        self.message = message
        self.status = status


_KINDS: Final[Mapping[int, KubernetesErrorKind]] = {
    404: "not-found", 403: "forbidden", 401: "forbidden", 409: "conflict",
    400: "invalid", 422: "invalid",
}


def kubernetes_error(error: ApiException | urllib3.exceptions.HTTPError) -> KubernetesError:
    """The KubernetesError that a client exception means, with the API server's message.

    >>> e = ApiException(status=404, reason="Not Found")
    >>> e.body = '{"kind": "Status", "message": "deployments.apps \\\\"web\\\\" not found"}'
    >>> kubernetes_error(e)
    KubernetesError('not-found: deployments.apps "web" not found')
    """
    if isinstance(error, ApiException):
        status = int(error.status or 0)
        message = str(error.reason or "")
        with contextlib.suppress(ValueError, KeyError, TypeError):
            message = json.loads(error.body or "")["message"]
        return KubernetesError(_KINDS.get(status, "unavailable"), message or f"HTTP {status}",
                               status)
    return KubernetesError("unavailable", f"cannot reach the Kubernetes API: {error}")


def api_client_from_kubeconfig(path: str | Path, context: str | None = None) -> client.ApiClient:
    """An API client for the cluster that a kubeconfig file names."""
    return config.new_client_from_config(config_file=str(path), context=context,
                                         persist_config=False)


def in_cluster_api_client() -> client.ApiClient:
    """An API client with the pod's ServiceAccount, for the operator running in-cluster."""
    configuration = client.Configuration()
    config.load_incluster_config(client_configuration=configuration)
    return client.ApiClient(configuration)


async def call(method: Callable[..., Any], *args: Any, timeout: float = 10.0,
               fence: Callable[[], None] | None = None, **kwargs: Any) -> Json:
    """Run one client method in a thread and return the response body as JSON.

    The body is decoded from the raw response (``_preload_content=False``), which keeps the
    API's field names and skips the client's model deserialisation. ``fence``, when given,
    runs in that thread right before the request is sent (not when the call is queued for a
    worker thread, which may take a while on a busy process): it raises to send nothing.
    """

    def run() -> Json:
        if fence is not None:
            fence()
        try:
            response = method(*args, _preload_content=False, _request_timeout=timeout, **kwargs)
            body: Json = json.loads(response.data or b"{}")
            return body
        except (ApiException, urllib3.exceptions.HTTPError) as e:
            raise kubernetes_error(e) from e

    return await asyncio.to_thread(run)


def parse_time(text: str | None) -> datetime | None:
    """An RFC 3339 timestamp of the API as an aware datetime.

    >>> parse_time("2026-11-28T13:00:00Z")
    datetime.datetime(2026, 11, 28, 13, 0, tzinfo=datetime.timezone.utc)
    >>> parse_time(None) is None
    True
    """
    return None if not text else datetime.fromisoformat(text.replace("Z", "+00:00"))


def selector_query(selector: Mapping[str, Any]) -> str:
    """A Deployment's ``spec.selector`` as a ``labelSelector`` query string.

    >>> selector_query({"matchLabels": {"app": "shop"}})
    'app=shop'
    """
    return LabelSelector.model_validate(dict(selector)).as_query()


# -- rollout history ------------------------------------------------------------------------


@dataclass(frozen=True)
class Revision:
    """One revision of a Deployment: the ReplicaSet that holds its pod template."""

    number: int
    replica_set: str
    created: datetime | None
    pod_template_hash: str
    replicas: int
    ready_replicas: int
    change_cause: str = ""


def revision_number(obj: Mapping[str, Any]) -> int | None:
    """The revision annotation of a Deployment or ReplicaSet, if it has a valid one.

    >>> revision_number({"metadata": {"annotations": {REVISION_ANNOTATION: "3"}}})
    3
    >>> revision_number({"metadata": {}}) is None
    True
    """
    text = (obj.get("metadata", {}).get("annotations") or {}).get(REVISION_ANNOTATION)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def owned_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    """Whether ``owner`` is the controller of ``obj`` (by UID, as the controllers decide)."""
    uid = owner.get("metadata", {}).get("uid")
    return any(
        ref.get("uid") == uid and ref.get("controller", False)
        for ref in obj.get("metadata", {}).get("ownerReferences") or []
    )


def revisions(deployment: Mapping[str, Any],
              replica_sets: Iterable[Mapping[str, Any]]) -> list[Revision]:
    """The Deployment's revisions, oldest first, from the ReplicaSets it controls.

    >>> d = {"metadata": {"uid": "d1"}}
    >>> def rs(name, rev, uid="d1"):
    ...     return {"metadata": {"name": name, "annotations": {REVISION_ANNOTATION: rev},
    ...                          "ownerReferences": [{"uid": uid, "controller": True}],
    ...                          "labels": {POD_TEMPLATE_HASH: name[-1]}},
    ...             "spec": {"replicas": 1}, "status": {}}
    >>> [(r.number, r.replica_set) for r in revisions(d, [rs("w-b", "2"), rs("w-a", "1"),
    ...                                                   rs("x-c", "9", uid="other")])]
    [(1, 'w-a'), (2, 'w-b')]
    """
    result = []
    for rs in replica_sets:
        number = revision_number(rs)
        if number is None or not owned_by(rs, deployment):
            continue
        meta = rs.get("metadata", {})
        result.append(Revision(
            number=number,
            replica_set=meta.get("name", ""),
            created=parse_time(meta.get("creationTimestamp")),
            pod_template_hash=(meta.get("labels") or {}).get(POD_TEMPLATE_HASH, ""),
            replicas=int(rs.get("spec", {}).get("replicas") or 0),
            ready_replicas=int(rs.get("status", {}).get("readyReplicas") or 0),
            change_cause=(meta.get("annotations") or {}).get(CHANGE_CAUSE_ANNOTATION, ""),
        ))
    return sorted(result, key=lambda r: r.number)


# -- pod health -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PodHealth:
    """Restarts and the last termination of one pod, as its container statuses tell."""

    pod: str
    restarts: int
    last_termination_reason: str | None
    last_termination_time: datetime | None
    waiting_reason: str | None
    ready: bool
    phase: str


def pod_health(pod: Mapping[str, Any]) -> PodHealth:
    """The health of one pod from its status.

    >>> p = pod_health({"metadata": {"name": "web-1"}, "status": {"phase": "Running",
    ...     "conditions": [{"type": "Ready", "status": "False"}],
    ...     "containerStatuses": [{"restartCount": 3,
    ...         "state": {"waiting": {"reason": "CrashLoopBackOff"}},
    ...         "lastState": {"terminated": {"reason": "OOMKilled",
    ...                                      "finishedAt": "2026-11-28T13:00:00Z"}}}]}})
    >>> p.restarts, p.last_termination_reason, p.waiting_reason, p.ready
    (3, 'OOMKilled', 'CrashLoopBackOff', False)
    """
    status = pod.get("status") or {}
    containers = [*(status.get("initContainerStatuses") or []),
                  *(status.get("containerStatuses") or [])]
    restarts = sum(int(c.get("restartCount") or 0) for c in containers)
    terminations: list[tuple[datetime | None, str]] = []
    waiting = None
    for c in containers:
        for state in (c.get("state") or {}, c.get("lastState") or {}):
            terminated = state.get("terminated")
            if terminated and terminated.get("reason"):
                terminations.append((parse_time(terminated.get("finishedAt")),
                                     terminated["reason"]))
        waiting = waiting or ((c.get("state") or {}).get("waiting") or {}).get("reason")
    last = max(terminations, key=lambda t: t[0] or _LONG_AGO, default=(None, None))
    ready = any(cond.get("type") == "Ready" and cond.get("status") == "True"
                for cond in status.get("conditions") or [])
    return PodHealth(
        pod=pod.get("metadata", {}).get("name", ""),
        restarts=restarts,
        last_termination_reason=last[1],
        last_termination_time=last[0],
        waiting_reason=waiting,
        ready=ready,
        phase=status.get("phase", "Unknown"),
    )


@dataclass(frozen=True)
class PodEvent:
    """A Kubernetes Event about one pod."""

    pod: str
    reason: str
    message: str
    type: str
    count: int
    last_seen: datetime | None


def pod_event(event: Mapping[str, Any]) -> PodEvent:
    """A core/v1 Event as a PodEvent; the last time it was seen, whichever field has it.

    >>> e = pod_event({"involvedObject": {"kind": "Pod", "name": "web-1"}, "reason": "BackOff",
    ...                "message": "Back-off restarting", "type": "Warning", "count": 4,
    ...                "lastTimestamp": "2026-11-28T13:00:00Z"})
    >>> e.pod, e.reason, e.count, e.last_seen.minute
    ('web-1', 'BackOff', 4, 0)
    """
    series = event.get("series") or {}
    seen = (event.get("lastTimestamp") or series.get("lastObservedTime")
            or event.get("eventTime") or event.get("firstTimestamp")
            or event.get("metadata", {}).get("creationTimestamp"))
    return PodEvent(
        pod=(event.get("involvedObject") or {}).get("name", ""),
        reason=event.get("reason", ""),
        message=event.get("message", ""),
        type=event.get("type", ""),
        count=int(event.get("count") or series.get("count") or 1),
        last_seen=parse_time(seen),
    )


def pod_name_prefixes(revisions_: Sequence[Revision]) -> tuple[str, ...]:
    """Pods of a ReplicaSet are named ``<replica set>-<suffix>``; these prefixes find them."""
    return tuple(f"{r.replica_set}-" for r in revisions_)


# -- the reader -----------------------------------------------------------------------------


class KubernetesReader:
    """Async reads of Deployments, their ReplicaSets, pods and pod Events."""

    def __init__(self, api_client: client.ApiClient, request_timeout: float = 10.0) -> None:
        self.api_client = api_client
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.timeout = request_timeout

    async def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Json:
        return await call(method, *args, timeout=self.timeout, **kwargs)

    async def list_deployments(self, namespace: str, selector: str) -> list[Json]:
        """Deployments in ``namespace`` matching a label selector string, e.g. ``app=shop``."""
        body = await self._call(self.apps.list_namespaced_deployment, namespace,
                                label_selector=selector)
        items: list[Json] = body.get("items", [])
        return items

    async def get_deployment(self, namespace: str, name: str) -> Json:
        return await self._call(self.apps.read_namespaced_deployment, name, namespace)

    async def get_statefulset(self, namespace: str, name: str) -> Json:
        return await self._call(self.apps.read_namespaced_stateful_set, name, namespace)

    async def get_workload(self, kind: str, namespace: str, name: str) -> Json:
        """A Deployment or a StatefulSet, by ``kind``."""
        if kind == "StatefulSet":
            return await self.get_statefulset(namespace, name)
        return await self.get_deployment(namespace, name)

    async def controller_revisions(self, statefulset: Mapping[str, Any]) -> list[Json]:
        """The ControllerRevisions that ``statefulset`` controls, in no particular order."""
        meta = statefulset["metadata"]
        body = await self._call(
            self.apps.list_namespaced_controller_revision, meta["namespace"],
            label_selector=selector_query(statefulset["spec"]["selector"]),
        )
        return [cr for cr in body.get("items", []) if owned_by(cr, statefulset)]

    async def replica_sets(self, deployment: Mapping[str, Any]) -> list[Json]:
        """The ReplicaSets that ``deployment`` controls, in no particular order."""
        meta = deployment["metadata"]
        body = await self._call(
            self.apps.list_namespaced_replica_set, meta["namespace"],
            label_selector=selector_query(deployment["spec"]["selector"]),
        )
        return [rs for rs in body.get("items", []) if owned_by(rs, deployment)]

    async def rollout_history(self, namespace: str, name: str) -> list[Revision]:
        """The revisions of a Deployment, oldest first (``kubectl rollout history``)."""
        deployment = await self.get_deployment(namespace, name)
        return revisions(deployment, await self.replica_sets(deployment))

    async def pods(self, deployment: Mapping[str, Any]) -> list[Json]:
        """The pods that the Deployment's selector matches."""
        body = await self._call(
            self.core.list_namespaced_pod, deployment["metadata"]["namespace"],
            label_selector=selector_query(deployment["spec"]["selector"]),
        )
        items: list[Json] = body.get("items", [])
        return items

    async def pod_health(self, namespace: str, name: str) -> list[PodHealth]:
        """Restarts and last terminations of the Deployment's pods, by pod name."""
        deployment = await self.get_deployment(namespace, name)
        health = [pod_health(p) for p in await self.pods(deployment)]
        return sorted(health, key=lambda h: h.pod)

    async def pod_events(
        self,
        namespace: str,
        name: str,
        since: datetime | None = None,
        reasons: Iterable[str] = POD_EVENT_REASONS,
        kind: str = "Deployment",
    ) -> list[PodEvent]:
        """Events of the workload's pods (present or deleted) with these reasons, oldest first.

        Pods are recognised by name: ``<replica set>-<suffix>`` for each ReplicaSet a
        Deployment controls, ``<statefulset>-<ordinal>`` for a StatefulSet, so events of pods
        already replaced are still found.
        """
        if kind == "StatefulSet":
            prefixes: tuple[str, ...] = (f"{name}-",)
        else:
            deployment = await self.get_deployment(namespace, name)
            prefixes = pod_name_prefixes(revisions(deployment,
                                                   await self.replica_sets(deployment)))
        body = await self._call(self.core.list_namespaced_event, namespace,
                                field_selector="involvedObject.kind=Pod")
        wanted = frozenset(reasons)
        events = [pod_event(e) for e in body.get("items", [])]
        chosen = [
            e for e in events
            if e.reason in wanted and e.pod.startswith(prefixes) and prefixes
            and (kind != "StatefulSet" or e.pod[len(name) + 1:].isdigit())
            and (since is None or e.last_seen is None or e.last_seen >= since)
        ]
        return sorted(chosen, key=lambda e: e.last_seen or _LONG_AGO)
