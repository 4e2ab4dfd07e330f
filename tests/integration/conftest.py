"""Clients of the local cluster's API server shared by the integration tests.

Module-scoped: each test module opens one client and closes it when its tests are done. A
module that needs another client (one that waits for kubeheal's CRDs, say) defines its own
``api`` fixture, which takes the place of this one there.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from integration.act.workloads import api_client
from kubeheal.act.actions import KubernetesActions
from kubeheal.observe.kubernetes import KubernetesReader
from localstack import Cluster


@pytest.fixture(scope="module")
def api(cluster: Cluster) -> Iterator[client.ApiClient]:
    with api_client(cluster) as api:
        yield api


@pytest.fixture(scope="module")
def reader(api: client.ApiClient) -> KubernetesReader:
    return KubernetesReader(api)


@pytest.fixture(scope="module")
def actions(api: client.ApiClient) -> KubernetesActions:
    return KubernetesActions(api)
