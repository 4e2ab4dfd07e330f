"""When a temporary scale-out goes back: the load held back for the hold, never on missing
data, never over someone else's scale, never after a newer incident, never below the count
before the scale-out."""

from __future__ import annotations

import datetime as dt

import pytest

from kubeheal.api.remediation import (
    ChosenAction,
    ExecutionRecord,
    Intent,
    PinnedTarget,
    RemediationStatus,
    ScaleBackOf,
)
from kubeheal.api.runbook import ScaleBounds
from kubeheal.decide.scaleback import (
    GIVE_UP_SECONDS,
    HoldVerdict,
    ScaleOut,
    changed_since,
    held_back,
    level_before,
    scale_back_action,
    scaled_out,
    way_back,
)

T0 = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
HOLD = 600


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def load(values: list[float], start: float = 0.0, step: float = 5.0) -> list[tuple[float, float]]:
    return [(start + i * step, v) for i, v in enumerate(values)]


OUT = ScaleOut("scale-out", replicas=3, hpa="", hpa_min_replicas=None, scaled_to=5,
               executed_at=T0)


def step(hold: HoldVerdict | None = None, **changes: object) -> tuple[str, str, bool]:
    args: dict[str, object] = {
        "phase": "Succeeded", "out": OUT, "level": 60.0, "later_incident": "", "changed": "",
        "hold_seconds": HOLD, "hold": hold, "now": at(HOLD + 5)}
    args.update(changes)
    result = way_back(**args)  # type: ignore[arg-type]
    return result.state, result.message, result.open


# -- the level before the incident ----------------------------------------------------------


def test_the_level_is_the_median_before_the_onset_and_needs_data() -> None:
    assert level_before([58.0, 60.0, 61.0, 200.0]) == 60.5
    assert level_before([60.0, float("nan"), float("inf")]) is None
    assert level_before([]) is None


# -- held back for the hold -------------------------------------------------------------------


def test_load_back_at_every_point_of_the_hold_is_due() -> None:
    points = load([61.0, 64.0, 59.0] * 41)  # 0..600 s, all within 60 + 10%
    verdict = held_back(points, 60.0, 0.1, 0.0, 600.0, 5.0)
    assert verdict.verdict == "back", verdict.message
    assert step(verdict)[2] is True


def test_one_point_above_the_level_holds_the_scale_out() -> None:
    values = [60.0] * 121
    values[100] = 67.0  # past 60 * 1.1
    verdict = held_back(load(values), 60.0, 0.1, 0.0, 600.0, 5.0)
    assert verdict.verdict == "not-back"
    assert "67" in verdict.message
    assert step(verdict)[:3:2] == ("Waiting", False)


def test_the_tolerance_counts() -> None:
    points = load([65.0] * 121)
    assert held_back(points, 60.0, 0.1, 0.0, 600.0, 5.0).verdict == "back"
    assert held_back(points, 60.0, 0.0, 0.0, 600.0, 5.0).verdict == "not-back"


@pytest.mark.parametrize("points", [
    [],                                                    # no data at all
    load([60.0] * 60),                                     # nothing in the last half of the hold
    load([60.0] * 121)[10:],                               # nothing at its start
    load([60.0] * 40) + load([60.0] * 40, start=400.0),    # a gap in the middle
    load([60.0] * 60 + [float("nan")] + [60.0] * 60),      # a point that is not a number
])
def test_missing_load_data_is_inconclusive_and_never_due(points: list[tuple[float, float]],
                                                         ) -> None:
    verdict = held_back(points, 60.0, 0.1, 0.0, 600.0, 5.0)
    assert verdict.verdict == "inconclusive", verdict.message
    assert "missing data" in verdict.message
    assert step(verdict) == ("Waiting", verdict.message, False)


def test_nothing_is_due_before_the_hold_after_the_scale_out() -> None:
    back = HoldVerdict("back", "back")
    state, message, due = step(back, now=at(HOLD - 1))
    assert (state, due) == ("Waiting", False)
    assert "holding the scale-out until" in message
    assert step(None)[2] is False  # not judged: not due


def test_an_unknown_level_waits_and_never_scales_in() -> None:
    state, message, due = step(HoldVerdict("back", "back"), level=None)
    assert (state, due) == ("Waiting", False)
    assert "not known" in message


# -- nothing over someone else's scale, a newer incident, an unverified one -----------------


def test_replicas_changed_by_someone_else_abandon_the_scale_back() -> None:
    assert changed_since(OUT, 5, "", None) == ""
    for replicas in (7, 4, 3):  # scaled up, partly down, or back by hand
        changed = changed_since(OUT, replicas, "", None)
        assert f"spec.replicas is {replicas}, not the 5" in changed
        state, message, due = step(HoldVerdict("back", "back"), changed=changed)
        assert (state, due) == ("Abandoned", False)
        assert message.endswith("no scale-back")


def test_under_an_hpa_its_min_replicas_count() -> None:
    out = ScaleOut("scale-out", replicas=3, hpa="web", hpa_min_replicas=2, scaled_to=5,
                   executed_at=T0)
    assert changed_since(out, 9, "web", 5) == ""  # the HPA moves the Deployment's replicas
    assert "minReplicas of HPA web is 6" in changed_since(out, 9, "web", 6)
    assert "no longer scales" in changed_since(out, 5, "", None)


