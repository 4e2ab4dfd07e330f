"""An async client of the Prometheus HTTP API: instant and range queries, errors as values.

Every failure a caller can meet becomes a :class:`QueryError` whose ``kind`` says what to do
about it: ``bad-query`` (fix the PromQL; Prometheus's own parse or execution error is in the
message), ``unavailable`` (Prometheus is down or failing: retry later), ``timeout`` (the query
or the server is too slow) and ``empty`` (no series, raised only when the caller asks for data
with ``require_data=True``). NaN values are kept as ``float('nan')``: detectors count them.

Use::

    async with PrometheusClient("http://prometheus:9090", timeout=5.0) as prom:
        try:
            samples = await prom.query('sum by (deployment) (rate(http_requests_total[1m]))')
        except QueryError as e:
            ...  # e.kind is one of bad-query, unavailable, timeout, empty
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType, TracebackType
from typing import Any, Literal, Self, TypeVar

import aiohttp

from kubeheal.observe.promql import restrict

QueryErrorKind = Literal["bad-query", "unavailable", "timeout", "empty"]
T = TypeVar("T")

LARGE_ANSWER = 256 * 1024
"""Bytes from which an answer is parsed in a worker thread, a piece at a time (see
:func:`parse_off_loop`): a range query over 30,000 series of an hour is hundreds of
megabytes of JSON, seconds of parsing that must not stop the event loop."""


class QueryError(Exception):
    """A query that did not produce data, with a kind a caller can branch on.

    >>> str(QueryError("bad-query", "parse error: unexpected end of input"))
    'bad-query: parse error: unexpected end of input'
    """

    def __init__(self, kind: QueryErrorKind, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind: QueryErrorKind = kind
        self.message = message


@dataclass(frozen=True)
class Sample:
    """One value of an instant query: a series' labels, its value and the evaluation time."""

    labels: Mapping[str, str]
    value: float
    timestamp: datetime


