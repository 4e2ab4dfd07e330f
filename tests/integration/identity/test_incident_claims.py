"""Incident claims on the real API server: of two openings of one workload's incident at the
same moment, exactly one gets through, whatever the timing."""

from __future__ import annotations

import asyncio

import pytest

from kubeheal.controller.claims import ClaimTaken, IncidentClaims
from kubeheal.observe.kubernetes import api_client_from_kubeconfig
from localstack import Cluster

pytestmark = [pytest.mark.stack,
              pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")]


async def test_one_claim_wins(crds: Cluster, namespace: str) -> None:
    claims = IncidentClaims(api_client_from_kubeconfig(crds.kubeconfig))
    assert await claims.read(namespace, "Deployment", "web") is None

    first = await asyncio.gather(
        *(claims.take(namespace, "Deployment", "web", f"runbook-{i}", None) for i in range(2)),
        return_exceptions=True)
    assert sorted(map(type, first), key=str) == sorted([str, ClaimTaken], key=str), first
    claim = await claims.read(namespace, "Deployment", "web")
    assert claim is not None and (claim.holder, claim.sequence) == ("web-deployment-1", 1)

    # Both read the same claim, both try to take it: the resourceVersion lets one through.
    second = await asyncio.gather(
        *(claims.take(namespace, "Deployment", "web", f"runbook-{i}", claim) for i in range(2)),
        return_exceptions=True)
    assert [r for r in second if isinstance(r, str)] == ["web-deployment-2"], second
    assert sum(isinstance(r, ClaimTaken) for r in second) == 1
    assert await claims.names(namespace, "Deployment", "web", "web-deployment-2")
    assert not await claims.names(namespace, "Deployment", "web", "web-deployment-1")

    # A claim read before the last change is stale: refused.
    with pytest.raises(ClaimTaken):
        await claims.take(namespace, "Deployment", "web", "runbook-0", claim)
    # Remediations left from before a claim was deleted by hand are not named again.
    latest = await claims.read(namespace, "Deployment", "web")
    assert await claims.take(namespace, "Deployment", "web", "runbook-0", latest,
                             known=7) == "web-deployment-8"
