"""Facts for diagnosis from Kubernetes objects as the API returns them (JSON mappings).

Pure: the controller lists the ReplicaSets (or ControllerRevisions) and Pods of a workload and
hands their JSON here, so that what counts as a template change or an OOM kill is decided in
one place, and tested.

A rollout restart (``kubectl rollout restart``) creates a new revision whose template differs
only by the ``kubectl.kubernetes.io/restartedAt`` annotation; :func:`revisions_from_replicasets`
marks it ``template_changed=False`` so that diagnosis does not blame it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from kubeheal.diagnose.facts import OOM_KILLED, PodHealth, Revision

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
TEMPLATE_HASH_LABEL = "pod-template-hash"

Json = Mapping[str, Any]


def _time(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _essential_template(template_: Json | None) -> Any:
    """The pod template without what a restart or the ReplicaSet itself adds."""
    template = dict(template_ or {})
    template.pop("$patch", None)  # a ControllerRevision's data replaces the template
    meta = dict(template.get("metadata") or {})
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k != RESTARTED_AT_ANNOTATION
    }
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if k != TEMPLATE_HASH_LABEL}
    meta.update(annotations=annotations, labels=labels)
    meta.pop("creationTimestamp", None)
    template["metadata"] = meta
    return template


def _in_order(parsed: list[tuple[int, dt.datetime, str, Any]]) -> tuple[Revision, ...]:
    """Revisions by number, each marked changed unless its template equals the previous one's."""
    parsed.sort(key=lambda p: p[0])
    revisions = []
    for i, (number, created, name, template) in enumerate(parsed):
        changed = i == 0 or template != parsed[i - 1][3]
        revisions.append(Revision(number, created, name=name, template_changed=changed))
    return tuple(revisions)


def revisions_from_replicasets(replicasets: Iterable[Json]) -> tuple[Revision, ...]:
    """The revisions of a Deployment from its ReplicaSets, oldest first.

    ReplicaSets without a revision annotation or creation time are skipped. A revision whose
    template equals the previous one's but for a restart is marked ``template_changed=False``.

    >>> def rs(n, minute, image, restarted=None):
    ...     annotations = {RESTARTED_AT_ANNOTATION: restarted} if restarted else {}
    ...     return {"metadata": {"name": f"web-{n}", "creationTimestamp":
    ...             f"2026-11-28T12:{minute:02d}:00Z",
    ...             "annotations": {REVISION_ANNOTATION: str(n)}},
    ...             "spec": {"template": {"metadata": {"annotations": annotations},
    ...                      "spec": {"containers": [{"name": "app", "image": image}]}}}}
    >>> revisions = revisions_from_replicasets(
    ...     [rs(3, 10, "app:2", restarted="now"), rs(1, 0, "app:1"), rs(2, 5, "app:2")])
    >>> [(r.number, r.template_changed) for r in revisions]
    [(1, True), (2, True), (3, False)]
    """
    parsed: list[tuple[int, dt.datetime, str, Any]] = []
    for replicaset in replicasets:
        meta = replicaset.get("metadata", {})
        number = (meta.get("annotations") or {}).get(REVISION_ANNOTATION)
        created = meta.get("creationTimestamp")
        if number is None or not created:
            continue
        try:
            parsed.append((int(number), _time(created), str(meta.get("name", "")),
                           _essential_template(replicaset.get("spec", {}).get("template"))))
        except ValueError:
            continue
    return _in_order(parsed)


def revisions_from_controller_revisions(revisions: Iterable[Json]) -> tuple[Revision, ...]:
    """The revisions of a StatefulSet from its ControllerRevisions, oldest first.

    The number is the ControllerRevision's ``revision``; the template is in its ``data``.
    A rollback makes the old ControllerRevision the newest (the controller gives it the next
    number), so its creation time is when that template was first rolled out. Revisions
    without a number or a creation time are skipped; one that only restarted the pods is
    marked ``template_changed=False``.

    >>> def cr(n, minute, image, restarted=None):
    ...     annotations = {RESTARTED_AT_ANNOTATION: restarted} if restarted else {}
    ...     return {"metadata": {"name": f"db-{n}", "creationTimestamp":
    ...             f"2026-11-28T12:{minute:02d}:00Z"}, "revision": n,
    ...             "data": {"spec": {"template": {"$patch": "replace",
    ...                      "metadata": {"annotations": annotations},
    ...                      "spec": {"containers": [{"name": "db", "image": image}]}}}}}
    >>> revisions = revisions_from_controller_revisions(
    ...     [cr(3, 10, "db:2", restarted="now"), cr(1, 0, "db:1"), cr(2, 5, "db:2")])
    >>> [(r.number, r.name, r.template_changed) for r in revisions]
    [(1, 'db-1', True), (2, 'db-2', True), (3, 'db-3', False)]
    """
    parsed: list[tuple[int, dt.datetime, str, Any]] = []
    for revision in revisions:
        meta = revision.get("metadata", {})
        number, created = revision.get("revision"), meta.get("creationTimestamp")
        if number is None or not created:
            continue
        template = ((revision.get("data") or {}).get("spec") or {}).get("template")
        try:
            parsed.append((int(number), _time(created), str(meta.get("name", "")),
                           _essential_template(template)))
        except (TypeError, ValueError):
            continue
    return _in_order(parsed)


def pod_health_from(pod: Json) -> PodHealth:
    """Restarts and OOM kills of a pod from its container statuses.

    Kubernetes keeps only each container's last termination, so ``oom_kills`` counts the
    containers whose last termination was an OOM kill.

    >>> pod = {"metadata": {"name": "web-1"}, "status": {"containerStatuses": [
    ...     {"name": "app", "restartCount": 3,
    ...      "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}},
    ...     {"name": "proxy", "restartCount": 1, "lastState": {}}]}}
    >>> pod_health_from(pod)  # doctest: +NORMALIZE_WHITESPACE
    PodHealth(name='web-1', restarts=4, oom_kills=1, last_termination_reason='OOMKilled',
              oom_containers=('app',))
    """
    statuses = list((pod.get("status") or {}).get("containerStatuses") or [])
    reasons = [
        ((s.get("lastState") or {}).get("terminated") or {}).get("reason") for s in statuses
    ]
    return PodHealth(
        name=str((pod.get("metadata") or {}).get("name", "")),
        restarts=sum(int(s.get("restartCount", 0)) for s in statuses),
        oom_kills=sum(1 for r in reasons if r == OOM_KILLED),
        last_termination_reason=next((r for r in reasons if r), None),
        oom_containers=tuple(str(s.get("name", "")) for s, r in zip(statuses, reasons,
                                                                   strict=True)
                             if r == OOM_KILLED),
    )


def oom_killed_container(pods: Iterable[Json]) -> str | None:
    """The container that is being OOM-killed: the one whose last termination was an OOM
    kill in the most pods (ties by name), or None when no pod tells of one.

    >>> def pod(*oom):
    ...     return {"status": {"containerStatuses": [
    ...         {"name": n, "lastState": {"terminated": {"reason": "OOMKilled"}}} for n in oom]}}
    >>> oom_killed_container([pod("app"), pod("app", "proxy"), pod()])
    'app'
    >>> oom_killed_container([pod()]) is None
    True
    """
    counts: dict[str, int] = {}
    for pod in pods:
        for name in pod_health_from(pod).oom_containers:
            counts[name] = counts.get(name, 0) + 1
    return min(counts, key=lambda n: (-counts[n], n)) if counts else None