@dataclass(frozen=True)
class Series:
    """One series of a range query: labels and ``(unix seconds, value)`` points, oldest first."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


def _labels(metric: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(metric))


def parse_value(text: str) -> float:
    """A sample value as Prometheus writes it; NaN and infinities included.

    >>> parse_value("0.5"), parse_value("+Inf"), math.isnan(parse_value("NaN"))
    (0.5, inf, True)
    """
    return float(text)


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _unix(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(f"datetime {moment!r} has no time zone; Prometheus needs absolute times")
    return f"{moment.timestamp():.3f}"


def parse_instant(data: Mapping[str, Any]) -> list[Sample]:
    """The ``data`` of an instant query response as samples.

    >>> s = parse_instant({"resultType": "vector", "result": [
    ...     {"metric": {"job": "shop"}, "value": [1700000000, "NaN"]}]})
    >>> dict(s[0].labels), math.isnan(s[0].value), s[0].timestamp.year
    ({'job': 'shop'}, True, 2023)
    >>> parse_instant({"resultType": "scalar", "result": [1700000000, "2"]})[0].value
    2.0
    """
    kind, result = data.get("resultType"), data.get("result")
    if kind == "vector":
        return [
            Sample(_labels(item.get("metric", {})), parse_value(item["value"][1]),
                   _time(float(item["value"][0])))
            for item in result or []
        ]
    if kind in ("scalar", "string"):
        ts, value = result  # type: ignore[misc]
        return [Sample(_labels({}), parse_value(value), _time(float(ts)))]
    if kind == "matrix":
        raise QueryError(
            "bad-query",
            "an instant query returned a range vector; aggregate it over time "
            "(e.g. rate(x[1m])) or use query_range",
        )
    raise QueryError("unavailable", f"unexpected result type {kind!r} from Prometheus")


def parse_range(data: Mapping[str, Any]) -> list[Series]:
    """The ``data`` of a range query response as series.

    >>> parse_range({"resultType": "matrix", "result": [
    ...     {"metric": {}, "values": [[1, "1"], [2, "3"]]}]})[0].points
    ((1.0, 1.0), (2.0, 3.0))
    """
    if data.get("resultType") != "matrix":
        raise QueryError("unavailable", f"unexpected result type {data.get('resultType')!r}")
    return [
        Series(
            _labels(item.get("metric", {})),
            tuple((float(ts), parse_value(v)) for ts, v in item.get("values", [])),
        )
        for item in data.get("result") or []
    ]


class PrometheusClient:
    """Instant and range queries against one Prometheus server.

    The HTTP session is created on first use, inside the running event loop; ``timeout``
    bounds each request end to end and is also passed to Prometheus as the evaluation
    timeout, so a slow query is cut short on the server too.
    """

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Release the connection pool; the client may be used again afterwards."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def query(
        self, promql: str, at: datetime | None = None, *, require_data: bool = False
    ) -> list[Sample]:
        """Evaluate ``promql`` at ``at`` (default: now at the server)."""
        form = {"query": promql}
        if at is not None:
            form["time"] = _unix(at)
        samples = await self._request("/api/v1/query", form, parse_instant)
        if require_data and not samples:
            raise QueryError("empty", f"no series for {promql!r}")
        return samples

    async def query_range(
        self,
        promql: str,
        start: datetime,
        end: datetime,
        step_seconds: float,
        *,
        require_data: bool = False,
    ) -> list[Series]:
        """Evaluate ``promql`` every ``step_seconds`` from ``start`` to ``end``."""
        if step_seconds <= 0 or not math.isfinite(step_seconds):
            raise ValueError(f"step_seconds must be a positive number, got {step_seconds}")
        form = {"query": promql, "start": _unix(start), "end": _unix(end),
                "step": f"{step_seconds:g}"}
        series = await self._request("/api/v1/query_range", form, parse_range)
        if require_data and not any(s.points for s in series):
            raise QueryError("empty", f"no series for {promql!r} between {start} and {end}")
        return series

    async def started_at(self) -> datetime | None:
        """When the server last started (its runtime information); None when the answer does
        not say. A server or proxy without that endpoint raises a QueryError."""
        data = await self._request("/api/v1/status/runtimeinfo", {}, _as_is, method="GET")
        return parse_time(str(data.get("startTime", "")))

    async def _request(self, path: str, form: dict[str, str],
                       parse: Callable[[Mapping[str, Any]], T], method: str = "POST") -> T:
        """The answer's ``data``, parsed by ``parse`` (off the event loop when it is large)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout)
            )
        url = self.base_url + path
        if method == "POST":
            form = {**form, "timeout": f"{self.timeout:g}s"}
        try:
            async with self._session.request(method, url, data=form or None) as response:
                status = response.status
                raw = await response.read()
        except TimeoutError as e:
            raise QueryError("timeout", f"no answer from {url} within {self.timeout:g}s") from e
        except aiohttp.ClientError as e:
            raise QueryError("unavailable", f"cannot reach Prometheus at {url}: {e}") from e

        def answer(body: Any) -> T:
            return parse(_payload(url, status, body))

        if len(raw) < LARGE_ANSWER:
            return answer(_json(raw))
        return await parse_off_loop(raw, answer)


def _as_is(data: Mapping[str, Any]) -> Mapping[str, Any]:
    return data


