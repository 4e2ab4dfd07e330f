"""The operator is killed (SIGKILL) right after writing an intent, and again while verifying:
after each restart it picks up where it was, and in total exactly one action is executed."""

from __future__ import annotations

import pytest

from loopstack import TERMINAL, Json, LoopStack, record_timing, timeline

pytestmark = pytest.mark.stack

TOKEN = "kubeheal.io/action-token"
REVISION = "deployment.kubernetes.io/revision"


def test_kill_after_intent_and_during_verification(loop: LoopStack) -> None:
    ns, name = "crash", "orders"
    loop.watch(ns, name)
    # The fault-injection hook: the driver sleeps after writing an intent, before acting.
    assert loop.operator is not None
    loop.operator.stop()
    loop.start_operator(env={"KUBEHEAL_PAUSE_AFTER_INTENT": "120"})
    try:
        loop.wait_for("the new operator to evaluate the runbook",
                      lambda: _evaluating(loop, ns), 60)
        assert loop.deployment(ns, name)["metadata"]["annotations"][REVISION] == "1"
        fault = loop.inject_bad_rollout(ns, name)

        def intent_written() -> Json | None:
            return next((r for r in loop.remediations(ns)
                         if (r.get("status") or {}).get("intent")), None)

        pending = loop.wait_for("an intent on record", intent_written, 120, poll=0.5)
        loop.kill_operator()
        intent = pending["status"]["intent"]
        assert pending["status"]["phase"] == "Executing"
        assert pending["status"].get("executions", []) == []
        # Killed between the intent and the call: nothing reached the Deployment.
        deployment = loop.deployment(ns, name)
        assert deployment["metadata"]["annotations"].get(TOKEN) != intent["token"]
        assert deployment["metadata"]["annotations"][REVISION] == "2"

        loop.start_operator()
        verifying = loop.wait_for_phase(ns, {"Verifying", *TERMINAL}, 120)
        assert verifying["status"]["phase"] == "Verifying", timeline(verifying)
        loop.kill_operator()
        assert [e["outcome"] for e in verifying["status"]["executions"]] == ["executed"]

        loop.start_operator()
        done = loop.wait_for_phase(ns, TERMINAL, 240)
        record_timing("operator killed twice", fault, done)
    finally:
        if loop.operator is None or not loop.operator.alive():
            loop.start_operator()
    assert done["status"]["phase"] == "Succeeded", timeline(done)
    executions = done["status"]["executions"]
    assert [e["outcome"] for e in executions] == ["executed"]
    assert executions[0]["intent"]["token"] == intent["token"]
    assert "settled after a restart" in executions[0]["message"]
    assert len(loop.remediations(ns)) == 1
    # Exactly one rollback: revision 1 good, 2 bad, 3 the rollback, and the token is ours.
    deployment = loop.deployment(ns, name)
    assert deployment["metadata"]["annotations"][TOKEN] == intent["token"]
    assert deployment["metadata"]["annotations"][REVISION] == "3"
    template = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    assert "demo.kubeheal.io/fault" not in template
    loop.kubectl("delete", "runbook", name, "-n", ns)


def _evaluating(loop: LoopStack, ns: str) -> bool:
    ready = f'kubeheal_detector_streams{{namespace="{ns}",runbook="orders",state="ready"}}'
    try:
        metrics = loop.operator_metrics()
    except OSError:
        return False
    line = next((x for x in metrics.splitlines() if x.startswith(ready)), "")
    return bool(line) and float(line.split()[-1]) > 0
