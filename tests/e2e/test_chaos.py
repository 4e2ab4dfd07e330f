"""Chaos, a seeded few: OPA restarted empty, the operator SIGKILLed after writing its intents
(a rollback and a scale at once) and again while verifying. The API server's audit log, not
the operator's status, shows that each remediation acted exactly once. The long run with a
hundred kills over every phase and action kind is ``bench/chaos.py``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from auditlog import AuditLog, whoami
from loopstack import TERMINAL, Json, LoopStack, timeline

pytestmark = pytest.mark.stack

NS = "chaos"
ROLLBACK, SCALE = "chaos-rb", "chaos-sc"
PAUSE = "KUBEHEAL_PAUSE_AFTER_INTENT"
KUBECTL = "kubectl/"  # the test's own moves, should the operator share the test's user
ACTIONS = {
    ROLLBACK: [{"name": "roll-back", "kind": "rollback", "when": {"causes": ["change"]}}],
    # Whatever the diagnosis of a load past capacity, this runbook's one answer is a scale-out.
    SCALE: [{"name": "scale-out", "kind": "scale",
             "scale": {"minReplicas": 1, "maxReplicas": 6, "step": 3}}],
}

# OPA restarted empty compiles the policies again when the operator reloads them, on a machine
# the rest of the suite keeps busy: a wider answer window than the default 1 s keeps a
# fail-closed timeout (tests/e2e/test_deny.py's subject) out of what this test counts.
PATIENT = {"KUBEHEAL_POLICY_TIMEOUT": "5"}

def test_each_remediation_acts_once_through_kills_and_an_opa_restart(loop: LoopStack) -> None:
    # The load detector needs a calibrated history of healthy load (see test_saturation).
    loop.wait_for("two minutes of healthy history",
                  lambda: _age(loop.deployment(NS, SCALE)) >= 120, 240, poll=5)
    for name, actions in ACTIONS.items():
        loop.watch(NS, name, actions=actions)
    assert loop.operator is not None
    loop.operator.stop()
    loop.start_operator(env={PAUSE: "90", **PATIENT})  # the driver waits after each intent
    try:
        user = whoami(_kubeconfig(loop))
        audit = AuditLog(loop.cluster.audit_log)
        loop.wait_for("the new operator to evaluate both runbooks", lambda: _evaluating(loop),
                      60)
        loop.opa.restart()  # empty: the operator must load its policies again at the gate
        since = dt.datetime.now(dt.UTC)
        # Saturation takes longer to confirm than a bad build: its incident opens first, so
        # that both intents wait on record together (the driver pauses after each).
        loop.set_load(NS, SCALE, 110)
        loop.wait_for("the saturation incident", lambda: _latest(loop, SCALE), 180, poll=1)
        loop.inject_bad_rollout(NS, ROLLBACK)

        def both_intents() -> list[Json] | None:
            latest = [_latest(loop, name) for name in ACTIONS]
            ready = all(r and (r.get("status") or {}).get("intent") for r in latest)
            return [r for r in latest if r] if ready else None

        pending = loop.wait_for("an intent on record for both", both_intents, 150, poll=0.5)
        loop.kill_operator()  # 1: after both intents, before either call
        for remediation in pending:
            assert remediation["status"]["phase"] == "Executing", timeline(remediation)
            assert remediation["status"].get("executions", []) == []
        for name in ACTIONS:
            assert audit.workload_actions(user, NS, name, since=since,
                                          exclude_agent=KUBECTL) == [], name

        loop.start_operator(env=PATIENT)
        verifying = loop.wait_for("a remediation verifying", lambda: next(
            (r for name in ACTIONS if (r := _latest(loop, name))
             and (r.get("status") or {}).get("phase") == "Verifying"), None), 150, poll=0.5)
        loop.kill_operator()  # 2: while verifying
        assert [e["outcome"] for e in verifying["status"]["executions"]] == ["executed"]

        loop.start_operator(env=PATIENT)
        done = {name: loop.wait_for_phase(NS, TERMINAL, 240, target=name) for name in ACTIONS}
    finally:
        if loop.operator is None or not loop.operator.alive():
            loop.start_operator(env=PATIENT)
    for name, remediation in done.items():
        assert remediation["status"]["phase"] == "Succeeded", timeline(remediation)
        executions = remediation["status"]["executions"]
        assert [e["outcome"] for e in executions] == ["executed"], timeline(remediation)
        assert executions[0]["intent"]["token"] == pending[list(ACTIONS).index(name)][
            "status"]["intent"]["token"]
        assert len(loop.remediations(NS, name)) == 1
        # The evidence: exactly one action on the workload, by the operator, answered 2xx.
        acted = audit.workload_actions(user, NS, name, since=since, exclude_agent=KUBECTL)
        assert len(acted) == 1, [(a.verb, a.resource, a.name, a.code) for a in acted]
    assert loop.deployment(NS, SCALE)["spec"]["replicas"] == 6
    # Nothing else of the namespace's workloads was touched by the operator either.
    touched = [r for r in audit.mutations_by(user, namespace=NS, since=since,
                                         exclude_agent=KUBECTL)
               if r.resource in ("deployments", "pods", "horizontalpodautoscalers")
               and r.changes_spec]
    assert len(touched) == 2, [(r.verb, r.resource, r.name) for r in touched]
    for name in ACTIONS:
        loop.kubectl("delete", "runbook", name, "-n", NS)


def _latest(loop: LoopStack, name: str) -> Json | None:
    found = loop.remediations(NS, name)
    return found[-1] if found else None


def _kubeconfig(loop: LoopStack) -> Path:
    """The operator's kubeconfig, whichever identity LoopStack runs it under."""
    assert loop.operator is not None
    argv = loop.operator.argv
    return Path(argv[argv.index("--kubeconfig") + 1])


def _evaluating(loop: LoopStack) -> bool:
    try:
        metrics = loop.operator_metrics()
    except OSError:
        return False
    for name in ACTIONS:
        ready = f'kubeheal_detector_streams{{namespace="{NS}",runbook="{name}",state="ready"}}'
        line = next((x for x in metrics.splitlines() if x.startswith(ready)), "")
        if not line or float(line.split()[-1]) <= 0:
            return False
    return True


def _age(deployment: dict[str, Any]) -> float:
    created = dt.datetime.fromisoformat(deployment["metadata"]["creationTimestamp"])
    return (dt.datetime.now(dt.UTC) - created).total_seconds()
