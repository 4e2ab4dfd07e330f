"""The chart's RBAC is enough: the operator, running as the chart's ServiceAccount (a
TokenRequest token, out of cluster, electing itself leader on the chart's Lease), heals a bad
rollout.

A stack of its own, so that the operator of the shared ``loop`` is not in
the way; only the objects the chart installs for the operator's identity are applied, the
operator's Deployment left out (no container runtime here: the operator is a process).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopstack import (
    OPERATOR_NAMESPACE,
    LoopStack,
    demo_deployment,
    demo_runbook,
    demo_slo,
    timeline,
)

pytestmark = pytest.mark.stack
RELEASE, NS = "kubeheal", "rollout"


@pytest.fixture(scope="module")
def chart_loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopStack]:
    # Starting applies the chart's identity: its ServiceAccount, RBAC, admission.
    with LoopStack(tmp_path_factory.mktemp("chart-loop"), (NS,)) as stack:
        stack.start_operator(extra=[
            "--leader-election", "--lease-name", RELEASE, "--lease-namespace",
            OPERATOR_NAMESPACE, "--identity", "kubeheal-operator-0"])
        yield stack


def test_bad_rollout_is_healed_by_the_charts_identity(chart_loop: LoopStack) -> None:
    loop, name = chart_loop, "checkout"
    loop.apply(NS, demo_deployment(name), demo_slo(name, NS), demo_runbook(name, NS))
    loop.wait_available(NS, name)
    # A new Deployment has no history: its streams are warm after the detector's own
    # warm-up of 30 points, 150 s at the runbook's 5 s interval (a bound, not a timing).
    loop.wait_for("the runbook's streams to be warm", lambda: loop.warm(NS, name), 360)

    loop.inject_bad_rollout(NS, name)
    opened = loop.wait_for_phase(NS, {"Detected", "Executing", "Verifying", "Succeeded"}, 60)
    assert opened["spec"]["diagnosis"]["cause"] == "change"
    done = loop.wait_for_phase(NS, {"Succeeded", "Escalated", "Blocked"}, 180)
    assert done["status"]["phase"] == "Succeeded", timeline(done)
    assert done["status"]["action"]["kind"] == "rollback"
    assert [e["outcome"] for e in done["status"]["executions"]] == ["executed"]
    template = loop.kubectl("get", "deployment", name, "-n", NS, "-o",
                            "jsonpath={.spec.template.metadata.annotations}").stdout
    assert "bad-build" not in template
    # Every API call was allowed: no Forbidden in the operator's log, and it held the Lease.
    log = (loop.root / "logs" / "operator.log").read_text(errors="replace")
    assert "Forbidden" not in log and "403" not in log, log[-3000:]
    holder = loop.kubectl("get", "lease", RELEASE, "-n", OPERATOR_NAMESPACE, "-o",
                          "jsonpath={.spec.holderIdentity}").stdout
    assert holder == "kubeheal-operator-0"

