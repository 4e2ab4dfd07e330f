"""Custom resources for the API tests: the shipped examples, and invalid variants of them.

Each invalid case names the field the rejection must mention, so the API server and the
pydantic models are held to the same rules.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

EXAMPLES = Path(__file__).resolve().parent.parent / "deploy" / "examples"
CR = dict[str, Any]


def examples() -> dict[str, CR]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(EXAMPLES.glob("*.yaml"))}


def runbook() -> CR:
    return copy.deepcopy(examples()["runbook-checkout.yaml"])


def slo() -> CR:
    return copy.deepcopy(examples()["slo-checkout.yaml"])


@dataclass(frozen=True)
class Invalid:
    name: str
    base: Callable[[], CR]
    mutate: Callable[[CR], None]
    field: str  # the field path, in the API server's notation, that the rejection names
    message: str  # a fragment of the pydantic models' rejection message
    server_message: str = ""  # a fragment of the API server's, when it words it differently

    @property
    def server_fragment(self) -> str:
        return self.server_message or self.message

    def build(self) -> CR:
        cr = self.base()
        cr["metadata"]["name"] = f"invalid-{self.name}"
        self.mutate(cr)
        return cr


def _set(path: str, value: Any) -> Callable[[CR], None]:
    def mutate(cr: CR) -> None:
        node: Any = cr
        parts = [int(p) if p.isdigit() else p for p in path.split(".")]
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value

    return mutate


def _delete(path: str) -> Callable[[CR], None]:
    def mutate(cr: CR) -> None:
        node: Any = cr
        parts = [int(p) if p.isdigit() else p for p in path.split(".")]
        for part in parts[:-1]:
            node = node[part]
        del node[parts[-1]]

    return mutate


INVALID: tuple[Invalid, ...] = (
    Invalid("signals-not-a-list", runbook, _set("spec.signals", "error-ratio"),
            "spec.signals", "valid list", "array"),
    Invalid("unknown-action-kind", runbook, _set("spec.actions.0.kind", "reboot"),
            "spec.actions[0].kind", "'rollback'", '"rollback"'),
    Invalid("min-above-max-replicas", runbook, _set("spec.actions.2.scale.minReplicas", 9),
            "spec.actions[2].scale", "minReplicas must not exceed maxReplicas"),
    Invalid("empty-selector", runbook, _set("spec.selector", {"matchLabels": {}}),
            "spec.selector", "selector must not be empty"),
    Invalid("risk-threshold-out-of-range", runbook, _set("spec.approval.riskThreshold", 1.5),
            "spec.approval.riskThreshold", "1"),
    Invalid("missing-query", runbook, _delete("spec.signals.0.query"),
            "spec.signals[0].query", "Field required", "Required value"),
    Invalid("risk-above-without-threshold", runbook, _delete("spec.approval.riskThreshold"),
            "spec.approval", "riskAbove needs riskThreshold"),
    Invalid("debounce-k-above-n", runbook, _set("spec.detection.debounceK", 4),
            "spec.detection", "debounceK must not exceed debounceN"),
    Invalid("zero-interval", runbook, _set("spec.intervalSeconds", 0),
            "spec.intervalSeconds", "1"),
    Invalid("bad-signal-name", runbook, _set("spec.signals.0.name", "Error_Ratio"),
            "spec.signals[0].name", "a-z0-9"),
    Invalid("scale-without-bounds", runbook, _delete("spec.actions.2.scale"),
            "spec.actions[2]", "a scale action needs scale bounds"),
    Invalid("no-actions", runbook, _set("spec.actions", []),
            "spec.actions", "1"),
    Invalid("unknown-mode", runbook, _set("spec.mode", "yolo"), "spec.mode", "'dry-run'",
            '"yolo"'),
    Invalid("unknown-learning-mode", runbook, _set("spec.learning", {"mode": "always"}),
            "spec.learning.mode", "'reorder'", '"always"'),
    Invalid("sensitivity-negative", runbook, _set("spec.detection.sensitivity", -0.1),
            "spec.detection.sensitivity", "0"),
    Invalid("interval-not-a-number", runbook, _set("spec.intervalSeconds", "5s"),
            "spec.intervalSeconds", "valid integer", "integer"),
    Invalid("alert-without-labels", runbook, _set("spec.alerts", [{"matchLabels": {}}]),
            "spec.alerts[0].matchLabels", "at least 1", "should have at least 1 properties"),
    Invalid("alert-stale-too-soon", runbook,
            _set("spec.alerts", [{"matchLabels": {"alertname": "X"}, "staleAfterSeconds": 5}]),
            "spec.alerts[0].staleAfterSeconds", "60"),
    Invalid("objective-above-one", slo, _set("spec.objective", 1.5), "spec.objective", "1"),
    Invalid("sli-ratio-and-threshold", slo,
            _set("spec.sli.threshold", {"query": "up", "max": 1}),
            "spec.sli", "set exactly one of ratio or threshold"),
    Invalid("burn-windows-reversed", slo, _set("spec.shortWindowSeconds", 7200),
            "spec", "shortWindowSeconds must be less than longWindowSeconds"),
)
