"""``make demo``: the closed loop, end to end, on the local stack, told as it happens.

Starts the local stack (cluster, OPA, the demo service, Prometheus scraping it every 5 s),
installs kubeheal's CRDs, admission policy and the sample runbook and SLO of deploy/demo, runs
the operator, lets the detectors warm up on healthy traffic, rolls out a bad build, and prints
the incident's timeline (detected, diagnosed, decided, gated, acted, verified) with the time of
each step since the fault. Then it tears everything down, unless ``--keep``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import yaml

from loopstack import ROOT, LoopStack, timeline

NAMESPACE = "shop"
WORKLOAD = "checkout"


def say(text: str) -> None:
    print(f"[{dt.datetime.now().strftime('%H:%M:%S')}] {text}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default=".stack", help="where the stack keeps its state")
    parser.add_argument("--keep", action="store_true", help="leave the stack running")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the end")
    args = parser.parse_args()
    root = Path(args.dir).resolve()
    if (root / "stack.json").exists():
        print(f"a stack already runs from {root}; run `make cluster-down` first", file=sys.stderr)
        return 1
    stack = LoopStack(root, [NAMESPACE])
    say("starting the local stack: etcd, kube-apiserver, controller-manager, scheduler, kwok, "
        "OPA, the demo service, Prometheus")
    stack.start()
    ok = False
    try:
        ok = run(stack, args.timeout)
    finally:
        if args.keep:
            keep(stack, root)
        else:
            say("tearing down")
            stack.stop()
    return 0 if ok else 1


def run(stack: LoopStack, timeout: float) -> bool:
    demo = ROOT / "deploy" / "demo"
    for manifest in sorted(demo.glob("*.yaml")):
        stack.kubectl("apply", "-n", NAMESPACE, "-f", str(manifest))
    say(f"applied {', '.join(p.name for p in sorted(demo.glob('*.yaml')))} in namespace "
        f"{NAMESPACE}")
    stack.wait_available(NAMESPACE, WORKLOAD)
    stack.start_operator()
    say(f"kubeheal is running (metrics on http://127.0.0.1:{stack.metrics_port}/metrics)")

    runbook = yaml.safe_load((demo / "30-runbook.yaml").read_text())
    warmup = runbook["spec"]["detection"]["warmupPoints"]
    say(f"warming up the detectors on healthy traffic ({warmup} points per stream)")
    stack.wait_for("warm detectors", lambda: stack.warm(NAMESPACE, WORKLOAD), 300, poll=2)

    fault = stack.inject_bad_rollout(NAMESPACE, WORKLOAD)
    say(f"injected a bad rollout of {NAMESPACE}/{WORKLOAD} (pod template annotation "
        "demo.kubeheal.io/fault=bad-build)")
    printed = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = stack.remediations(NAMESPACE)
        if items:
            remediation = items[0]
            entries = timeline(remediation)
            for stamp, step, message in entries[printed:]:
                at = dt.datetime.fromisoformat(stamp)
                print(f"  +{(at - fault).total_seconds():6.1f}s  {step:<10} {message}",
                      flush=True)
            printed = len(entries)
            status = remediation.get("status") or {}
            if status.get("completedAt") and printed:
                return summary(stack, remediation, fault)
        time.sleep(1)
    say(f"no outcome within {timeout:.0f}s\n{stack.diagnostics()}")
    return False


def summary(stack: LoopStack, remediation: dict[str, object], fault: dt.datetime) -> bool:
    status = remediation["status"]
    assert isinstance(status, dict)
    meta = remediation["metadata"]
    assert isinstance(meta, dict)
    created = dt.datetime.fromisoformat(str(meta["creationTimestamp"]))
    closed = dt.datetime.fromisoformat(str(status["completedAt"]))
    print(flush=True)
    print(stack.kubectl("get", "remediations", "-n", NAMESPACE, "-o", "wide").stdout)
    say(f"remediation {meta['name']}: {status['phase']}")
    print(f"  time to detect  {(created - fault).total_seconds():6.1f}s  (fault to Remediation)")
    print(f"  time to recover {(closed - fault).total_seconds():6.1f}s  (fault to verified)")
    return status["phase"] == "Succeeded"



def keep(stack: LoopStack, root: Path) -> None:
    """Leave everything running; `make cluster-down` stops it from the state file."""
    processes = [p for p in [*stack.cluster.processes, stack.opa.process, stack.demo,
                             stack.prometheus.process, stack.operator] if p is not None]
    (root / "stack.json").write_text(json.dumps({
        "server": stack.cluster.server,
        "kubeconfig": str(stack.kubeconfig),
        "processes": [{"name": p.name, "pid": p.pid, "log": str(p.log)} for p in processes],
    }, indent=2))
    print(f"""
The stack keeps running. Explore it:
  export KUBECONFIG={stack.kubeconfig}
  kubectl get runbooks,servicelevelobjectives,remediations -n {NAMESPACE}
  kubectl describe remediation -n {NAMESPACE}
  curl -s http://127.0.0.1:{stack.metrics_port}/metrics | grep ^kubeheal_
  Prometheus: {stack.prometheus.url}   logs: {root / 'logs'}
Stop everything with: make cluster-down STACK_DIR={root}""")


if __name__ == "__main__":
    sys.exit(main())
