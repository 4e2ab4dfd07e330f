"""One operator against many workloads and runbooks, on the real local stack.

    python bench/scale.py --workloads 1000 --runbooks 1000 [--window 180] [--interval 15]
                          [--operator-source DIR] [--keep]

Lays out the scenario of :mod:`scalestack` (N one-pod Deployments over 100 namespaces on kwok
nodes, three signals each from the watch-based synthetic exporter scraped every 15 s, M
runbooks sharing three signal templates), waits for the pods and for enough Prometheus
history, starts the operator, and prints: the time from its start to the first complete
evaluation (every runbook, every stream warm), then over a steady window its CPU (cores) and
peak RSS, evaluation latency p50/p99 against the interval, its requests to the API server per
second by verb (audit log, its own user), the LISTs it made, Prometheus queries per second and
samples read per tick; then the time to detect one bad rollout among N. It ends with

    scale: workloads=N runbooks=M cpu_cores=X rss_mib=Y eval_p99_s=Z apiserver_rps=A prom_qps=B ttd_s=T

``--operator-source`` runs another tree's operator (for example the code before the caches,
``/path/to/checkout/operator``) on the same scenario, for comparison. The machine's load
average is printed too: on a shared machine, CPU figures are upper bounds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "hack"))

from scalestack import ScaleScenario, summary  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workloads", type=int, required=True)
    parser.add_argument("--runbooks", type=int, required=True)
    parser.add_argument("--interval", type=int, default=15, help="runbook interval, seconds")
    parser.add_argument("--scrape", type=int, default=15, help="scrape interval, seconds")
    parser.add_argument("--window", type=float, default=180.0, help="steady window, seconds")
    parser.add_argument("--pods-timeout", type=float, default=900.0)
    parser.add_argument("--operator-source", type=Path, default=None,
                        help="the operator/ directory of the code to measure")
    parser.add_argument("--keep", action="store_true", help="leave the stack's files")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kubeheal-scale-"))
    scenario = ScaleScenario(root, args.workloads, args.runbooks, args.interval, args.scrape)
    if args.operator_source:
        scenario.operator_source = args.operator_source.resolve()
    try:
        started = time.time()
        scenario.start()
        pods = scenario.wait_for_pods(args.pods_timeout)
        print(f"pods running: {scenario.running_pods()}/{args.workloads} after {pods:.0f}s "
              f"(stack up {time.time() - started:.0f}s)", flush=True)
        scenario.wait_for_history()
        scenario.start_operator()
        first = scenario.wait_first_complete_evaluation(timeout=600)
        streams = sum(scenario.expected_streams().values())
        print(f"operator {scenario.operator_source}: first complete evaluation of {streams} "
              f"streams after {first if first is None else round(first, 1)}s", flush=True)
        time.sleep(2 * args.interval)  # past the first evaluations' warm-up work
        window = scenario.measure(args.window)
        print(f"steady window {window.seconds:.0f}s (load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
        print(f"  operator cpu {window.cpu_cores:.3f} cores, peak rss {window.rss_mib:.0f} MiB")
        print(f"  evaluation p50 {window.eval_p50_s:g}s p99 {window.eval_p99_s:g}s "
              f"(interval {args.interval}s); runbook status patches {window.status_patches}")
        rates = ", ".join(f"{verb} {rate:.2f}" for verb, rate in window.apiserver_rps.items())
        print(f"  apiserver requests/s by verb: {rates or 'none'}")
        print(f"  LISTs by the operator: {len(window.lists)} "
              f"{sorted(set(window.lists)) if window.lists else ''}")
        print(f"  prometheus {window.prom_qps:.2f} queries/s, "
              f"{window.samples_per_tick:.0f} samples read per tick "
              f"(query mix: 3 templates x {args.runbooks} runbooks)", flush=True)
        namespace, name, fault = scenario.inject_fault()
        ttd = scenario.time_to_detect(namespace, name, fault, timeout=300)
        print(f"  bad rollout of {namespace}/{name}: detected after "
              f"{ttd if ttd is None else round(ttd, 1)}s")
        print(summary(args.workloads, args.runbooks, window, ttd), flush=True)
    finally:
        scenario.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"files kept in {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
