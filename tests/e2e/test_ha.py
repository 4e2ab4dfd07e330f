"""Two operator replicas, run as the chart runs them (its arguments and environment, its
ServiceAccount's token, each its own pod name): exactly one acts. A bad rollout is healed; a
leader killed between its intent and its action is replaced by the standby, which completes
the remediation with one rollback; a leader frozen past its lease does nothing once it
resumes, and exits.

A stack of its own: the shared ``loop`` runs a standalone operator that would act too.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest

from loopstack import (
    ChartOperator,
    Json,
    LoopStack,
    Replica,
    demo_deployment,
    timeline,
)

pytestmark = pytest.mark.stack

NS = "ha"
WORKLOADS = ("checkout", "orders", "payments")
TOKEN = "kubeheal.io/action-token"
REVISION = "deployment.kubernetes.io/revision"
EXIT_LEASE_LOST = 3


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoopStack, ChartOperator]]:
    with LoopStack(tmp_path_factory.mktemp("ha"), (NS,)) as stack:
        # Deployed first, so that Prometheus holds their healthy history by the time a
        # scenario's runbook warms up from it.
        stack.apply(NS, *(demo_deployment(name) for name in WORKLOADS))
        chart = stack.chart_operator()
        assert "--leader-election" in chart.args
        yield stack, chart


def pair(loop: LoopStack, chart: ChartOperator, leader: str, standby: str,
         leader_env: dict[str, str] | None = None) -> tuple[Replica, Replica]:
    """Stop the running replicas (standbys first, then the leader, which hands its lease
    back), then start ``leader``, and ``standby`` once the first leads."""
    for replica in sorted(loop.replicas.values(), key=Replica.leading):
        replica.process.stop()
    first = loop.start_replica(chart, leader, env=leader_env)
    loop.wait_for(f"{leader} to lead", first.leading, 60, poll=0.5)
    second = loop.start_replica(chart, standby)
    assert second.health() == {"identity": standby, "leader": False}
    assert loop.lease_holder(chart) == leader
    return first, second


def intent_written(loop: LoopStack, target: str) -> Json | None:
    return next((r for r in loop.remediations(NS, target)
                 if (r.get("status") or {}).get("intent")), None)


def rolled_back_once(loop: LoopStack, name: str, done: Json) -> None:
    """Revision 1 good, 2 bad, 3 the one rollback, stamped with the remediation's token."""
    assert done["status"]["phase"] == "Succeeded", timeline(done)
    executions = done["status"]["executions"]
    assert [e["outcome"] for e in executions] == ["executed"]
    deployment = loop.deployment(NS, name)
    annotations = deployment["metadata"]["annotations"]
    assert annotations[REVISION] == "3"
    assert annotations[TOKEN] == executions[0]["intent"]["token"]
    template = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    assert "demo.kubeheal.io/fault" not in template
    assert len(loop.remediations(NS, name)) == 1
    executed = [e for e in loop.events(NS, "Executed")
                if e["involvedObject"]["name"] == done["metadata"]["name"]]
    assert len(executed) == 1, executed


def test_one_replica_acts_and_the_bad_rollout_heals(
        ha: tuple[LoopStack, ChartOperator]) -> None:
    loop, chart = ha
    leader, standby = pair(loop, chart, "kubeheal-operator-a", "kubeheal-operator-b")
    loop.watch(NS, "checkout")
    loop.inject_bad_rollout(NS, "checkout")
    done = loop.wait_for_phase(NS, {"Succeeded", "Escalated", "Blocked"}, 240, "checkout")
    rolled_back_once(loop, "checkout", done)
    assert leader.leading() and not standby.leading()
    assert "stands by: the lease kubeheal-system/kubeheal is held by kubeheal-operator-a" \
        in standby.log()
    assert " leads: " not in standby.log()
    loop.kubectl("delete", "runbook", "checkout", "-n", NS)


