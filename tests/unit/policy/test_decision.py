"""Parsing OPA's answer: well-formed decisions pass through, anything else denies."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeheal.policy import Outcome, PolicyDecision, parse_decision
from kubeheal.policy.decision import UNAVAILABLE

VIOLATION = {"msg": "namespace is protected", "details": {"guardrail": "protected-namespace"}}
APPROVAL = {"msg": "risk too high", "details": {"guardrail": "risk-threshold"}}


def answer(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "allow": True,
        "requireApproval": False,
        "reasons": [],
        "violations": [],
        "policyVersion": "v-from-opa",
    }
    base.update(changes)
    return base


def test_allowed() -> None:
    d = parse_decision(answer(), loaded_version="v-loaded")
    assert (d.allow, d.require_approval, d.outcome) == (True, False, Outcome.ALLOWED)
    assert d.engine_available
    assert d.policy_version == "v-from-opa"
    assert d.condition_reason == "PolicyAllowed"
    assert d.message == "allowed"


def test_approval_required() -> None:
    d = parse_decision(answer(requireApproval=True, reasons=[APPROVAL]), "v")
    assert d.outcome is Outcome.APPROVAL_REQUIRED
    assert [f.guardrail for f in d.reasons] == ["risk-threshold"]
    assert d.message == "approval required: risk too high"


def test_denied() -> None:
    d = parse_decision(
        answer(allow=False, violations=[VIOLATION], reasons=[VIOLATION, APPROVAL]), "v"
    )
    assert d.outcome is Outcome.DENIED
    assert d.condition_reason == "PolicyDenied"
    assert d.engine_available
    assert d.message == "denied: namespace is protected; risk too high"


def test_version_falls_back_to_the_loaded_one() -> None:
    a = answer()
    del a["policyVersion"]
    assert parse_decision(a, loaded_version="v-loaded").policy_version == "v-loaded"


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (None, "expected an object"),
        ([], "expected an object"),
        (answer(allow="true"), "allow is not a boolean"),
        (answer(requireApproval=None), "requireApproval is not a boolean"),
        (answer(reasons="none"), "reasons is not a list"),
        (answer(reasons=["text"]), "without a msg"),
        (answer(reasons=[{"msg": "m", "details": []}]), "details are not an object"),
        (answer(violations=[VIOLATION]), "allow is true but there are violations"),
        (answer(allow=False), "no violation says why"),
    ],
)
def test_malformed_answers_deny(bad: object, why: str) -> None:
    d = parse_decision(bad, loaded_version="v")
    assert not d.allow
    assert not d.engine_available
    assert d.condition_reason == "PolicyEngineUnavailable"
    assert d.reasons[0].msg.startswith(f"{UNAVAILABLE}: malformed decision: ")
    assert why in d.reasons[0].msg
    assert d.policy_version == "v"


@given(
    st.recursive(
        st.none() | st.booleans() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    )
)
def test_no_answer_ever_raises_and_only_a_true_allow_allows(anything: object) -> None:
    d = parse_decision(anything, None)
    if d.allow:
        assert isinstance(anything, dict) and anything["allow"] is True


def test_unavailable_is_a_denial_with_the_reason() -> None:
    d = PolicyDecision.unavailable("connection refused", "v1")
    assert not d.allow and not d.require_approval
    assert [f.msg for f in d.violations] == [f"{UNAVAILABLE}: connection refused"]
    assert d.reasons == d.violations
    assert d.to_json()["engineAvailable"] is False
    assert d.to_json()["violations"][0]["details"] == {"guardrail": "policy-engine"}


def test_approval_is_never_required_for_a_denial() -> None:
    d = parse_decision(answer(allow=False, requireApproval=True, violations=[VIOLATION]), "v")
    assert not d.require_approval
