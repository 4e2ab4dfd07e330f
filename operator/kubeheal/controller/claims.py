"""Incident claims: at most one open incident per workload, guaranteed by the API server.

Every workload kubeheal heals has one claim, an ``IncidentClaim`` (:mod:`kubeheal.api.claim`)
in its namespace named after the workload's kind and name (:func:`claim_name`). The claim's
holder is the Remediation of the workload's current or last incident, and its sequence counts
the workload's incidents. Opening an incident takes the claim first: a create for the first
incident, else a replace carrying the resourceVersion that was read, so that of two runbooks
(or two operator processes) opening an incident for one workload at the same moment, the API
server lets exactly one through and refuses the other with a conflict. The Remediation is then
created under the name the claim names (:func:`remediation_name`), derived from (kind,
workload, sequence), so that even a repeated create cannot make a second one.

The claim is also how the operator knows its own: a Remediation that no claim names was not
opened by kubeheal, and is never acted on. Claims are kubeheal's own kind, so the operator's
rights on them reach nothing else, and the identity admission policy lets only the operator
write them (a claim moved by someone else would have the operator adopt their Remediation).

A claim is a record, not a lock with an expiry: nothing renews it, and whether its holder is
still open is read from the holder's phase. A claim lives as long as its incident: closing the
incident deletes it (:meth:`IncidentClaims.release`), and a sweep deletes those whose holder
closed without it (:meth:`IncidentClaims.sweep`). Each delete is conditioned on the
resourceVersion read with the closed holder: a claim that the workload's next incident took
meanwhile is never deleted, and an incident that finds its claim gone creates a new one, which
the API server lets only one incident do.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kubernetes import client

from kubeheal.api.base import GROUP, VERSION
from kubeheal.api.claim import IncidentClaim
from kubeheal.api.remediation import Phase
from kubeheal.controller.store import Json
from kubeheal.observe.kubernetes import KubernetesError, call

log = logging.getLogger(__name__)

PLURAL = "incidentclaims"
WORKLOAD_KIND = "Deployment"
"""The kind of workload a runbook selects unless its ``targetKind`` says otherwise."""
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet"})
"""The kinds of workload that incidents are opened for, each with claims of its own."""
CLAIM_PREFIX = "kubeheal-incident"
CLOSED = frozenset(p.value for p in Phase if p.terminal)
MAX_NAME = 253


def _bounded(name: str) -> str:
    """A name within the API's 253 characters: a long one keeps its start and gets a hash.

    >>> _bounded("short")
    'short'
    >>> long = _bounded("x" * 300)
    >>> len(long), long[-11:-10]
    (253, '-')
    """
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[:MAX_NAME - 11]}-{digest}"


def claim_name(kind: str, workload: str) -> str:
    """The name of a workload's claim.

    >>> claim_name("Deployment", "checkout")
    'kubeheal-incident-deployment-checkout'
    """
    return _bounded(f"{CLAIM_PREFIX}-{kind.lower()}-{workload}")


def remediation_name(kind: str, workload: str, sequence: int) -> str:
    """The name of a workload's ``sequence``-th incident.

    >>> remediation_name("Deployment", "checkout", 3)
    'checkout-deployment-3'
    """
    suffix = f"-{kind.lower()}-{sequence}"
    return _bounded(workload[:MAX_NAME - len(suffix)] + suffix)


def sequence_of(name: str, kind: str, workload: str) -> int:
    """The sequence in a Remediation's name, 0 when it is not named after the workload.

    >>> sequence_of("checkout-deployment-12", "Deployment", "checkout")
    12
    >>> sequence_of("checkout-deployment-12", "Deployment", "cart")
    0
    """
    prefix = remediation_name(kind, workload, 0)[:-1]
    rest = name[len(prefix):] if name.startswith(prefix) else ""
    return int(rest) if rest.isdigit() else 0


@dataclass(frozen=True)
class Claim:
    """A workload's claim as read: who holds it, how many incidents, at which version."""

    holder: str
    sequence: int
    resource_version: str

    @classmethod
    def from_api(cls, body: Json) -> Claim:
        """A claim as the API server returns it.

        >>> Claim.from_api({"metadata": {"resourceVersion": "7"},
        ...                 "spec": {"holder": "web-deployment-2", "sequence": 2}})
        Claim(holder='web-deployment-2', sequence=2, resource_version='7')
        """
        spec = body.get("spec") or {}
        return cls(holder=str(spec.get("holder") or ""), sequence=int(spec.get("sequence") or 0),
                   resource_version=str(body["metadata"]["resourceVersion"]))


class ClaimTaken(Exception):
    """Another incident took the claim between our read and our write."""


