"""The patches that the actions send, built from plain objects without touching the API.

Each builder takes the objects as read (JSON dicts) and returns the patch body, so that what
an action will change can be tested, logged or shown in a dry run. Patches on the Deployment
carry its ``resourceVersion``: the API server then rejects them with a conflict if the object
changed since it was read, and the action reads again instead of overwriting a change.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from kubeheal.act.intent import RESTARTED_AT_ANNOTATION, TOKEN_ANNOTATION
from kubeheal.observe.kubernetes import POD_TEMPLATE_HASH, owned_by, revision_number

Json = dict[str, Any]

# Deployment annotations that a rollback keeps from the Deployment rather than taking from
# the ReplicaSet (kubectl's annotationsToSkip in `rollout undo`).
ROLLBACK_KEEPS: Final = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
})


def rfc3339_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _version(obj: Mapping[str, Any]) -> str | None:
    version: str | None = (obj.get("metadata") or {}).get("resourceVersion")
    return version


def restart_patch(deployment: Mapping[str, Any], token: str, restarted_at: str) -> Json:
    """Strategic merge patch of ``kubectl rollout restart``, plus the token.

    >>> restart_patch({"metadata": {"resourceVersion": "7"}}, "t1", "2026-11-28T13:00:00Z")
    ... # doctest: +NORMALIZE_WHITESPACE
    {'metadata': {'resourceVersion': '7', 'annotations': {'kubeheal.io/action-token': 't1'}},
     'spec': {'template': {'metadata': {'annotations':
              {'kubectl.kubernetes.io/restartedAt': '2026-11-28T13:00:00Z'}}}}}
    """
    return {
        "metadata": {"resourceVersion": _version(deployment),
                     "annotations": {TOKEN_ANNOTATION: token}},
        "spec": {"template": {"metadata": {
            "annotations": {RESTARTED_AT_ANNOTATION: restarted_at}}}},
    }


def container_memory(deployment: Mapping[str, Any], container: str) -> tuple[str, str | None]:
    """The memory limit and request of ``container`` in the pod template, as written.

    Raises ``LookupError`` (with a message a user can act on) when the template has no such
    container or it has no memory limit: a resize raises a limit, it never sets a first one.

    >>> d = {"spec": {"template": {"spec": {"containers": [{"name": "app", "resources": {
    ...     "limits": {"memory": "256Mi"}, "requests": {"memory": "128Mi"}}}]}}}}
    >>> container_memory(d, "app")
    ('256Mi', '128Mi')
    >>> container_memory(d, "db")
    Traceback (most recent call last):
    ...
    LookupError: the pod template has no container 'db' (it has: app)
    """
    containers = ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get(
        "containers") or []
    found = next((c for c in containers if c.get("name") == container), None)
    if found is None:
        names = ", ".join(str(c.get("name")) for c in containers) or "none"
        raise LookupError(f"the pod template has no container {container!r} (it has: {names})")
    resources = found.get("resources") or {}
    limit = (resources.get("limits") or {}).get("memory")
    if limit is None:
        raise LookupError(f"container {container!r} has no memory limit: a resize raises a "
                          "limit, it never sets a first one")
    request = (resources.get("requests") or {}).get("memory")
    return str(limit), (str(request) if request is not None else None)


def resize_patch(deployment: Mapping[str, Any], container: str, limit: str,
                 request: str | None, token: str) -> Json:
    """Strategic merge patch of one container's memory limit (and request) in the pod
    template, plus the token: the containers merge by name, so nothing else changes, and the
    new template rolls the pods as any rollout does.

    >>> patch = resize_patch({"metadata": {"resourceVersion": "7"}}, "app", "384Mi", "192Mi",
    ...                      "t1")
    >>> patch["spec"]["template"]["spec"]["containers"]  # doctest: +NORMALIZE_WHITESPACE
    [{'name': 'app', 'resources': {'limits': {'memory': '384Mi'},
                                   'requests': {'memory': '192Mi'}}}]
    """
    resources: Json = {"limits": {"memory": limit}}
    if request is not None:
        resources["requests"] = {"memory": request}
    return {
        "metadata": {"resourceVersion": _version(deployment),
                     "annotations": {TOKEN_ANNOTATION: token}},
        "spec": {"template": {"spec": {"containers": [
            {"name": container, "resources": resources}]}}},
    }


def _unavailable(value: int | str | None, replicas: int) -> int:
    """A Deployment's ``maxUnavailable`` as a pod count: a share rounds down, as Kubernetes
    rounds it; the default is 25%."""
    value = "25%" if value is None else value
    if isinstance(value, int):
        return max(0, value)
    return max(0, math.floor(float(value.rstrip("%")) / 100 * replicas))


def rolling_restart_floor(deployment: Mapping[str, Any]) -> tuple[int | None, str]:
    """How many pods a rollout restart of ``deployment`` is guaranteed to keep available, by
    the Deployment's own strategy, and why; None when it guarantees none (``Recreate``).

    The Deployment controller keeps ``replicas - maxUnavailable`` pods available during a
    rolling update (and never takes down a pod that is already missing), so the floor is the
    smaller of that and the pods available now.

    >>> d = {"spec": {"replicas": 4}, "status": {"availableReplicas": 4}}
    >>> rolling_restart_floor(d)
    (3, 'RollingUpdate keeps 3 of 4 pods available (maxUnavailable 25%)')
    >>> d["spec"]["strategy"] = {"rollingUpdate": {"maxUnavailable": "100%"}}
    >>> rolling_restart_floor(d)[0]
    0
    >>> rolling_restart_floor({"spec": {"replicas": 2, "strategy": {"type": "Recreate"}}})
    (None, 'strategy Recreate stops every pod before it starts new ones')
    """
    spec = deployment.get("spec") or {}
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return None, "strategy Recreate stops every pod before it starts new ones"
    replicas = int(spec.get("replicas", 1))
    rolling = strategy.get("rollingUpdate") or {}
    unavailable = _unavailable(rolling.get("maxUnavailable"), replicas)
    available = int((deployment.get("status") or {}).get("availableReplicas") or 0)
    floor = max(0, min(available, replicas - unavailable))
    return floor, (f"RollingUpdate keeps {floor} of {replicas} pods available (maxUnavailable "
                   f"{rolling.get('maxUnavailable', '25%')})")


def scale_patch(deployment: Mapping[str, Any], replicas: int, token: str) -> Json:
    """Merge patch of ``spec.replicas`` with the token, in one write.

    >>> scale_patch({"metadata": {"resourceVersion": "7"}}, 3, "t1")["spec"]
    {'replicas': 3}
    """
    return {
        "metadata": {"resourceVersion": _version(deployment),
                     "annotations": {TOKEN_ANNOTATION: token}},
        "spec": {"replicas": replicas},
    }


def hpa_targeting(hpas: Iterable[Mapping[str, Any]], name: str,
                  kind: str = "Deployment") -> Mapping[str, Any] | None:
    """The HorizontalPodAutoscaler (autoscaling/v2) whose scale target is ``kind`` ``name``.

    >>> hpa = {"spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
    ...                                   "name": "web"}}}
    >>> hpa_targeting([hpa], "web") is hpa, hpa_targeting([hpa], "db")
    (True, None)
    """
    for hpa in hpas:
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("kind") == kind and ref.get("name") == name:
            return hpa
    return None


def hpa_scale_patch(hpa: Mapping[str, Any], replicas: int, token: str) -> Json:
    """Merge patch raising (or lowering) the HPA's floor to ``replicas``; its ceiling too if
    it is below.

    >>> hpa = {"metadata": {"resourceVersion": "3"},
    ...        "spec": {"minReplicas": 2, "maxReplicas": 4}}
    >>> hpa_scale_patch(hpa, 6, "t1")["spec"], hpa_scale_patch(hpa, 3, "t1")["spec"]
    ({'minReplicas': 6, 'maxReplicas': 6}, {'minReplicas': 3})
    """
    spec: Json = {"minReplicas": replicas}
    if int((hpa.get("spec") or {}).get("maxReplicas") or 0) < replicas:
        spec["maxReplicas"] = replicas
    return {
        "metadata": {"resourceVersion": _version(hpa), "annotations": {TOKEN_ANNOTATION: token}},
        "spec": spec,
    }


def current_revision(deployment: Mapping[str, Any],
                     replica_sets: Iterable[Mapping[str, Any]]) -> int | None:
    """The Deployment's revision: its annotation, or else the newest ReplicaSet's."""
    number = revision_number(deployment)
    if number is not None:
        return number
    owned = [n for rs in replica_sets
             if owned_by(rs, deployment) and (n := revision_number(rs)) is not None]
    return max(owned, default=None)


def previous_revision(deployment: Mapping[str, Any],
                      replica_sets: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The ReplicaSet of the highest revision below the current one (``rollout undo``).

    >>> d = {"metadata": {"uid": "d", "annotations": {"deployment.kubernetes.io/revision": "3"}}}
    >>> def rs(rev):
    ...     return {"metadata": {"name": f"rs{rev}", "ownerReferences": [
    ...         {"uid": "d", "controller": True}],
    ...         "annotations": {"deployment.kubernetes.io/revision": str(rev)}}}
    >>> previous_revision(d, [rs(1), rs(3), rs(2)])["metadata"]["name"]
    'rs2'
    >>> previous_revision(d, [rs(3)]) is None
    True
    """
    replica_sets = list(replica_sets)
    current = current_revision(deployment, replica_sets)
    if current is None:
        return None
    candidates = [
        (n, rs) for rs in replica_sets
        if owned_by(rs, deployment) and (n := revision_number(rs)) is not None and n < current
    ]
    return max(candidates, key=lambda c: c[0])[1] if candidates else None


