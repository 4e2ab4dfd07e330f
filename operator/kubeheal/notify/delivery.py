"""Sending notifications without ever making the loop wait.

:meth:`Notifier.submit` only appends to a bounded queue per receiver and returns; a background
task per receiver sends them in order, retrying a failure that may pass (a timeout, a refused
connection, 408, 425, 429, a 5xx) after the delays of a :class:`RetrySchedule` (longer when the
receiver asks so with ``Retry-After``), and giving up on one that will not (another 4xx, a
redirect) or once the attempts are spent. A full queue drops its oldest notification, so that
a dead receiver costs bounded memory and the newest news still goes out. Every outcome and
every failed attempt is counted (:class:`DeliveryMetrics`); the receivers' URLs, which carry
their secrets, are never logged.

Only the replica that holds the lease sends: with a ``fence`` (see
:mod:`kubeheal.controller.leadership`), each attempt passes it first, and a replica that lost
the lease drops what it holds. Delivery is at most once per operator process; the ``id`` of a
payload lets a receiver drop a repeat.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import json
import logging
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aiohttp
from prometheus_client import Counter, Gauge

from kubeheal.notify.messages import PAYLOADS, Notification

log = logging.getLogger(__name__)


class ReceiverFormat(enum.StrEnum):
    """What a receiver expects: kubeheal's JSON document, or a Slack message."""

    WEBHOOK = "webhook"
    SLACK = "slack"


@dataclass(frozen=True)
class Receiver:
    """Where notifications go. ``name`` labels metrics and logs; the URL is never shown."""

    name: str
    url: str = field(repr=False)
    format: ReceiverFormat

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"notification receiver {self.name}: the URL must be "
                             "http(s)://host/path")


