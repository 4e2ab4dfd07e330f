"""Candidate actions and their explainable risk. Pure.

- :mod:`~kubeheal.decide.actions`: :class:`Action` and :class:`ActionKind`;
- :mod:`~kubeheal.decide.situation`: the target, history, incident and runbook facts;
- :mod:`~kubeheal.decide.risk`: :func:`score_risk`, a score in [0, 1] with its factors;
- :mod:`~kubeheal.decide.policy_input`: :class:`PolicyInput`, the document the policy
  engine judges, and :func:`assess`, which scores and builds it.
"""

from kubeheal.decide.actions import Action, ActionKind, JsonValue
from kubeheal.decide.policy_input import PolicyInput, assess
from kubeheal.decide.risk import RiskCalibration, RiskFactor, RiskScore, RiskWeights, score_risk
from kubeheal.decide.situation import Incident, RemediationHistory, RunbookRef, Target

__all__ = [
    "Action",
    "ActionKind",
    "Incident",
    "JsonValue",
    "PolicyInput",
    "RemediationHistory",
    "RiskCalibration",
    "RiskFactor",
    "RiskScore",
    "RiskWeights",
    "RunbookRef",
    "Target",
    "assess",
    "score_risk",
]
