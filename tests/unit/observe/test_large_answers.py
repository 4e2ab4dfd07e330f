"""Large Prometheus answers are decoded off the event loop, a piece at a time, to the same
values as ``json.loads``."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeheal.observe.prometheus import loads_stepwise, parse_off_loop, parse_range

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(json_values, st.sampled_from([None, 0, 2]), st.integers(0, 4))
def test_stepwise_decoding_equals_json_loads(value: Any, indent: int | None, depth: int) -> None:
    text = json.dumps(value, indent=indent)
    assert loads_stepwise(text, depth) == json.loads(text)


@pytest.mark.parametrize("text", ["", "[1, 2", '{"a" 1}', '{"a": 1,}', "[1] 2", '{1: 2}',
                                  '{"a": [1, 2}'])
def test_stepwise_decoding_refuses_what_json_loads_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        loads_stepwise(text)


def matrix(series: int, points: int) -> bytes:
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"deployment": f"w{k}"},
         "values": [[1700000000 + 15 * i, "NaN" if i == 3 else f"{k + i / 7:.6g}"]
                    for i in range(points)]}
        for k in range(series)]}}).encode()


async def test_the_event_loop_runs_while_a_large_answer_is_parsed() -> None:
    raw = matrix(2000, 240)  # about 14 MB, 480,000 points
    beats = 0
    parsing = asyncio.Event()

    def parse(body: Any) -> list[Any]:
        parsing.set()  # from the worker thread: only its effect is read, after the parse
        return parse_range(body["data"])

    async def heartbeat() -> None:
        nonlocal beats
        while True:
            await asyncio.sleep(0.001)
            beats += 1

    beating = asyncio.create_task(heartbeat())
    await asyncio.sleep(0.01)
    beats = 0
    try:
        series = await parse_off_loop(raw, parse)
    finally:
        beating.cancel()
    assert parsing.is_set()
    assert beats > 0  # a parse on the event loop would leave no beat in between
    expected = parse_range(json.loads(raw)["data"])
    assert [dict(s.labels) for s in series] == [dict(s.labels) for s in expected]
    assert len(series) == 2000 and len(series[5].points) == 240
    point = (1700000150.0, float(f"{5 + 10 / 7:.6g}"))
    assert series[5].points[10] == expected[5].points[10] == point
    assert math.isnan(series[5].points[3][1])


async def test_a_large_answer_that_is_not_json_parses_as_none() -> None:
    assert await parse_off_loop(b"[" * 300_000, lambda body: body) is None