def test_the_standby_completes_what_a_killed_leader_began(
        ha: tuple[LoopStack, ChartOperator]) -> None:
    """SIGKILL right after the intent (the leader pauses there): nothing reached the target;
    the standby takes the lease over and executes the recorded intent, once."""
    loop, chart = ha
    leader, standby = pair(loop, chart, "kubeheal-operator-c", "kubeheal-operator-d",
                           leader_env={"KUBEHEAL_PAUSE_AFTER_INTENT": "300"})
    loop.watch(NS, "orders")
    loop.inject_bad_rollout(NS, "orders")
    pending = loop.wait_for("an intent on record", lambda: intent_written(loop, "orders"), 240,
                            poll=0.5)
    leader.signal(signal.SIGKILL)
    loop.wait_for("the leader to die", lambda: not leader.process.alive(), 10, poll=0.1)
    intent = pending["status"]["intent"]
    assert loop.deployment(NS, "orders")["metadata"]["annotations"].get(TOKEN) is None

    loop.wait_for("the standby to lead", standby.leading, 60, poll=0.5)
    done = loop.wait_for_phase(NS, {"Succeeded", "Escalated", "Blocked"}, 240, "orders")
    rolled_back_once(loop, "orders", done)
    execution = done["status"]["executions"][0]
    assert execution["intent"]["token"] == intent["token"]
    assert "settled after a restart" in execution["message"]
    assert loop.lease_holder(chart) == "kubeheal-operator-d"
    loop.kubectl("delete", "runbook", "orders", "-n", NS)


def test_a_leader_frozen_past_its_lease_does_not_act_when_it_resumes(
        ha: tuple[LoopStack, ChartOperator]) -> None:
    """SIGSTOP right after the intent; the standby takes over and executes it; SIGCONT: the
    old leader's pause is over and its next step is the action, but the fence refuses every
    write and the process exits."""
    loop, chart = ha
    frozen, standby = pair(loop, chart, "kubeheal-operator-e", "kubeheal-operator-f",
                           leader_env={"KUBEHEAL_PAUSE_AFTER_INTENT": "8"})
    loop.watch(NS, "payments")
    loop.inject_bad_rollout(NS, "payments")
    loop.wait_for("an intent on record", lambda: intent_written(loop, "payments"), 240,
                  poll=0.2)
    frozen.signal(signal.SIGSTOP)
    stopped_at = time.monotonic()
    loop.wait_for("the standby to lead", standby.leading, 60, poll=0.5)

    def executed() -> Json | None:
        found = loop.remediations(NS, "payments")[0]
        return found if (found.get("status") or {}).get("executions") else None

    executed_by_standby = loop.wait_for("the standby to execute the intent", executed, 120,
                                        poll=0.5)
    # Frozen past its lease duration and its pause: resumed, its next step is the action.
    time.sleep(max(0.0, stopped_at + 20 - time.monotonic()))
    target = loop.deployment(NS, "payments")
    before = len(frozen.log())
    frozen.signal(signal.SIGCONT)
    loop.wait_for("the resumed leader to exit", lambda: not frozen.process.alive(), 30,
                  poll=0.2)
    assert frozen.process.popen is not None
    assert frozen.process.popen.returncode == EXIT_LEASE_LOST
    resumed = frozen.log()[before:]
    assert "lost the lease kubeheal-system/kubeheal" in resumed, resumed
    # It wrote nothing: the target is as the standby left it, one execution on record.
    after = loop.deployment(NS, "payments")
    assert after["metadata"]["generation"] == target["metadata"]["generation"]
    assert after["metadata"]["annotations"][TOKEN] == target["metadata"]["annotations"][TOKEN]
    assert after["spec"] == target["spec"]
    executions = loop.remediations(NS, "payments")[0]["status"]["executions"]
    assert executions == executed_by_standby["status"]["executions"]

    done = loop.wait_for_phase(NS, {"Succeeded", "Escalated", "Blocked"}, 240, "payments")
    rolled_back_once(loop, "payments", done)
    assert loop.lease_holder(chart) == "kubeheal-operator-f"
    loop.kubectl("delete", "runbook", "payments", "-n", NS)
