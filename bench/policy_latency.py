"""Latency of policy decisions through PolicyGate against a local OPA server.

Starts ``opa run --server`` from ``$KUBEHEAL_BIN/opa`` (default ``~/.cache/kubeheal/bin``) on
a free loopback port, unless ``--url`` names a running one; loads the repository's policies;
then times ``--decisions`` calls of ``PolicyGate.decide`` (one at a time, after a warm-up),
cycling through an allowed, an approval-required and a denied candidate, and prints p50, p90,
p99 and max. The figures are the end-to-end latency the controller sees: input encoding,
HTTP on loopback, OPA's evaluation, decoding and validation of the answer.

Run from the repository root::

    PYTHONPATH=operator python bench/policy_latency.py
    PYTHONPATH=operator python bench/policy_latency.py --decisions 10000 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubeheal.decide import Action, Incident, RemediationHistory, RunbookRef, Target, assess
from kubeheal.policy import Outcome, PolicyGate, read_policy_directory

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def candidates() -> list[dict[str, Any]]:
    def make(action: Action, namespace: str, tier: str) -> dict[str, Any]:
        return assess(
            action,
            Target(
                namespace,
                "checkout",
                replicas=6,
                ready_replicas=6,
                labels={"app": "checkout"},
                namespace_labels={"kubeheal.io/tier": tier},
                last_rollout_at=NOW - timedelta(hours=5),
            ),
            RemediationHistory(1, 2, 0, NOW - timedelta(minutes=40)),
            Incident({"latency": 0.97, "errors": 0.81}, "change", NOW - timedelta(minutes=4)),
            RunbookRef("checkout-latency"),
            NOW,
        ).to_opa()

    return [
        make(Action.restart(strategy="delete-pod"), "shop", "staging"),
        make(Action.rollback(), "shop", "production"),
        make(Action.restart(strategy="rollout", ready_replicas=6), "kube-system", "staging"),
    ]


def start_opa(workdir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    binary = Path(os.environ.get("KUBEHEAL_BIN", Path.home() / ".cache/kubeheal/bin")) / "opa"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "opa.log").open("wb")
    process = subprocess.Popen(
        [str(binary), "run", "--server", f"--addr=127.0.0.1:{port}", "--log-level=error"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                return url, process
        except OSError:
            if process.poll() is not None:
                break
            time.sleep(0.05)
    process.terminate()
    sys.exit(f"opa did not start; see {workdir / 'opa.log'}")


def percentile(sorted_ms: list[float], q: float) -> float:
    index = min(len(sorted_ms) - 1, max(0, round(q / 100 * len(sorted_ms)) - 1))
    return sorted_ms[index]


async def run(url: str, decisions: int, warmup: int, concurrency: int) -> None:
    inputs = candidates()
    async with PolicyGate(url, timeout=5.0) as gate:
        version = await gate.load_bundle(read_policy_directory(ROOT / "policies"))
        outcomes = [(await gate.decide(doc)).outcome for doc in inputs]
        expected = [Outcome.ALLOWED, Outcome.APPROVAL_REQUIRED, Outcome.DENIED]
        if outcomes != expected:
            sys.exit(f"unexpected outcomes {outcomes}, wanted {expected}")
        for i in range(warmup):
            await gate.decide(inputs[i % len(inputs)])

        latencies: list[float] = []
        unavailable = 0
        next_index = 0

        async def worker() -> None:
            nonlocal next_index, unavailable
            while next_index < decisions:
                doc = inputs[next_index % len(inputs)]
                next_index += 1
                start = time.perf_counter_ns()
                decision = await gate.decide(doc)
                latencies.append((time.perf_counter_ns() - start) / 1e6)
                unavailable += not decision.engine_available

        wall = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - wall

    ms = sorted(latencies)
    print(f"policy version {version}, OPA at {url}")
    print(
        f"{len(ms)} decisions, concurrency {concurrency}, {warmup} warm-up, "
        f"{unavailable} engine-unavailable"
    )
    print(
        f"latency ms: p50 {percentile(ms, 50):.3f}  p90 {percentile(ms, 90):.3f}  "
        f"p99 {percentile(ms, 99):.3f}  max {ms[-1]:.3f}  mean {statistics.fmean(ms):.3f}"
    )
    print(f"throughput: {len(ms) / wall:.0f} decisions/s over {wall:.2f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running OPA server (default: start one)")
    parser.add_argument("--decisions", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    if args.url:
        asyncio.run(run(args.url, args.decisions, args.warmup, args.concurrency))
        return
    with tempfile.TemporaryDirectory(prefix="kubeheal-bench-") as tmp:
        url, process = start_opa(Path(tmp))
        try:
            asyncio.run(run(url, args.decisions, args.warmup, args.concurrency))
        finally:
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    main()
