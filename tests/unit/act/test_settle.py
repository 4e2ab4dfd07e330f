"""An answer that leaves an action's outcome open is settled by the token, never guessed."""

from __future__ import annotations

import pytest
from kubernetes import client

from kubeheal.act.actions import KubernetesActions
from kubeheal.act.intent import ActionError, ActionResult
from kubeheal.observe.kubernetes import KubernetesError

LOST = KubernetesError("unavailable", "read timed out")


def actions() -> KubernetesActions:
    return KubernetesActions(client.ApiClient(client.Configuration()))  # never connects


async def lost_answer() -> ActionResult:
    raise LOST


async def test_an_open_outcome_with_the_token_on_the_target_is_success() -> None:
    async def token_there() -> bool:
        return True

    result = await actions()._run("scale", "deployment shop/web", "t-1", lost_answer,
                                  token_there)

    assert result.token == "t-1" and not result.already_applied
    assert "applied (token t-1 read back after: read timed out)" in result.message


async def test_an_open_outcome_without_the_token_is_a_retryable_failure() -> None:
    async def token_absent() -> bool:
        return False

    with pytest.raises(ActionError) as error:
        await actions()._run("rollback", "deployment shop/web", "t-1", lost_answer,
                             token_absent)

    assert error.value.reason == "unavailable" and error.value.retryable
    assert "not applied (token t-1 absent after: read timed out)" in error.value.message


async def test_an_outcome_that_cannot_be_read_back_stays_open() -> None:
    async def unreadable() -> bool:
        raise KubernetesError("unavailable", "connection refused")

    with pytest.raises(ActionError) as error:
        await actions()._run("rollback", "deployment shop/web", "t-1", lost_answer, unreadable)

    assert error.value.reason == "ambiguous" and error.value.retryable
    assert "outcome unknown" in error.value.message and "connection refused" in \
        error.value.message


async def test_a_definite_refusal_is_final_and_not_read_back() -> None:
    async def refused() -> ActionResult:
        raise KubernetesError("forbidden", 'cannot patch resource "deployments"')

    async def must_not_read() -> bool:
        raise AssertionError("a definite answer needs no read-back")

    with pytest.raises(ActionError) as error:
        await actions()._run("scale", "deployment shop/web", "t-1", refused, must_not_read)

    assert error.value.reason == "forbidden" and not error.value.retryable


async def test_conflicts_are_retried_then_reported() -> None:
    calls = 0

    async def conflicting() -> ActionResult:
        nonlocal calls
        calls += 1
        raise KubernetesError("conflict", "the object has been modified")

    async def never() -> bool:
        raise AssertionError("a conflict is not an open outcome")

    with pytest.raises(ActionError) as error:
        await actions()._run("scale", "deployment shop/web", "t-1", conflicting, never)

    assert calls == 5 and error.value.reason == "conflict" and error.value.retryable