def _json(raw: bytes) -> Any:
    """The JSON document in ``raw``; None when it is not one (the status then says why)."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested beyond what Python decodes
        return None


async def parse_off_loop(raw: bytes, parse: Callable[[Any], T]) -> T:
    """``parse(json.loads(raw))`` in a worker thread, decoded a piece at a time.

    A thread alone is not enough: ``json.loads`` is C that holds the GIL until the whole
    document is decoded. :func:`loads_stepwise` decodes each array element and object member
    of the outer levels with a call of its own, so that between two calls the event loop gets
    the GIL (Python's switch interval), as it does while ``parse`` builds the series.
    """
    return await asyncio.to_thread(lambda: parse(_stepwise_or_none(raw)))


def _stepwise_or_none(raw: bytes) -> Any:
    try:
        return loads_stepwise(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        return None


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def _skip(text: str, pos: int) -> int:
    """The index of the first character at or after ``pos`` that is not JSON white space."""
    return _SPACE.match(text, pos).end()  # type: ignore[union-attr]  # it matches everywhere


def loads_stepwise(text: str, depth: int = 3) -> Any:
    """``json.loads(text)``, the containers of the first ``depth`` levels decoded one element
    (or member) per call: a range query's series, each with its points, one at a time.

    >>> loads_stepwise('{"data": {"result": [{"values": [[1, "2"]]}, {}]}, "x": [ ]}')
    {'data': {'result': [{'values': [[1, '2']]}, {}]}, 'x': []}
    >>> loads_stepwise('[1, 2')
    Traceback (most recent call last):
    ...
    ValueError: expected ',' or ']' at 5
    """
    value, end = _decode(text, _skip(text, 0), depth)
    end = _skip(text, end)
    if end != len(text):
        raise ValueError(f"extra data at {end}")
    return value


def _decode(text: str, pos: int, depth: int) -> tuple[Any, int]:
    """The JSON value at ``pos`` and the index after it."""
    opening = text[pos : pos + 1]
    if depth <= 0 or opening not in ("{", "["):
        return _DECODER.raw_decode(text, pos)
    closing = "}" if opening == "{" else "]"
    members: dict[str, Any] = {}
    elements: list[Any] = []
    pos = _skip(text, pos + 1)
    if text[pos : pos + 1] == closing:
        return (members if opening == "{" else elements), pos + 1
    while True:
        if opening == "{":
            key, pos = _DECODER.raw_decode(text, pos)
            pos = _skip(text, pos)
            if not isinstance(key, str) or text[pos : pos + 1] != ":":
                raise ValueError(f"expected a key and ':' at {pos}")
            pos = _skip(text, pos + 1)
            members[key], pos = _decode(text, pos, depth - 1)
        else:
            element, pos = _decode(text, pos, depth - 1)
            elements.append(element)
        pos = _skip(text, pos)
        if text[pos : pos + 1] == closing:
            return (members if opening == "{" else elements), pos + 1
        if text[pos : pos + 1] != ",":
            raise ValueError(f"expected ',' or '{closing}' at {pos}")
        pos = _skip(text, pos + 1)


def parse_time(stamp: str) -> datetime | None:
    """An RFC 3339 time as Prometheus writes it (nanoseconds), None if it is not one.

    >>> parse_time("2026-12-02T05:58:01.123456789Z")
    datetime.datetime(2026, 12, 2, 5, 58, 1, 123456, tzinfo=datetime.timezone.utc)
    >>> parse_time("") is None
    True
    """
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", stamp)
    if match is None:
        return None
    whole, fraction, zone = match.groups()
    fraction = (fraction or ".0")[:7]
    return datetime.fromisoformat(whole + fraction + ("+00:00" if zone == "Z" else zone))


_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0,
          "y": 31536000.0}


def longest_range(promql: str) -> float:
    """The longest range selector of a query (``[5m]``, ``[1m30s]``, subqueries' ranges), in
    seconds; 0 for a query without one. How far back one evaluation reads samples.

    >>> longest_range('sum(rate(x[20s])) / sum(rate(y[1m30s]))'), longest_range('max(m)')
    (90.0, 0.0)
    >>> longest_range('max_over_time(rate(x[1m])[10m:30s])')
    600.0
    """
    longest = 0.0
    for selector in re.findall(r"\[([0-9smhdwy]+)(?::[0-9smhdwy]*)?\]", promql):
        longest = max(longest, sum(int(n) * _UNITS[u] for n, u in _DURATION.findall(selector)))
    return longest

NAMESPACE_LABEL = "namespace"


@dataclass
class _Shared:
    """One query: the namespaces it covers (open to more until it is sent) and its answer."""

    namespaces: set[str]
    answer: asyncio.Task[dict[str, list[Any]]] | None = None
    sent: bool = False


@dataclass
class SharedQueries:
    """One request per distinct query and time, for every runbook that asks it.

    Runbooks evaluated on the same grid ask the same signal templates at the same moment:
    the first to ask a (query, time) opens a request that the others join for ``gather``
    seconds; it is then sent once, restricted to the namespaces that asked it lately
    (:func:`~kubeheal.observe.promql.restrict`), and its answer is split by namespace once.
    A namespace that asks after the request left gets a request of its own this once, and is
    in the shared one from then on (``scope_seconds`` after it last asked). Failures are shared
    too: a Prometheus that is down costs one timeout per query, not one per runbook. A series
    without a ``namespace`` label goes to every namespace, as a cluster-wide query's would.
    Answers are kept ``keep_seconds`` for late askers of the same time.
    """

    client: PrometheusClient
    gather: float = 0.05
    keep_seconds: float = 30.0
    scope_seconds: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _asked: dict[str, dict[str, float]] = field(default_factory=dict)
    _answers: dict[tuple[Any, ...], list[_Shared]] = field(default_factory=dict)
    _started: tuple[float, asyncio.Future[datetime | None]] | None = None

    async def started_at(self, fresh_seconds: float = 5.0) -> datetime | None:
        """:meth:`PrometheusClient.started_at`, asked once per ``fresh_seconds`` for all."""
        moment = self.clock()
        if self._started is None or moment - self._started[0] > fresh_seconds:
            self._started = (moment, asyncio.ensure_future(self.client.started_at()))
        return await asyncio.shield(self._started[1])

    async def query(self, promql: str, at: datetime, namespace: str) -> list[Sample]:
        """The samples of ``namespace`` (and those without one) of ``promql`` at ``at``."""
        return await self._shared(("query", promql, at), promql, namespace,
                                  lambda q: self.client.query(q, at))

    async def query_range(self, promql: str, start: datetime, end: datetime,
                          step_seconds: float, namespace: str) -> list[Series]:
        """The series of ``namespace`` (and those without one) of a range query."""
        return await self._shared(("range", promql, start, end, step_seconds), promql,
                                  namespace,
                                  lambda q: self.client.query_range(q, start, end, step_seconds))

    async def _shared(self, key: tuple[Any, ...], promql: str, namespace: str,
                      run: Callable[[str], Awaitable[Sequence[Sample | Series]]]) -> list[Any]:
        moment = self.clock()
        asked = self._asked.setdefault(promql, {})
        asked[namespace] = moment
        answers = self._answers.setdefault(key, [])
        shared = next((s for s in answers if namespace in s.namespaces or not s.sent), None)
        if shared is None:
            for gone in [n for n, last in asked.items() if moment - last > self.scope_seconds]:
                del asked[gone]
            covered = set().union(*(s.namespaces for s in answers))
            shared = _Shared({namespace, *(set(asked) - covered)})
            shared.answer = asyncio.create_task(self._send(promql, shared, run))
            answers.append(shared)
            asyncio.get_running_loop().call_later(self.keep_seconds, self._forget, key, shared)
        shared.namespaces.add(namespace)
        assert shared.answer is not None
        answer = await asyncio.shield(shared.answer)
        return [*answer.get(namespace, ()), *answer.get("", ())]

    async def _send(self, promql: str, shared: _Shared,
                    run: Callable[[str], Awaitable[Sequence[Sample | Series]]],
                    ) -> dict[str, list[Any]]:
        await asyncio.sleep(self.gather)  # others asking the same now join this request
        shared.sent = True
        scoped = restrict(promql, NAMESPACE_LABEL, shared.namespaces)
        try:
            found = await run(scoped or promql)
        except QueryError as e:
            if e.kind != "bad-query" or scoped is None:
                raise
            found = await run(promql)  # the error, if any, as the user wrote the query
        answer: dict[str, list[Any]] = {}
        for item in found:
            answer.setdefault(item.labels.get(NAMESPACE_LABEL, ""), []).append(item)
        return answer

    def _forget(self, key: tuple[Any, ...], shared: _Shared) -> None:
        entries = self._answers.get(key, [])
        if shared in entries:
            entries.remove(shared)
        if not entries:
            self._answers.pop(key, None)
        answer = shared.answer
        if answer is not None and answer.done() and not answer.cancelled():
            answer.exception()  # retrieved: a failure nobody awaited is not logged


def _payload(url: str, status: int, body: Any) -> Mapping[str, Any]:
    """The ``data`` of a response, or the QueryError that its status and body mean.

    >>> _payload("u", 400, {"status": "error", "errorType": "bad_data", "error": "parse error"})
    Traceback (most recent call last):
    ...
    kubeheal.observe.prometheus.QueryError: bad-query: parse error
    >>> _payload("u", 503, {"status": "error", "errorType": "timeout", "error": "query timed out"})
    Traceback (most recent call last):
    ...
    kubeheal.observe.prometheus.QueryError: timeout: query timed out
    """
    error = body.get("error") if isinstance(body, dict) else None
    if status == 200 and isinstance(body, dict) and body.get("status") == "success":
        data: Mapping[str, Any] = body.get("data") or {}
        return data
    if isinstance(body, dict) and body.get("errorType") == "timeout":
        raise QueryError("timeout", str(error or "query timed out in Prometheus"))
    if status in (400, 422):
        # 400: the PromQL does not parse; 422: it parses but cannot be evaluated.
        raise QueryError("bad-query", str(error or f"HTTP {status} from {url}"))
    raise QueryError("unavailable", f"HTTP {status} from {url}" + (f": {error}" if error else ""))
