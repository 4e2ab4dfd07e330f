"""The Prometheus client against a real Prometheus server scraping a real exporter."""

from __future__ import annotations

import itertools
import json
import math
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from integration.act.workloads import eventually
from kubeheal.observe.prometheus import LARGE_ANSWER, PrometheusClient, QueryError, Sample
from localstack import Prometheus, free_port

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def exporter() -> Iterator[str]:
    """A process-local exporter with one gauge per deployment; one value is NaN."""
    registry = CollectorRegistry()
    gauge = Gauge("kubeheal_test_load", "Load per deployment.", ["deployment"],
                  registry=registry)
    gauge.labels("web").set(1.5)
    gauge.labels("db").set(math.nan)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield f"127.0.0.1:{port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture(scope="module")
def prometheus(exporter: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    server = Prometheus(tmp_path_factory.mktemp("prometheus"), targets=[exporter],
                        scrape_interval="1s")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def prom(prometheus: Prometheus) -> AsyncIterator[PrometheusClient]:
    async with PrometheusClient(prometheus.url, timeout=5.0) as client:

        async def scraped() -> list[Sample] | None:
            return await client.query("kubeheal_test_load") or None

        await eventually(scraped, "scraped", timeout=60)
        yield client


async def test_instant_query_returns_labelled_samples_with_nan(prom: PrometheusClient) -> None:
    samples = await prom.query("kubeheal_test_load")
    by_deployment = {s.labels["deployment"]: s for s in samples}
    assert set(by_deployment) == {"web", "db"}
    assert by_deployment["web"].value == 1.5
    assert math.isnan(by_deployment["db"].value)
    assert by_deployment["web"].labels["job"] == "kubeheal"
    assert by_deployment["web"].timestamp.tzinfo is not None


async def test_aggregation_and_evaluation_time(prom: PrometheusClient) -> None:
    at = datetime.now(UTC)
    (total,) = await prom.query('sum by (job) (kubeheal_test_load{deployment="web"})', at=at)
    assert dict(total.labels) == {"job": "kubeheal"}
    assert total.value == 1.5
    assert abs((total.timestamp - at).total_seconds()) < 0.01


async def test_bad_promql_names_the_parse_error(prom: PrometheusClient) -> None:
    with pytest.raises(QueryError) as error:
        await prom.query("sum(rate(kubeheal_test_load[1m])")
    assert error.value.kind == "bad-query"
    assert "parse error" in error.value.message


async def test_no_series_is_empty_only_on_request(prom: PrometheusClient) -> None:
    assert await prom.query("kubeheal_no_such_metric") == []
    with pytest.raises(QueryError) as error:
        await prom.query("kubeheal_no_such_metric", require_data=True)
    assert error.value.kind == "empty"


async def test_query_range_returns_points(prom: PrometheusClient) -> None:
    async def history() -> int | None:
        end = datetime.now(UTC)
        series = await prom.query_range('kubeheal_test_load{deployment="web"}',
                                        end - timedelta(seconds=30), end, 1)
        return len(series[0].points) if series and len(series[0].points) >= 3 else None

    await eventually(history, "three points scraped", timeout=60)
    end = datetime.now(UTC)
    (series,) = await prom.query_range('kubeheal_test_load{deployment="web"}',
                                       end - timedelta(seconds=30), end, 1, require_data=True)
    timestamps = [t for t, _ in series.points]
    assert timestamps == sorted(timestamps)
    assert all(v == 1.5 for _, v in series.points)


async def test_a_stopped_prometheus_is_unavailable(
    exporter: str, tmp_path: Path
) -> None:
    server = Prometheus(tmp_path, targets=[exporter])
    server.start()
    async with PrometheusClient(server.url) as client:
        await client.query("up")
        server.stop()
        with pytest.raises(QueryError) as error:
            await client.query("up")
    assert error.value.kind == "unavailable"
    assert server.url in error.value.message


async def test_a_server_that_never_answers_is_a_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts connections in the backlog, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        async with PrometheusClient(url, timeout=0.5) as client:
            with pytest.raises(QueryError) as error:
                await client.query("up")
    assert error.value.kind == "timeout"


async def test_the_start_time_tells_a_restart(prometheus: Prometheus,
                                              prom: PrometheusClient) -> None:
    """What the evaluator reads to know that range windows may span a gap in the samples."""
    first = await prom.started_at()
    assert first is not None and first <= datetime.now(UTC)
    prometheus.restart()

    async def restarted() -> datetime | None:
        try:
            started = await prom.started_at()
        except QueryError:
            return None
        return started if started is not None and started > first else None

    await eventually(restarted, "the new start time", timeout=60)


async def test_a_large_range_answer_is_parsed_off_the_event_loop_to_the_same_points(
    prom: PrometheusClient,
) -> None:
    """Two series of 10,000 points: an answer far above LARGE_ANSWER, decoded a series at a
    time in a worker thread (kubeheal.observe.prometheus.parse_off_loop)."""
    end = datetime.now(UTC).replace(microsecond=0)
    series = await prom.query_range(
        'vector(1) or label_replace(vector(2), "copy", "b", "", "")',
        end - timedelta(seconds=999.9), end, 0.1)
    by_copy = {s.labels.get("copy", ""): s.points for s in series}
    assert set(by_copy) == {"", "b"}
    for copy, value in (("", 1.0), ("b", 2.0)):
        points = by_copy[copy]
        assert len(points) == 10_000
        assert {v for _, v in points} == {value}
        assert points[-1][0] == end.timestamp()
        assert all(b > a for (a, _), (b, _) in itertools.pairwise(points))
    assert 2 * len(json.dumps([[t, "1"] for t, _ in by_copy[""]])) > LARGE_ANSWER