class IncidentClaims:
    """The claims of workloads, in the API server."""

    def __init__(self, api_client: client.ApiClient, timeout: float = 10.0,
                 fence: Callable[[], None] | None = None) -> None:
        self.objects = client.CustomObjectsApi(api_client)
        self.timeout = timeout
        self.fence = fence  # raises unless this process may write (it holds the lease)

    async def read(self, namespace: str, kind: str, workload: str) -> Claim | None:
        """The workload's claim; None when it never had an incident."""
        try:
            body = await call(self.objects.get_namespaced_custom_object, GROUP, VERSION,
                              namespace, PLURAL, claim_name(kind, workload),
                              timeout=self.timeout)
        except KubernetesError as e:
            if e.kind == "not-found":
                return None
            raise
        return Claim.from_api(body)

    async def take(self, namespace: str, kind: str, workload: str, runbook: str,
                   previous: Claim | None, known: int = 0) -> str:
        """Take the claim for the workload's next incident; returns the Remediation's name.

        ``previous`` is the claim as read (None: there was none); ``known`` the highest
        sequence of the workload's Remediations that exist (a lost claim, say deleted where the
        admission policy is not installed, restarts after them, not on a name already taken).
        Raises :class:`ClaimTaken` when the claim changed since it was read: another incident
        was opened meanwhile.
        """
        sequence = max(previous.sequence if previous else 0, known) + 1
        name = remediation_name(kind, workload, sequence)
        body = IncidentClaim.model_validate({
            "metadata": {"name": claim_name(kind, workload), "namespace": namespace},
            "spec": {"kind": kind, "workload": workload, "holder": name, "sequence": sequence,
                     "runbook": runbook},
        }).to_api()
        try:
            if previous is None:
                await call(self.objects.create_namespaced_custom_object, GROUP, VERSION,
                           namespace, PLURAL, body, timeout=self.timeout, fence=self.fence)
            else:
                body["metadata"]["resourceVersion"] = previous.resource_version
                await call(self.objects.replace_namespaced_custom_object, GROUP, VERSION,
                           namespace, PLURAL, body["metadata"]["name"], body,
                           timeout=self.timeout, fence=self.fence)
        except KubernetesError as e:
            # AlreadyExists or a stale resourceVersion; or the claim read was released since.
            if e.kind == "conflict" or (e.kind == "not-found" and previous is not None):
                raise ClaimTaken(e.message) from e
            raise
        return name

    async def release(self, namespace: str, kind: str, workload: str, remediation: str) -> bool:
        """Delete the workload's claim if it names ``remediation``, whose incident is closed;
        whether it was deleted. A claim taken meanwhile by the next incident stays."""
        claim = await self.read(namespace, kind, workload)
        if claim is None or claim.holder != remediation:
            return False
        return await self._delete(namespace, claim_name(kind, workload), claim.resource_version)

    async def sweep(self, namespaces: Sequence[str]) -> int:
        """Delete the claims whose holder is closed, in ``namespaces`` (every namespace when
        empty); how many. A claim whose holder does not exist is left alone: its incident may
        be being opened right now (it is taken over by the workload's next incident)."""
        if namespaces:
            items = [item for namespace in namespaces for item in (await call(
                self.objects.list_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL,
                timeout=self.timeout)).get("items", [])]
        else:
            items = (await call(self.objects.list_cluster_custom_object, GROUP, VERSION, PLURAL,
                                timeout=self.timeout)).get("items", [])
        released = 0
        for item in items:
            meta, claim = item["metadata"], Claim.from_api(item)
            try:
                holder = await call(self.objects.get_namespaced_custom_object, GROUP, VERSION,
                                    meta["namespace"], "remediations", claim.holder,
                                    timeout=self.timeout)
            except KubernetesError as e:
                if e.kind == "not-found":
                    continue
                raise
            phase = (holder.get("status") or {}).get("phase")
            if phase in CLOSED and await self._delete(meta["namespace"], meta["name"],
                                                      claim.resource_version):
                released += 1
        return released

    async def _delete(self, namespace: str, name: str, resource_version: str) -> bool:
        try:
            await call(self.objects.delete_namespaced_custom_object, GROUP, VERSION, namespace,
                       PLURAL, name, body={"preconditions": {"resourceVersion": resource_version}},
                       timeout=self.timeout, fence=self.fence)
        except KubernetesError as e:
            if e.kind in ("conflict", "not-found"):  # taken by the next incident, or gone
                return False
            raise
        log.info("incident claim %s/%s released: its incident is closed", namespace, name)
        return True

    async def names(self, namespace: str, kind: str, workload: str, remediation: str) -> bool:
        """Whether the workload's claim names ``remediation``: kubeheal opened it."""
        claim = await self.read(namespace, kind, workload)
        return claim is not None and claim.holder == remediation


UNCLAIMED_REASON = "NotOpenedByKubeheal"


def unclaimed_message(body: Json) -> str:
    """Why a Remediation that no claim names is not acted on."""
    target = (body.get("spec") or {}).get("target") or {}
    workload, kind = str(target.get("name", "?")), str(target.get("kind") or WORKLOAD_KIND)
    return (f"not opened by kubeheal: the incident claim of {kind.lower()} {workload} "
            f"(IncidentClaim {claim_name(kind, workload)}) does not name this "
            "remediation; it is never acted on")


_OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


async def opened_by_kubeheal(claims: IncidentClaims, body: Json) -> bool:
    """Whether kubeheal opened this Remediation: its workload's claim names it.

    kubeheal opens incidents only for workloads that exist, in the Remediation's namespace:
    a target that cannot be an object's name was never one of them.
    """
    meta = body["metadata"]
    target = (body.get("spec") or {}).get("target") or {}
    name, kind = target.get("name"), target.get("kind") or WORKLOAD_KIND
    if (not isinstance(name, str) or not _OBJECT_NAME.fullmatch(name)
            or target.get("namespace") != meta["namespace"] or kind not in WORKLOAD_KINDS):
        return False
    return await claims.names(meta["namespace"], kind, name, meta["name"])
