"""Throughput and memory of the detectors at 10,000 concurrent streams, one point each per tick.

Prints points/s (score then learn) and bytes per stream for the default detector's vectorized
bank (with the default parameters, the ones ``kubeheal eval`` scores), the same detector run
per stream, and the reference (river's HalfSpaceTrees with default parameters after
MinMaxScaler), measured in the same run; the ratios to the reference; and the time to warm
30,000 streams from 240 points of history each (one hour at a 15 s interval) in the bank.
Figures on a busy machine are noisy: compare the ratios.

    PYTHONPATH=operator python bench/detect_throughput.py [--streams 10000] [--ticks 50]
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from kubeheal.detect import DETECTORS, DetectorBank, StreamDetector


def stream_values(streams: int, ticks: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    level = rng.uniform(1.0, 1000.0, (streams, 1))
    t = np.arange(ticks)
    return level * (
        1 + 0.1 * np.sin(2 * np.pi * t / 288) + 0.02 * rng.standard_normal((streams, ticks))
    )


def bench_bank(streams: int, ticks: int, warm: int) -> tuple[float, float]:
    """(points/s, bytes/stream) of the bank; memory measured with tracemalloc."""
    values = stream_values(streams, warm + ticks)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    bank = DetectorBank(capacity=streams)
    rows = bank.add_streams([f"runbook/ns/workload-{k}/signal" for k in range(streams)])
    for j in range(warm):
        bank.score_and_learn(rows, np.full(streams, 60.0 * j), values[:, j])
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    started = time.perf_counter()
    for j in range(warm, warm + ticks):
        bank.score_and_learn(rows, np.full(streams, 60.0 * j), values[:, j])
    seconds = time.perf_counter() - started
    return streams * ticks / seconds, (after - before) / streams


def bench_warm(streams: int, points: int) -> float:
    """Seconds the bank takes to learn ``points`` of history for each of ``streams`` streams."""
    values = stream_values(streams, points, seed=1)
    times = np.tile(np.arange(points) * 15.0, (streams, 1))
    bank = DetectorBank(capacity=streams)
    rows = bank.add_streams([f"runbook/ns/workload-{k}/signal" for k in range(streams)])
    started = time.perf_counter()
    bank.warm_up(rows, times, values)
    return time.perf_counter() - started


def bench_per_stream(
    factory: Callable[[], StreamDetector], streams: int, ticks: int, warm: int
) -> tuple[float, float]:
    """(points/s, bytes/stream) of one detector object per stream, on ``streams`` streams."""
    values = stream_values(streams, warm + ticks)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    detectors = [factory() for _ in range(streams)]
    for j in range(warm):
        for k, detector in enumerate(detectors):
            detector.update(60.0 * j, float(values[k, j]))
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    started = time.perf_counter()
    for j in range(warm, warm + ticks):
        for k, detector in enumerate(detectors):
            detector.update(60.0 * j, float(values[k, j]))
    seconds = time.perf_counter() - started
    return streams * ticks / seconds, (after - before) / streams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--ticks", type=int, default=50)
    parser.add_argument("--warm", type=int, default=320, help="ticks before measuring")
    parser.add_argument("--warm-streams", type=int, default=30_000)
    parser.add_argument("--warm-points", type=int, default=240)
    parser.add_argument(
        "--sample", type=int, default=100, help="streams measured for per-stream detectors"
    )
    args = parser.parse_args()

    bank_rate, bank_bytes = bench_bank(args.streams, args.ticks, args.warm)
    stream_rate, stream_bytes = bench_per_stream(
        DETECTORS["novelty"].stream, args.sample, args.ticks, args.warm
    )
    hst_rate, hst_bytes = bench_per_stream(
        DETECTORS["hst"].stream, args.sample, args.ticks, args.warm
    )
    rows = [
        (f"novelty bank ({args.streams} streams)", bank_rate, bank_bytes),
        (f"novelty per stream ({args.sample} streams)", stream_rate, stream_bytes),
        (f"hst reference ({args.sample} streams)", hst_rate, hst_bytes),
    ]
    print(f"{'detector':<36} {'points/s':>12} {'x hst':>8} {'bytes/stream':>13} {'x hst':>8}")
    for name, rate, size in rows:
        print(
            f"{name:<36} {rate:12,.0f} {rate / hst_rate:8.1f} {size:13,.0f} {size / hst_bytes:8.4f}"
        )
    warm = bench_warm(args.warm_streams, args.warm_points)
    print(
        f"warming {args.warm_streams:,} streams from {args.warm_points} points each: "
        f"{warm:.1f} s ({args.warm_streams * args.warm_points / warm:,.0f} points/s)"
    )
    print(
        f"targets: bank >= 500,000 points/s: {'met' if bank_rate >= 500_000 else 'MISSED'}; "
        f"bank <= 4 KiB/stream: {'met' if bank_bytes <= 4 * 1024 else 'MISSED'}; "
        f"warm-up < 10 s: {'met' if warm < 10 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
