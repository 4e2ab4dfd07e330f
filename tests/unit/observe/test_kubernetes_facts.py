"""Facts extracted from Kubernetes objects: revisions, pod health, pod events, API errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException

from kubeheal.observe.kubernetes import (
    REVISION_ANNOTATION,
    kubernetes_error,
    pod_event,
    pod_health,
    revisions,
    selector_query,
)

DEPLOYMENT = {"metadata": {"name": "web", "uid": "uid-web"}}


def replica_set(name: str, revision: str | None, owner: str = "uid-web", *,
                controller: bool = True, replicas: int = 2, ready: int = 2) -> dict[str, Any]:
    annotations = {} if revision is None else {REVISION_ANNOTATION: revision}
    return {
        "metadata": {
            "name": name, "annotations": annotations,
            "creationTimestamp": "2026-11-28T12:00:00Z",
            "labels": {"app": "web", "pod-template-hash": name.rsplit("-", 1)[-1]},
            "ownerReferences": [{"kind": "Deployment", "uid": owner, "controller": controller}],
        },
        "spec": {"replicas": replicas},
        "status": {"readyReplicas": ready},
    }


def test_revisions_are_sorted_and_filtered_by_owner() -> None:
    history = revisions(DEPLOYMENT, [
        replica_set("web-c3", "10"),
        replica_set("web-a1", "2", replicas=0, ready=0),
        replica_set("other-x", "5", owner="uid-other"),
        replica_set("web-orphan", "7", controller=False),
        replica_set("web-new", None),
    ])
    assert [(r.number, r.replica_set) for r in history] == [(2, "web-a1"), (10, "web-c3")]
    first = history[0]
    assert first.pod_template_hash == "a1"
    assert (first.replicas, first.ready_replicas) == (0, 0)
    assert first.created == datetime(2026, 11, 28, 12, tzinfo=UTC)


def test_pod_health_takes_the_latest_termination_across_containers() -> None:
    health = pod_health({
        "metadata": {"name": "web-a1-xyz"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "initContainerStatuses": [{"restartCount": 0, "state": {"terminated": {
                "reason": "Completed", "finishedAt": "2026-11-28T10:00:00Z"}}}],
            "containerStatuses": [
                {"restartCount": 2, "state": {"running": {}}, "lastState": {"terminated": {
                    "reason": "OOMKilled", "finishedAt": "2026-11-28T12:00:00Z"}}},
                {"restartCount": 1, "state": {"running": {}}, "lastState": {"terminated": {
                    "reason": "Error", "finishedAt": "2026-11-28T11:00:00Z"}}},
            ],
        },
    })
    assert health.pod == "web-a1-xyz"
    assert health.restarts == 3
    assert health.last_termination_reason == "OOMKilled"
    assert health.last_termination_time == datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert health.ready and health.waiting_reason is None


def test_pod_without_status_is_unknown_and_not_ready() -> None:
    health = pod_health({"metadata": {"name": "p"}})
    assert (health.restarts, health.ready, health.phase) == (0, False, "Unknown")
    assert health.last_termination_reason is None


def test_event_time_falls_back_to_series_and_event_time() -> None:
    new_style = pod_event({
        "involvedObject": {"kind": "Pod", "name": "web-a1-xyz"}, "reason": "Unhealthy",
        "message": "Readiness probe failed", "type": "Warning", "count": None,
        "eventTime": "2026-11-28T12:00:00.000000Z",
        "series": {"count": 7, "lastObservedTime": "2026-11-28T12:05:00.000000Z"},
    })
    assert new_style.count == 7
    assert new_style.last_seen == datetime(2026, 11, 28, 12, 5, tzinfo=UTC)
    bare = pod_event({"involvedObject": {"name": "p"}, "reason": "Killing"})
    assert (bare.count, bare.last_seen) == (1, None)


def test_selector_with_expressions() -> None:
    query = selector_query({"matchLabels": {"app": "web"}, "matchExpressions": [
        {"key": "track", "operator": "NotIn", "values": ["canary"]}]})
    assert query == "app=web,track notin (canary)"


def test_api_errors_keep_the_servers_message() -> None:
    forbidden = ApiException(status=403, reason="Forbidden")
    forbidden.body = ('{"kind":"Status","message":"deployments.apps \\"web\\" is forbidden: '
                      'User \\"alice\\" cannot patch resource"}')
    error = kubernetes_error(forbidden)
    assert (error.kind, error.status) == ("forbidden", 403)
    assert 'User "alice" cannot patch' in error.message
    assert kubernetes_error(ApiException(status=409, reason="Conflict")).kind == "conflict"
    assert kubernetes_error(ApiException(status=500, reason="boom")).message == "boom"
    down = kubernetes_error(urllib3.exceptions.MaxRetryError(None, "/apis", "refused"))
    assert down.kind == "unavailable" and "cannot reach" in down.message
