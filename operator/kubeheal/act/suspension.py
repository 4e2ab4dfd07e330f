"""Suspending a GitOps owner's reconciliation, and restoring it: the patches. Pure.

Before kubeheal changes a workload that Argo CD or Flux reconciles, it stops that controller
from undoing the change, through the owner's own resource:

- Argo CD Application: ``spec.syncPolicy.automated`` is removed (no automated sync, hence no
  self-heal); a human syncs by hand meanwhile;
- Flux Kustomization or HelmRelease: ``spec.suspend: true``.

The write stamps the intent's token and the field's previous value (JSON) on the owner as
annotations, in the same request, so that a crash or an answer lost on the way is settled by
reading the owner back (the token there: it was suspended), and the previous value survives
for ``kubeheal gitops resume``. Every patch carries the resourceVersion that was read: a
concurrent change makes it fail with a conflict instead of overwriting it.

>>> app = {"metadata": {"resourceVersion": "7"},
...        "spec": {"syncPolicy": {"automated": {"prune": True, "selfHeal": True}}}}
>>> suspended(app, "Application"), previous_value(app, "Application")
(False, '{"prune":true,"selfHeal":true}')
>>> patch = suspend_patch(app, "Application", "web-deployment-1.1", "shop/web-deployment-1")
>>> patch["spec"], patch["metadata"]["annotations"][SUSPENDED_BY]
({'syncPolicy': {'automated': None}}, 'web-deployment-1.1')
>>> resume_patch(app, "Application", '{"prune":true,"selfHeal":true}')["spec"]
{'syncPolicy': {'automated': {'prune': True, 'selfHeal': True}}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

SUSPENDED_BY: Final = "kubeheal.io/suspended-by"
"""Annotation on the owner: the token of the intent that suspended its reconciliation."""
SUSPENDED_FOR: Final = "kubeheal.io/suspended-for"
"""Annotation on the owner: the remediation (namespace/name) it was suspended for."""
SUSPENDED_PREVIOUS: Final = "kubeheal.io/suspended-previous"
"""Annotation on the owner: the suspended field's value before, as JSON (null: absent)."""

OwnerKind = Literal["Application", "Kustomization", "HelmRelease"]
PLURALS: Final[Mapping[str, str]] = {
    "Application": "applications", "Kustomization": "kustomizations",
    "HelmRelease": "helmreleases",
}
SuspensionErrorReason = Literal["not-found", "forbidden", "invalid", "conflict", "unavailable",
                                "ambiguous"]


def suspended_field(kind: OwnerKind) -> str:
    """The field that holds the owner's reconciliation.

    >>> suspended_field("Application"), suspended_field("HelmRelease")
    ('spec.syncPolicy.automated', 'spec.suspend')
    """
    return "spec.syncPolicy.automated" if kind == "Application" else "spec.suspend"


def _current(owner: Mapping[str, Any], kind: OwnerKind) -> Any:
    spec = owner.get("spec") or {}
    if kind == "Application":
        return (spec.get("syncPolicy") or {}).get("automated")
    return spec.get("suspend")


def previous_value(owner: Mapping[str, Any], kind: OwnerKind) -> str:
    """The field's value now, as compact JSON (``null`` when absent)."""
    return json.dumps(_current(owner, kind), separators=(",", ":"), sort_keys=True)


def suspended(owner: Mapping[str, Any], kind: OwnerKind) -> bool:
    """Whether the owner does not reconcile by itself now: an Application without automated
    sync (absent, or ``enabled: false``), a Flux object with ``spec.suspend: true``.

    >>> suspended({"spec": {"syncPolicy": {"automated": {"enabled": False}}}}, "Application")
    True
    >>> suspended({"spec": {}}, "Application"), suspended({"spec": {}}, "Kustomization")
    (True, False)
    """
    value = _current(owner, kind)
    if kind == "Application":
        return value is None or (isinstance(value, Mapping) and value.get("enabled") is False)
    return value is True


