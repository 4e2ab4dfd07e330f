"""kubeheal: a Kubernetes operator that heals services within guardrails that humans set."""

__version__ = "0.1.0"
