"""One operator against many workloads and runbooks, on the real local stack.

    python bench/scale.py --workloads 1000 --runbooks 1000 [--window 180] [--interval 15]
                          [--operator-source DIR ...] [--keep]

Lays out the scenario of :mod:`scalestack` (N one-pod Deployments over 100 namespaces on kwok
nodes, three signals each from the watch-based synthetic exporter scraped every 15 s, M
runbooks sharing three signal templates), waits for the pods and for enough Prometheus
history, then for each operator to compare (``--operator-source``, an ``operator/``
directory, repeatable; default this tree's), one after the other on the same stack: starts
it and prints the time to the first complete evaluation (every runbook, every stream warm),
then over a steady window its CPU (cores) and peak RSS, evaluation latency p50/p99 against
the interval, its requests to the API server per second by verb (audit log, its own user),
the LISTs it made, Prometheus queries per second and samples read per tick; then the time to
detect a bad rollout of one workload among N (a different workload for each operator). Each
operator's figures end with

    scale: workloads=N runbooks=M cpu_cores=X rss_mib=Y eval_p99_s=Z apiserver_rps=A
           prom_qps=B ttd_s=T   (on one line)

and with several operators, the ratio of each figure to the first operator's. The machine's
load average is printed too: on a shared machine, CPU figures are upper bounds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "hack"))

from scalestack import ROOT, ScaleScenario, Window, summary


def report(scenario: ScaleScenario, source: Path, index: int, args: argparse.Namespace,
           ) -> tuple[Window, float | None]:
    scenario.start_operator(source)
    first = scenario.wait_first_complete_evaluation(timeout=600)
    streams = sum(scenario.expected_streams().values())
    print(f"operator {source}: first complete evaluation of {streams} streams after "
          f"{first if first is None else round(first, 1)}s", flush=True)
    time.sleep(2 * args.interval)  # past the first evaluations' warm-up work
    window = scenario.measure(args.window)
    print(f"  steady window {window.seconds:.0f}s (load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores, shared)")
    print(f"  operator cpu {window.cpu_cores:.3f} cores, peak rss {window.rss_mib:.0f} MiB")
    print(f"  evaluation p50 {window.eval_p50_s:g}s p99 {window.eval_p99_s:g}s (interval "
          f"{args.interval}s; bucket bounds)")
    per_minute = window.evaluations / args.runbooks / (window.seconds / 60)
    print(f"  evaluations {window.evaluations}: {per_minute:.2f} per runbook per minute "
          f"(interval {args.interval}s: {60 / args.interval:g} wanted); runbook status "
          f"patches {window.status_patches} ({window.status_patches / window.seconds:.2f}/s)")
    rates = ", ".join(f"{verb} {rate:.2f}" for verb, rate in window.apiserver_rps.items())
    print(f"  apiserver requests/s by verb: {rates or 'none'}")
    print(f"  LISTs by the operator: {len(window.lists)} {sorted(set(window.lists))}")
    print(f"  prometheus {window.prom_qps:.2f} queries/s, {window.samples_per_tick:.0f} samples "
          f"read per tick (query mix: 3 templates x {args.runbooks} runbooks)", flush=True)
    namespace, name, fault = scenario.inject_fault(index)
    ttd = scenario.time_to_detect(namespace, name, fault, timeout=300)
    print(f"  bad rollout of {namespace}/{name}: detected after "
          f"{ttd if ttd is None else round(ttd, 1)}s")
    print(summary(args.workloads, args.runbooks, window, ttd), flush=True)
    scenario.stack.kill_operator(signal.SIGTERM)
    return window, ttd


def ratios(base: Window, other: Window) -> str:
    def ratio(a: float, b: float) -> str:
        return f"{b / a:.2g}" if a else "-"

    rps = ratio(sum(base.apiserver_rps.values()), sum(other.apiserver_rps.values()))
    return (f"ratio to the first: cpu {ratio(base.cpu_cores, other.cpu_cores)} "
            f"rss {ratio(base.rss_mib, other.rss_mib)} "
            f"eval_p99 {ratio(base.eval_p99_s, other.eval_p99_s)} "
            f"apiserver_rps {rps} "
            f"prom_qps {ratio(base.prom_qps, other.prom_qps)} "
            f"samples/tick {ratio(base.samples_per_tick, other.samples_per_tick)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", type=int, required=True)
    parser.add_argument("--runbooks", type=int, required=True)
    parser.add_argument("--interval", type=int, default=15, help="runbook interval, seconds")
    parser.add_argument("--scrape", type=int, default=15, help="scrape interval, seconds")
    parser.add_argument("--window", type=float, default=180.0, help="steady window, seconds")
    parser.add_argument("--pods-timeout", type=float, default=900.0)
    parser.add_argument("--operator-source", type=Path, action="append",
                        help="the operator/ directory of the code to measure (repeatable)")
    parser.add_argument("--keep", action="store_true", help="leave the stack's files")
    args = parser.parse_args()
    sources = [p.resolve() for p in args.operator_source or [ROOT / "operator"]]
    root = Path(tempfile.mkdtemp(prefix="kubeheal-scale-"))
    scenario = ScaleScenario(root, args.workloads, args.runbooks, args.interval, args.scrape)
    try:
        started = time.time()
        scenario.start()
        pods = scenario.wait_for_pods(args.pods_timeout)
        print(f"pods running: {scenario.running_pods()}/{args.workloads} after {pods:.0f}s "
              f"(stack up {time.time() - started:.0f}s)", flush=True)
        scenario.wait_for_history()
        windows = [report(scenario, source, i, args)[0] for i, source in enumerate(sources)]
        for source, window in zip(sources[1:], windows[1:], strict=True):
            print(f"{source}: {ratios(windows[0], window)}")
    finally:
        scenario.stop()
        if args.keep:
            print(f"files kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
