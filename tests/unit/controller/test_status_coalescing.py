"""A Runbook's status is written when a reader needs what changed, or when the last write is
a heartbeat old: never once per evaluation of a steady runbook."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

from kubeheal.api.runbook import STATUS_HEARTBEAT_SECONDS
from kubeheal.controller.runbook_status import evaluated_status, needs_write
from kubeheal.controller.runbooks import Evaluation

INTERVAL = 15.0


def status(tick: int, *, ready: int = 30, alarms: tuple[str, ...] = (),
           scores: dict[str, float] | None = None, remediations: dict[str, str] | None = None,
           open_remediations: int = 0, degraded: bool = False, generation: int = 1,
           ) -> dict[str, Any]:
    """The patch an evaluation at ``tick`` (of 15 s) writes, as the handler composes it."""
    names = tuple(f"w-{i:02}" for i in range(10))
    evaluation = Evaluation(
        True, "Evaluated", "", workloads=names, ready_streams=ready, total_streams=30,
        scores={w: (scores or {}).get(w, 0.02) for w in names},
        in_alarm=alarms)
    stamp = f"2026-01-01T00:{tick * 15 // 60:02}:{tick * 15 % 60:02}Z"
    conditions = [
        {"type": "Ready", "status": "True", "reason": "Evaluating",
         "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": generation},
        {"type": "Degraded", "status": "True" if degraded else "False",
         "reason": "NoData" if degraded else "Evaluated",
         "lastTransitionTime": stamp if degraded else "2026-01-01T00:00:00Z",
         "observedGeneration": generation}]
    return {"observedGeneration": generation, "conditions": conditions,
            "openRemediations": open_remediations, "lastEvaluationTime": stamp,
            } | evaluated_status(evaluation, remediations or {})


def writes(patches: list[dict[str, Any]], heartbeat: float = STATUS_HEARTBEAT_SECONDS,
           ) -> list[int]:
    """The ticks whose patch is written, one evaluation per interval, each write landing."""
    written: dict[str, Any] | None = None
    written_at: float | None = None
    out = []
    for tick, patch in enumerate(patches):
        at = tick * INTERVAL
        if needs_write(written, written_at, patch, at, heartbeat):
            written, written_at = patch, at
            out.append(tick)
    return out


def test_a_steady_runbook_writes_once_then_only_at_the_heartbeat() -> None:
    hour = [status(t) for t in range(240)]  # an hour of 15 s evaluations, nothing changes
    ticks = writes(hour)
    assert ticks[0] == 0  # the first evaluation since the start is always written
    gaps = {b - a for a, b in pairwise(ticks)}
    assert gaps == {int(STATUS_HEARTBEAT_SECONDS // INTERVAL)}  # the heartbeat, no sooner
    assert len(ticks) == 240 * INTERVAL // STATUS_HEARTBEAT_SECONDS


@pytest.mark.parametrize("change", [
    {"alarms": ("w-03",)},
    {"open_remediations": 1, "remediations": {"w-04": "w-04-deployment-1"}},
    {"degraded": True},
    {"ready": 29},  # warm-up counts
    {"generation": 2},
])
def test_what_a_reader_needs_is_written_at_once(change: dict[str, Any]) -> None:
    before = status(1)
    assert needs_write(before, 0.0, status(2, **change), INTERVAL)
    assert not needs_write(before, 0.0, status(2), INTERVAL)


def test_scores_of_healthy_workloads_wait_for_the_heartbeat() -> None:
    before = status(1, scores={"w-05": 0.02})
    noisy = status(2, scores={"w-05": 0.6, "w-06": 0.95})  # reorders the healthy ones
    assert not needs_write(before, 0.0, noisy, INTERVAL)
    assert needs_write(before, 0.0, noisy, STATUS_HEARTBEAT_SECONDS)


def test_a_workload_in_alarm_is_written_when_its_score_changes_band() -> None:
    before = status(1, alarms=("w-05",), scores={"w-05": 0.6})
    assert not needs_write(before, 0.0, status(2, alarms=("w-05",), scores={"w-05": 0.8}),
                           INTERVAL)
    assert needs_write(before, 0.0, status(2, alarms=("w-05",), scores={"w-05": 0.95}),
                       INTERVAL)


def test_a_change_is_written_then_the_new_state_is_steady() -> None:
    patches = [status(t, alarms=("w-01",) if 4 <= t < 6 else ()) for t in range(12)]
    assert writes(patches) == [0, 4, 6]  # the alarm, its end, nothing else within 3 minutes


def test_warm_up_writes_while_it_moves_then_stops() -> None:
    patches = [status(t, ready=min(30, 10 * t)) for t in range(10)]
    assert writes(patches) == [0, 1, 2, 3]


def test_the_heartbeat_bounds_how_old_a_status_grows() -> None:
    for heartbeat in (30.0, 60.0, 300.0):
        ticks = writes([status(t) for t in range(100)], heartbeat)
        assert all((b - a) * INTERVAL <= heartbeat
                   for a, b in pairwise(ticks))
        assert (100 - 1 - ticks[-1]) * INTERVAL < heartbeat
