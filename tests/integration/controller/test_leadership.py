"""Leader election on a real Lease: one holder at a time, takeover only after a whole lease
duration without renewal, a fence that closes before a standby may take over, and objects
and actions that write nothing once it is closed.

Each candidate has a clock of its own that the test moves (monotonic seconds), so that
"fifteen seconds later" takes no time; the Lease, its resourceVersions and its conflicts are
the API server's.
"""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
import pytest
from kubernetes import client

from integration.act.workloads import INSECURE
from kubeheal.act.actions import KubernetesActions
from kubeheal.act.intent import ActionError
from kubeheal.act.pins import pin
from kubeheal.api.remediation import PinnedTarget
from kubeheal.controller.handlers import fenced_session
from kubeheal.controller.leadership import ElectionConfig, LeaderElection, NotLeader
from kubeheal.controller.store import ObjectStore
from kubeheal.observe.kubernetes import KubernetesError
from localstack import Cluster

pytestmark = [pytest.mark.stack, pytest.mark.filterwarnings(INSECURE)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def candidate(api: client.ApiClient, namespace: str, identity: str,
              lease: str = "kubeheal") -> LeaderElection:
    return LeaderElection(api, ElectionConfig(lease, namespace, identity), clock=Clock())


def clock(election: LeaderElection) -> Clock:
    assert isinstance(election.clock, Clock)
    return election.clock


def holder(api: client.ApiClient, namespace: str, lease: str = "kubeheal") -> str | None:
    body = client.CoordinationV1Api(api).read_namespaced_lease(lease, namespace)
    return body.spec.holder_identity  # type: ignore[no-any-return]


def test_one_holder_and_takeover_only_after_a_whole_lease_duration(
        api: client.ApiClient, namespace: str) -> None:
    a, b = candidate(api, namespace, "a"), candidate(api, namespace, "b")
    assert a.acquire()
    a.check()
    assert holder(api, namespace) == "a"
    assert not b.try_hold()  # first look: the clock of b starts now
    clock(b).now += 14.9
    assert not b.try_hold()
    clock(b).now += 0.1
    assert b.try_hold()
    assert holder(api, namespace) == "b"
    b.check()
    # The deposed leader finds another holder at its next renewal and is lost at once.
    assert a.keep() == "the lease is held by b"
    with pytest.raises(NotLeader, match="a lost the lease"):
        a.check()


def test_a_renewal_restarts_the_standbys_wait_when_it_sees_it(api: client.ApiClient,
                                                    namespace: str) -> None:
    a, b = candidate(api, namespace, "a"), candidate(api, namespace, "b")
    assert a.try_hold()
    assert not b.try_hold()
    clock(b).now += 10
    assert a.try_hold()  # a renews
    clock(b).now += 10  # 20s since b first looked: but it sees the renewal only now
    assert not b.try_hold()
    clock(b).now += 14.9
    assert not b.try_hold()
    clock(b).now += 0.1
    assert b.try_hold()


def test_the_fence_closes_before_a_standby_may_take_over(api: client.ApiClient,
                                                               namespace: str) -> None:
    """Valid until the renewal was sent + lease duration - margin (15 - 2 s)."""
    a = candidate(api, namespace, "a")
    with pytest.raises(NotLeader, match="holds no valid lease"):
        a.check()
    assert a.try_hold()
    clock(a).now += 12.9
    a.check()
    clock(a).now += 0.1
    with pytest.raises(NotLeader):
        a.check()
    assert a.try_hold()  # renewed: open again
    a.check()


@pytest.mark.parametrize("released", [False, True], ids=["new", "released"])
def test_of_two_candidates_seeing_the_lease_free_exactly_one_wins(
        api: client.ApiClient, namespace: str, released: bool) -> None:
    """b reads the Lease, a writes itself into it, then b writes: b's write carries a stale
    resourceVersion (or creates an existing Lease) and the API server refuses it."""
    if released:
        first = candidate(api, namespace, "first")
        assert first.try_hold()
        first.release()
        assert holder(api, namespace) is None
    a, b = candidate(api, namespace, "a"), candidate(api, namespace, "b")
    read = b.api.read_namespaced_lease

    def read_then_a_writes(*args: Any, **kwargs: Any) -> Any:
        try:
            return read(*args, **kwargs)  # a new Lease: not found
        finally:
            assert a.try_hold()

    b.api.read_namespaced_lease = read_then_a_writes
    assert not b.try_hold()
    assert holder(api, namespace) == "a"
    with pytest.raises(NotLeader):
        b.check()


def test_a_released_lease_is_taken_over_at_once(api: client.ApiClient,
                                                      namespace: str) -> None:
    a, b = candidate(api, namespace, "a"), candidate(api, namespace, "b")
    assert a.try_hold()
    assert not b.try_hold()
    a.release()
    with pytest.raises(NotLeader):
        a.check()
    assert b.try_hold()
    lease = client.CoordinationV1Api(api).read_namespaced_lease("kubeheal", namespace)
    assert lease.spec.lease_transitions == 1


def test_keep_gives_up_after_the_renew_deadline(api: client.ApiClient,
                                                      namespace: str) -> None:
    """An unreachable API server: no renewal within the renew deadline loses the lease."""
    lost = LeaderElection(api, ElectionConfig("kubeheal", namespace, "a", lease_duration=3,
                                              renew_deadline=2, retry_period=0.5, margin=0.5))
    assert lost.acquire()
    lost.api = client.CoordinationV1Api(client.ApiClient(client.Configuration(
        host="https://127.0.0.1:1")))  # nothing listens there
    why = lost.keep()
    assert why is not None and "renew deadline" in why
    with pytest.raises(NotLeader):
        lost.check()


async def test_fenced_objects_and_actions_write_nothing(api: client.ApiClient,
                                                        namespace: str) -> None:
    deposed = candidate(api, namespace, "a")  # never held the lease
    store = ObjectStore(api, fence=deposed.check)
    actions = KubernetesActions(api, fence=deposed.check)
    with pytest.raises(NotLeader):
        await store.create("remediations", namespace, {"metadata": {"name": "x"}})
    with pytest.raises(NotLeader):
        await store.patch_status("runbooks", namespace, "x", {"observedGeneration": 1})
    # Reads pass; the write of the action is refused before it is sent.
    nothing = PinnedTarget(uid="", template_hash="", replicas=1)
    with pytest.raises(ActionError) as refused:
        await actions.scale(namespace, "absent", 3, "token-1", pins=nothing)
    assert refused.value.reason == "not-found"  # the read went through
    client.AppsV1Api(api).create_namespaced_deployment(namespace, {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "fake/web"}]}}}})
    # Pinned as a decision pins it: once the Deployment controller has given it revision 1.
    for _ in range(600):
        read = json.loads(client.AppsV1Api(api).read_namespaced_deployment(
            "web", namespace, _preload_content=False).data)
        if "deployment.kubernetes.io/revision" in (read["metadata"].get("annotations") or {}):
            break
        await asyncio.sleep(0.1)
    decided = pin(read)
    with pytest.raises(ActionError, match="not the leader, nothing written"):
        await actions.scale(namespace, "web", 3, "token-1", pins=decided)
    web = client.AppsV1Api(api).read_namespaced_deployment("web", namespace)
    assert web.spec.replicas == 1
    assert "kubeheal.io/action-token" not in (web.metadata.annotations or {})
    assert isinstance(NotLeader("x"), KubernetesError)


