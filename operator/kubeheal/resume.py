"""Lift a GitOps suspension once Git holds the fix: ``kubeheal gitops resume``.

Before acting on a workload that Argo CD or Flux reconciles, kubeheal suspends that
reconciliation and records it in the Remediation's ``status.gitops``; it never lifts it by
itself, because the revision in Git may still be the bad one. A human who has made Git hold
the fix runs this command with their own kubeconfig: it restores the field to the value
recorded before the suspension (an Application's ``spec.syncPolicy.automated``, a Flux
object's ``spec.suspend``) and removes kubeheal's annotations, in one patch conditioned on the
resourceVersion read. The API server judges the human's own rights on the owner object; the
operator's rights play no part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubeheal.act.suspension import (
    PLURALS,
    SUSPENDED_BY,
    SUSPENDED_FOR,
    SUSPENDED_PREVIOUS,
    owner_annotations,
    resume_patch,
)
from kubeheal.api.base import GROUP, VERSION
from kubeheal.api.remediation import GitOpsSuspension, Phase
from kubeheal.approve import api_message


class ResumeError(Exception):
    """Why the suspension was not lifted, in one line a user can act on."""


@dataclass(frozen=True)
class Resumed:
    suspension: GitOpsSuspension

    def describe(self) -> str:
        """What was done, for the terminal.

        >>> from kubeheal.api.remediation import ManagedBy
        >>> import datetime as dt
        >>> owner = ManagedBy(tool="flux", api_version="helm.toolkit.fluxcd.io/v2",
        ...                   kind="HelmRelease", namespace="flux-system", name="web")
        >>> s = GitOpsSuspension(owner=owner, field="spec.suspend", previous="false",
        ...                      changed=True, token="t", suspended_at=dt.datetime(2026, 1, 1))
        >>> Resumed(s).describe()[:60]
        'Flux HelmRelease flux-system/web: spec.suspend restored to f'
        """
        s = self.suspension
        return (f"{s.owner.describe()}: {s.field} restored to {s.previous}; it reconciles "
                "from Git again")


def _read(objects: client.CustomObjectsApi, what: str, *path: str,
          missing: str = "") -> dict[str, Any]:
    try:
        body: dict[str, Any] = objects.get_namespaced_custom_object(*path)
        return body
    except ApiException as e:
        if e.status == 404:
            raise ResumeError(f"{what} not found{missing}") from None
        raise ResumeError(f"cannot read {what}: {api_message(e)}") from None


def resume_reconciliation(api: client.ApiClient, namespace: str, name: str) -> Resumed:
    """Restore the reconciliation that remediation ``namespace/name`` suspended."""
    objects = client.CustomObjectsApi(api)
    body = _read(objects, f"remediation {namespace}/{name}", GROUP, VERSION, namespace,
                 "remediations", name,
                 missing=f" (deleted by retention? the owner's annotation {SUSPENDED_PREVIOUS} "
                 "still holds the value to restore)")
    status = body.get("status") or {}
    if not status.get("gitops"):
        raise ResumeError(f"remediation {namespace}/{name} suspended no GitOps reconciliation")
    suspension = GitOpsSuspension.model_validate(status["gitops"])
    owner = suspension.owner
    phase = Phase(status.get("phase", Phase.DETECTED.value))
    if not phase.terminal:
        raise ResumeError(
            f"remediation {namespace}/{name} is still open (phase {phase.value}): resuming "
            f"now would let {owner.describe()} undo what kubeheal is doing; wait until it is "
            "closed")
    if not suspension.changed:
        raise ResumeError(f"{owner.describe()} was suspended already when kubeheal acted; "
                          "kubeheal changed nothing there, so there is nothing to restore")
    group, version = owner.api_version.split("/", 1)
    path = (group, version, owner.namespace, PLURALS[owner.kind], owner.name)
    current = _read(objects, owner.describe(), *path)
    marks = owner_annotations(current)
    if marks.get(SUSPENDED_BY) != suspension.token:
        if not marks.get(SUSPENDED_BY):
            raise ResumeError(f"{owner.describe()} carries no kubeheal suspension any more: "
                              "it was resumed already")
        raise ResumeError(f"{owner.describe()} was suspended again since, for remediation "
                          f"{marks.get(SUSPENDED_FOR, '?')}: resume that one")
    try:
        objects.patch_namespaced_custom_object(
            *path, resume_patch(current, owner.kind, suspension.previous))
    except ApiException as e:
        if e.status == 409:
            raise ResumeError(f"{owner.describe()} changed meanwhile; try again") from None
        raise ResumeError(f"not allowed: {api_message(e)}") from None
    return Resumed(suspension)
