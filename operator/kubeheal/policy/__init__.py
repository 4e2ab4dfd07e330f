"""The policy gate: OPA decisions, failing closed."""
