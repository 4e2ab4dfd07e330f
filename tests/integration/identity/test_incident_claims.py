"""Incident claims on the real API server, taken under the operator's own identity: of two
openings of one workload's incident at the same moment, exactly one gets through, whatever the
timing; a claim only moves to a later incident; and nobody but the operator writes a claim,
cluster administrators included (a moved claim would have the operator adopt a Remediation it
did not open)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from kubeheal.controller.claims import ClaimTaken, IncidentClaims, claim_name
from kubeheal.controller.store import ObjectStore
from kubeheal.observe.kubernetes import api_client_from_kubeconfig
from localstack import Cluster, binary
from loopstack import OPERATOR_USER, install_operator_identity

pytestmark = [pytest.mark.stack,
              pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")]
Json = dict[str, Any]


@pytest.fixture(scope="module")
def operator(crds: Cluster) -> Path:
    """A kubeconfig of the operator's ServiceAccount, with the chart's RBAC and the admission
    policies installed."""
    return install_operator_identity(crds)


def claims_as(config: Path) -> IncidentClaims:
    return IncidentClaims(api_client_from_kubeconfig(config))


def kubectl_as(config: Path, *args: str, input: str | None = None,
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("kubectl"), f"--kubeconfig={config}", *args],
                          capture_output=True, text=True, timeout=60, input=input)


def get_claim(c: Cluster, namespace: str, workload: str) -> Json:
    body: Json = json.loads(c.kubectl("get", "incidentclaim",
                                      claim_name("Deployment", workload), "-n", namespace,
                                      "-o", "json").stdout)
    return body


async def test_one_claim_wins(operator: Path, namespace: str) -> None:
    claims = claims_as(operator)
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
    # Remediations left from before a claim was lost are not named again.
    latest = await claims.read(namespace, "Deployment", "web")
    assert await claims.take(namespace, "Deployment", "web", "runbook-0", latest,
                             known=7) == "web-deployment-8"


async def test_a_claim_is_a_kubeheal_object(crds: Cluster, operator: Path,
                                            namespace: str) -> None:
    """What `kubectl get incidentclaims` shows; and no Lease is written."""
    await claims_as(operator).take(namespace, "Deployment", "cart", "shop", None)
    body = get_claim(crds, namespace, "cart")
    assert body["spec"] == {"kind": "Deployment", "workload": "cart",
                            "holder": "cart-deployment-1", "sequence": 1, "runbook": "shop"}
    table = crds.kubectl("get", "iclaim", "-n", namespace, "-o", "wide").stdout.split()
    assert table[:6] == ["NAME", "KIND", "WORKLOAD", "HOLDER", "INCIDENTS", "RUNBOOK"]
    assert table[7:12] == [claim_name("Deployment", "cart"), "Deployment", "cart",
                           "cart-deployment-1", "1"]
    assert crds.kubectl("get", "leases", "-n", namespace, "-o", "name").stdout == ""


def test_a_claim_moves_only_to_a_later_incident(crds: Cluster, operator: Path,
                                                namespace: str) -> None:
    """Even the operator's own writes: the CRD refuses another holder under the same number,
    a lower number, or another workload."""
    asyncio.run(claims_as(operator).take(namespace, "Deployment", "web", "shop", None))
    for change, message in (({"holder": "web-deployment-9"}, "sequence must grow"),
                            ({"sequence": 0}, "spec.sequence"),
                            ({"workload": "cart", "sequence": 2}, "kind and workload are "
                                                                   "immutable")):
        body = get_claim(crds, namespace, "web")
        body["spec"].update(change)
        result = kubectl_as(operator, "replace", "-f", "-", input=json.dumps(body))
        assert result.returncode != 0, change
        assert message in result.stderr, result.stderr
    assert get_claim(crds, namespace, "web")["spec"]["holder"] == "web-deployment-1"


def test_nobody_but_the_operator_writes_a_claim(crds: Cluster, operator: Path,
                                                namespace: str) -> None:
    """Carol holds every verb on incidentclaims, the administrator holds every right: neither
    may create, move or delete a claim; the namespace still goes away with its claims."""
    crds.kubectl("create", "role", "claim-writer", "-n", namespace,
                 "--verb=get,list,create,update,patch,delete",
                 "--resource=incidentclaims.kubeheal.io")
    crds.kubectl("create", "rolebinding", "carol-claims", "-n", namespace,
                 "--role=claim-writer", "--user=carol")
    refused = f'is not the kubeheal operator ({OPERATOR_USER})'
    forged = {"apiVersion": "kubeheal.io/v1alpha1", "kind": "IncidentClaim",
              "metadata": {"name": claim_name("Deployment", "cart"), "namespace": namespace},
              "spec": {"workload": "cart", "holder": "cart-deployment-1", "sequence": 1,
                       "runbook": "shop"}}
    for user in ("carol", "admin"):
        result = crds.kubectl("create", "-f", "-", input=json.dumps(forged), user=user,
                              check=False)
        assert result.returncode != 0, user
        assert f'incident claims are written by kubeheal only: user "{user}" {refused}' in \
            result.stderr, result.stderr
    assert crds.kubectl("get", "incidentclaims", "-n", namespace, "-o", "name").stdout == ""

    asyncio.run(claims_as(operator).take(namespace, "Deployment", "web", "shop", None))
    name = claim_name("Deployment", "web")
    moved = {"spec": {"holder": "web-deployment-2", "sequence": 2}}
    for user in ("carol", "admin"):
        for how in (["patch", "incidentclaim", name, "-n", namespace, "--type=merge", "-p",
                     json.dumps(moved)],
                    ["label", "incidentclaim", name, "-n", namespace, "seen=yes"],
                    ["delete", "incidentclaim", name, "-n", namespace, "--wait=false"]):
            result = crds.kubectl(*how, user=user, check=False)
            assert result.returncode != 0, (user, how)
            assert "incident claims are written by kubeheal only" in result.stderr, how
    body = get_claim(crds, namespace, "web")
    assert body["spec"]["holder"] == "web-deployment-1"
    assert "deletionTimestamp" not in body["metadata"]

    # A namespace being deleted takes its claims along: nothing holds it back.
    crds.kubectl("delete", "namespace", namespace, "--wait=false")
    deadline = time.monotonic() + 90
    while crds.kubectl("get", "namespace", namespace, check=False).returncode == 0:
        assert time.monotonic() < deadline, crds.kubectl(
            "get", "namespace", namespace, "-o", "yaml").stdout
        time.sleep(1)


def remediation(namespace: str, workload: str, name: str) -> Json:
    return {
        "apiVersion": "kubeheal.io/v1alpha1", "kind": "Remediation",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"kubeheal.io/runbook": "shop", "kubeheal.io/target": workload}},
        "spec": {"runbookRef": {"name": "shop"},
                 "target": {"namespace": namespace, "name": workload},
                 "trigger": {"startedAt": "2026-11-28T10:00:00Z",
                             "detectedAt": "2026-11-28T10:00:10Z", "score": 0.99},
                 "diagnosis": {"cause": "change"}},
    }


async def test_a_closed_incidents_claim_is_released_and_the_next_one_claims_anew(
        operator: Path, namespace: str) -> None:
    claims = claims_as(operator)
    first = await claims.take(namespace, "Deployment", "web", "shop", None)
    read = await claims.read(namespace, "Deployment", "web")
    assert read is not None

    assert not await claims.release(namespace, "Deployment", "web", "web-deployment-9"), \
        "a claim naming another incident stays"
    assert await claims.release(namespace, "Deployment", "web", first)
    assert await claims.read(namespace, "Deployment", "web") is None
    # Whoever read the claim before it was released cannot take it over: it is gone.
    with pytest.raises(ClaimTaken):
        await claims.take(namespace, "Deployment", "web", "shop", read)
    # The next incident creates the claim again, numbered after the Remediations that exist;
    # of two at once, one gets through.
    again = await asyncio.gather(
        *(claims.take(namespace, "Deployment", "web", "shop", None, known=1) for _ in range(2)),
        return_exceptions=True)
    assert sorted(map(str, again))[1:] == ["web-deployment-2"], again
    assert sum(isinstance(r, ClaimTaken) for r in again) == 1
    # A release on a stale read never deletes the claim the next incident holds now.
    taken = await claims.read(namespace, "Deployment", "web")
    assert taken is not None and taken.holder == "web-deployment-2"
    assert not await claims._delete(namespace, claim_name("Deployment", "web"),
                                    read.resource_version)
    assert await claims.names(namespace, "Deployment", "web", "web-deployment-2")


async def test_the_sweep_deletes_only_the_claims_of_closed_incidents(
        operator: Path, namespace: str) -> None:
    claims = claims_as(operator)
    store = ObjectStore(api_client_from_kubeconfig(operator))
    holders = {}
    for workload in ("closed", "open", "unborn"):
        holders[workload] = await claims.take(namespace, "Deployment", workload, "shop", None)
    for workload, phase in (("closed", "Succeeded"), ("open", "Verifying")):
        await store.create("remediations", namespace,
                           remediation(namespace, workload, holders[workload]))
        await store.patch_status("remediations", namespace, holders[workload],
                                 {"phase": phase})

    assert await claims.sweep([namespace]) == 1
    assert await claims.read(namespace, "Deployment", "closed") is None
    assert await claims.names(namespace, "Deployment", "open", holders["open"])
    # A claim whose Remediation does not exist (yet) is left to the incident opening it.
    assert await claims.names(namespace, "Deployment", "unborn", holders["unborn"])
    assert await claims.sweep([namespace]) == 0
