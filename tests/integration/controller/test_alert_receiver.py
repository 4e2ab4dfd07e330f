"""The Alertmanager receiver on a real API server, as the operator's identity: who may call
it, what it records on the Runbooks that name the alerts, and that two replicas receiving at
the same time never lose each other's records."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from integration.act.workloads import INSECURE
from kubeheal.controller.alert_receiver import PATH, AlertReceiver, serve_alert_receiver
from kubeheal.controller.store import ObjectStore, now
from kubeheal.observe.alertmanager import parse_webhook
from kubeheal.observe.kubernetes import api_client_from_kubeconfig
from localstack import Cluster, free_port
from loopstack import install_operator_identity

pytestmark = [pytest.mark.stack, pytest.mark.filterwarnings(INSECURE)]

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def api(crds: Cluster) -> Iterator[client.ApiClient]:
    with api_client_from_kubeconfig(install_operator_identity(crds)) as api:
        yield api


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture
async def receiver(api: client.ApiClient, token_file: Path) -> AsyncIterator[str]:
    port = free_port()
    runner = await serve_alert_receiver(api, port, token_file, address="127.0.0.1")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def runbook(namespace: str, name: str = "web", alertname: str = "HighErrorRate") -> dict[str, Any]:
    return {
        "apiVersion": "kubeheal.io/v1alpha1", "kind": "Runbook",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "signals": [{"name": "load", "role": "load", "query": "vector(1)"}],
                 "actions": [{"name": "restart", "kind": "restart"}],
                 "alerts": [{"matchLabels": {"alertname": alertname}}]},
    }


def alert(namespace: str, fingerprint: str, status: str = "firing",
          alertname: str = "HighErrorRate", workload: str = "web") -> dict[str, Any]:
    return {"status": status, "fingerprint": fingerprint, "startsAt": "2026-12-01T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "annotations": {"summary": "errors"},
            "labels": {"alertname": alertname, "namespace": namespace, "deployment": workload}}


def payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "receiver": "kubeheal", "groupKey": "{}:{}",
            "alerts": list(alerts)}


async def post(url: str, body: Any, token: str | None = TOKEN,
               scheme: str = "Bearer") -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    async with aiohttp.ClientSession() as session, session.post(
            url + PATH, json=body, headers=headers) as response:
        return response.status, await response.json()


async def metric(url: str, name: str, **labels: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as response:
        text = await response.text()
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == name and sample.labels == labels)


async def recorded(store: ObjectStore, namespace: str, name: str = "web") -> dict[str, Any]:
    body = await store.get("runbooks", namespace, name)
    return dict((body.get("status") or {}).get("alerts") or {})


async def test_only_a_caller_with_the_token_is_heard(receiver: str, api: client.ApiClient,
                                                     crds: Cluster, namespace: str) -> None:
    crds.kubectl("apply", "-f", "-", input=json.dumps(runbook(namespace)))
    store = ObjectStore(api)
    body = payload(alert(namespace, "aa01"))
    unauthorized = {"name": "kubeheal_alert_receiver_requests_total",
                    "outcome": "unauthorized"}
    before = await metric(receiver, **unauthorized)
    for token, scheme in ((None, "Bearer"), ("wrong", "Bearer"), (TOKEN[:-1], "Bearer"),
                          (TOKEN, "Basic"), ("", "Bearer")):
        status, answer = await post(receiver, body, token, scheme)
        assert status == 401, (token, scheme, answer)
    assert await metric(receiver, **unauthorized) == before + 5
    assert await recorded(store, namespace) == {}

    status, answer = await post(receiver, body)
    assert (status, answer) == (200, {"recorded": 1, "removed": 0, "unmatched": 0})
    record = (await recorded(store, namespace))["aa01"]
    assert (record["name"], record["workload"], record["summary"]) == ("HighErrorRate", "web",
                                                                      "errors")


async def test_bad_payloads_get_400_saying_why(receiver: str) -> None:
    cases = [("not json at all", "not JSON"),
             ([], "JSON object"),
             ({"version": "3", "alerts": []}, "version"),
             (payload({"status": "firing", "labels": {"a": "b"}}), "alerts[0].startsAt")]
    for body, why in cases:
        async with aiohttp.ClientSession() as session, session.post(
                receiver + PATH, data=body if isinstance(body, str) else None,
                json=None if isinstance(body, str) else body,
                headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            assert response.status == 400, body
            assert why in (await response.json())["error"], body


async def test_resolved_removes_and_unmatched_records_nothing(receiver: str, api: client.ApiClient,
                                                               crds: Cluster,
                                                               namespace: str) -> None:
    crds.kubectl("apply", "-f", "-", input=json.dumps(runbook(namespace)))
    store = ObjectStore(api)
    status, _ = await post(receiver, payload(alert(namespace, "bb01"), alert(namespace, "bb02")))
    assert status == 200 and set(await recorded(store, namespace)) == {"bb01", "bb02"}
    status, answer = await post(receiver, payload(
        alert(namespace, "bb01", status="resolved"),
        alert(namespace, "bb03", alertname="DiskFull"),
        alert("elsewhere", "bb04")))
    assert answer == {"recorded": 0, "removed": 1, "unmatched": 2}
    assert set(await recorded(store, namespace)) == {"bb02"}


async def test_two_replicas_receiving_at_once_keep_every_record(
        api: client.ApiClient, crds: Cluster, namespace: str, token_file: Path) -> None:
    crds.kubectl("apply", "-f", "-", input=json.dumps(runbook(namespace)))
    store = ObjectStore(api)
    replicas = [AlertReceiver(ObjectStore(api), token_file) for _ in range(2)]
    await asyncio.gather(*(
        replicas[i % 2].record(parse_webhook(payload(alert(namespace, f"cc{i:02d}"))), now())
        for i in range(10)))
    assert set(await recorded(store, namespace)) == {f"cc{i:02d}" for i in range(10)}


def test_nobody_but_the_operator_records_alerts(api: client.ApiClient, crds: Cluster,
                                                namespace: str) -> None:
    """A recorded alert opens an incident: a cluster admin cannot forge one (the admission
    policy of deploy/admission/identity.yaml), and may still write the rest of the status."""
    crds.kubectl("apply", "-f", "-", input=json.dumps(runbook(namespace)))
    forged = {"status": {"alerts": {"ff01": {
        "name": "HighErrorRate", "workload": "web", "startsAt": "2026-12-01T10:00:00Z",
        "receivedAt": "2026-12-01T10:00:00Z"}}}}
    refused = crds.kubectl("patch", "runbook", "web", "-n", namespace, "--subresource=status",
                           "--type=merge", "-p", json.dumps(forged), check=False)
    assert refused.returncode != 0
    assert "written by kubeheal only" in refused.stderr
    allowed = crds.kubectl("patch", "runbook", "web", "-n", namespace, "--subresource=status",
                           "--type=merge", "-p", json.dumps({"status": {"openRemediations": 0}}),
                           check=False)
    assert allowed.returncode == 0, allowed.stderr
