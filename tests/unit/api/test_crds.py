"""The generated CRDs: fresh on disk, structural, and carrying what kubectl users rely on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubeheal.api.crd import KINDS, Kind, custom_resource_definition, file_name, render

CRDS = Path(__file__).resolve().parents[3] / "crds"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_crds_on_disk_are_fresh(kind: Kind) -> None:
    path = CRDS / file_name(kind)
    assert path.exists(), f"{path} is missing: run `make crds`"
    assert path.read_text() == render(kind), f"{path} is stale: run `make crds`"
    assert sorted(p.name for p in CRDS.glob("*.yaml")) == sorted(file_name(k) for k in KINDS)


def _walk(schema: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, schema)]
    for name, prop in schema.get("properties", {}).items():
        found += _walk(prop, f"{path}.{name}")
    if "items" in schema:
        found += _walk(schema["items"], f"{path}[]")
    return found


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.kind)
def test_schema_is_structural_and_described(kind: Kind) -> None:
    crd = custom_resource_definition(kind)
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema["properties"]["spec"], "spec"):
        assert "type" in node, f"{path} has no type"
        assert not {"$ref", "anyOf", "allOf", "oneOf", "const", "title"} & node.keys(), path
        if not path.endswith("[]"):  # items share their list's description
            assert node.get("description"), f"{path} has no description"
    assert version.get("subresources") == ({"status": {}} if kind.status else None)
    assert crd["spec"]["names"]["categories"] == ["kubeheal"]
    assert crd["spec"]["names"]["shortNames"]


def test_cross_field_rules_reach_the_crd() -> None:
    runbook = custom_resource_definition(KINDS[0])
    text = str(runbook)
    for rule in (
        "self.minReplicas <= self.maxReplicas",
        "self.mode != 'riskAbove' || has(self.riskThreshold)",
        "self.debounceK <= self.debounceN",
    ):
        assert rule in text
