"""Leader election on a real Lease: one holder at a time, takeover only after a whole lease
duration without renewal, a fence that closes before a standby may take over, and objects
and actions that write nothing once it is closed.

Each candidate has a clock of its own that the test moves (monotonic seconds), so that
"fifteen seconds later" takes no time; the Lease, its resourceVersions and its conflicts are
the API server's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from kubernetes import client

from integration.act.workloads import INSECURE, api_client
from kubeheal.act.actions import KubernetesActions
from kubeheal.act.intent import ActionError
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


@pytest.fixture(scope="module")
def api(cluster: Cluster) -> Iterator[client.ApiClient]:
    with api_client(cluster) as api:
        yield api


def candidate(api: client.ApiClient, namespace: str, identity: str,
              lease: str = "kubeheal") -> LeaderElection:
    return LeaderElection(api, ElectionConfig(lease, namespace, identity), clock=Clock())


def clock(election: LeaderElection) -> Clock:
    assert isinstance(election.clock, Clock)
    return election.clock


def holder(api: client.ApiClient, namespace: str, lease: str = "kubeheal") -> str | None:
    body = client.CoordinationV1Api(api).read_namespaced_lease(lease, namespace)
    return body.spec.holder_identity  # type: ignore[no-any-return]


async def test_one_holder_and_takeover_only_after_a_whole_lease_duration(
        api: client.ApiClient, namespace: str) -> None:
    a, b = candidate(api, namespace, "a"), candidate(api, namespace, "b")
    await asyncio.wait_for(a.acquire(), 10)
    a.check()
    assert holder(api, namespace) == "a"
    assert not await b.try_hold()  # first look: the clock of b starts now
    clock(b).now += 14.9
    assert not await b.try_hold()
    clock(b).now += 0.1
    assert await b.try_hold()
    assert holder(api, namespace) == "b"
    b.check()
    # The deposed leader finds another holder at its next renewal and is lost at once.
    assert await asyncio.wait_for(a.keep(), 10) == "the lease is held by b"
    with pytest.raises(NotLeader, match="a lost the lease"):
        a.check()


async def test_a_renewal_restarts_the_standbys_wait_when_it_sees_it(api: client.ApiClient,
                                                    namespace: str) -> None:
    a, b = candidate(api, namespace, "a"), candidate(api, namespace, "b")
    assert await a.try_hold()
    assert not await b.try_hold()
    clock(b).now += 10
    assert await a.try_hold()  # a renews
    clock(b).now += 10  # 20s since b first looked: but it sees the renewal only now
    assert not await b.try_hold()
    clock(b).now += 14.9
    assert not await b.try_hold()
    clock(b).now += 0.1
    assert await b.try_hold()


async def test_the_fence_closes_before_a_standby_may_take_over(api: client.ApiClient,
                                                               namespace: str) -> None:
    """Valid until the renewal was sent + lease duration - margin (15 - 2 s)."""
    a = candidate(api, namespace, "a")
    with pytest.raises(NotLeader, match="holds no valid lease"):
        a.check()
    assert await a.try_hold()
    clock(a).now += 12.9
    a.check()
    clock(a).now += 0.1
    with pytest.raises(NotLeader):
        a.check()
    assert await a.try_hold()  # renewed: open again
    a.check()


async def test_of_two_simultaneous_candidates_exactly_one_wins(api: client.ApiClient,
                                                               namespace: str) -> None:
    for round_ in range(5):
        lease = f"race-{round_}"
        a, b = candidate(api, namespace, "a", lease), candidate(api, namespace, "b", lease)
        won = await asyncio.gather(a.try_hold(), b.try_hold())
        assert sorted(won) == [False, True]
        assert holder(api, namespace, lease) == ("a" if won[0] else "b")
        # And again on a released Lease that both see free.
        winner = a if won[0] else b
        await winner.release()
        assert holder(api, namespace, lease) is None
        c, d = candidate(api, namespace, "c", lease), candidate(api, namespace, "d", lease)
        assert sorted(await asyncio.gather(c.try_hold(), d.try_hold())) == [False, True]


async def test_a_released_lease_is_taken_over_at_once(api: client.ApiClient,
                                                      namespace: str) -> None:
    a, b = candidate(api, namespace, "a"), candidate(api, namespace, "b")
    assert await a.try_hold()
    assert not await b.try_hold()
    await a.release()
    with pytest.raises(NotLeader):
        a.check()
    assert await b.try_hold()
    lease = client.CoordinationV1Api(api).read_namespaced_lease("kubeheal", namespace)
    assert lease.spec.lease_transitions == 1


async def test_keep_gives_up_after_the_renew_deadline(api: client.ApiClient,
                                                      namespace: str) -> None:
    """An unreachable API server: no renewal within the renew deadline loses the lease."""
    lost = LeaderElection(api, ElectionConfig("kubeheal", namespace, "a", lease_duration=3,
                                              renew_deadline=2, retry_period=0.5, margin=0.5))
    await lost.acquire()
    lost.api = client.CoordinationV1Api(client.ApiClient(client.Configuration(
        host="https://127.0.0.1:1")))  # nothing listens there
    why = await asyncio.wait_for(lost.keep(), 10)
    assert "renew deadline" in why
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
    with pytest.raises(ActionError) as refused:
        await actions.scale(namespace, "absent", 3, "token-1")
    assert refused.value.reason == "not-found"  # the read went through
    client.AppsV1Api(api).create_namespaced_deployment(namespace, {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "fake/web"}]}}}})
    with pytest.raises(ActionError, match="not the leader, nothing written"):
        await actions.scale(namespace, "web", 3, "token-1")
    web = client.AppsV1Api(api).read_namespaced_deployment("web", namespace)
    assert web.spec.replicas == 1
    assert "kubeheal.io/action-token" not in (web.metadata.annotations or {})
    assert isinstance(NotLeader("x"), KubernetesError)
