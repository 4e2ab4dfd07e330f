"""Prometheus API responses turned into samples, series and errors a caller can act on."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from kubeheal.observe.prometheus import (
    PrometheusClient,
    QueryError,
    _payload,
    parse_instant,
    parse_range,
)


def test_vector_keeps_labels_values_and_nan() -> None:
    samples = parse_instant({"resultType": "vector", "result": [
        {"metric": {"deployment": "web"}, "value": [1764334800.5, "0.25"]},
        {"metric": {"deployment": "db"}, "value": [1764334800.5, "NaN"]},
        {"metric": {"deployment": "cache"}, "value": [1764334800.5, "+Inf"]},
    ]})
    assert [dict(s.labels) for s in samples] == [
        {"deployment": "web"}, {"deployment": "db"}, {"deployment": "cache"}]
    assert samples[0].value == 0.25
    assert math.isnan(samples[1].value)
    assert samples[2].value == math.inf
    assert samples[0].timestamp == datetime.fromtimestamp(1764334800.5, UTC)


def test_labels_are_read_only() -> None:
    sample = parse_instant({"resultType": "vector", "result": [
        {"metric": {"a": "b"}, "value": [1, "1"]}]})[0]
    with pytest.raises(TypeError):
        sample.labels["a"] = "c"  # type: ignore[index]


def test_empty_vector_is_an_empty_list() -> None:
    assert parse_instant({"resultType": "vector", "result": []}) == []


def test_range_vector_in_an_instant_query_is_a_bad_query() -> None:
    with pytest.raises(QueryError) as e:
        parse_instant({"resultType": "matrix", "result": []})
    assert e.value.kind == "bad-query"
    assert "query_range" in e.value.message


def test_matrix_points_in_order_with_nan() -> None:
    (series,) = parse_range({"resultType": "matrix", "result": [
        {"metric": {"job": "x"}, "values": [[10, "1"], [11, "NaN"], [12, "3"]]}]})
    assert dict(series.labels) == {"job": "x"}
    assert [p[0] for p in series.points] == [10.0, 11.0, 12.0]
    assert math.isnan(series.points[1][1])


@pytest.mark.parametrize(
    ("status", "body", "kind", "text"),
    [
        (400, {"status": "error", "errorType": "bad_data",
               "error": '1:6: parse error: unclosed left parenthesis'}, "bad-query",
         "unclosed left parenthesis"),
        (422, {"status": "error", "errorType": "execution",
               "error": "found duplicate series for the match group"}, "bad-query",
         "duplicate series"),
        (503, {"status": "error", "errorType": "timeout", "error": "query timed out"},
         "timeout", "timed out"),
        (503, {"status": "error", "errorType": "unavailable", "error": "not ready"},
         "unavailable", "not ready"),
        (500, None, "unavailable", "HTTP 500"),
        (502, "<html>bad gateway</html>", "unavailable", "HTTP 502"),
    ],
)
def test_error_responses(status: int, body: object, kind: str, text: str) -> None:
    with pytest.raises(QueryError) as e:
        _payload("http://prom/api/v1/query", status, body)
    assert e.value.kind == kind
    assert text in str(e.value)


def test_success_returns_data() -> None:
    data = {"resultType": "vector", "result": []}
    assert _payload("u", 200, {"status": "success", "data": data}) == data


async def test_naive_datetime_is_refused() -> None:
    client = PrometheusClient("http://127.0.0.1:9")
    with pytest.raises(ValueError, match="time zone"):
        await client.query("up", at=datetime(2026, 1, 1))
    await client.close()


async def test_non_positive_step_is_refused() -> None:
    now = datetime.now(UTC)
    async with PrometheusClient("http://127.0.0.1:9") as client:
        with pytest.raises(ValueError, match="step_seconds"):
            await client.query_range("up", now, now, 0)