def owner_annotations(owner: Mapping[str, Any]) -> Mapping[str, str]:
    return (owner.get("metadata") or {}).get("annotations") or {}


def suspend_patch(owner: Mapping[str, Any], kind: OwnerKind, token: str,
                  remediation: str) -> dict[str, Any]:
    """The merge patch that suspends the owner and records the token and previous value."""
    spec: dict[str, Any] = ({"syncPolicy": {"automated": None}} if kind == "Application"
                            else {"suspend": True})
    return {
        "metadata": {
            "resourceVersion": (owner.get("metadata") or {}).get("resourceVersion"),
            "annotations": {SUSPENDED_BY: token, SUSPENDED_FOR: remediation,
                            SUSPENDED_PREVIOUS: previous_value(owner, kind)},
        },
        "spec": spec,
    }


def resume_patch(owner: Mapping[str, Any], kind: OwnerKind, previous: str) -> dict[str, Any]:
    """The merge patch that restores the field to ``previous`` (JSON) and drops kubeheal's
    annotations; ``null`` removes the field (Flux's default is not suspended).

    >>> resume_patch({"metadata": {}}, "Kustomization", "null")["spec"]
    {'suspend': None}
    """
    value = json.loads(previous)
    spec: dict[str, Any] = ({"syncPolicy": {"automated": value}} if kind == "Application"
                            else {"suspend": value})
    return {
        "metadata": {
            "resourceVersion": (owner.get("metadata") or {}).get("resourceVersion"),
            "annotations": {SUSPENDED_BY: None, SUSPENDED_FOR: None, SUSPENDED_PREVIOUS: None},
        },
        "spec": spec,
    }


@dataclass(frozen=True)
class SuspensionResult:
    """What suspending did: whether it changed the owner, and the field's value before."""

    field: str
    previous: str
    changed: bool
    message: str


class SuspensionError(Exception):
    """The owner could not be suspended; ``transient`` when trying again may succeed.

    >>> SuspensionError("unavailable", "timeout").transient
    True
    >>> SuspensionError("forbidden", "no rights").transient
    False
    """

    def __init__(self, reason: SuspensionErrorReason, message: str) -> None:
        super().__init__(message)
        self.reason: SuspensionErrorReason = reason
        self.message = message

    @property
    def transient(self) -> bool:
        return self.reason in {"conflict", "unavailable", "ambiguous"}


def settle_existing(owner: Mapping[str, Any], kind: OwnerKind, token: str,
                    what: str) -> SuspensionResult | None:
    """The result when nothing needs writing: the token is on the owner already (this intent
    suspended it before), or it is suspended already (by a human, or by an earlier
    remediation whose previous value is kept); None when it must be suspended now.

    >>> owner = {"metadata": {"annotations": {SUSPENDED_BY: "t1", SUSPENDED_PREVIOUS: "{}"}},
    ...          "spec": {"syncPolicy": {}}}
    >>> settle_existing(owner, "Application", "t1", "app").changed
    True
    >>> settle_existing(owner, "Application", "t2", "app").message
    'app: automated sync is off already (suspended by kubeheal for intent t1); nothing changed'
    >>> settle_existing({"spec": {"suspend": False}}, "Kustomization", "t1", "ks") is None
    True
    """
    field = suspended_field(kind)
    marks = owner_annotations(owner)
    off = "automated sync is off" if kind == "Application" else "spec.suspend is true"
    if marks.get(SUSPENDED_BY) == token:
        return SuspensionResult(field, marks.get(SUSPENDED_PREVIOUS, "null"), True,
                                f"{what}: suspended before by this intent ({off})")
    if not suspended(owner, kind):
        return None
    if marks.get(SUSPENDED_BY):
        return SuspensionResult(
            field, marks.get(SUSPENDED_PREVIOUS, "null"), False,
            f"{what}: {off} already (suspended by kubeheal for intent "
            f"{marks[SUSPENDED_BY]}); nothing changed")
    return SuspensionResult(field, previous_value(owner, kind), False,
                            f"{what}: {off} already (not by kubeheal); nothing changed")
