"""Rollout completion with `kubectl rollout status` semantics, and waiting for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kubeheal.observe.kubernetes import KubernetesError
from kubeheal.verify.rollout import rollout_complete, rollout_status, wait_for_rollout


def deployment(generation: int = 2, observed: int = 2, replicas: int | None = 3,
               total: int = 3, updated: int = 3, available: int = 3,
               progressing_reason: str = "NewReplicaSetAvailable") -> dict[str, Any]:
    spec = {} if replicas is None else {"replicas": replicas}
    return {
        "metadata": {"name": "web", "generation": generation},
        "spec": spec,
        "status": {
            "observedGeneration": observed, "replicas": total, "updatedReplicas": updated,
            "availableReplicas": available,
            "conditions": [{"type": "Available", "status": "True"},
                           {"type": "Progressing", "status": "True",
                            "reason": progressing_reason}],
        },
    }


@pytest.mark.parametrize(
    ("obj", "done", "words"),
    [
        (deployment(), True, "successfully rolled out"),
        (deployment(generation=3), False, "spec update to be observed"),
        (deployment(updated=1, total=4), False, "1 out of 3 new replicas have been updated"),
        (deployment(total=5), False, "2 old replicas are pending termination"),
        (deployment(available=2), False, "2 of 3 updated replicas are available"),
        (deployment(replicas=None, total=1, updated=1, available=1), True, "rolled out"),
        (deployment(replicas=0, total=0, updated=0, available=0), True, "rolled out"),
    ],
)
def test_rollout_complete(obj: dict[str, Any], done: bool, words: str) -> None:
    complete, message = rollout_complete(obj)
    assert complete is done
    assert words in message


def test_a_passed_progress_deadline_is_a_failure_not_a_wait() -> None:
    status = rollout_status(deployment(available=1, progressing_reason="ProgressDeadlineExceeded"))
    assert status.state == "failed"
    assert "exceeded its progress deadline" in status.message


def test_a_fresh_object_without_status_is_progressing() -> None:
    assert rollout_status({"metadata": {"name": "web", "generation": 1}}).state == "progressing"


class Replay:
    """A reader that returns the given objects (or raises the given errors) in turn."""

    def __init__(self, *answers: dict[str, Any] | KubernetesError) -> None:
        self.answers: Iterator[dict[str, Any] | KubernetesError] = iter(answers)
        self.reads = 0

    async def get_deployment(self, namespace: str, name: str) -> dict[str, Any]:
        self.reads += 1
        answer = next(self.answers)
        if isinstance(answer, KubernetesError):
            raise answer
        return answer


async def test_wait_reads_until_complete_through_passing_errors() -> None:
    reader = Replay(deployment(generation=3),
                    KubernetesError("unavailable", "connection refused"),
                    deployment(available=1), deployment())
    status = await wait_for_rollout(reader, "shop", "web", deadline_s=60, poll_s=0)
    assert status.complete and reader.reads == 4


async def test_wait_stops_at_a_failed_rollout_or_a_missing_deployment() -> None:
    failed = await wait_for_rollout(
        Replay(deployment(progressing_reason="ProgressDeadlineExceeded", available=0)),
        "shop", "web", deadline_s=60, poll_s=0)
    assert failed.state == "failed"
    gone = await wait_for_rollout(
        Replay(KubernetesError("not-found", 'deployments.apps "web" not found')),
        "shop", "web", deadline_s=60, poll_s=0)
    assert gone.state == "failed" and "not found" in gone.message


async def test_wait_gives_up_at_the_deadline_with_the_last_message() -> None:
    reader = Replay(*[deployment(available=1)] * 1000)
    status = await wait_for_rollout(reader, "shop", "web", deadline_s=0, poll_s=0)
    assert status.state == "timed-out"
    assert "1 of 3 updated replicas are available" in status.message
