"""Label selectors the API server stores as given but Kubernetes cannot use: the operator
refuses the runbook with the field named (it is then not Ready), instead of listing nothing."""

from __future__ import annotations

from typing import Any

import pytest

from crcases import runbook
from kubeheal.controller.runbooks import parse_runbook


@pytest.mark.parametrize(("selector", "fragment"), [
    ({"matchLabels": {"bad key!": "x"}}, "label key 'bad key!'"),
    ({"matchLabels": {"app": "not valid!"}}, "label value 'not valid!'"),
    ({"matchLabels": {"app": "x" * 64}}, "is not a valid label value"),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": []}]},
     "operator In needs at least one value"),
    ({"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]},
     "operator Exists takes no values"),
    ({"matchExpressions": [{"key": "a/b/c", "operator": "Exists"}]}, "label key 'a/b/c'"),
])
def test_a_malformed_selector_names_the_field(selector: dict[str, Any], fragment: str) -> None:
    body = runbook()
    body["spec"]["selector"] = selector
    model, problem = parse_runbook(body)
    assert model is None
    assert problem.startswith("spec.selector"), problem
    assert fragment in problem


@pytest.mark.parametrize("selector", [
    {"matchLabels": {"app.kubernetes.io/name": "checkout", "tier": ""}},
    {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["batch", "v1.2"]},
                          {"key": "canary", "operator": "DoesNotExist"}]},
])
def test_well_formed_selectors_pass(selector: dict[str, Any]) -> None:
    body = runbook()
    body["spec"]["selector"] = selector
    model, problem = parse_runbook(body)
    assert model is not None, problem
