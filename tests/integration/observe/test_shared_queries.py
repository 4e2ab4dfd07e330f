"""Shared signal queries against a real Prometheus: one request per query and time for every
namespace that asks, scoped to those namespaces; Prometheus' own request counter is the
evidence."""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server
from scalestack import counters

from integration.act.workloads import eventually
from kubeheal.observe.prometheus import PrometheusClient, QueryError, SharedQueries
from localstack import Prometheus, free_port

pytestmark = pytest.mark.stack
QUERY = "max by (namespace, deployment) (kubeheal_test_memory)"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    registry = CollectorRegistry()
    gauge = Gauge("kubeheal_test_memory", "Memory.", ["namespace", "deployment"],
                  registry=registry)
    for namespace in ("a", "b", "c"):
        gauge.labels(namespace, "web").set(1.0)
    gauge.labels("a", "db").set(2.0)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    prom = Prometheus(tmp_path_factory.mktemp("prometheus"), targets=[f"127.0.0.1:{port}"],
                      scrape_interval="1s")
    prom.start()
    yield prom
    prom.stop()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
async def client(prometheus: Prometheus) -> AsyncIterator[PrometheusClient]:
    async with PrometheusClient(prometheus.url, timeout=5.0) as prom:
        async def scraped() -> bool:
            return len(await prom.query(QUERY)) == 4

        await eventually(scraped, "scraped", timeout=60)
        yield prom


def queries_answered(prometheus: Prometheus) -> float:
    with urllib.request.urlopen(f"{prometheus.url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return counters(text, "prometheus_http_requests_total", {"handler": "/api/v1/query"})


async def test_one_request_per_query_and_time_scoped_to_the_namespaces_that_ask(
        client: PrometheusClient, prometheus: Prometheus) -> None:
    shared = SharedQueries(client)
    first = datetime.now(UTC)
    a = await shared.query(QUERY, first, "a")
    b = await shared.query(QUERY, first, "b")  # a newcomer: a request of its own, this once
    assert {(s.labels["namespace"], s.labels["deployment"]) for s in a} == {("a", "web"),
                                                                          ("a", "db")}
    assert {s.labels["namespace"] for s in b} == {"b"}

    before = queries_answered(prometheus)
    second = first + timedelta(seconds=1)
    answers = [await shared.query(QUERY, second, n) for n in ("a", "b", "a", "b")]
    assert queries_answered(prometheus) - before == 1
    assert [len(x) for x in answers] == [2, 1, 2, 1]  # namespace c is never read


async def test_a_bad_query_fails_every_asker_with_the_error_as_written(
        client: PrometheusClient) -> None:
    shared = SharedQueries(client)
    at = datetime.now(UTC)
    for namespace in ("a", "b"):
        with pytest.raises(QueryError) as e:
            await shared.query("max by (namespace) (", at, namespace)
        assert e.value.kind == "bad-query"
        assert "namespace=~" not in e.value.message
