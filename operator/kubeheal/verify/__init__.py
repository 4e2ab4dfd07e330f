"""Recovery verification: rollout completion and SLO over a window."""
