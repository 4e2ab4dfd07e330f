"""The kubeheal API: pydantic models of the custom resources, and CRD generation from them.

The models are the single source of truth: ``kubeheal crds`` writes ``crds/`` from them.
"""

from kubeheal.api.base import API_VERSION, GROUP, VERSION, Condition, LabelSelector
from kubeheal.api.claim import IncidentClaim, IncidentClaimSpec
from kubeheal.api.remediation import Phase, Remediation, RemediationSpec, RemediationStatus
from kubeheal.api.runbook import ActionKind, Cause, Runbook, RunbookSpec, RunbookStatus
from kubeheal.api.slo import ServiceLevelObjective, ServiceLevelObjectiveSpec

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "ActionKind",
    "Cause",
    "Condition",
    "IncidentClaim",
    "IncidentClaimSpec",
    "LabelSelector",
    "Phase",
    "Remediation",
    "RemediationSpec",
    "RemediationStatus",
    "Runbook",
    "RunbookSpec",
    "RunbookStatus",
    "ServiceLevelObjective",
    "ServiceLevelObjectiveSpec",
]
