"""The ``ExplanationRequest`` resource: "why did kubeheal not act on this workload?", asked
of the operator through the API server.

``kubeheal explain`` creates one in the workload's namespace, with the user's own credentials;
the leading operator answers into its status and deletes it a little later. The API server
says who asked: an admission policy (``deploy/admission/explanation.yaml``) admits a request
only when ``spec.requester`` is the very user creating it, and keeps its spec unchanged and its
status the operator's. The operator then asks the API server whether that user may read what
the answer holds (a LocalSubjectAccessReview each: get the Deployment, list Runbooks and
Remediations in the namespace) and answers only then: nobody learns through the operator what
RBAC does not let them read. docs/explain.md says why this rather than an HTTP endpoint.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from kubeheal.api.base import ApiModel, ObjectMeta, cel_rules


class ExplanationPhase(enum.StrEnum):
    ANSWERED = "Answered"
    REFUSED = "Refused"
    FAILED = "Failed"


class Requester(ApiModel):
    """Who asks, as the API server authenticated them (the admission policy checks it)."""

    username: str = Field(description="The user's name.", min_length=1, max_length=512)
    groups: list[Annotated[str, Field(max_length=512)]] = Field(
        default_factory=list, max_length=64,
                              description="The user's groups, as the API server sees them.")


class ExplainedTarget(ApiModel):
    """The workload to explain, in the request's namespace."""

    kind: Literal["Deployment"] = Field(
        default="Deployment", description="Kind of the workload; only Deployment for now.")
    name: str = Field(description="Name of the workload.", min_length=1, max_length=253)


class ExplanationRequestSpec(ApiModel):
    """A question to the operator; immutable once asked."""

    model_config = ConfigDict(json_schema_extra=cel_rules(
        ("self == oldSelf", "an explanation request is immutable: create a new one"),
    ))

    target: ExplainedTarget = Field(description="The workload to explain.")
    requester: Requester = Field(description="Who asks: must be the user who creates it.")


class ExplanationRequestStatus(ApiModel):
    """The operator's answer."""

    phase: ExplanationPhase | None = Field(
        default=None, description="Answered, Refused (the requester may not read what the "
                                  "answer holds) or Failed; absent until answered.")
    message: str = Field(default="", max_length=4096,
                         description="Why it was refused or failed, or a one-line summary.")
    answered_at: dt.datetime | None = Field(default=None, description="When it was answered.")
    answered_by: str = Field(default="", max_length=512,
                             description="The operator (its identity) that answered.")
    explanation: dict[str, Any] | None = Field(
        default=None,
        description="The answer: the runbooks selecting the workload, each stream's state, "
                    "the open and recent Remediations, and what holds an action back now.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})


class ExplanationRequest(ApiModel):
    """A request for an explanation."""

    api_version: Literal["kubeheal.io/v1alpha1"] = "kubeheal.io/v1alpha1"
    kind: Literal["ExplanationRequest"] = "ExplanationRequest"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ExplanationRequestSpec
    status: ExplanationRequestStatus | None = None
