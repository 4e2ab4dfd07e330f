"""Suspend a GitOps owner's reconciliation through the Kubernetes API, settled by token.

:class:`GitOpsSuspender` reads the owner (an Argo CD Application, a Flux Kustomization or
HelmRelease), returns at once when the intent's token is on it already or it does not
reconcile by itself anyway, and otherwise writes the suspension with the token and the
previous value (see :mod:`~kubeheal.act.suspension`), on the resourceVersion it read. Every
write passes the leadership fence right before it is sent. An answer that leaves the outcome
open is settled by reading the owner back: the token decides.

A missing owner (no such object, or its CRD is not installed), missing rights or a refused
write is a :class:`~kubeheal.act.suspension.SuspensionError` that is not transient: the
remediation then does nothing to the workload and escalates with that reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from kubernetes import client

from kubeheal.act.suspension import (
    PLURALS,
    SUSPENDED_BY,
    SUSPENDED_PREVIOUS,
    SuspensionError,
    SuspensionResult,
    owner_annotations,
    settle_existing,
    suspend_patch,
    suspended_field,
)
from kubeheal.api.remediation import ManagedBy
from kubeheal.observe.kubernetes import Json, KubernetesError, call

MERGE: Final = "application/merge-patch+json"

_HINTS: Final = {
    "not-found": "the object (or its CustomResourceDefinition) does not exist: check the "
                 "workload's GitOps labels and annotations and, for Argo CD label tracking, "
                 "the Application namespace (gitops.argocd.namespace)",
    "forbidden": "the operator may not read or patch it: install the chart with "
                 "gitops.enabled=true (or grant get and patch on it)",
}


class GitOpsSuspender:
    """Suspends owners with one API client; safe to call again with the same token."""

    def __init__(self, api_client: client.ApiClient, request_timeout: float = 10.0,
                 conflict_retries: int = 5, fence: Callable[[], None] | None = None) -> None:
        self.objects = client.CustomObjectsApi(api_client)
        self.timeout = request_timeout
        self.conflict_retries = conflict_retries
        self.fence = fence

    async def read(self, owner: ManagedBy) -> Json:
        group, version = owner.api_version.split("/", 1)
        return await call(self.objects.get_namespaced_custom_object, group, version,
                          owner.namespace, PLURALS[owner.kind], owner.name, timeout=self.timeout)

    async def _patch(self, owner: ManagedBy, body: Any) -> Json:
        group, version = owner.api_version.split("/", 1)
        return await call(self.objects.patch_namespaced_custom_object, group, version,
                          owner.namespace, PLURALS[owner.kind], owner.name, body,
                          timeout=self.timeout, fence=self.fence, _content_type=MERGE)

    def _error(self, owner: ManagedBy, doing: str, e: KubernetesError) -> SuspensionError:
        hint = _HINTS.get(e.kind, "")
        return SuspensionError(e.kind, f"cannot {doing} {owner.describe()}: {e.message}"
                               + (f"; {hint}" if hint else ""))

    async def suspend(self, owner: ManagedBy, token: str, remediation: str
                      ) -> SuspensionResult:
        """Suspend ``owner``'s reconciliation for the intent ``token`` of ``remediation``
        (namespace/name); raises SuspensionError."""
        what = owner.describe()
        for _ in range(self.conflict_retries):
            try:
                current = await self.read(owner)
            except KubernetesError as e:
                raise self._error(owner, "read", e) from e
            done = settle_existing(current, owner.kind, token, what)
            if done is not None:
                return done
            patch = suspend_patch(current, owner.kind, token, remediation)
            previous = patch["metadata"]["annotations"][SUSPENDED_PREVIOUS]
            try:
                await self._patch(owner, patch)
            except KubernetesError as e:
                if e.kind == "conflict":
                    continue
                if e.kind == "unavailable":
                    return await self._settle(owner, token, e)
                raise self._error(owner, "suspend", e) from e
            change = "automated sync removed" if owner.kind == "Application" \
                else "spec.suspend set to true"
            return SuspensionResult(
                suspended_field(owner.kind), previous, True,
                f"suspended the reconciliation of {what}: {change} (was {previous})")
        raise SuspensionError("conflict", f"cannot suspend {what}: it kept changing during "
                              f"{self.conflict_retries} attempts; try again")

    async def _settle(self, owner: ManagedBy, token: str,
                      error: KubernetesError) -> SuspensionResult:
        what = owner.describe()
        try:
            current = await self.read(owner)
        except KubernetesError as e:
            raise SuspensionError("ambiguous", f"suspending {what}: outcome unknown "
                                  f"({error.message}; reading it back failed too: "
                                  f"{e.message}); the same intent settles it later") from e
        if owner_annotations(current).get(SUSPENDED_BY) == token:
            done = settle_existing(current, owner.kind, token, what)
            assert done is not None
            return done
        raise SuspensionError("unavailable", f"suspending {what}: not applied (token {token} "
                              f"absent after: {error.message}); the same intent may be tried "
                              "again") from error