async def test_the_fence_is_checked_when_a_write_is_sent_not_when_it_is_queued(
        api: client.ApiClient, namespace: str) -> None:
    """A write waits for a worker thread; if the lease expires meanwhile, it is not sent."""
    leader = candidate(api, namespace, "a")
    assert leader.acquire()
    store = ObjectStore(api, fence=leader.check)
    remediation = {"apiVersion": "kubeheal.io/v1alpha1", "kind": "Remediation",
                   "metadata": {"name": "web-deployment-1", "namespace": namespace,
                                "uid": "00000000-0000-0000-0000-000000000001"}}

    def events(reason: str) -> list[Any]:
        found = client.CoreV1Api(api).list_namespaced_event(namespace).items
        return [e for e in found if e.reason == reason]

    await store.post_event(remediation, "Normal", "WhileLeading", "sent: the lease is valid")
    assert len(events("WhileLeading")) == 1

    loop = asyncio.get_running_loop()
    loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
    try:
        busy = threading.Event()
        blocker = loop.run_in_executor(None, busy.wait, 30)  # the only worker is taken
        queued = asyncio.create_task(store.post_event(remediation, "Normal", "AfterExpiry",
                                                      "must never be sent"))
        await asyncio.sleep(0.2)  # queued, with the fence still open on the event loop
        clock(leader).now += leader.config.lease_duration  # the lease runs out meanwhile
        busy.set()
        await blocker
        await queued
    finally:
        loop.set_default_executor(ThreadPoolExecutor())
    assert events("AfterExpiry") == []


async def test_kopfs_own_writes_pass_the_fence(cluster: Cluster, api: client.ApiClient,
                                               namespace: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """kopf's session (finalizers, progress annotations) reads freely and writes nothing
    once the fence is closed."""
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    info = kopf.login_with_kubeconfig(settings=kopf.OperatorSettings())
    assert info is not None
    deposed = candidate(api, namespace, "a")  # never held the lease
    configmaps = f"{info.server}/api/v1/namespaces/{namespace}/configmaps"
    session = fenced_session(info, deposed.check)
    async with session:
        async with session.get(configmaps) as response:
            assert response.status == 200
        with pytest.raises(NotLeader):
            await session.post(configmaps, json={"metadata": {"name": "kopf-wrote-this"}})
        assert deposed.acquire()
        async with session.post(configmaps, json={"metadata": {"name": "leader-wrote-this"}},
                                ) as response:
            assert response.status == 201
    names = {c.metadata.name for c in client.CoreV1Api(api).list_namespaced_config_map(
        namespace).items}
    assert "leader-wrote-this" in names and "kopf-wrote-this" not in names
