"""Reading policies and configuration, and naming them with a version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeheal.policy import bundle_from_configmap, policy_version, read_policy_directory

POLICIES = Path(__file__).parents[3] / "policies"


def test_reads_the_repository_policies_without_tests() -> None:
    b = read_policy_directory(POLICIES)
    assert "kubeheal/decision.rego" in b.policies
    assert "kubeheal/guardrails/rate_limit.rego" in b.policies
    assert not [p for p in b.policies if p.endswith("_test.rego")]
    assert b.config["protectedNamespaces"]["names"][0] == "kube-system"


def test_directory_and_configmap_give_the_same_version(tmp_path: Path) -> None:
    (tmp_path / "kubeheal/config").mkdir(parents=True)
    (tmp_path / "kubeheal/a.rego").write_text("package a\n")
    (tmp_path / "kubeheal/config/data.json").write_text('{"x": [1, 2]}')
    from_dir = read_policy_directory(tmp_path)
    from_cm = bundle_from_configmap(
        {"kubeheal/a.rego": "package a\n", "data.json": json.dumps({"x": [1, 2]}, indent=4)}
    )
    assert from_dir.version == from_cm.version


def test_version_changes_with_policies_and_data() -> None:
    base = policy_version({"a.rego": "package a"}, {"limit": 3})
    assert policy_version({"a.rego": "package a "}, {"limit": 3}) != base
    assert policy_version({"a.rego": "package a"}, {"limit": 4}) != base
    assert policy_version({"b.rego": "package a"}, {"limit": 3}) != base


def test_version_ignores_order() -> None:
    one = policy_version({"a": "1", "b": "2"}, {"x": 1, "y": 2})
    assert one == policy_version({"b": "2", "a": "1"}, {"y": 2, "x": 1})


def test_directory_without_configuration_has_empty_config(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text("package p\n")
    assert dict(read_policy_directory(tmp_path).config) == {}


def test_configuration_must_be_an_object(tmp_path: Path) -> None:
    (tmp_path / "kubeheal/config").mkdir(parents=True)
    (tmp_path / "kubeheal/config/data.json").write_text("[]")
    with pytest.raises(ValueError, match="JSON object"):
        read_policy_directory(tmp_path)
    with pytest.raises(ValueError, match="JSON object"):
        bundle_from_configmap({"data.json": "3"})
