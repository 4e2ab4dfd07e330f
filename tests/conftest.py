"""Session fixtures that start the real local stack for integration and end-to-end tests.

Each component runs as a process on a free loopback port (see hack/localstack.py); a
component that fails to start fails the tests with its name and the tail of its log.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from localstack import Cluster, Opa

# Property tests search the same examples on every run (a failure is a bug, never a bad draw)
# and are never judged by how long an example takes on a shared, busy machine.
settings.register_profile("kubeheal", deadline=None, derandomize=True)
settings.load_profile("kubeheal")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """etcd, kube-apiserver, controller-manager, scheduler and kwok with two fake nodes."""
    stack = Cluster(tmp_path_factory.mktemp("cluster"))
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> Cluster:
    """The cluster with kubeheal's CRDs installed and Established."""
    cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f",
                    str(ROOT / "crds"))
    return cluster


@pytest.fixture(scope="session")
def opa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Opa]:
    """A real OPA server."""
    server = Opa(tmp_path_factory.mktemp("opa"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())
    name = f"t-{base[5:35].strip('-')}-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
