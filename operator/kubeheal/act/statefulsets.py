"""What the actions need to know of a StatefulSet, from plain objects without touching the API.

A StatefulSet keeps its rollout history in ControllerRevisions (``revision`` is the number,
``data.spec.template`` the pod template); ``status.updateRevision`` names the revision its
template is at, and each pod's ``controller-revision-hash`` label the revision it runs.
Unlike a Deployment it rolls its pods one at a time, from the highest ordinal down, and only
as far as its ``updateStrategy`` lets it: ``OnDelete`` restarts nothing, a ``partition``
keeps the pods below it at their revision.

A rollback of a StatefulSet can get stuck (kubernetes/kubernetes#67250): with
``podManagementPolicy: OrderedReady`` a pod of the bad revision that never becomes Ready
blocks the rollout of the good template as well; the pod has to be deleted so that the
controller recreates it at the good revision. :func:`stuck_pod` names that pod.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, Final

from kubeheal.act.intent import TOKEN_ANNOTATION
from kubeheal.observe.kubernetes import owned_by

Json = dict[str, Any]

REVISION_LABEL: Final = "controller-revision-hash"
"""The label of a StatefulSet's pod that names the ControllerRevision it runs."""


def is_statefulset(workload: Mapping[str, Any]) -> bool:
    """Whether the object read is a StatefulSet (the API's answers carry their kind).

    >>> is_statefulset({"kind": "StatefulSet"}), is_statefulset({"kind": "Deployment"})
    (True, False)
    """
    return workload.get("kind") == "StatefulSet"


def _number(revision: Mapping[str, Any]) -> int | None:
    number = revision.get("revision")
    return int(number) if isinstance(number, int) else None


def current_controller_revision(statefulset: Mapping[str, Any],
                                revisions: Iterable[Mapping[str, Any]],
                                ) -> Mapping[str, Any] | None:
    """The ControllerRevision that the StatefulSet's template is at (``status.updateRevision``).

    >>> s = {"metadata": {"uid": "s"}, "status": {"updateRevision": "db-b"}}
    >>> def cr(name, n):
    ...     return {"metadata": {"name": name, "ownerReferences": [
    ...         {"uid": "s", "controller": True}]}, "revision": n}
    >>> current_controller_revision(s, [cr("db-a", 1), cr("db-b", 2)])["revision"]
    2
    """
    name = (statefulset.get("status") or {}).get("updateRevision")
    return next((r for r in revisions
                 if owned_by(r, statefulset) and (r.get("metadata") or {}).get("name") == name
                 and name), None)


def statefulset_revision(statefulset: Mapping[str, Any],
                         revisions: Iterable[Mapping[str, Any]]) -> int | None:
    """The number of the StatefulSet's current revision, if known."""
    current = current_controller_revision(statefulset, revisions)
    return _number(current) if current is not None else None


def previous_controller_revision(statefulset: Mapping[str, Any],
                                 revisions: Iterable[Mapping[str, Any]],
                                 ) -> Mapping[str, Any] | None:
    """The ControllerRevision of the highest revision below the current one (``rollout undo``).

    >>> s = {"metadata": {"uid": "s"}, "status": {"updateRevision": "db-c"}}
    >>> def cr(name, n):
    ...     return {"metadata": {"name": name, "ownerReferences": [
    ...         {"uid": "s", "controller": True}]}, "revision": n}
    >>> previous_controller_revision(s, [cr("db-a", 1), cr("db-c", 3), cr("db-b", 2)]
    ...                              )["metadata"]["name"]
    'db-b'
    >>> previous_controller_revision(s, [cr("db-c", 3)]) is None
    True
    """
    revisions = [r for r in revisions if owned_by(r, statefulset)]
    current = statefulset_revision(statefulset, revisions)
    if current is None:
        return None
    older = [(n, r) for r in revisions if (n := _number(r)) is not None and n < current]
    return max(older, key=lambda o: o[0])[1] if older else None


def revision_numbered(statefulset: Mapping[str, Any], revisions: Iterable[Mapping[str, Any]],
                      number: int) -> Mapping[str, Any] | None:
    """The StatefulSet's ControllerRevision with ``number``, if any."""
    return next((r for r in revisions if owned_by(r, statefulset) and _number(r) == number),
                None)


def revision_template(revision: Mapping[str, Any]) -> Json:
    """The pod template a ControllerRevision holds, as the StatefulSet's ``spec.template``.

    >>> revision_template({"data": {"spec": {"template": {"$patch": "replace", "spec": {}}}}})
    {'spec': {}}
    """
    template: Json = copy.deepcopy(
        dict(((revision.get("data") or {}).get("spec") or {}).get("template") or {}))
    template.pop("$patch", None)
    return template


