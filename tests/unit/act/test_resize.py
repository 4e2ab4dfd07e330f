"""The resize's patch: one container's memory, by name, with the token and the version read."""

from __future__ import annotations

from typing import Any

import pytest

from kubeheal.act.intent import TOKEN_ANNOTATION
from kubeheal.act.patches import container_memory, resize_patch


def deployment(**resources: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "resourceVersion": "41"},
        "spec": {"template": {"spec": {"containers": [
            {"name": "proxy", "image": "envoy"},
            {"name": "app", "image": "web:v3", "resources": dict(resources)},
        ]}}},
    }


def test_the_patch_names_the_container_and_carries_token_and_version() -> None:
    patch = resize_patch(deployment(), "app", "512Mi", "256Mi", "rem-1.2")
    assert patch["metadata"] == {"resourceVersion": "41",
                                 "annotations": {TOKEN_ANNOTATION: "rem-1.2"}}
    assert patch["spec"] == {"template": {"spec": {"containers": [{
        "name": "app",
        "resources": {"limits": {"memory": "512Mi"}, "requests": {"memory": "256Mi"}}}]}}}


def test_the_patch_leaves_an_absent_request_absent() -> None:
    (container,) = resize_patch(deployment(), "app", "512Mi", None, "t")["spec"]["template"][
        "spec"]["containers"]
    assert container["resources"] == {"limits": {"memory": "512Mi"}}


def test_the_memory_of_a_container_is_read_as_written() -> None:
    d = deployment(limits={"memory": "1Gi", "cpu": "1"}, requests={"memory": "600Mi"})
    assert container_memory(d, "app") == ("1Gi", "600Mi")
    assert container_memory(deployment(limits={"memory": "1Gi"}), "app") == ("1Gi", None)


def test_a_container_without_a_limit_is_not_resized() -> None:
    with pytest.raises(LookupError, match="never sets a first one"):
        container_memory(deployment(requests={"memory": "1Gi"}), "app")


def test_an_unknown_container_is_named_with_those_there_are() -> None:
    with pytest.raises(LookupError, match=r"no container 'db' \(it has: proxy, app\)"):
        container_memory(deployment(), "db")
