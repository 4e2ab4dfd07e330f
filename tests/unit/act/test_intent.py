"""Intent tokens: the fact that settles, after a crash, whether an action ran."""

from __future__ import annotations

from kubeheal.act.intent import TOKEN_ANNOTATION, ActionError, action_applied


def deployment(annotations: dict[str, str] | None) -> dict[str, object]:
    return {"metadata": {"name": "web", "annotations": annotations}}


def test_token_on_the_target_means_the_action_ran() -> None:
    assert action_applied(deployment({TOKEN_ANNOTATION: "rem-web-1"}), "rem-web-1")


def test_another_token_or_none_means_it_did_not() -> None:
    assert not action_applied(deployment({TOKEN_ANNOTATION: "rem-web-1"}), "rem-web-2")
    assert not action_applied(deployment(None), "rem-web-1")
    assert not action_applied(deployment({"other": "rem-web-1"}), "rem-web-1")
    assert not action_applied({}, "rem-web-1")


def test_an_empty_token_never_matches() -> None:
    assert not action_applied(deployment({TOKEN_ANNOTATION: ""}), "")


def test_action_error_carries_reason_and_one_message() -> None:
    error = ActionError("forbidden", 'User "alice" cannot patch deployments')
    assert error.reason == "forbidden"
    assert str(error) == error.message == 'User "alice" cannot patch deployments'
