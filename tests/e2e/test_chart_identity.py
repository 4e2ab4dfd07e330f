"""The chart's RBAC is enough: the operator, running as the chart's ServiceAccount (a
TokenRequest token, out of cluster, electing itself leader on the chart's Lease), heals a bad
rollout.

A stack of its own, so that the operator of the shared ``loop`` is not in
the way; only the objects the chart installs for the operator's identity are applied, the
operator's Deployment left out (no container runtime here: the operator is a process).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from localstack import binary
from loopstack import LoopStack, demo_deployment, demo_runbook, demo_slo, timeline

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "chart"
RELEASE, SYSTEM, NS = "kubeheal", "kubeheal-system", "rollout"
IDENTITY = ("ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


@pytest.fixture(scope="module")
def chart_loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopStack]:
    stack = LoopStack(tmp_path_factory.mktemp("chart-loop"), (NS,))
    try:
        stack.start()  # creates SYSTEM with the operator's identity
        rendered = subprocess.run([binary("helm"), "template", RELEASE, str(CHART), "-n", SYSTEM],
                                  capture_output=True, text=True, check=True, timeout=60).stdout
        identity = [d for d in yaml.safe_load_all(rendered) if d and d["kind"] in IDENTITY]
        assert {d["kind"] for d in identity} == set(IDENTITY)
        stack.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(identity))
        token = stack.kubectl("create", "token", f"{RELEASE}-operator", "-n", SYSTEM,
                              "--duration=2h").stdout.strip()
        kubeconfig = stack.cluster.kubeconfig_for("chart-operator", token)
        stack.start_operator(kubeconfig=kubeconfig, extra=[
            "--leader-election", "--lease-name", RELEASE, "--lease-namespace", SYSTEM,
            "--identity", "kubeheal-operator-0"])
        yield stack
    finally:
        stack.stop()


def test_bad_rollout_is_healed_by_the_charts_identity(chart_loop: LoopStack) -> None:
    loop, name = chart_loop, "checkout"
    loop.apply(NS, demo_deployment(name), demo_slo(name, NS), demo_runbook(name, NS))
    loop.wait_available(NS, name)
    loop.wait_for("the runbook's streams to be warm", lambda: loop.warm(NS, name), 150)

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
    holder = loop.kubectl("get", "lease", RELEASE, "-n", SYSTEM, "-o",
                          "jsonpath={.spec.holderIdentity}").stdout
    assert holder == "kubeheal-operator-0"

