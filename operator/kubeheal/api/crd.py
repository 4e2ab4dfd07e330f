"""CustomResourceDefinitions generated from the pydantic models, the API's single source of truth.

pydantic emits JSON Schema with ``$ref``, ``anyOf`` for optionals and draft 2020 bounds; the
API server wants a structural OpenAPI v3 schema. :func:`structural` turns one into the other,
keeping descriptions (for ``kubectl explain``), defaults, bounds and the CEL rules the models
declare with :func:`kubeheal.api.base.cel_rules`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubeheal.api.base import GROUP, VERSION, ApiModel
from kubeheal.api.claim import IncidentClaimSpec
from kubeheal.api.explanation import ExplanationRequestSpec, ExplanationRequestStatus
from kubeheal.api.remediation import RemediationSpec, RemediationStatus
from kubeheal.api.runbook import RunbookSpec, RunbookStatus
from kubeheal.api.slo import ServiceLevelObjectiveSpec, ServiceLevelObjectiveStatus

_DROPPED = {"title", "additionalProperties", "$defs"}
_READY = '.status.conditions[?(@.type=="Ready")].status'


@dataclass(frozen=True)
class Column:
    name: str
    json_path: str
    type: str = "string"
    priority: int = 0
    description: str = ""

    def to_api(self) -> dict[str, Any]:
        column: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.priority:
            column["priority"] = self.priority
        if self.description:
            column["description"] = self.description
        return column


@dataclass(frozen=True)
class Kind:
    """A kind of the API and how it is served."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    description: str
    spec: type[ApiModel]
    status: type[ApiModel] | None  # None: a record of its spec, with no status subresource
    columns: tuple[Column, ...]

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


KINDS: tuple[Kind, ...] = (
    Kind(
        kind="Runbook",
        plural="runbooks",
        short_names=("rb",),
        description="How kubeheal watches and heals a set of Deployments in its namespace.",
        spec=RunbookSpec,
        status=RunbookStatus,
        columns=(
            Column("Mode", ".spec.mode"),
            Column("Ready", _READY),
            Column("Open", ".status.openRemediations", "integer"),
            Column("Workloads", ".status.workloads.watched", "integer", priority=1),
            Column("Alarm", ".status.workloads.inAlarm", "integer", priority=1),
            Column("Last-Evaluation", ".status.lastEvaluationTime", "date", priority=1),
            Column("Incidents", ".status.outcomes.totals.incidents", "integer", priority=1),
            Column("Verified", ".status.outcomes.totals.outcomes.verified", "integer",
                   priority=1),
            Column("Dry-Run-Confirmed", ".status.outcomes.totals.dryRun.confirmed", "integer",
                   priority=1),
            Column("Age", ".metadata.creationTimestamp", "date"),
        ),
    ),
    Kind(
        kind="Remediation",
        plural="remediations",
        short_names=("rem",),
        description="One incident and everything kubeheal did about it, with the evidence.",
        spec=RemediationSpec,
        status=RemediationStatus,
        columns=(
            Column("Runbook", ".spec.runbookRef.name"),
            Column("Target", ".spec.target.name"),
            Column("Cause", ".spec.diagnosis.cause"),
            Column("Action", ".status.action.kind"),
            Column("Phase", ".status.phase"),
            Column("Risk", ".status.risk.score", "number", priority=1),
            Column("Awaiting", ".status.pendingApproval.action", priority=1),
            Column("Age", ".metadata.creationTimestamp", "date"),
        ),
    ),
    Kind(
        kind="ServiceLevelObjective",
        plural="servicelevelobjectives",
        short_names=("slo",),
        description="A service level objective: an SLI, its target, and the error budget left.",
        spec=ServiceLevelObjectiveSpec,
        status=ServiceLevelObjectiveStatus,
        columns=(
            Column("Objective", ".spec.objective", "number"),
            Column("SLI", ".status.sliValue", "number"),
            Column("Budget", ".status.errorBudgetRemaining", "number"),
            Column("Breaching", ".status.breaching", "boolean"),
            Column("Ready", _READY),
            Column("Age", ".metadata.creationTimestamp", "date"),
        ),
    ),
    Kind(
        kind="IncidentClaim",
        plural="incidentclaims",
        short_names=("iclaim",),
        description="A workload's incident claim: the one Remediation kubeheal acts on for it.",
        spec=IncidentClaimSpec,
        status=None,
        columns=(
            Column("Kind", ".spec.kind"),
            Column("Workload", ".spec.workload"),
            Column("Holder", ".spec.holder"),
            Column("Incidents", ".spec.sequence", "integer"),
            Column("Runbook", ".spec.runbook", priority=1),
            Column("Age", ".metadata.creationTimestamp", "date"),
        ),
    ),
    Kind(
        kind="ExplanationRequest",
        plural="explanationrequests",
        short_names=("explain",),
        description="Why kubeheal did or did not act on a workload, asked of the operator.",
        spec=ExplanationRequestSpec,
        status=ExplanationRequestStatus,
        columns=(
            Column("Target", ".spec.target.name"),
            Column("Requester", ".spec.requester.username"),
            Column("Phase", ".status.phase"),
            Column("Age", ".metadata.creationTimestamp", "date"),
        ),
    ),
)


