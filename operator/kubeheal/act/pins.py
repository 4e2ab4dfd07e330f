"""The identity of the target an action was decided for, and what changed on it since.

A decision pins the Deployment it was made for (:func:`pin`): its UID, a hash of its pod
template, its revision and current ReplicaSet, its replicas, or, when an HPA scales it, that
HPA and its ``minReplicas``. The remediation lifecycle compares the pins before it writes an
intent; each action compares them again with the target it reads for its own write
(:func:`pin_changes`), so that nothing runs on a target that a human changed meanwhile.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from kubeheal.act.statefulsets import is_statefulset, statefulset_revision
from kubeheal.api.remediation import PinnedTarget
from kubeheal.observe.kubernetes import revision_number


def template_hash(deployment: Mapping[str, Any]) -> str:
    """A hash of the pod template: any rollout (image, env, restart) changes it.

    >>> a = template_hash({"spec": {"template": {"spec": {"containers": [{"image": "v1"}]}}}})
    >>> b = template_hash({"spec": {"template": {"spec": {"containers": [{"image": "v2"}]}}}})
    >>> len(a), a == b
    (16, False)
    """
    text = json.dumps((deployment.get("spec") or {}).get("template", {}), sort_keys=True,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def pin(deployment: Mapping[str, Any], replica_sets: Iterable[Mapping[str, Any]] = (),
        hpa: Mapping[str, Any] | None = None) -> PinnedTarget:
    """The identity of ``deployment`` (with the HPA that scales it, if any).

    The current ReplicaSet's name is found among ``replica_sets`` when they are given; it
    follows from the template and the revision, which are compared. A StatefulSet's revision
    is its current ControllerRevision's, found among ``replica_sets`` (its ControllerRevisions,
    which must be given), and its ``status.updateRevision`` stands for the ReplicaSet.

    >>> d = {"metadata": {"uid": "u", "annotations": {"deployment.kubernetes.io/revision": "2"}},
    ...      "spec": {"replicas": 3, "template": {}}}
    >>> p = pin(d, hpa={"metadata": {"name": "web"}, "spec": {"minReplicas": 2}})
    >>> p.uid, p.revision, p.replicas, p.hpa, p.hpa_min_replicas
    ('u', 2, 3, 'web', 2)
    """
    meta = deployment.get("metadata") or {}
    if is_statefulset(deployment):
        revision = statefulset_revision(deployment, replica_sets)
        current_name = str((deployment.get("status") or {}).get("updateRevision") or "")
    else:
        revision = revision_number(deployment)
        current = next((rs for rs in replica_sets
                        if revision is not None and revision_number(rs) == revision), None)
        current_name = str((current or {}).get("metadata", {}).get("name", ""))
    hpa_spec = (hpa or {}).get("spec") or {}
    return PinnedTarget(
        uid=str(meta.get("uid") or ""), template_hash=template_hash(deployment),
        revision=revision,
        replica_set=current_name,
        replicas=int((deployment.get("spec") or {}).get("replicas", 1)),
        hpa=str(((hpa or {}).get("metadata") or {}).get("name") or ""),
        hpa_min_replicas=int(hpa_spec.get("minReplicas", 1)) if hpa else None,
    )


def pin_changes(decided: PinnedTarget, now: PinnedTarget) -> str:
    """What changed on the target since the decision, or '' when it is the same target.

    Under an HPA the Deployment's replicas move on their own: its minReplicas counts then.

    >>> p = PinnedTarget(uid="u", template_hash="a", revision=2, replicas=3)
    >>> pin_changes(p, p.model_copy(update={"replicas": 5}))
    'spec.replicas 3 -> 5 (scaled since the decision)'
    >>> pin_changes(p, p.model_copy(update={"template_hash": "b", "revision": 3}))
    'the pod template changed (a new rollout, revision 2 -> 3)'
    >>> pin_changes(p, p.model_copy(update={"revision": 4}))
    'revision 2 -> 4 (a newer rollout)'
    >>> pin_changes(p, p)
    ''
    """
    changes: list[str] = []
    if decided.uid != now.uid:
        changes.append(f"the workload was replaced (uid {decided.uid} -> {now.uid})")
    if decided.template_hash != now.template_hash:
        changes.append(f"the pod template changed (a new rollout, revision {decided.revision} "
                       f"-> {now.revision})")
    elif decided.revision != now.revision:
        changes.append(f"revision {decided.revision} -> {now.revision} (a newer rollout)")
    if (decided.hpa, decided.hpa_min_replicas) != (now.hpa, now.hpa_min_replicas):
        changes.append(f"HPA {decided.hpa or '(none)'} minReplicas {decided.hpa_min_replicas} "
                       f"-> HPA {now.hpa or '(none)'} minReplicas {now.hpa_min_replicas}")
    elif not now.hpa and decided.replicas != now.replicas:
        changes.append(f"spec.replicas {decided.replicas} -> {now.replicas} "
                       "(scaled since the decision)")
    return "; ".join(changes)
