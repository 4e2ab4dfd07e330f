"""The local stack itself: Deployments run on kwok nodes, OPA and Prometheus answer."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from localstack import Cluster, Opa, Prometheus, free_port

pytestmark = pytest.mark.stack


def _deployment(name: str, replicas: int = 2) -> dict[str, object]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "example.invalid/app:1"}]},
            },
        },
    }


def test_deployment_becomes_available_and_keeps_revisions(
    cluster: Cluster, namespace: str
) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(_deployment("web")))
    cluster.kubectl("rollout", "status", "-n", namespace, "deployment/web", "--timeout=90s")
    pods = json.loads(cluster.kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)
    assert len(pods["items"]) == 2
    for pod in pods["items"]:
        assert pod["status"]["phase"] == "Running"
        assert pod["spec"]["nodeName"].startswith("kwok-node-")

    cluster.kubectl("set", "image", "-n", namespace, "deployment/web", "app=example.invalid/app:2")
    cluster.kubectl("rollout", "status", "-n", namespace, "deployment/web", "--timeout=90s")
    sets = json.loads(cluster.kubectl("get", "rs", "-n", namespace, "-o", "json").stdout)
    revisions = sorted(
        int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
        for rs in sets["items"]
    )
    assert revisions == [1, 2]


def test_opa_answers_a_policy_query(opa: Opa) -> None:
    policy = b'package probe\n\nallow if input.user == "alice"\n'
    put = urllib.request.Request(f"{opa.url}/v1/policies/probe", data=policy, method="PUT")
    with urllib.request.urlopen(put, timeout=5):
        pass

    def ask(user: str) -> object:
        body = json.dumps({"input": {"user": user}}).encode()
        post = urllib.request.Request(f"{opa.url}/v1/data/probe/allow", data=body, method="POST")
        with urllib.request.urlopen(post, timeout=5) as response:
            return json.loads(response.read()).get("result")

    assert ask("alice") is True
    assert ask("mallory") is None  # undefined, not true


def test_prometheus_scrapes_and_answers_promql(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    gauge = Gauge("kubeheal_probe_value", "A value the test sets.", ["deployment"],
                  registry=registry)
    gauge.labels("web").set(42)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    prometheus = Prometheus(tmp_path, [f"127.0.0.1:{port}"])
    prometheus.start()
    try:
        query = urllib.parse.quote('sum by (deployment) (kubeheal_probe_value)')
        deadline = time.monotonic() + 30
        result: list[dict[str, object]] = []
        while time.monotonic() < deadline and not result:
            with urllib.request.urlopen(f"{prometheus.url}/api/v1/query?query={query}",
                                        timeout=5) as response:
                result = json.loads(response.read())["data"]["result"]
            time.sleep(0.5)
        assert result, "Prometheus never returned the scraped series"
        assert result[0]["metric"] == {"deployment": "web"}
        assert float(result[0]["value"][1]) == 42.0  # type: ignore[index]
    finally:
        prometheus.stop()
        server.shutdown()
        thread.join(5)


def test_the_audit_log_names_who_acted_on_what(cluster: Cluster, namespace: str) -> None:
    """Every request once, with its user and answer; the body of what can act on a workload;
    none of the stack components' own reads."""
    from auditlog import AuditLog

    log = AuditLog(cluster.audit_log)
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(_deployment("audited")))
    cluster.kubectl("scale", "-n", namespace, "deployment/audited", "--replicas=3")
    refused = cluster.kubectl("scale", "-n", namespace, "deployment/audited", "--replicas=4",
                              user="alice", check=False)
    assert refused.returncode != 0
    cluster.kubectl("rollout", "status", "-n", namespace, "deployment/audited", "--timeout=90s")

    def mine() -> list[tuple[str, str, str, int]]:
        return [(r.user, r.verb, r.subresource, r.code)
                for r in log.mutations_by("admin", namespace=namespace, resource="deployments",
                                          name="audited", ok_only=False)]

    deadline = time.monotonic() + 10
    while len(mine()) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ("admin", "patch", "scale", 200) in mine()
    # Alice may not even read it: on record, refused, and no change of hers.
    alice = [r for r in log.by("alice") if r.namespace == namespace]
    assert alice and {r.code for r in alice} == {403}
    assert log.mutations_by("alice", namespace=namespace) == []
    # A workload's ReplicaSets and pods come from the stack's controllers, on record as such.
    assert log.mutations_by("kubeheal-stack", namespace=namespace, resource="pods")
    assert not [r for r in log.records() if r.user == "kubeheal-stack"
                and r.verb in ("get", "list", "watch")]
    scale = next(r for r in log.mutations_by("admin", namespace=namespace, name="audited")
                 if r.subresource == "scale")
    assert scale.request == {"spec": {"replicas": 3}}
