"""The identity admission policies (deploy/admission/identity.yaml) keep every field of a
Remediation's spec the operator's, but the approvals (the list of fields follows the model),
and every write of an incident claim."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic.alias_generators import to_camel

from kubeheal.api.remediation import RemediationSpec

ROOT = Path(__file__).resolve().parents[3]
APPROVALS = {"approval", "approvals"}
Json = dict[str, Any]


def documents() -> dict[tuple[str, str], Json]:
    docs = yaml.safe_load_all((ROOT / "deploy" / "admission" / "identity.yaml").read_text())
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def test_the_policy_guards_every_spec_field_but_the_approvals() -> None:
    docs = documents()
    policy = docs["ValidatingAdmissionPolicy", "kubeheal-remediation-identity"]
    binding = docs["ValidatingAdmissionPolicyBinding", "kubeheal-remediation-identity"]
    variables = {v["name"]: v["expression"] for v in policy["spec"]["variables"]}
    guarded = set(re.findall(r"has\(object\.spec\.(\w+)\)", variables["specKept"]))
    fields = {f.alias or to_camel(name) for name, f in RemediationSpec.model_fields.items()}
    assert guarded == fields - APPROVALS
    assert binding["spec"]["paramRef"]["parameterNotFoundAction"] == "Deny"
    assert policy["spec"]["paramKind"] == {"apiVersion": "v1", "kind": "ConfigMap"}


def test_every_write_of_a_claim_is_checked() -> None:
    docs = documents()
    policy = docs["ValidatingAdmissionPolicy", "kubeheal-claim-identity"]
    binding = docs["ValidatingAdmissionPolicyBinding", "kubeheal-claim-identity"]
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert (rule["resources"], set(rule["operations"])) == (
        ["incidentclaims"], {"CREATE", "UPDATE", "DELETE"})
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert binding["spec"]["policyName"] == "kubeheal-claim-identity"
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["paramRef"]["parameterNotFoundAction"] == "Deny"


def test_only_the_operator_changes_the_alerts_recorded_on_a_runbook() -> None:
    docs = documents()
    policy = docs["ValidatingAdmissionPolicy", "kubeheal-runbook-alerts-identity"]
    binding = docs["ValidatingAdmissionPolicyBinding", "kubeheal-runbook-alerts-identity"]
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["runbooks/status"]
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["paramRef"]["parameterNotFoundAction"] == "Deny"
