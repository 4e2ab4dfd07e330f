"""What telling humans costs a remediation's step, with a slow, failing receiver.

A receiver on 127.0.0.1 answers every POST with 503 after ``--hold`` seconds. The baseline is
what the step paid when it POSTed the notification itself (one attempt, awaited, as the
escalation webhook did before the notifier); the notifier's cost is :meth:`Notifier.submit`,
with the delivery (retries included) left to its background task. Prints the median and the
maximum per notification of each and their ratio, and what the notifier counted meanwhile.

    PYTHONPATH=operator python bench/notify_step_cost.py [--notifications 20] [--hold 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aiohttp

from kubeheal.controller.metrics import OperatorMetrics
from kubeheal.notify.delivery import Notifier, Receiver, ReceiverFormat, RetrySchedule
from kubeheal.notify.messages import Notification, NotificationEvent, generic_payload


def slow_failing_receiver(hold: float) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(hold)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def notification(i: int) -> Notification:
    return Notification(event=NotificationEvent.ESCALATED, namespace="shop",
                        remediation=f"checkout-deployment-{i}", runbook="checkout",
                        target="checkout", cause="change", reason="Inconclusive",
                        message="no verdict before the deadline", at=dt.datetime.now(dt.UTC))


async def inline(url: str, count: int, hold: float) -> list[float]:
    """The step POSTs each notification itself and waits for the answer."""
    costs = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=hold + 5)) as session:
        for i in range(count):
            started = time.perf_counter()
            async with session.post(url, json=generic_payload(notification(i))) as response:
                await response.read()
            costs.append(time.perf_counter() - started)
    return costs


async def queued(url: str, count: int) -> tuple[list[float], OperatorMetrics]:
    """The step submits each notification; the notifier's task sends and retries."""
    metrics = OperatorMetrics()
    notifier = Notifier([Receiver("webhook", url, ReceiverFormat.WEBHOOK)], metrics.delivery,
                        schedule=RetrySchedule(attempts=3, first=0.1, cap=0.2), queue_size=8)
    notifier.start()
    costs = []
    for i in range(count):
        started = time.perf_counter()
        notifier.submit(notification(i))
        costs.append(time.perf_counter() - started)
        await asyncio.sleep(0)  # the step goes on with its next effect
    await asyncio.sleep(1.0)  # let the notifier work a little before the counts are read
    await notifier.close()
    return costs, metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=20)
    parser.add_argument("--hold", type=float, default=0.5,
                        help="seconds the receiver takes to answer 503")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the drops are counted below
    server = slow_failing_receiver(args.hold)
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        baseline = asyncio.run(inline(url, args.notifications, args.hold))
        costs, metrics = asyncio.run(queued(url, args.notifications))
    finally:
        server.shutdown()
    for name, values in (("inline POST (baseline)", baseline), ("Notifier.submit", costs)):
        print(f"{name:24s} median {statistics.median(values) * 1e6:12.1f} us   "
              f"max {max(values) * 1e6:12.1f} us   per notification, {len(values)} of them")
    print(f"ratio baseline/submit (medians): "
          f"{statistics.median(baseline) / statistics.median(costs):.0f}x")
    registry = metrics.registry
    for outcome in ("delivered", "failed", "dropped"):
        value = registry.get_sample_value("kubeheal_notifications_total", {
            "receiver": "webhook", "event": "Escalated", "outcome": outcome}) or 0
        print(f"notifier: {outcome:9s} {value:.0f}")
    failures = registry.get_sample_value("kubeheal_notification_delivery_failures_total",
                                         {"receiver": "webhook", "reason": "http-503"}) or 0
    print(f"notifier: failed attempts (http-503) {failures:.0f}")


if __name__ == "__main__":
    main()
