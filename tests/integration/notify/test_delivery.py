"""Delivery to real HTTP receivers (a server on 127.0.0.1): retries with backoff until
accepted, gives up on a refusal, drops the oldest when the queue is full, never sends
without the lease, and counts every outcome."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import socket
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry

from kubeheal.controller.metrics import OperatorMetrics
from kubeheal.notify.delivery import Notifier, Receiver, ReceiverFormat, RetrySchedule
from kubeheal.notify.messages import Notification, NotificationEvent
from receiver import LocalReceiver

FAST = RetrySchedule(attempts=4, first=0.05, factor=2.0, cap=0.2)


def notification(name: str, event: NotificationEvent = NotificationEvent.ESCALATED,
                 ) -> Notification:
    return Notification(event=event, namespace="shop", remediation=name, runbook="checkout",
                        target="checkout", cause="change", reason="Rejected",
                        message="rejected by alice", at=dt.datetime(2026, 11, 28, tzinfo=dt.UTC),
                        commands={"inspect": f"kubectl describe remediation {name} -n shop"})


@pytest.fixture
def http() -> Iterator[LocalReceiver]:
    server = LocalReceiver(fail_first=2).start()
    yield server
    server.stop()


@dataclasses.dataclass
class Sending:
    notifier: Notifier
    registry: CollectorRegistry

    def count(self, metric: str, **labels: str) -> float:
        return self.registry.get_sample_value(metric, labels) or 0.0


@pytest.fixture
async def sending(http: LocalReceiver) -> AsyncIterator[Callable[..., Sending]]:
    started: list[Notifier] = []

    def start(*receivers: Receiver, **settings: object) -> Sending:
        metrics = OperatorMetrics()
        notifier = Notifier(receivers or (
            Receiver("webhook", f"{http.url}/hook", ReceiverFormat.WEBHOOK),
            Receiver("slack", f"{http.url}/slack", ReceiverFormat.SLACK)),
            metrics.delivery, **{"schedule": FAST, **settings})
        notifier.start()
        started.append(notifier)
        return Sending(notifier, metrics.registry)

    yield start
    for notifier in started:
        await notifier.close()


async def until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_a_failing_receiver_gets_it_after_retries(
        http: LocalReceiver, sending: Callable[..., Sending]) -> None:
    s = sending()
    s.notifier.submit(notification("checkout-deployment-1"))
    await until(lambda: s.count("kubeheal_notifications_total", receiver="slack",
                                event="Escalated", outcome="delivered") == 1
                and s.count("kubeheal_notifications_total", receiver="webhook",
                            event="Escalated", outcome="delivered") == 1)
    (hook,) = http.accepted("/hook")
    assert hook["id"] == "shop/checkout-deployment-1/Escalated"
    assert http.statuses("/hook", hook) == [503, 503, 200]  # the same bytes every time
    (slack,) = http.accepted("/slack")
    assert http.statuses("/slack", slack) == [503, 503, 200]
    assert "blocks" in slack and "id" not in slack
    for receiver in ("webhook", "slack"):
        assert s.count("kubeheal_notification_delivery_failures_total", receiver=receiver,
                       reason="http-503") == 2
    assert s.count("kubeheal_notifications_queued", receiver="webhook") == 0


async def test_a_refusal_is_final_and_a_dead_receiver_is_given_up(
        http: LocalReceiver, sending: Callable[..., Sending]) -> None:
    http.fail_status = 404
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/hook"
    s = sending(Receiver("webhook", f"{http.url}/hook", ReceiverFormat.WEBHOOK),
                Receiver("down", dead, ReceiverFormat.WEBHOOK))
    s.notifier.submit(notification("checkout-deployment-2"))
    await until(lambda: s.count("kubeheal_notifications_total", receiver="webhook",
                                event="Escalated", outcome="failed") == 1
                and s.count("kubeheal_notifications_total", receiver="down",
                            event="Escalated", outcome="failed") == 1)
    assert [d.status for d in http.received("/hook")] == [404]
    assert s.count("kubeheal_notification_delivery_failures_total", receiver="webhook",
                   reason="http-404") == 1
    assert s.count("kubeheal_notification_delivery_failures_total", receiver="down",
                   reason="connection") == FAST.attempts


async def test_a_full_queue_drops_the_oldest_and_never_blocks(
        http: LocalReceiver, sending: Callable[..., Sending]) -> None:
    http.fail_first = 0
    http.hold.clear()  # the receiver keeps the first request waiting
    s = sending(Receiver("webhook", f"{http.url}/hook", ReceiverFormat.WEBHOOK),
                queue_size=2, timeout=60.0)
    s.notifier.submit(notification("r-0"))
    await until(lambda: s.count("kubeheal_notifications_queued", receiver="webhook") == 0)
    for i in range(1, 5):  # r-1 and r-2 fill the queue; r-3 and r-4 push them out
        s.notifier.submit(notification(f"r-{i}"))
    assert s.count("kubeheal_notifications_total", receiver="webhook", event="Escalated",
                   outcome="dropped") == 2
    assert s.count("kubeheal_notifications_queued", receiver="webhook") == 2
    http.hold.set()
    await until(lambda: s.count("kubeheal_notifications_total", receiver="webhook",
                                event="Escalated", outcome="delivered") == 3)
    assert [b["remediation"]["name"] for b in http.accepted("/hook")] == ["r-0", "r-3", "r-4"]


async def test_a_replica_without_the_lease_sends_nothing(
        http: LocalReceiver, sending: Callable[..., Sending]) -> None:
    leading = [True]

    def fence() -> None:
        if not leading[0]:
            raise RuntimeError("lost the lease")

    s = sending(Receiver("webhook", f"{http.url}/hook", ReceiverFormat.WEBHOOK), fence=fence)
    s.notifier.submit(notification("led", NotificationEvent.APPROVAL_REQUESTED))
    await until(lambda: s.count("kubeheal_notifications_total", receiver="webhook",
                                event="ApprovalRequested", outcome="delivered") == 1)
    leading[0] = False
    s.notifier.submit(notification("fenced", NotificationEvent.APPROVAL_REQUESTED))
    await until(lambda: s.count("kubeheal_notifications_total", receiver="webhook",
                                event="ApprovalRequested", outcome="fenced") == 1)
    assert {b["remediation"]["name"] for b in http.accepted("/hook")} == {"led"}
    assert all(d.body["remediation"]["name"] == "led" for d in http.received("/hook"))