def revision_replica_set(deployment: Mapping[str, Any], replica_sets: Iterable[Mapping[str, Any]],
                         revision: int) -> Mapping[str, Any] | None:
    """The ReplicaSet of ``deployment`` that holds revision number ``revision``, if any.

    >>> d = {"metadata": {"uid": "d"}}
    >>> rs = {"metadata": {"name": "rs1", "ownerReferences": [{"uid": "d", "controller": True}],
    ...                    "annotations": {"deployment.kubernetes.io/revision": "1"}}}
    >>> revision_replica_set(d, [rs], 1)["metadata"]["name"], revision_replica_set(d, [rs], 2)
    ('rs1', None)
    """
    return next((rs for rs in replica_sets
                 if owned_by(rs, deployment) and revision_number(rs) == revision), None)


def template_without_hash(replica_set: Mapping[str, Any]) -> Json:
    """The ReplicaSet's pod template, minus the ``pod-template-hash`` label it was given.

    >>> template_without_hash({"spec": {"template": {"metadata": {"labels": {
    ...     "app": "web", "pod-template-hash": "abc"}}, "spec": {}}}})
    {'metadata': {'labels': {'app': 'web'}}, 'spec': {}}
    """
    template: Json = copy.deepcopy(dict(replica_set["spec"]["template"]))
    labels = (template.get("metadata") or {}).get("labels")
    if labels:
        labels.pop(POD_TEMPLATE_HASH, None)
    return template


