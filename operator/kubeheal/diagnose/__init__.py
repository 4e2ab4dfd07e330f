"""Probable causes of an incident, ranked with evidence. Pure.

- :mod:`~kubeheal.diagnose.facts`: :class:`DiagnosisInput` and the facts it holds;
- :mod:`~kubeheal.diagnose.objects`: revisions and pod health from ReplicaSet (or
  ControllerRevision) and Pod JSON;
- :mod:`~kubeheal.diagnose.rules`: one rule per cause, each a :class:`Candidate` or nothing;
- :mod:`~kubeheal.diagnose.diagnosis`: :func:`diagnose`, which ranks them into a
  :class:`Diagnosis` (``to_api()`` gives a Remediation's ``spec.diagnosis``).
"""

from kubeheal.diagnose.diagnosis import Diagnosis, diagnose, rank
from kubeheal.diagnose.facts import (
    DiagnosisInput,
    DiagnosisSettings,
    Direction,
    PodHealth,
    Revision,
    SignalAnomaly,
    UpstreamAnomaly,
    slope,
)
from kubeheal.diagnose.objects import (
    pod_health_from,
    revisions_from_controller_revisions,
    revisions_from_replicasets,
)
from kubeheal.diagnose.rules import Candidate

__all__ = [
    "Candidate",
    "Diagnosis",
    "DiagnosisInput",
    "DiagnosisSettings",
    "Direction",
    "PodHealth",
    "Revision",
    "SignalAnomaly",
    "UpstreamAnomaly",
    "diagnose",
    "pod_health_from",
    "rank",
    "revisions_from_controller_revisions",
    "revisions_from_replicasets",
    "slope",
]
