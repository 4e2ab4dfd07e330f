"""Probable causes of an incident, ranked with evidence. Pure.

- :mod:`~kubeheal.diagnose.facts`: :class:`DiagnosisInput` and the facts it holds;
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
    "rank",
]
