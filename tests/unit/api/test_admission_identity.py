"""The identity admission policy (deploy/admission/identity.yaml) keeps every field of a
Remediation's spec the operator's, but the approvals: its list of fields follows the model."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic.alias_generators import to_camel

from kubeheal.api.remediation import RemediationSpec

ROOT = Path(__file__).resolve().parents[3]
APPROVALS = {"approval", "approvals"}


def test_the_policy_guards_every_spec_field_but_the_approvals() -> None:
    policy, binding = list(yaml.safe_load_all((ROOT / "deploy" / "admission" /
                                                "identity.yaml").read_text()))
    variables = {v["name"]: v["expression"] for v in policy["spec"]["variables"]}
    guarded = set(re.findall(r"has\(object\.spec\.(\w+)\)", variables["specKept"]))
    fields = {f.alias or to_camel(name) for name, f in RemediationSpec.model_fields.items()}
    assert guarded == fields - APPROVALS
    assert binding["spec"]["paramRef"]["parameterNotFoundAction"] == "Deny"
    assert policy["spec"]["paramKind"] == {"apiVersion": "v1", "kind": "ConfigMap"}