def rollback_patch(deployment: Mapping[str, Any], replica_set: Mapping[str, Any],
                   token: str) -> list[Json]:
    """JSON patch of ``kubectl rollout undo`` to ``replica_set``'s revision, plus the token.

    The template is replaced by the ReplicaSet's; the Deployment's annotations become the
    ReplicaSet's (its change cause, for instance) except those the Deployment controller owns.

    >>> d = {"metadata": {"resourceVersion": "9", "annotations": {
    ...     "deployment.kubernetes.io/revision": "2", "kubernetes.io/change-cause": "v2"}}}
    >>> rs = {"metadata": {"annotations": {"deployment.kubernetes.io/revision": "1",
    ...                                    "kubernetes.io/change-cause": "v1"}},
    ...       "spec": {"template": {"metadata": {"labels": {"pod-template-hash": "h"}}}}}
    >>> ops = rollback_patch(d, rs, "t1")
    >>> [op["path"] for op in ops]
    ['/metadata/resourceVersion', '/spec/template', '/metadata/annotations']
    >>> ops[2]["value"]  # doctest: +NORMALIZE_WHITESPACE
    {'deployment.kubernetes.io/revision': '2', 'kubernetes.io/change-cause': 'v1',
     'kubeheal.io/action-token': 't1'}
    """
    current = (deployment.get("metadata") or {}).get("annotations") or {}
    source = (replica_set.get("metadata") or {}).get("annotations") or {}
    annotations = {k: v for k, v in current.items() if k in ROLLBACK_KEEPS}
    annotations.update({k: v for k, v in source.items() if k not in ROLLBACK_KEEPS})
    annotations[TOKEN_ANNOTATION] = token
    return [
        {"op": "replace", "path": "/metadata/resourceVersion", "value": _version(deployment)},
        {"op": "replace", "path": "/spec/template", "value": template_without_hash(replica_set)},
        # "add" replaces an existing member and also works when there are no annotations.
        {"op": "add", "path": "/metadata/annotations", "value": annotations},
    ]
