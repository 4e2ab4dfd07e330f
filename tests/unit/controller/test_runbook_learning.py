"""What the evaluator learns from: not the windows of a workload's incidents (warm-up after a
restart), and a retired detector name runs its successor under a DetectorRetired condition."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from kubeheal.api.runbook import DetectionSettings, Runbook, Signal
from kubeheal.controller.engine import outside
from kubeheal.controller.handlers import RETIRED_CONDITION, runbook_conditions
from kubeheal.controller.runbooks import (
    Evaluation,
    incident_windows,
    retired_detector,
)
from kubeheal.controller.store import TARGET_LABEL
from kubeheal.detect.alarms import new_detector, observe
from kubeheal.detect.registry import RETIRED

INTERVAL = 15.0
START = 1_700_000_000.0


def stamp(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def remediation(workload: str, started: float, phase: str, completed: float | None = None,
                ) -> dict[str, object]:
    status: dict[str, object] = {"phase": phase}
    if completed is not None:
        status["completedAt"] = stamp(completed)
    return {"metadata": {"name": f"{workload}-1", "labels": {TARGET_LABEL: workload},
                         "creationTimestamp": stamp(started + 30)},
            "spec": {"trigger": {"startedAt": stamp(started), "detectedAt": stamp(started + 30)}},
            "status": status}


def test_incident_windows_run_from_onset_to_close_and_stay_open_while_open() -> None:
    windows = incident_windows([
        remediation("web", START, "Verifying"),
        remediation("web", START - 7200, "Succeeded", START - 6600),
        remediation("api", START - 600, "Escalated", START - 300),
    ])
    assert windows["web"] == [(START, math.inf), (START - 7200, START - 6600)]
    assert windows["api"] == [(START - 600, START - 300)]  # an open window ends at inf


def test_a_restart_warms_from_history_without_the_open_incident_and_the_fault_stays_seen() -> None:
    """An hour of history whose last 20 minutes are a lasting fault under an open incident:
    warmed from all of it, the restarted detector takes the fault for normal; warmed from the
    history less the incident's window, it still sees the fault."""
    rng = np.random.default_rng(1)
    i = np.arange(300)
    values = 100.0 + rng.standard_normal(len(i))
    onset = 220
    values[onset:] += 40.0
    history = [(START + INTERVAL * k, float(v)) for k, v in enumerate(values[:240])]
    windows = incident_windows([remediation("web", START + INTERVAL * onset, "AwaitingApproval")])
    signal = Signal(name="latency", query="q", bad_direction="up")

    def alarms_after(points: list[tuple[float, float]]) -> list[bool]:
        detector, debouncer = new_detector(DetectionSettings(warmup_points=100))
        detector.warm_up(points)
        return [observe(detector, debouncer, signal, START + INTERVAL * k, float(values[k]),
                        learn=False).alarm for k in range(240, 300)]  # the incident is open

    kept = outside(history, windows["web"])
    assert len(kept) == onset
    assert not any(alarms_after(history))
    assert all(alarms_after(kept)[5:])


@pytest.mark.parametrize("name", sorted(RETIRED))
def test_a_retired_detector_gets_a_condition_naming_the_field_and_its_successor(name: str,
                                                                              ) -> None:
    runbook = Runbook.model_validate({
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "signals": [{"name": "errors", "query": "q"}],
                 "actions": [{"name": "restart", "kind": "restart"}],
                 "detection": {"detector": name}}})
    warning = retired_detector(runbook)
    assert warning is not None
    assert "spec.detection.detector" in warning and repr(name) in warning
    assert repr(RETIRED[name]) in warning
    evaluated = Evaluation(True, "Evaluated", "1 workloads")
    first = runbook_conditions([], evaluated, True, 1, warning)
    [retired] = [c for c in first if c["type"] == RETIRED_CONDITION]
    assert (retired["status"], retired["reason"], retired["message"]) == (
        "True", "RetiredName", warning)
    again = runbook_conditions(first, evaluated, True, 1, warning)
    assert [c for c in again if c["type"] == RETIRED_CONDITION] == [retired]  # same transition
    # Renamed to the current detector, the warning goes.
    runbook.spec.detection = DetectionSettings(detector=RETIRED[name])
    assert retired_detector(runbook) is None
    fixed = runbook_conditions(again, evaluated, True, 2, None)
    assert RETIRED_CONDITION not in {c["type"] for c in fixed}
    assert {c["type"] for c in fixed} == {"Ready", "Degraded"}