def test_a_newer_incident_abandons_the_scale_back() -> None:
    state, message, due = step(HoldVerdict("back", "back"), later_incident="web-deployment-3")
    assert (state, due) == ("Abandoned", False)
    assert "web-deployment-3" in message


@pytest.mark.parametrize("phase", ["Escalated", "Blocked", "DryRun"])
def test_only_a_verified_scale_out_goes_back(phase: str) -> None:
    state, message, due = step(HoldVerdict("back", "back"), phase=phase)
    assert (state, due) == ("Abandoned", False)
    assert phase in message


def test_no_scale_out_ran_nothing_to_undo() -> None:
    assert step(HoldVerdict("back", "back"), out=None)[0] == "Abandoned"


def test_a_scale_out_whose_load_never_comes_back_stays() -> None:
    state, message, _ = step(HoldVerdict("not-back", "high"),
                             now=at(GIVE_UP_SECONDS + 1))
    assert state == "Abandoned"
    assert "by hand" in message


# -- the executed scale-out and the scale-back's counts -----------------------------------


def _execution(kind: str, params: dict[str, str], outcome: str = "executed",
               replicas: int = 3) -> ExecutionRecord:
    action = ChosenAction(name="scale-out" if kind == "scale" else "bounce", kind=kind,
                          params=params,
                          pinned=PinnedTarget(uid="u", template_hash="h", replicas=replicas))
    return ExecutionRecord(intent=Intent(action=action, issued_at=T0, token="t"),
                           outcome=outcome, completed_at=at(1))  # type: ignore[arg-type]


def test_the_scale_out_is_the_last_executed_scale_up() -> None:
    status = RemediationStatus(executions=[
        _execution("scale", {"replicas": "5"}, outcome="not-executed"),
        _execution("scale", {"replicas": "5"}),
        _execution("restart", {"strategy": "rollout", "minAvailable": "2"})])
    out = scaled_out(status)
    assert out is not None
    assert (out.replicas, out.scaled_to, out.executed_at) == (3, 5, at(1))
    down = RemediationStatus(executions=[_execution("scale", {"replicas": "3",
                                                              "direction": "down"}, replicas=5)])
    assert scaled_out(down) is None


OF = ScaleBackOf(remediation="web-deployment-1", action="scale-out", replicas=3, scaled_to=6,
                 load_signal="load", load_before=60.0)


def test_the_scale_back_returns_to_the_count_before_never_below() -> None:
    candidate, params, why = scale_back_action(OF, ScaleBounds(max_replicas=9), 6, "", None)
    assert candidate is not None, why
    assert (params["replicas"], params["from"], params["replicasBefore"]) == ("3", "6", "3")
    assert candidate.params["direction"] == "down"
    # A runbook minimum above the count before: no lower than the minimum.
    _, params, _ = scale_back_action(OF, ScaleBounds(min_replicas=4, max_replicas=9), 6, "",
                                     None)
    assert params["replicas"] == "4"


def test_no_scale_back_of_replicas_someone_changed_or_nothing_to_lower() -> None:
    candidate, _, why = scale_back_action(OF, ScaleBounds(max_replicas=9), 8, "", None)
    assert candidate is None and "spec.replicas is 8" in why
    candidate, _, why = scale_back_action(OF, ScaleBounds(min_replicas=6, max_replicas=9), 6,
                                          "", None)
    assert candidate is None and "not above 6" in why


def test_under_an_hpa_the_scale_back_lowers_its_min_replicas() -> None:
    of = OF.model_copy(update={"hpa": "web", "hpa_min_replicas": 2})
    candidate, params, _ = scale_back_action(of, ScaleBounds(max_replicas=9), 11, "web", 6)
    assert candidate is not None
    assert (params["replicas"], params["hpa"]) == ("2", "web")


# -- the runbook's declaration ----------------------------------------------------------------


def _runbook(signals: list[dict[str, str]], scale_back: dict[str, int]) -> object:
    from kubeheal.api.runbook import Runbook

    return Runbook.model_validate({"metadata": {"name": "web"}, "spec": {
        "selector": {"matchLabels": {"app": "web"}}, "signals": signals,
        "actions": [{"name": "scale-out", "kind": "scale",
                     "scale": {"maxReplicas": 9, "scaleBack": scale_back}}]}})


def test_a_temporary_scale_out_needs_a_load_signal_and_a_bounded_hold() -> None:
    from pydantic import ValidationError

    load = {"name": "load", "role": "load", "query": "q"}
    latency = {"name": "latency", "role": "latency", "query": "q"}
    runbook = _runbook([latency, load], {"holdSeconds": 300})
    assert runbook.spec.load_signal().name == "load"  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="scaleBack needs a signal with role load"):
        _runbook([latency], {"holdSeconds": 300})
    with pytest.raises(ValidationError, match="holdSeconds"):
        _runbook([load], {"holdSeconds": 5})