def structural(schema: Mapping[str, Any], defs: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Turn a pydantic JSON Schema into a structural OpenAPI v3 schema for a CRD.

    >>> structural({"anyOf": [{"$ref": "#/$defs/A"}, {"type": "null"}], "default": None,
    ...             "description": "an A"},
    ...            {"A": {"type": "object", "title": "A", "properties": {
    ...                "n": {"type": "integer", "exclusiveMinimum": 0}}}})
    {'type': 'object', 'properties': {'n': {'type': 'integer', 'minimum': 0, \
'exclusiveMinimum': True}}, 'description': 'an A'}
    """
    defs = dict(defs if defs is not None else schema.get("$defs", {}))
    out: dict[str, Any] = {}
    body = dict(schema)
    # Optional[X] is anyOf [X, null]: an absent field in Kubernetes terms.
    if "anyOf" in body:
        options = [o for o in body.pop("anyOf") if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express a union of {options} in a structural schema")
        body = {**options[0], **body}
    if "allOf" in body and len(body["allOf"]) == 1:
        body = {**body.pop("allOf")[0], **body}
    if "$ref" in body:
        target = defs[body.pop("$ref").rsplit("/", 1)[-1]]
        inner = structural(target, defs)
        rules = inner.pop("x-kubernetes-validations", []) + body.pop("x-kubernetes-validations", [])
        body = {**inner, **body}
        if rules:
            body["x-kubernetes-validations"] = rules
    for key, value in body.items():
        if key in _DROPPED or (key == "default" and value is None):
            continue
        if key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            out[bound] = value
            out[key] = True
        elif key == "properties":
            out[key] = {name: structural(prop, defs) for name, prop in value.items()}
        elif key == "items":
            out[key] = structural(value, defs)
        else:
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        out["additionalProperties"] = structural(additional, defs)
    return out


def _schema(model: type[ApiModel]) -> dict[str, Any]:
    return structural(model.model_json_schema(by_alias=True, mode="validation"))


def custom_resource_definition(kind: Kind) -> dict[str, Any]:
    """The CRD manifest of one kind."""
    spec_schema = _schema(kind.spec)
    spec_schema.setdefault("description", kind.spec.__doc__ or "")
    properties: dict[str, Any] = {
        "apiVersion": {"type": "string", "description": "API version."},
        "kind": {"type": "string", "description": "Kind."},
        "metadata": {"type": "object"},
        "spec": spec_schema,
    }
    version: dict[str, Any] = {"name": VERSION, "served": True, "storage": True}
    if kind.status is not None:
        properties["status"] = _schema(kind.status)
        version["subresources"] = {"status": {}}
    version["additionalPrinterColumns"] = [c.to_api() for c in kind.columns]
    version["schema"] = {"openAPIV3Schema": {
        "type": "object",
        "description": kind.description,
        "required": ["spec"],
        "properties": properties,
    }}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": kind.crd_name},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.kind.lower(),
                "shortNames": list(kind.short_names),
                "categories": ["kubeheal"],
            },
            "scope": "Namespaced",
            "versions": [version],
        },
    }


def render(kind: Kind) -> str:
    """The YAML text of one kind's CRD, as written to ``crds/``."""
    header = "# Generated by `kubeheal crds` from operator/kubeheal/api; do not edit.\n"
    return header + yaml.safe_dump(custom_resource_definition(kind), sort_keys=False, width=100)


def file_name(kind: Kind) -> str:
    return f"{GROUP}_{kind.plural}.yaml"


def write_crds(directory: Path) -> list[Path]:
    """Write every CRD to ``directory``; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in KINDS:
        path = directory / file_name(kind)
        path.write_text(render(kind))
        written.append(path)
    return written
