"""Retention of closed Remediations, and the guardrails' history, on a real API server.

The Remediations are written with the operator's own identity (the chart's ServiceAccount,
RBAC and admission policies), so the deletes, the label selectors and the preconditions are
the API server's: closed Remediations beyond the newest N of a runbook go, open ones, those
the guardrails still read and those whose outcome is not recorded stay, and without the lease
nothing at all is deleted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from integration.act.workloads import INSECURE
from kubeheal.controller.history import ACTED_HOUR_LABEL, acted_hour, read_history
from kubeheal.controller.leadership import NotLeader
from kubeheal.controller.metrics import OperatorMetrics
from kubeheal.controller.retention import OUTCOME_RECORDED, RetentionPolicy, retain
from kubeheal.controller.store import RUNBOOK_LABEL, TARGET_LABEL, ObjectStore, now, rfc3339
from kubeheal.observe.kubernetes import api_client_from_kubeconfig
from localstack import Cluster
from loopstack import install_operator_identity

pytestmark = [pytest.mark.stack, pytest.mark.filterwarnings(INSECURE)]

HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)


@pytest.fixture(scope="module")
def api(crds: Cluster) -> Iterator[client.ApiClient]:
    with api_client_from_kubeconfig(install_operator_identity(crds)) as api:
        yield api


@pytest.fixture(scope="module")
def store(api: client.ApiClient) -> ObjectStore:
    return ObjectStore(api)


async def remediation(store: ObjectStore, namespace: str, name: str, runbook: str,
                      closed: dt.timedelta | None = None, recorded: bool = True,
                      target: str = "web", executed: tuple[dt.timedelta, ...] = (),
                      phase: str = "Succeeded") -> None:
    """A Remediation closed ``closed`` ago (None: still Executing), its actions run
    ``executed`` ago, labelled as the operator labels it."""
    at = now()
    labels = {RUNBOOK_LABEL: runbook, TARGET_LABEL: target}
    if executed:
        labels[ACTED_HOUR_LABEL] = acted_hour(at - min(executed))
    body: dict[str, Any] = {
        "apiVersion": "kubeheal.io/v1alpha1", "kind": "Remediation",
        "metadata": {"name": name, "namespace": namespace, "labels": labels,
                     "annotations": {OUTCOME_RECORDED: "true"} if recorded else {}},
        "spec": {"runbookRef": {"name": runbook}, "target": {"namespace": namespace,
                                                             "name": target},
                 "trigger": {"startedAt": rfc3339(at - 3 * DAY),
                             "detectedAt": rfc3339(at - 3 * DAY), "score": 0.99},
                 "diagnosis": {"cause": "saturation"}},
    }
    await store.create("remediations", namespace, body)
    status: dict[str, Any] = {"phase": "Executing" if closed is None else phase}
    if closed is not None:
        status["completedAt"] = rfc3339(at - closed)
    status["executions"] = [
        {"intent": {"action": {"name": "scale-out", "kind": "scale"},
                    "issuedAt": rfc3339(at - ago), "token": f"{name}-{i}"},
         "outcome": "executed", "completedAt": rfc3339(at - ago)}
        for i, ago in enumerate(executed)]
    await store.patch_status("remediations", namespace, name, status)


async def names(store: ObjectStore, namespace: str) -> set[str]:
    return {r["metadata"]["name"] for r in await store.list("remediations", namespace)}


async def test_closed_beyond_the_newest_n_go_open_recent_and_unrecorded_ones_stay(
        store: ObjectStore, namespace: str) -> None:
    for days in (2, 3, 4, 5):
        await remediation(store, namespace, f"a{days}", "rb-a", closed=days * DAY)
    await remediation(store, namespace, "a-open", "rb-a")
    for hours in (1, 2, 3):  # beyond N, but the guardrails still read them
        await remediation(store, namespace, f"b{hours}", "rb-b", closed=hours * HOUR)
    for days in (2, 3, 4):  # their outcome is not folded into the statistics yet
        await remediation(store, namespace, f"c{days}", "rb-c", closed=days * DAY,
                          recorded=False)
    everything = await names(store, namespace)
    policy = RetentionPolicy(keep_last=2, ttl=None)
    metrics = OperatorMetrics()

    deleted = await retain(store, [namespace], policy, metrics)
    assert sorted(deleted) == [f"{namespace}/a4", f"{namespace}/a5"]
    assert await names(store, namespace) == everything - {"a4", "a5"}
    assert metrics.registry.get_sample_value(
        "kubeheal_remediations_deleted_total",
        {"namespace": namespace, "runbook": "rb-a"}) == 2

    # Once the statistics hold their outcomes, the unrecorded ones beyond N go too.
    for days in (2, 3, 4):
        await store.patch("remediations", namespace, f"c{days}",
                          {"metadata": {"annotations": {OUTCOME_RECORDED: "true"}}})
    assert await retain(store, [namespace], policy, metrics) == [f"{namespace}/c4"]
    assert await retain(store, [namespace], policy, metrics) == []  # settled
    assert await names(store, namespace) == everything - {"a4", "a5", "c4"}


async def test_the_guardrails_history_survives_the_clean_up(store: ObjectStore,
                                                            namespace: str) -> None:
    await remediation(store, namespace, "web-1", "rb", closed=20 * dt.timedelta(minutes=1),
                      executed=(30 * dt.timedelta(minutes=1),))
    await remediation(store, namespace, "web-2", "rb", closed=5 * HOUR, phase="Escalated")
    await remediation(store, namespace, "db-1", "rb", closed=5 * dt.timedelta(minutes=1),
                      target="db", executed=(10 * dt.timedelta(minutes=1),))
    await remediation(store, namespace, "db-2", "rb", closed=4 * HOUR, target="db",
                      executed=(5 * HOUR,))
    before = await read_history(store, namespace, "web", now())
    assert (before.actions_last_hour, before.namespace_actions_last_hour,
            before.failed_last_day) == (1, 2, 1)
    assert before.last_action_at is not None
    assert now() - before.last_action_at < HOUR

    # The strictest policy deletes none of what the guardrails count.
    policy = RetentionPolicy(keep_last=1, ttl=dt.timedelta(minutes=1))
    assert await retain(store, [namespace], policy, OperatorMetrics()) == []
    after = await read_history(store, namespace, "web", now())
    assert (after.actions_last_hour, after.namespace_actions_last_hour,
            after.failed_last_day) == (1, 2, 1)
    assert after.last_action_at == before.last_action_at


async def test_without_the_lease_nothing_is_deleted(api: client.ApiClient, store: ObjectStore,
                                                    namespace: str) -> None:
    for days in (2, 3):
        await remediation(store, namespace, f"old{days}", "rb", closed=days * DAY)

    def lost() -> None:
        raise NotLeader("the lease is held by another replica")

    with pytest.raises(NotLeader):
        await retain(ObjectStore(api, fence=lost), [namespace],
                     RetentionPolicy(keep_last=1, ttl=None), OperatorMetrics())
    assert await names(store, namespace) == {"old2", "old3"}