def rollback_patch(statefulset: Mapping[str, Any], revision: Mapping[str, Any],
                   token: str) -> list[Json]:
    """JSON patch of ``kubectl rollout undo statefulset`` to ``revision``, plus the token,
    conditioned on the StatefulSet's ``resourceVersion``.

    >>> s = {"metadata": {"resourceVersion": "9", "annotations": {"team": "db"}}}
    >>> cr = {"data": {"spec": {"template": {"$patch": "replace", "spec": {"x": 1}}}}}
    >>> ops = rollback_patch(s, cr, "t1")
    >>> [op["path"] for op in ops], ops[1]["value"], ops[2]["value"]
    (['/metadata/resourceVersion', '/spec/template', '/metadata/annotations'], {'spec': {'x': 1}}, {'team': 'db', 'kubeheal.io/action-token': 't1'})
    """  # noqa: E501
    meta = statefulset.get("metadata") or {}
    annotations = {**(meta.get("annotations") or {}), TOKEN_ANNOTATION: token}
    return [
        {"op": "replace", "path": "/metadata/resourceVersion",
         "value": meta.get("resourceVersion")},
        {"op": "replace", "path": "/spec/template", "value": revision_template(revision)},
        {"op": "add", "path": "/metadata/annotations", "value": annotations},
    ]


def update_blocker(statefulset: Mapping[str, Any]) -> str:
    """Why a change of the StatefulSet's template would not reach all its pods, or ''.

    >>> update_blocker({"spec": {"updateStrategy": {"type": "OnDelete"}}})
    'updateStrategy OnDelete: a template change restarts no pod until someone deletes it'
    >>> update_blocker({"spec": {"replicas": 3, "updateStrategy": {
    ...     "rollingUpdate": {"partition": 2}}}})
    'partition 2: the pods with ordinals below 2 keep their revision'
    >>> update_blocker({"spec": {}})
    ''
    """
    strategy = (statefulset.get("spec") or {}).get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        return "updateStrategy OnDelete: a template change restarts no pod until someone deletes it"
    partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
    if partition > 0:
        return (f"partition {partition}: the pods with ordinals below {partition} keep their "
                "revision")
    return ""


def statefulset_restart_floor(statefulset: Mapping[str, Any]) -> tuple[int | None, str]:
    """How many pods a rolling restart of the StatefulSet keeps available, and why; None when
    the restart would not restart every pod (:func:`update_blocker`).

    The StatefulSet controller replaces ``maxUnavailable`` pods at a time (1 unless set),
    the highest ordinal first, and waits for each to be Ready again.

    >>> s = {"spec": {"replicas": 3}, "status": {"availableReplicas": 3}}
    >>> statefulset_restart_floor(s)
    (2, 'RollingUpdate replaces 1 pod at a time, keeping 2 of 3 available')
    >>> s["spec"]["updateStrategy"] = {"type": "OnDelete"}
    >>> statefulset_restart_floor(s)[0] is None
    True
    """
    blocker = update_blocker(statefulset)
    if blocker:
        return None, blocker
    spec = statefulset.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    rolling = (spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
    value = rolling.get("maxUnavailable", 1)
    if isinstance(value, str):
        value = int(float(value.rstrip("%")) / 100 * replicas)
    unavailable = max(1, int(value))
    available = int((statefulset.get("status") or {}).get("availableReplicas") or 0)
    floor = max(0, min(available, replicas - unavailable))
    return floor, (f"RollingUpdate replaces {unavailable} pod at a time, keeping {floor} of "
                   f"{replicas} available")


def _ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def stuck_pod(pods: Iterable[Mapping[str, Any]], bad_revision: str) -> Mapping[str, Any] | None:
    """The pod of revision ``bad_revision`` (the ControllerRevision rolled back from) that is
    not Ready and not being deleted: it blocks an OrderedReady rollout; the highest ordinal
    if several (the controller updates from the top).

    >>> def pod(name, revision, ready):
    ...     return {"metadata": {"name": name, "labels": {REVISION_LABEL: revision}},
    ...             "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}
    >>> stuck_pod([pod("db-0", "good", True), pod("db-2", "bad", False),
    ...            pod("db-1", "bad", True)], "bad")["metadata"]["name"]
    'db-2'
    >>> stuck_pod([pod("db-0", "bad", True)], "bad") is None
    True
    """
    stuck = [p for p in pods
             if ((p.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL) == bad_revision
             and bad_revision and not _ready(p)
             and not (p.get("metadata") or {}).get("deletionTimestamp")]
    return max(stuck, key=lambda p: _ordinal(str(p["metadata"]["name"])), default=None)


def _ordinal(name: str) -> int:
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1
