"""Facts from Kubernetes JSON: which revisions changed the template, which pods were OOM-killed,
and the memory trend."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kubeheal.diagnose import pod_health_from, revisions_from_replicasets, slope


def replicaset(number: str | None, created: str | None, image: str = "app:1",
               annotations: dict[str, str] | None = None, template_hash: str = "abc",
               name: str = "web") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": f"{name}-{template_hash}", "annotations": {}}
    if number is not None:
        meta["annotations"]["deployment.kubernetes.io/revision"] = number
    if created is not None:
        meta["creationTimestamp"] = created
    return {"metadata": meta, "spec": {"template": {
        "metadata": {"labels": {"app": name, "pod-template-hash": template_hash},
                     "annotations": annotations or {}},
        "spec": {"containers": [{"name": "app", "image": image}]}}}}


def test_revisions_are_ordered_and_restarts_marked() -> None:
    restarted = {"kubectl.kubernetes.io/restartedAt": "2026-11-28T12:20:00Z"}
    sets = [
        replicaset("4", "2026-11-28T12:30:00Z", "app:2", restarted | {"x": "1"}, "d"),
        replicaset("3", "2026-11-28T12:20:00Z", "app:2", restarted, "c"),
        replicaset("1", "2026-11-28T12:00:00Z", "app:1", None, "a"),
        replicaset("2", "2026-11-28T12:10:00Z", "app:2", None, "b"),
    ]
    revisions = revisions_from_replicasets(sets)
    assert [(r.number, r.template_changed) for r in revisions] == [
        (1, True), (2, True), (3, False), (4, True)]
    assert revisions[0].created_at == dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    assert revisions[2].name == "web-c"


def test_replicasets_without_revision_or_time_are_skipped() -> None:
    sets = [replicaset(None, "2026-11-28T12:00:00Z"), replicaset("2", None),
            replicaset("x", "2026-11-28T12:00:00Z"), replicaset("5", "2026-11-28T12:00:00Z")]
    assert [r.number for r in revisions_from_replicasets(sets)] == [5]


def test_pod_health_without_statuses() -> None:
    health = pod_health_from({"metadata": {"name": "web-1"}, "status": {}})
    assert (health.restarts, health.oom_kills, health.last_termination_reason) == (0, 0, None)
    assert not health.oom_killed


def test_pod_health_reports_a_crash_that_is_not_an_oom() -> None:
    pod = {"metadata": {"name": "web-1"}, "status": {"containerStatuses": [
        {"restartCount": 2, "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]}}
    health = pod_health_from(pod)
    assert (health.restarts, health.last_termination_reason, health.oom_killed) == (
        2, "Error", False)


@pytest.mark.parametrize(("points", "expected"), [
    ([(0.0, 0.0), (1.0, 2.0), (2.0, 4.0)], 2.0),
    ([(0.0, 5.0), (1.0, 5.0)], 0.0),
    ([(0.0, 10.0), (10.0, 0.0)], -1.0),
    ([(3.0, 1.0), (3.0, 2.0)], None),
    ([], None),
])
def test_slope(points: list[tuple[float, float]], expected: float | None) -> None:
    assert slope(points) == expected
