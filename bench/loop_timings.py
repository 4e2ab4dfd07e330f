"""Time to detect and time to recover of every end-to-end scenario, on the real local stack.

Runs ``pytest tests/e2e`` (the whole closed loop: cluster, OPA, the demo service, Prometheus
scraping it every 5 s, the operator as its own process) with $KUBEHEAL_TIMINGS set, so that
each scenario records its fault start, Remediation creation and verified recovery; then
prints one row per scenario and whether the targets hold: a bad rollout detected within 30 s
of the fault and its recovery verified within 90 s.

    python bench/loop_timings.py [-k EXPR] [--timings FILE]

Scenarios that end without recovery on purpose (blocked, escalated) show no time to recover.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"bad rollout": (30.0, 90.0)}  # scenario -> (detect within, recover within), s


def run(keyword: str | None, timings: Path) -> int:
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/e2e"]
    if keyword:
        argv += ["-k", keyword]
    env = {**os.environ, "KUBEHEAL_TIMINGS": str(timings)}
    return subprocess.run(argv, cwd=ROOT, env=env, check=False).returncode


def table(timings: dict[str, dict[str, object]]) -> tuple[str, bool]:
    def seconds(value: object) -> str:
        return f"{value:.1f}" if isinstance(value, int | float) else "-"

    rows = [f"{'scenario':<30} {'TTD s':>7} {'TTR s':>7}  outcome"]
    held = True
    for scenario, t in timings.items():
        rows.append(f"{scenario:<30} {seconds(t.get('ttd')):>7} {seconds(t.get('ttr')):>7}  "
                    f"{t.get('phase') or 'no remediation'}")
    for scenario, (detect, recover) in TARGETS.items():
        t = timings.get(scenario)
        if t is None:
            rows.append(f"target {scenario}: not measured")
            held = False
            continue
        ttd, ttr = t.get("ttd"), t.get("ttr")
        ok = isinstance(ttd, int | float) and ttd <= detect \
            and isinstance(ttr, int | float) and ttr <= recover
        held = held and ok
        rows.append(f"target {scenario}: detected within {detect:g}s and recovered within "
                    f"{recover:g}s: {'holds' if ok else 'MISSED'}")
    return "\n".join(rows), held


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", dest="keyword", help="pytest -k expression (default: every "
                        "scenario)")
    parser.add_argument("--timings", type=Path, help="keep the timings in this JSON file")
    parser.add_argument("--report-only", action="store_true",
                        help="print the table of an existing --timings file, run nothing")
    args = parser.parse_args()
    if args.report_only:
        if args.timings is None:
            parser.error("--report-only needs --timings")
        text, held = table(json.loads(args.timings.read_text()))
        print(text)
        return 0 if held else 1
    with tempfile.TemporaryDirectory() as tmp:
        timings = args.timings or Path(tmp) / "timings.json"
        timings.unlink(missing_ok=True)
        code = run(args.keyword, timings)
        recorded = json.loads(timings.read_text()) if timings.exists() else {}
    text, held = table(recorded)
    print(text)
    return code or (0 if held else 1)


if __name__ == "__main__":
    raise SystemExit(main())
