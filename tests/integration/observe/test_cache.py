"""The watch-backed cache on the local cluster: it follows changes, and reading it costs the
API server nothing (the audit log says so)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import pytest
from kubernetes import client

from auditlog import AuditLog
from integration.act.workloads import INSECURE, api_client, apply, deployment_manifest, eventually
from kubeheal.api.base import LabelSelector
from kubeheal.observe.cache import WatchedObjects
from kubeheal.observe.kubernetes import KubernetesError
from localstack import Cluster

pytestmark = [pytest.mark.stack, pytest.mark.filterwarnings(INSECURE)]


@pytest.fixture
def api(cluster: Cluster) -> Iterator[client.ApiClient]:
    with api_client(cluster) as api:
        yield api


def names(cache: WatchedObjects, namespace: str, selector: LabelSelector | None = None,
          ) -> set[str]:
    return {d["metadata"]["name"] for d in cache.in_namespace(namespace, selector)}


async def test_the_cache_follows_creations_label_changes_and_deletions(
        cluster: Cluster, api: client.ApiClient, namespace: str) -> None:
    apply(cluster, deployment_manifest(namespace, "web"))
    cache = WatchedObjects.deployments(api, [namespace])
    cache.start()
    try:
        await asyncio.wait_for(cache.wait_synced(), 30)
        assert names(cache, namespace) == {"web"}  # listed
        assert "managedFields" not in cache.in_namespace(namespace)[0]["metadata"]

        apply(cluster, deployment_manifest(namespace, "db"))
        await eventually(lambda: _async(names(cache, namespace) == {"web", "db"}), "db seen")

        selector = LabelSelector(match_labels={"tier": "data"})
        assert names(cache, namespace, selector) == set()
        cluster.kubectl("label", "deployment", "db", "-n", namespace, "tier=data")
        await eventually(lambda: _async(names(cache, namespace, selector) == {"db"}),
                         "the label change seen")

        cluster.kubectl("delete", "deployment", "web", "-n", namespace)
        await eventually(lambda: _async(names(cache, namespace) == {"db"}), "deletion seen")
        assert cache.lists == 1  # one LIST, then only the watch
        with pytest.raises(KubernetesError, match="not watched"):
            cache.in_namespace("elsewhere")
    finally:
        cache.stop()


async def test_reads_from_the_cache_make_no_request(
        cluster: Cluster, api: client.ApiClient, namespace: str) -> None:
    apply(cluster, deployment_manifest(namespace, "web"))
    cache = WatchedObjects.deployments(api, [namespace])
    cache.start()
    try:
        await asyncio.wait_for(cache.wait_synced(), 30)
        audit = AuditLog(cluster.audit_log)
        audit.records()
        since = dt.datetime.now(dt.UTC)
        for _ in range(50):
            assert names(cache, namespace) == {"web"}
        cluster.kubectl("get", "namespace", namespace)  # a request of ours marks the end
        marker = await eventually(
            lambda: _async(next((r for r in audit.records() if r.time >= since
                                 and r.resource == "namespaces" and r.verb == "get"), None)),
            "the marker request audited")
        reads = [r for r in audit.records() if since <= r.time <= marker.time
                 and r.namespace == namespace and r.resource == "deployments"]
        assert [r.verb for r in reads] == []
    finally:
        cache.stop()


async def _async(value: object) -> object:
    return value or None
