"""The policy engine has the last word: a denial blocks the action with its reasons, and an
engine that does not answer blocks it too (fail closed). Nothing is executed either way."""

from __future__ import annotations

import pytest

from loopstack import TERMINAL, Json, LoopStack, record_timing, timeline

pytestmark = pytest.mark.stack


def test_policy_denial_blocks_with_reasons(loop: LoopStack) -> None:
    ns, name = "deny", "ledger"
    loop.kubectl("label", "namespace", ns, "kubeheal.io/protected=true", "--overwrite")
    loop.watch(ns, name)

    fault = loop.inject_bad_rollout(ns, name)
    blocked = loop.wait_for_phase(ns, TERMINAL, 120)
    record_timing("OPA denies", fault, blocked)
    assert blocked["status"]["phase"] == "Blocked", timeline(blocked)
    policy = blocked["status"]["policy"]
    assert policy["allow"] is False
    assert any("protected" in v for v in policy["violations"]), policy
    allowed = _condition(blocked, "PolicyAllowed")
    assert (allowed["status"], allowed["reason"]) == ("False", "PolicyDenied")
    assert "protected" in allowed["message"]
    _nothing_executed(loop, ns, name, blocked)
    loop.kubectl("delete", "runbook", name, "-n", ns)


def test_policy_engine_down_blocks(loop: LoopStack) -> None:
    ns, name = "opadown", "billing"
    loop.watch(ns, name)

    loop.opa.pause()  # OPA accepts connections and never answers
    try:
        fault = loop.inject_bad_rollout(ns, name)
        blocked = loop.wait_for_phase(ns, TERMINAL, 120)
    finally:
        loop.opa.resume()
    record_timing("OPA down", fault, blocked)
    assert blocked["status"]["phase"] == "Blocked", timeline(blocked)
    allowed = _condition(blocked, "PolicyAllowed")
    assert (allowed["status"], allowed["reason"]) == ("False", "PolicyEngineUnavailable")
    assert "policy engine unavailable" in allowed["message"]
    _nothing_executed(loop, ns, name, blocked)
    loop.kubectl("delete", "runbook", name, "-n", ns)


def _condition(remediation: Json, type_: str) -> Json:
    found: Json = next(c for c in remediation["status"]["conditions"] if c["type"] == type_)
    return found


def _nothing_executed(loop: LoopStack, ns: str, name: str, remediation: Json) -> None:
    assert remediation["status"].get("executions", []) == []
    assert remediation["status"].get("intent") is None
    deployment = loop.deployment(ns, name)
    assert "kubeheal.io/action-token" not in (deployment["metadata"].get("annotations") or {})
    template = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    assert template.get("demo.kubeheal.io/fault") == "bad-build"
