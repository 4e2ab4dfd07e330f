"""Reading and writing kubeheal's own objects through the API, immediately.

kopf applies a handler's patches when the handler returns; the remediation loop cannot wait
for that (an intent must be on record *before* the action runs), so it writes through
:class:`ObjectStore`, whose every call is one request that has landed when it returns. Its
Events too are posted by it, not queued in kopf's poster, so that every write passes the
leadership fence right before it is sent.
"""

from __future__ import annotations

import builtins
import datetime as dt
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client

from kubeheal.api.base import GROUP, VERSION, Condition, ConditionStatus
from kubeheal.observe.kubernetes import KubernetesError, call

log = logging.getLogger(__name__)

Json = dict[str, Any]

RUNBOOK_LABEL = "kubeheal.io/runbook"
TARGET_LABEL = "kubeheal.io/target"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rfc3339(moment: dt.datetime) -> str:
    """Kubernetes' time format, to the second.

    >>> rfc3339(dt.datetime(2026, 11, 28, 10, 0, 5, 123, tzinfo=dt.UTC))
    '2026-11-28T10:00:05Z'
    """
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> Json:
    """The JSON merge patch (RFC 7386) that turns ``old`` into ``new``: a key ``new`` lacks
    is removed (null), nested objects are patched the same way, anything else is replaced.

    A merge patch of ``new`` alone would keep what ``old`` has and ``new`` lacks: a later
    action's parameters would inherit an earlier one's, a new verification its predecessor's
    times.

    >>> merge_patch({"action": {"params": {"strategy": "rollout"}}, "intent": {"token": "t"}},
    ...             {"action": {"params": {"memoryLimit": "512Mi"}}})
    {'action': {'params': {'memoryLimit': '512Mi', 'strategy': None}}, 'intent': None}
    """
    patch: Json = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            nested = merge_patch(before, value)
            if nested:
                patch[key] = nested
        elif value != before:
            patch[key] = value
    patch.update((key, None) for key in old if key not in new)
    return patch


def set_condition(
    conditions: list[Condition], type_: str, status: bool | None, reason: str, message: str,
    generation: int | None = None, at: dt.datetime | None = None,
) -> list[Condition]:
    """The conditions with ``type_`` set; lastTransitionTime moves only when status changes.

    >>> c = set_condition([], "Ready", True, "Evaluating", "ok",
    ...                   at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    >>> c = set_condition(c, "Ready", True, "Evaluating", "still ok",
    ...                   at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC))
    >>> rfc3339(c[0].last_transition_time), c[0].message
    ('2026-01-01T00:00:00Z', 'still ok')
    """
    value = ConditionStatus.UNKNOWN if status is None else (
        ConditionStatus.TRUE if status else ConditionStatus.FALSE)
    old = next((c for c in conditions if c.type == type_), None)
    transition = old.last_transition_time if old and old.status is value else (at or now())
    new = Condition(type=type_, status=value, reason=reason, message=message[:32000],
                    last_transition_time=transition.replace(microsecond=0),
                    observed_generation=generation)
    return [c for c in conditions if c.type != type_] + [new]


def set_condition_json(conditions: list[Json], type_: str, status: bool | None, reason: str,
                       message: str, generation: int | None = None) -> list[Json]:
    """:func:`set_condition` on conditions as the API returns them."""
    models = [Condition.model_validate(c) for c in conditions]
    return [c.to_api() for c in set_condition(models, type_, status, reason, message,
                                              generation)]


