"""The ``IncidentClaim`` resource: which incident a workload is in, one claim per workload.

The operator writes one per workload it opens incidents for, named after the workload's kind
and name, with a create or a resourceVersion-conditioned replace, so that the API server lets
one incident open at a time (:mod:`kubeheal.controller.claims`). The claim names the
Remediation of the current or last incident: the operator acts on no other. Being kubeheal's
own kind, the operator's rights on claims are rights on nothing else, and the identity
admission policy lets only the operator write one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from kubeheal.api.base import ApiModel, ObjectMeta, WorkloadKind, cel_rules


class IncidentClaimSpec(ApiModel):
    """The workload claimed and the incident that holds the claim."""

    model_config = ConfigDict(json_schema_extra=cel_rules(
        ("self.kind == oldSelf.kind && self.workload == oldSelf.workload",
         "kind and workload are immutable: a claim is one workload's"),
        ("self == oldSelf || self.sequence > oldSelf.sequence",
         "a claim changes only to a later incident: sequence must grow"),
    ))

    kind: WorkloadKind = Field(
        default="Deployment", description="Kind of the workload: Deployment or StatefulSet."
    )
    workload: str = Field(description="Name of the workload.", min_length=1, max_length=253)
    holder: str = Field(
        description="Name of the Remediation of the workload's current or last incident.",
        min_length=1,
        max_length=253,
    )
    sequence: int = Field(ge=1, description="Number of the holder among the workload's incidents.")
    runbook: str = Field(
        description="Runbook that opened the holder's incident.", min_length=1, max_length=253
    )


class IncidentClaim(ApiModel):
    """A workload's incident claim."""

    api_version: Literal["kubeheal.io/v1alpha1"] = "kubeheal.io/v1alpha1"
    kind: Literal["IncidentClaim"] = "IncidentClaim"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: IncidentClaimSpec
