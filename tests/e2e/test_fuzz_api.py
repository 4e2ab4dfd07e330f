"""Bad input at scale, a seeded subset: about 200 generated and mutated Runbooks,
ServiceLevelObjectives and Remediations sent to the real API server while the operator runs
(``bench/fuzz_api.py`` sends 1,000 and more).

Each invalid object is refused by the API server with the field named, or accepted and marked
by the operator (``Ready=False`` naming the field; a Remediation it did not open is never acted
on); the operator never crashes, and a healthy runbook keeps evaluating meanwhile.
"""

from __future__ import annotations

import datetime as dt

import pytest
from fuzzapi import generate, run_fuzz

from kubeheal.api.runbook import STATUS_HEARTBEAT_SECONDS
from kubeheal.observe.kubernetes import api_client_from_kubeconfig
from loopstack import LoopStack, demo_runbook

pytestmark = pytest.mark.stack
NS, HEALTHY, COUNT, SEED = "fuzz", "steady", 200, 9


def last_evaluation(loop: LoopStack) -> dt.datetime:
    stamp = loop.runbook(NS, HEALTHY)["status"]["lastEvaluationTime"]
    return dt.datetime.fromisoformat(stamp)


def test_bad_input_at_scale(loop: LoopStack) -> None:
    loop.watch(NS, HEALTHY)
    actions = demo_runbook(HEALTHY, NS)["spec"]["actions"]
    cases = generate(COUNT, SEED, NS, [f"{HEALTHY}-availability"], actions)
    assert {c.kind for c in cases} == {"Runbook", "ServiceLevelObjective", "Remediation"}
    assert {c.mutation for c in cases} >= {"none", "wrong-type", "out-of-range", "unknown-field",
                                           "huge-string", "bad-promql", "bad-selector",
                                           "missing-slo"}
    before = last_evaluation(loop)
    assert loop.operator is not None and loop.operator_kubeconfig is not None
    operator = loop.operator
    counts = run_fuzz(api_client_from_kubeconfig(loop.kubeconfig),
                      api_client_from_kubeconfig(loop.operator_kubeconfig), cases,
                      operator.alive)

    assert counts.problems == [], counts.table()
    assert counts.operator_crashes == 0 and operator.alive(), counts.table()
    assert counts.sent == COUNT
    assert counts.rejected and counts.not_ready and counts.valid and counts.disowned, \
        counts.table()
    for mutation in ("bad-promql", "missing-slo"):
        assert counts.by_mutation[(mutation, "not-ready")], counts.table()
    # The healthy runbook was evaluated all along, and is still Ready: its status is
    # written again at the latest at the heartbeat, with a later evaluation's time.
    loop.wait_for("a later evaluation of the healthy runbook",
                  lambda: last_evaluation(loop) > before, 2 * STATUS_HEARTBEAT_SECONDS)
    ready = next(c for c in loop.runbook(NS, HEALTHY)["status"]["conditions"]
                 if c["type"] == "Ready")
    assert ready["status"] == "True", ready
    loop.kubectl("delete", "runbook", HEALTHY, "-n", NS)
