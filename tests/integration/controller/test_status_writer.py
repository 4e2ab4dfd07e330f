"""Runbook status writes on a real API server: latest wins, an unchanged status is not
written again before its heartbeat, a deleted runbook is forgotten.

The writes go through the operator's own identity (the chart's RBAC and admission policies);
the store only counts the PATCHes it sends.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator

import pytest
from kubernetes import client

from integration.act.workloads import INSECURE
from kubeheal.controller.status_writer import StatusWriter
from kubeheal.controller.store import Json, ObjectStore
from kubeheal.observe.kubernetes import api_client_from_kubeconfig
from localstack import Cluster
from loopstack import demo_runbook, install_operator_identity

pytestmark = [pytest.mark.stack, pytest.mark.filterwarnings(INSECURE)]


class CountingStore(ObjectStore):
    """The real store, counting the status PATCHes it sends."""

    patches = 0

    async def patch_status(self, plural: str, namespace: str, name: str, status: Json,
                           resource_version: str | None = None) -> Json:
        self.patches += 1
        return await super().patch_status(plural, namespace, name, status, resource_version)


@pytest.fixture(scope="module")
def api(crds: Cluster) -> Iterator[client.ApiClient]:
    with api_client_from_kubeconfig(install_operator_identity(crds)) as api:
        yield api


def status(open_remediations: int, second: int = 0) -> Json:
    return {"openRemediations": open_remediations,
            "lastEvaluationTime": f"2026-01-01T00:00:{second:02}Z"}


async def until(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


async def test_latest_wins_unchanged_waits_for_the_heartbeat_and_gone_is_forgotten(
        api: client.ApiClient, crds: Cluster, namespace: str) -> None:
    for name in ("a", "b"):
        crds.kubectl("apply", "-n", namespace, "-f", "-",
                     input=json.dumps(demo_runbook(name, namespace)))
    store = CountingStore(api)
    clock = [0.0]
    writer = StatusWriter(store, workers=2, heartbeat=120.0, clock=lambda: clock[0])
    writer.start()
    try:
        async def written(name: str) -> Json:
            return (await store.get("runbooks", namespace, name)).get("status") or {}

        # Thirty statuses handed over at once: only the last is written, once.
        for i in range(30):
            writer.submit(namespace, "a", status(i))
        await until("the writer idle", lambda: writer.idle)
        assert store.patches == 1
        assert (await written("a"))["openRemediations"] == 29

        # The same status at later evaluations: nothing written within the heartbeat...
        for second in range(1, 8):
            clock[0] = second * 15.0
            writer.submit(namespace, "a", status(29, second))
            await until("the writer idle", lambda: writer.idle)
        assert store.patches == 1
        assert (await written("a"))["lastEvaluationTime"] == "2026-01-01T00:00:00Z"
        # ... and written at the heartbeat, with the evaluation's time.
        clock[0] = 120.0
        writer.submit(namespace, "a", status(29, 8))
        await until("the heartbeat written", lambda: writer.idle)
        assert store.patches == 2
        assert (await written("a"))["lastEvaluationTime"] == "2026-01-01T00:00:08Z"
        # A change is written at once.
        clock[0] = 135.0
        writer.submit(namespace, "a", status(0, 9))
        await until("the change written", lambda: writer.idle)
        assert store.patches == 3 and (await written("a"))["openRemediations"] == 0

        # A runbook deleted meanwhile: its write fails, the writer goes on with the others.
        crds.kubectl("delete", "runbook", "a", "-n", namespace)
        writer.submit(namespace, "a", status(5, 10))
        writer.submit(namespace, "b", status(7, 10))
        await until("the writer idle", lambda: writer.idle)
        assert (await written("b"))["openRemediations"] == 7
        assert store.patches == 5
    finally:
        writer.stop()
