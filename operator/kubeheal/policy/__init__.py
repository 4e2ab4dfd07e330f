"""The policy gate: OPA decisions, failing closed.

- :mod:`~kubeheal.policy.gate`: :class:`PolicyGate`, the async OPA client that loads
  policies and asks for decisions, and never lets an error become an allow;
- :mod:`~kubeheal.policy.decision`: :class:`PolicyDecision`, the answer as a value, and the
  fail-closed decision;
- :mod:`~kubeheal.policy.bundle`: policies and configuration from ``policies/`` or a
  ConfigMap, and their version.
"""

from kubeheal.policy.bundle import (
    PolicyBundle,
    bundle_from_configmap,
    policy_version,
    read_policy_directory,
)
from kubeheal.policy.decision import Finding, Outcome, PolicyDecision, parse_decision
from kubeheal.policy.gate import PolicyGate, PolicyLoadError

__all__ = [
    "Finding",
    "Outcome",
    "PolicyBundle",
    "PolicyDecision",
    "PolicyGate",
    "PolicyLoadError",
    "bundle_from_configmap",
    "parse_decision",
    "policy_version",
    "read_policy_directory",
]
