"""OOM kills as facts: which pods and which of their containers, and the evidence they give."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kubeheal.api.runbook import Cause
from kubeheal.diagnose import diagnose
from kubeheal.diagnose.facts import DiagnosisInput
from kubeheal.diagnose.objects import oom_killed_container, pod_health_from

ONSET = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)


def pod(name: str, **last: tuple[int, str | None]) -> dict[str, Any]:
    """A pod whose containers (name -> (restarts, last termination reason)) are given."""
    return {"metadata": {"name": name}, "status": {"containerStatuses": [
        {"name": c, "restartCount": n,
         "lastState": {"terminated": {"reason": why, "exitCode": 137}} if why else {}}
        for c, (n, why) in last.items()]}}


def test_the_oom_killed_containers_of_a_pod_are_named() -> None:
    health = pod_health_from(pod("web-1", app=(3, "OOMKilled"), proxy=(1, "Error")))
    assert health.oom_containers == ("app",)
    assert (health.restarts, health.oom_kills, health.oom_killed) == (4, 1, True)
    assert pod_health_from(pod("web-2", app=(0, None))).oom_containers == ()


def test_the_container_being_killed_is_the_one_killed_in_most_pods() -> None:
    pods = [pod("a", app=(1, "OOMKilled"), proxy=(1, "OOMKilled")),
            pod("b", app=(2, "OOMKilled"), proxy=(0, None)),
            pod("c", app=(0, None), proxy=(0, None))]
    assert oom_killed_container(pods) == "app"
    assert oom_killed_container([pod("c", app=(4, "Error"))]) is None
    assert oom_killed_container([]) is None


def test_oom_kills_make_resource_exhaustion_with_the_container_in_the_evidence() -> None:
    facts = DiagnosisInput(ONSET, pods=tuple(
        pod_health_from(pod(f"web-{i}", app=(2, "OOMKilled"))) for i in range(3)))
    result = diagnose(facts)
    assert result.cause is Cause.RESOURCE_EXHAUSTION
    assert result.candidates[0].evidence[0] == \
        "3 pods OOM-killed: web-0 (app), web-1 (app), web-2 (app)"
