"""Throughput, memory and warm-up of the detectors at 10,000 streams, one point each per tick.

Prints, in one run and with the default detector's own parameters (``DetectionSettings()``:
``novelty``, the parameters ``kubeheal eval`` scores):

- points/s (score then learn) of the vectorized bank alone, and of the operator's own tick
  (:class:`~kubeheal.detect.runbook.RunbookStreams`: the bank, each point's direction, then
  the k-of-n debounce and fusion of the workloads where something happens), next to the
  same code run per stream (one detector object per stream, the baseline) and the
  reference (river's HalfSpaceTrees after MinMaxScaler);
- bytes per stream: the bank's state, and everything the operator keeps per stream;
- the time to warm 30,000 streams from 240 points of history each (one hour at a 15 s
  interval): the bank's scoring alone (``DetectorBank.warm_up`` on the history as arrays),
  and the operator's whole warm-up (``warm_streams``: the points as Prometheus gives them
  turned into arrays, the streams and their debouncers, in a worker thread, then added to
  the live streams), next to the per-stream warm-up of a sample, extrapolated linearly.

Per-stream baselines run on ``--sample`` streams (they cost the same per stream at any
count). Figures on a busy machine are noisy: compare the ratios.

    PYTHONPATH=operator python bench/detect_throughput.py [--streams 10000] [--ticks 50]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from kubeheal.api.runbook import DetectionSettings, Signal
from kubeheal.controller.runbooks import warm_streams
from kubeheal.detect import DETECTORS, PARAMETER_VERSION, DetectorBank, StreamDetector
from kubeheal.detect.runbook import Point, RunbookStreams

SIGNAL = Signal(name="errors", query="q", bad_direction="up")


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


def histories(streams: int, points: int) -> dict[str, list[Point]]:
    """``points`` of history at 15 s for each of ``streams`` workloads, as Prometheus gives them."""
    values = stream_values(streams, points, seed=1)
    t = np.arange(points) * 15.0
    return {f"workload-{k}": list(zip(t.tolist(), values[k].tolist(), strict=True))
            for k in range(streams)}


def bench_bank_warm(streams: int, points: int) -> float:
    """Seconds the bank takes to learn ``points`` of history for each of ``streams`` streams."""
    values = stream_values(streams, points, seed=1)
    times = np.tile(np.arange(points) * 15.0, (streams, 1))
    bank = DetectorBank(capacity=streams)
    rows = bank.add_streams([f"runbook/ns/workload-{k}/signal" for k in range(streams)])
    started = time.perf_counter()
    bank.warm_up(rows, times, values)
    seconds = time.perf_counter() - started
    assert bank.ready(rows).all()
    return seconds


def bench_warm(streams: int, points: int, vectorized: bool) -> float:
    """Seconds the operator's warm-up takes for ``streams`` new streams of one signal."""
    history = histories(streams, points)
    detectors = RunbookStreams("ns", "runbook", DetectionSettings(), vectorized=vectorized)
    started = time.perf_counter()
    asyncio.run(warm_streams(detectors, SIGNAL.name, list(history), history))
    seconds = time.perf_counter() - started
    assert detectors.ready_count() == streams
    return seconds


def bench_operator(streams: int, ticks: int, warm: int, vectorized: bool) -> tuple[float, float]:
    """(points/s, bytes/stream) of the operator's tick over ``streams`` streams of one signal."""
    values = stream_values(streams, warm + ticks)
    workloads = [f"workload-{k}" for k in range(streams)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    detectors = RunbookStreams("ns", "runbook", DetectionSettings(), vectorized=vectorized)
    history = {w: list(zip((60.0 * np.arange(warm)).tolist(), values[k, :warm].tolist(),
                           strict=True)) for k, w in enumerate(workloads)}
    detectors.add(detectors.warm(SIGNAL.name, workloads, history))
    del history
    gc.collect()
    first = {w: (60.0 * warm, float(values[k, warm])) for k, w in enumerate(workloads)}
    detectors.observe([SIGNAL], {SIGNAL.name: first})  # a last verdict for every stream
    del first
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    points = [{SIGNAL.name: {w: (60.0 * j, float(values[k, j])) for k, w in enumerate(workloads)}}
              for j in range(warm + 1, warm + ticks)]
    started = time.perf_counter()
    for tick in points:
        detectors.observe([SIGNAL], tick)
    seconds = time.perf_counter() - started
    return streams * len(points) / seconds, (after - before) / streams


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
        "--sample", type=int, default=300, help="streams measured for per-stream baselines"
    )
    args = parser.parse_args()
    print(f"default detector: {DetectionSettings().detector} ({PARAMETER_VERSION}), "
          f"{args.streams:,} streams")

    bank_rate, bank_bytes = bench_bank(args.streams, args.ticks, args.warm)
    tick_rate, tick_bytes = bench_operator(args.streams, args.ticks, args.warm, True)
    single_tick_rate, single_tick_bytes = bench_operator(args.sample, args.ticks, args.warm, False)
    stream_rate, stream_bytes = bench_per_stream(
        DETECTORS["novelty"].stream, args.sample, args.ticks, args.warm
    )
    hst_rate, hst_bytes = bench_per_stream(
        DETECTORS["hst"].stream, args.sample, args.ticks, args.warm
    )
    rows = [
        (f"novelty bank alone ({args.streams} streams)", bank_rate, bank_bytes),
        (f"operator tick, bank ({args.streams} streams)", tick_rate, tick_bytes),
        (f"operator tick, per stream ({args.sample})", single_tick_rate, single_tick_bytes),
        (f"novelty detector per stream ({args.sample})", stream_rate, stream_bytes),
        (f"hst reference ({args.sample} streams)", hst_rate, hst_bytes),
    ]
    print(f"{'path':<44} {'points/s':>11} {'x hst':>7} {'bytes/stream':>13}")
    for name, rate, size in rows:
        print(f"{name:<44} {rate:11,.0f} {rate / hst_rate:7.1f} {size:13,.0f}")
    print(f"bank alone / per stream = {bank_rate / stream_rate:.1f}x; "
          f"operator tick: bank / per stream = {tick_rate / single_tick_rate:.1f}x")

    scoring = bench_bank_warm(args.warm_streams, args.warm_points)
    warm = bench_warm(args.warm_streams, args.warm_points, vectorized=True)
    single = bench_warm(args.sample, args.warm_points, vectorized=False)
    single_total = single * args.warm_streams / args.sample
    points = args.warm_streams * args.warm_points
    print(
        f"warming {args.warm_streams:,} streams x {args.warm_points} points: bank scoring "
        f"{scoring:.1f} s ({points / scoring:,.0f} points/s); the operator's warm-up "
        f"{warm:.1f} s ({points / warm:,.0f} points/s); per stream {single_total:.1f} s "
        f"(from {args.sample} streams in {single:.2f} s); ratio per stream / bank scoring "
        f"{single_total / scoring:.1f}x, per stream / operator's warm-up "
        f"{single_total / warm:.1f}x"
    )
    print(
        f"targets: tick >= 500,000 points/s: {'met' if tick_rate >= 500_000 else 'MISSED'} "
        f"(bank alone: {'met' if bank_rate >= 500_000 else 'MISSED'}); "
        f"<= 4 KiB/stream: {'met' if tick_bytes <= 4 * 1024 else 'MISSED'} "
        f"(bank alone: {'met' if bank_bytes <= 4 * 1024 else 'MISSED'}); "
        f"warm-up < 10 s of scoring: {'met' if scoring < 10 else 'MISSED'} "
        f"(the operator's whole warm-up: {'met' if warm < 10 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