@dataclass(frozen=True)
class RetrySchedule:
    """How often and how long apart a delivery is tried: exponential backoff with a cap.

    >>> schedule = RetrySchedule(attempts=5, first=1.0, factor=2.0, cap=5.0)
    >>> schedule.delays()
    [1.0, 2.0, 4.0, 5.0]
    >>> schedule.delay(1, retry_after=3.0), schedule.delay(1, retry_after=600.0)
    (3.0, 5.0)
    >>> schedule.delay(5) is None
    True
    """

    attempts: int = 8
    first: float = 1.0
    factor: float = 2.0
    cap: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.first < 0 or self.factor < 1 or self.cap < self.first:
            raise ValueError(f"invalid retry schedule {self}")

    def delay(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after failed attempt ``attempt`` (from 1) before the next one, at
        least what the receiver asked for (up to the cap); None when none is left."""
        if attempt >= self.attempts:
            return None
        wait = min(self.cap, self.first * self.factor ** (attempt - 1))
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cap))
        return wait

    def delays(self) -> list[float]:
        """The waits between all the attempts, when every attempt fails."""
        return [d for a in range(1, self.attempts) if (d := self.delay(a)) is not None]


@dataclass(frozen=True)
class Attempt:
    """The result of one delivery attempt."""

    delivered: bool
    retryable: bool = False
    reason: str = "delivered"
    retry_after: float | None = None


def judge(status: int, retry_after: str | None = None) -> Attempt:
    """An HTTP answer as an attempt: 2xx delivered; 408, 425, 429 and 5xx worth another try
    (after ``Retry-After`` seconds, if given as a number); anything else final.

    >>> judge(204).delivered, judge(503).retryable, judge(404).retryable
    (True, True, False)
    >>> judge(429, "7").retry_after, judge(429, "Wed, 21 Oct 2026 07:28:00 GMT").retry_after
    (7.0, None)
    """
    if 200 <= status < 300:
        return Attempt(True)
    try:
        after = float(retry_after) if retry_after is not None else None
    except ValueError:
        after = None
    return Attempt(False, retryable=status in (408, 425, 429) or status >= 500,
                   reason=f"http-{status}", retry_after=after)


@dataclass(frozen=True)
class DeliveryMetrics:
    """The counters delivery moves (registered by the operator's metrics)."""

    outcomes: Counter
    """Labels receiver, event, outcome: delivered, failed, dropped, fenced."""
    failures: Counter
    """Labels receiver, reason: each failed attempt (timeout, connection, http-<status>)."""
    queued: Gauge
    """Label receiver: notifications waiting."""


@dataclass
class _Channel:
    receiver: Receiver
    pending: collections.deque[Notification] = field(default_factory=collections.deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    worker: asyncio.Task[None] | None = None


class Notifier:
    """Sends every submitted notification to every receiver, in the background."""

    def __init__(self, receivers: Sequence[Receiver], metrics: DeliveryMetrics,
                 schedule: RetrySchedule | None = None, queue_size: int = 256,
                 timeout: float = 5.0, fence: Callable[[], None] | None = None) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.metrics = metrics
        self.schedule = schedule or RetrySchedule()
        self.queue_size = queue_size
        self.timeout = timeout
        self.fence = fence  # raises unless this process holds the lease
        self._channels = [_Channel(r) for r in receivers]
        self._session: aiohttp.ClientSession | None = None

    def start(self) -> None:
        """Start one sender per receiver (in the running event loop)."""
        if not self._channels:
            return
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        for channel in self._channels:
            channel.worker = asyncio.create_task(self._send_forever(channel),
                                                 name=f"notify-{channel.receiver.name}")

    def submit(self, notification: Notification) -> None:
        """Queue ``notification`` for every receiver; never waits."""
        for channel in self._channels:
            if len(channel.pending) >= self.queue_size:
                dropped = channel.pending.popleft()
                self._count(channel, dropped, "dropped")
                log.warning("notification %s to %s dropped: %d waiting already", dropped.id,
                            channel.receiver.name, self.queue_size)
            channel.pending.append(notification)
            self.metrics.queued.labels(channel.receiver.name).set(len(channel.pending))
            channel.ready.set()

    async def close(self) -> None:
        """Stop sending; what is still queued is counted as dropped."""
        for channel in self._channels:
            if channel.worker is not None:
                channel.worker.cancel()
                await asyncio.gather(channel.worker, return_exceptions=True)
            while channel.pending:
                self._count(channel, channel.pending.popleft(), "dropped")
            self.metrics.queued.labels(channel.receiver.name).set(0)
        if self._session is not None:
            await self._session.close()

    async def _send_forever(self, channel: _Channel) -> None:
        while True:
            await channel.ready.wait()
            if not channel.pending:
                channel.ready.clear()
                continue
            notification = channel.pending.popleft()
            self.metrics.queued.labels(channel.receiver.name).set(len(channel.pending))
            self._count(channel, notification, await self._deliver(channel.receiver,
                                                                   notification))

    async def _deliver(self, receiver: Receiver, notification: Notification) -> str:
        """Try until delivered, refused for good, or out of attempts: the outcome."""
        body = json.dumps(PAYLOADS[receiver.format](notification)).encode()
        attempt = 0
        while True:
            attempt += 1
            if self.fence is not None:
                try:
                    self.fence()
                except Exception as e:  # not the leader (any more): another replica speaks
                    log.warning("notification %s to %s not sent: %s", notification.id,
                                receiver.name, e)
                    return "fenced"
            result = await self._post(receiver, body)
            if result.delivered:
                log.info("notification %s delivered to %s", notification.id, receiver.name)
                return "delivered"
            self.metrics.failures.labels(receiver.name, result.reason).inc()
            wait = self.schedule.delay(attempt, result.retry_after) if result.retryable else None
            if wait is None:
                log.warning("notification %s to %s failed for good after %d attempts (%s)",
                            notification.id, receiver.name, attempt, result.reason)
                return "failed"
            log.info("notification %s to %s: attempt %d failed (%s), next in %.1fs",
                     notification.id, receiver.name, attempt, result.reason, wait)
            await asyncio.sleep(wait)

    async def _post(self, receiver: Receiver, body: bytes) -> Attempt:
        assert self._session is not None
        try:
            async with self._session.post(receiver.url, data=body, allow_redirects=False,
                                          headers={"Content-Type": "application/json"},
                                          ) as response:
                await response.read()
                return judge(response.status, response.headers.get("Retry-After"))
        except TimeoutError:
            return Attempt(False, retryable=True, reason="timeout")
        except aiohttp.ClientError:  # its message may hold the URL: not logged
            return Attempt(False, retryable=True, reason="connection")

    def _count(self, channel: _Channel, notification: Notification, outcome: str) -> None:
        self.metrics.outcomes.labels(channel.receiver.name, notification.event.value,
                                     outcome).inc()
