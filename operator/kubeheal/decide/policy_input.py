"""The policy input: everything the guardrails judge one candidate action by.

:class:`PolicyInput` is what the operator sends to OPA for ``data.kubeheal.decision``; its
JSON form (:meth:`PolicyInput.to_opa`) is the input document the policies in ``policies/``
read, field for field. :func:`assess` scores the action's risk and builds the input in one
step, which is what the controller needs for each candidate.

>>> from datetime import datetime, timezone
>>> from kubeheal.decide.actions import Action
>>> from kubeheal.decide.situation import Incident, RemediationHistory, RunbookRef, Target
>>> now = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
>>> doc = assess(
...     Action.scale(replicas=6, min_replicas=2, max_replicas=10),
...     Target("shop", "checkout", replicas=4, ready_replicas=4),
...     RemediationHistory(actions_last_hour=1),
...     Incident({"latency": 0.97}, diagnosis="saturation"),
...     RunbookRef("checkout-latency"),
...     now,
... ).to_opa()
>>> sorted(doc)
['action', 'history', 'incident', 'now', 'risk', 'runbook', 'target']
>>> doc["now"], doc["action"]["params"]["replicas"], round(doc["risk"]["score"], 2)
('2026-11-28T12:00:00Z', 6, 0.38)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kubeheal.decide.actions import Action, JsonValue
from kubeheal.decide.risk import RiskCalibration, RiskScore, RiskWeights, score_risk
from kubeheal.decide.situation import Incident, RemediationHistory, RunbookRef, Target, rfc3339


@dataclass(frozen=True)
class PolicyInput:
    """One question to the policy engine: may ``action`` run on ``target`` now?"""

    action: Action
    target: Target
    risk: RiskScore
    incident: Incident
    history: RemediationHistory
    runbook: RunbookRef
    now: datetime

    def to_opa(self) -> dict[str, JsonValue]:
        """The input document of ``data.kubeheal.decision``."""
        return {
            "action": self.action.to_json(),
            "target": self.target.to_json(),
            "risk": self.risk.to_json(),
            "incident": self.incident.to_json(),
            "history": self.history.to_json(),
            "now": rfc3339(self.now),
            "runbook": self.runbook.to_json(),
        }


def assess(
    action: Action,
    target: Target,
    history: RemediationHistory,
    incident: Incident,
    runbook: RunbookRef,
    now: datetime,
    weights: RiskWeights | None = None,
    calibration: RiskCalibration | None = None,
) -> PolicyInput:
    """Score the risk of ``action`` and build the policy input that carries it."""
    risk = score_risk(action, target, history, now, weights, calibration)
    return PolicyInput(action, target, risk, incident, history, runbook, now)
