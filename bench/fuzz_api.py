"""Bad input at scale against the real API server, with the operator running.

Starts the closed loop on the local stack (cluster, OPA, the demo service, Prometheus, the
operator under its own ServiceAccount), watches a healthy workload with a runbook, then sends
``--count`` generated and mutated Runbooks, ServiceLevelObjectives and Remediations
(:mod:`fuzzapi`) and prints what became of them: rejected by the API server with the field
named, accepted and marked ``Ready=False`` naming the field, accepted Remediations that the
operator refuses to act on, accepted and valid, operator crashes; and whether the healthy
runbook kept evaluating meanwhile.

Run from the repository root::

    PYTHONPATH=operator:hack python bench/fuzz_api.py --count 1000 --seed 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

from fuzzapi import generate, run_fuzz

from kubeheal.api.runbook import STATUS_HEARTBEAT_SECONDS
from kubeheal.observe.kubernetes import api_client_from_kubeconfig
from loopstack import LoopStack, demo_deployment, demo_runbook

NAMESPACE, HEALTHY = "fuzz", "steady"


def last_evaluation(loop: LoopStack) -> dt.datetime | None:
    stamp = (loop.runbook(NAMESPACE, HEALTHY).get("status") or {}).get("lastEvaluationTime")
    return dt.datetime.fromisoformat(stamp) if stamp else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="objects to send")
    parser.add_argument("--seed", type=int, default=1, help="seed of generation and mutation")
    parser.add_argument("--batch", type=int, default=25, help="objects in flight at once")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kubeheal-fuzz-") as root:
        loop = LoopStack(Path(root), (NAMESPACE,))
        loop.start()
        try:
            loop.apply(NAMESPACE, demo_deployment(HEALTHY))
            operator = loop.start_operator()
            loop.watch(NAMESPACE, HEALTHY)
            actions = demo_runbook(HEALTHY, NAMESPACE)["spec"]["actions"]
            cases = generate(args.count, args.seed, NAMESPACE, [f"{HEALTHY}-availability"],
                             actions)
            before = last_evaluation(loop)
            started = time.monotonic()
            assert loop.operator_kubeconfig is not None
            counts = run_fuzz(api_client_from_kubeconfig(loop.kubeconfig),
                              api_client_from_kubeconfig(loop.operator_kubeconfig), cases,
                              operator.alive, batch=args.batch,
                              progress=lambda m: print(m, file=sys.stderr, flush=True))
            took = time.monotonic() - started
            after = last_evaluation(loop)  # written at a change or at the status heartbeat
            deadline = time.monotonic() + 2 * STATUS_HEARTBEAT_SECONDS
            while (before is None or after is None or after <= before) \
                    and time.monotonic() < deadline:
                time.sleep(2)
                after = last_evaluation(loop)
            ready = next(c for c in loop.runbook(NAMESPACE, HEALTHY)["status"]["conditions"]
                         if c["type"] == "Ready")
            log = (loop.root / "logs" / "operator.log").read_text(errors="replace")
        finally:
            loop.stop()
    print(f"fuzz_api: {args.count} objects, seed {args.seed}, batches of {args.batch}, "
          f"{took:.0f}s")
    print(counts.table())
    print(f"tracebacks in the operator's log      {log.count('Traceback')}")
    kept = before is not None and after is not None and after > before
    print(f"healthy runbook kept evaluating       {kept} "
          f"(last evaluation {before} -> {after}), Ready={ready['status']}")
    return 0 if not counts.problems and counts.operator_crashes == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