class ObjectStore:
    """kubeheal's custom objects in the API server."""

    def __init__(self, api_client: client.ApiClient, timeout: float = 10.0,
                 fence: Callable[[], None] | None = None) -> None:
        self.objects = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.timeout = timeout
        self.fence = fence  # raises unless this process may write (it holds the lease)

    async def get(self, plural: str, namespace: str, name: str) -> Json:
        return await call(self.objects.get_namespaced_custom_object, GROUP, VERSION, namespace,
                          plural, name, timeout=self.timeout)

    async def list(self, plural: str, namespace: str, labels: Mapping[str, str] | None = None,
                   selector: str = "") -> list[Json]:
        """The objects whose labels equal ``labels`` and match ``selector`` (a label
        selector's text, such as ``kubeheal.io/acted-hour in (2026120205,2026120206)``)."""
        selector = ",".join([*(f"{k}={v}" for k, v in (labels or {}).items()),
                             *([selector] if selector else [])])
        result = await call(self.objects.list_namespaced_custom_object, GROUP, VERSION,
                            namespace, plural, label_selector=selector, timeout=self.timeout)
        items: list[Json] = result.get("items", [])
        return items

    async def list_all(self, plural: str, namespace: str | None, page: int = 500,
                       ) -> builtins.list[Json]:
        """Every object of a namespace (None: of every namespace), read in pages."""
        items: builtins.list[Json] = []
        token: str | None = None
        while True:
            options: dict[str, Any] = {"limit": page, **({"_continue": token} if token else {})}
            if namespace is None:
                result = await call(self.objects.list_cluster_custom_object, GROUP, VERSION,
                                    plural, timeout=self.timeout, **options)
            else:
                result = await call(self.objects.list_namespaced_custom_object, GROUP, VERSION,
                                    namespace, plural, timeout=self.timeout, **options)
            items += result.get("items", [])
            token = (result.get("metadata") or {}).get("continue")
            if not token:
                return items

    async def delete(self, plural: str, namespace: str, name: str, uid: str,
                     resource_version: str) -> None:
        """Delete the object only if it is still the one read (its uid), as it was read (its
        resourceVersion); else a ``conflict`` KubernetesError."""
        options = client.V1DeleteOptions(preconditions=client.V1Preconditions(
            uid=uid, resource_version=resource_version))
        await call(self.objects.delete_namespaced_custom_object, GROUP, VERSION, namespace,
                   plural, name, body=options, timeout=self.timeout, fence=self.fence)

    async def patch(self, plural: str, namespace: str, name: str, patch: Json) -> Json:
        """Merge ``patch`` into the object (not its status); a ``metadata.resourceVersion`` in
        it makes the write conditional (else a ``conflict`` KubernetesError)."""
        return await call(self.objects.patch_namespaced_custom_object, GROUP, VERSION,
                          namespace, plural, name, patch, timeout=self.timeout,
                          fence=self.fence)

    async def create(self, plural: str, namespace: str, body: Json) -> Json:
        return await call(self.objects.create_namespaced_custom_object, GROUP, VERSION,
                          namespace, plural, body, timeout=self.timeout, fence=self.fence)

    async def patch_status(self, plural: str, namespace: str, name: str, status: Json,
                           resource_version: str | None = None) -> Json:
        """Merge ``status`` into the object's status subresource; with ``resource_version``,
        only if the object is still at that version (else a ``conflict`` KubernetesError)."""
        patch: Json = {"status": status}
        if resource_version is not None:
            patch["metadata"] = {"resourceVersion": resource_version}
        return await call(self.objects.patch_namespaced_custom_object_status, GROUP, VERSION,
                          namespace, plural, name, patch, timeout=self.timeout,
                          fence=self.fence)

    async def post_event(self, body: Json, type_: str, reason: str, message: str) -> None:
        """A Kubernetes Event on ``body`` (a kubeheal object as read). Events tell what the
        operator did; one that cannot be posted is logged, never fatal."""
        meta = body["metadata"]
        event = {
            "metadata": {"name": f"{meta['name'][:200]}.{secrets.token_hex(8)}",
                         "namespace": meta["namespace"]},
            "involvedObject": {"apiVersion": body.get("apiVersion", f"{GROUP}/{VERSION}"),
                               "kind": body.get("kind", ""), "name": meta["name"],
                               "namespace": meta["namespace"], "uid": meta.get("uid")},
            "type": type_, "reason": reason, "message": message[:1024],
            "source": {"component": "kubeheal"}, "reportingComponent": "kubeheal",
            "firstTimestamp": rfc3339(now()), "lastTimestamp": rfc3339(now()), "count": 1,
        }
        try:
            await call(self.core.create_namespaced_event, meta["namespace"], event,
                       timeout=self.timeout, fence=self.fence)
        except KubernetesError as e:
            log.warning("event %s on %s/%s not posted: %s", reason, meta["namespace"],
                        meta["name"], e)

    async def annotate(self, plural: str, namespace: str, name: str,
                       annotations: Mapping[str, str]) -> Json:
        """Merge ``annotations`` into the object's metadata."""
        return await self.patch(plural, namespace, name,
                                {"metadata": {"annotations": dict(annotations)}})

    async def namespace_labels(self, namespace: str) -> dict[str, str]:
        ns = await call(self.core.read_namespace, namespace, timeout=self.timeout)
        labels: dict[str, str] = (ns.get("metadata") or {}).get("labels") or {}
        return labels
