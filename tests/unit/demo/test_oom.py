"""The demo's OOM kills: when a pod's container reaches its limit, what the service writes,
and that a higher limit than the leak's plateau stops the kills."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kubeheal.demo.model import MIB, Fault, PodFacts, memory_bytes, oom_due
from kubeheal.demo.service import oom_kill, parse_time, pod_facts_from

START = "2026-11-28T12:00:00Z"
LEAK = {"demo.kubeheal.io/fault": "leak", "demo.kubeheal.io/leak-mib-per-second": "8",
        "demo.kubeheal.io/leak-plateau-mib": "300"}


def pod(limit: str | None = "256Mi", restarts: int = 0,
        running_since: str = START) -> dict[str, Any]:
    resources = {"limits": {"memory": limit}} if limit else {}
    return {
        "metadata": {"name": "cache-1", "namespace": "oom", "uid": "u", "annotations": LEAK,
                     "resourceVersion": "12"},
        "spec": {"containers": [{"name": "cache", "image": "cache:1", "resources": resources}]},
        "status": {"phase": "Running", "startTime": START,
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"name": "cache", "restartCount": restarts,
                                          "ready": True, "image": "cache:1",
                                          "state": {"running": {"startedAt": running_since}}}]},
    }


def test_a_limited_leaking_container_is_killed_when_it_reaches_its_limit() -> None:
    facts = pod_facts_from(pod(), "cache")
    assert facts is not None
    assert (facts.container, facts.limited, facts.leak_plateau) == ("cache", True, 300 * MIB)
    start = parse_time(START)
    assert start is not None
    # 100 MiB + 8 MiB/s reaches 256 MiB after 19.5 s.
    assert not oom_due(facts, start + 19.0) and oom_due(facts, start + 19.5)


def test_memory_grows_again_from_the_containers_last_start() -> None:
    facts = pod_facts_from(pod(restarts=1, running_since="2026-11-28T12:10:00Z"), "cache")
    assert facts is not None
    ten = parse_time("2026-11-28T12:10:10Z")
    assert ten is not None
    assert memory_bytes(facts, ten) == 180 * MIB and not oom_due(facts, ten)


def test_a_limit_above_the_plateau_stops_the_kills() -> None:
    facts = pod_facts_from(pod(limit="512Mi"), "cache")
    assert facts is not None
    later = (parse_time(START) or 0.0) + 3600
    assert memory_bytes(facts, later) == 300 * MIB and not oom_due(facts, later)


def test_a_container_without_a_limit_is_never_killed() -> None:
    facts = pod_facts_from(pod(limit=None), "cache")
    assert facts is not None and not facts.limited
    assert not oom_due(facts, (parse_time(START) or 0.0) + 3600)


def test_a_healthy_pod_is_never_killed() -> None:
    facts = PodFacts("oom", "cache", "p", started_at=0.0, limited=True, memory_limit=MIB)
    assert facts.fault is Fault.NONE and not oom_due(facts, 1e9)
    assert oom_due(replace(facts, fault=Fault.LEAK), 1e9)


def test_the_kill_is_written_as_a_kubelet_would() -> None:
    patch, event = oom_kill(pod(restarts=2), "cache", "2026-11-28T12:00:20Z")
    assert patch["metadata"] == {"resourceVersion": "12"}
    (status,) = patch["status"]["containerStatuses"]
    assert status == {
        "name": "cache", "restartCount": 3, "ready": True, "image": "cache:1",
        "state": {"running": {"startedAt": "2026-11-28T12:00:20Z"}},
        "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
                                     "startedAt": START, "finishedAt": "2026-11-28T12:00:20Z"}},
    }
    assert (event["reason"], event["type"], event["count"]) == ("OOMKilling", "Warning", 1)
    assert event["involvedObject"] == {"apiVersion": "v1", "kind": "Pod", "name": "cache-1",
                                       "namespace": "oom", "uid": "u",
                                       "fieldPath": "spec.containers{cache}"}
    assert "limit 256Mi" in event["message"]
