"""``kubeheal replay`` on the local stack: Prometheus history of a demo workload holds a healthy
stretch and then a bad rollout, with no operator running (nothing acts on it). Replayed over
the healthy stretch, the runbook opens nothing; over the whole window, exactly one incident,
at the fault, diagnosed as a change, with the rollback the live loop would take and the
answer of the real policies (``opa eval`` of ``policies/``)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeheal.policy import read_policy_directory
from localstack import binary
from loopstack import ROOT, LoopStack, demo_deployment, demo_runbook, demo_slo

pytestmark = pytest.mark.stack

NS, NAME = "replay", "checkout"
ERRORS = ('sum by (namespace, deployment) (rate(demo_http_requests_total{code=~"5..",'
          f'namespace="{NS}"}}[20s])) / sum by (namespace, deployment) '
          f'(rate(demo_http_requests_total{{namespace="{NS}"}}[20s]))')


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopStack]:
    """The stack without the operator: Prometheus scrapes the demo, nobody remediates."""
    with LoopStack(tmp_path_factory.mktemp("replay"), (NS,)) as loop:
        loop.apply(NS, demo_deployment(NAME), demo_slo(NAME, NS), demo_runbook(NAME, NS))
        loop.wait_available(NS, NAME)
        yield loop


def _points(loop: LoopStack, promql: str, start: float, end: float) -> list[float]:
    """The values of a one-series range query every 5 s (empty when it has none)."""
    query = urllib.parse.urlencode({"query": promql, "start": f"{start:.3f}",
                                    "end": f"{end:.3f}", "step": "5"})
    with urllib.request.urlopen(f"{loop.prometheus.url}/api/v1/query_range?{query}",
                                timeout=10) as response:
        result = json.load(response)["data"]["result"]
    return [float(v) for _, v in result[0]["values"]] if result else []


def _history_of(loop: LoopStack, seconds: float, since: float | None = None,
                above: float | None = None) -> float:
    """Wait until Prometheus holds ``seconds`` of the error ratio (since ``since``; values
    above ``above`` only, when given); returns the end of that history."""
    def held() -> float | None:
        now = time.time()
        values = _points(loop, ERRORS, since if since is not None else now - seconds, now)
        if above is not None:
            values = [v for v in values if v > above]
        return now if len(values) * 5 >= seconds else None

    found: float = loop.wait_for(f"{seconds:g}s of history in Prometheus", held, 600)
    return found


def _kubeheal_replay(loop: LoopStack, since: float, until: float,
                    *extra: str) -> subprocess.CompletedProcess[str]:
    def stamp(t: float) -> str:
        return dt.datetime.fromtimestamp(t, dt.UTC).isoformat()

    return subprocess.run(
        [sys.executable, "-m", "kubeheal.cli", "replay", NAME, "-n", NS, "--since", stamp(since),
         "--until", stamp(until), "--prometheus-url", loop.prometheus.url,
         "--opa", binary("opa"), "--policies", str(ROOT / "policies"),
         "--kubeconfig", str(loop.kubeconfig), *extra],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "operator")},
        timeout=300, check=False)


def _replay(loop: LoopStack, since: float, until: float) -> dict[str, Any]:
    done = _kubeheal_replay(loop, since, until, "-o", "json")
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_replay_finds_the_injected_fault_and_nothing_in_the_healthy_stretch(
        stack: LoopStack) -> None:
    # Enough healthy history to warm the detectors (30 points at 5 s) before the window...
    since = _history_of(stack, 170)
    # ...then a healthy stretch inside it, then a bad rollout that nobody rolls back.
    _history_of(stack, 120, since=since)
    fault = stack.inject_bad_rollout(NS, NAME).timestamp()
    until = _history_of(stack, 40, since=fault, above=0.05)

    healthy = _replay(stack, since, fault)
    assert healthy["incidents"] == [], healthy
    # every step scored (none skipped for want of data), and not one alarm
    assert healthy["summary"]["steps"] >= 20 and healthy["skipped"] == [], healthy
    assert healthy["summary"]["alarms"] == 0

    found = _replay(stack, since, until)
    assert len(found["incidents"]) == 1, found["incidents"]
    incident = found["incidents"][0]
    detected = dt.datetime.fromisoformat(incident["detected"]).timestamp()
    assert fault - 5 <= detected <= until, (fault, incident)
    assert set(incident["evidence"]) and any(
        s in " ".join(incident["evidence"]) for s in ("error-ratio", "latency-p99"))
    assert incident["cause"] == "change", incident
    assert incident["action"]["name"] == "roll-back-bad-release"
    assert incident["action"]["kind"] == "rollback" and incident["action"]["params"][
        "toRevision"] == "1"
    assert incident["risk"]["score"] > 0
    # The real policies answered (a denial for want of an answer would name no version).
    version = read_policy_directory(Path(ROOT / "policies")).version
    assert incident["policy"]["version"] == version, incident["policy"]
    assert incident["policy"]["outcome"] in ("allowed", "approval-required", "denied")
    summary = found["summary"]
    assert summary["incidents"] == 1 and summary["actionsByKind"] == {"rollback": 1}
    assert summary["approvalsNeeded"] == (incident["policy"]["outcome"] == "approval-required")
    # Nothing was executed: the bad build is still rolled out, no Remediation exists.
    template = stack.kubectl("get", "deployment", NAME, "-n", NS, "-o",
                             "jsonpath={.spec.template.metadata.annotations}").stdout
    assert "bad-build" in template
    assert json.loads(stack.kubectl("get", "remediations", "-n", NS, "-o", "json").stdout)[
        "items"] == []

    table = _kubeheal_replay(stack, since, until)
    assert table.returncode == 0 and "Summary: 1 incidents" in table.stdout, table.stderr
    print(table.stdout)
