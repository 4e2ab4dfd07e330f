"""Workloads on the local cluster for the observe, act and verify integration tests.

Shared as a plain module (``from integration.act.workloads import ...``): the API client
fixtures are in ``tests/integration/conftest.py``, these are the building blocks tests use.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from kubernetes import client

from kubeheal.observe.kubernetes import KubernetesReader, api_client_from_kubeconfig
from kubeheal.verify.rollout import wait_for_rollout
from localstack import Cluster

T = TypeVar("T")
INSECURE = "ignore::urllib3.exceptions.InsecureRequestWarning"
"""The local API server's certificate is self-signed; the kubeconfig says not to verify it."""


def api_client(cluster: Cluster) -> client.ApiClient:
    return api_client_from_kubeconfig(cluster.kubeconfig)


def deployment_manifest(namespace: str, name: str, image: str = "fake/web:v1",
                        replicas: int = 2, **spec: Any) -> dict[str, Any]:
    pod_spec = spec.pop("pod_spec", {})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}], **pod_spec},
            },
            **spec,
        },
    }


def apply(cluster: Cluster, manifest: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))


async def eventually(check: Callable[[], Awaitable[T | None]], what: str,
                     timeout: float = 90.0, interval: float = 0.3) -> T:
    """Poll ``check`` until it returns something other than None or False, within timeout."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await check()
        if last is not None and last is not False:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"not {what} within {timeout:g}s (last: {last!r})")


async def ready_deployment(cluster: Cluster, reader: KubernetesReader, namespace: str,
                           name: str, image: str = "fake/web:v1", replicas: int = 2,
                           **spec: Any) -> dict[str, Any]:
    """Create (or update) a Deployment and wait until its rollout is complete."""
    apply(cluster, deployment_manifest(namespace, name, image, replicas, **spec))
    return await rolled_out(reader, namespace, name)


async def rolled_out(reader: KubernetesReader, namespace: str, name: str,
                     timeout: float = 90.0) -> dict[str, Any]:
    status = await wait_for_rollout(reader, namespace, name, deadline_s=timeout, poll_s=0.3)
    assert status.complete, status.message
    return await reader.get_deployment(namespace, name)


def image(workload: dict[str, Any]) -> str:
    """The image of a Deployment's or StatefulSet's first container."""
    return str(workload["spec"]["template"]["spec"]["containers"][0]["image"])


def set_image(cluster: Cluster, namespace: str, name: str, image: str) -> None:
    cluster.kubectl("set", "image", "-n", namespace, f"deployment/{name}", f"app={image}")
