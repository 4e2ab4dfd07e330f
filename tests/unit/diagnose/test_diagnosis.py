"""Diagnosis as a whole: the demo's three incidents come out right, ties break by a fixed
order, the result fits the Remediation resource, and it is never empty nor out of bounds."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeheal.api import remediation as api
from kubeheal.api.runbook import Cause, SignalRole
from kubeheal.diagnose import (
    Candidate,
    Diagnosis,
    DiagnosisInput,
    Direction,
    PodHealth,
    Revision,
    SignalAnomaly,
    UpstreamAnomaly,
    diagnose,
    rank,
)

ONSET = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
ERRORS_UP = SignalAnomaly("error-ratio", SignalRole.ERRORS, Direction.UP, 0.3, 0.005)
LATENCY_UP = SignalAnomaly("latency-p99", SignalRole.LATENCY, Direction.UP, 1.2, 0.05)
LOAD_UP = SignalAnomaly("load", SignalRole.LOAD, Direction.UP, 200.0, 50.0)
MEMORY_UP = SignalAnomaly("memory", SignalRole.MEMORY, Direction.UP, 480e6, 105e6)
OLD = Revision(3, ONSET - dt.timedelta(days=2))


def test_bad_build_is_a_change() -> None:
    result = diagnose(DiagnosisInput(
        ONSET, signals=(ERRORS_UP, LATENCY_UP),
        revisions=(OLD, Revision(4, ONSET - dt.timedelta(minutes=1)))))
    assert result.cause is Cause.CHANGE
    assert [c.cause for c in result.candidates] == [Cause.CHANGE]


def test_leak_after_an_earlier_restart_is_resource_exhaustion() -> None:
    restart = Revision(4, ONSET - dt.timedelta(minutes=4), template_changed=False)
    result = diagnose(DiagnosisInput(
        ONSET, signals=(MEMORY_UP, LATENCY_UP), revisions=(OLD, restart),
        memory_slope=2 * 2**20))
    assert result.cause is Cause.RESOURCE_EXHAUSTION
    assert result.confidence_of(Cause.CHANGE) == 0.0


def test_load_spike_is_saturation_even_after_an_older_rollout() -> None:
    result = diagnose(DiagnosisInput(
        ONSET, signals=(LOAD_UP, LATENCY_UP),
        revisions=(OLD, Revision(4, ONSET - dt.timedelta(minutes=8)))))
    assert [c.cause for c in result.candidates] == [Cause.SATURATION, Cause.CHANGE]


def test_upstream_first_with_nothing_local_ranks_unknown_with_its_evidence() -> None:
    result = diagnose(DiagnosisInput(
        ONSET, signals=(LATENCY_UP,),
        upstream=(UpstreamAnomaly("payments", ONSET - dt.timedelta(seconds=30)),)))
    assert result.cause is Cause.UNKNOWN
    assert result.candidates[0].evidence == (
        "upstream payments anomalous since 30s before the onset",)


def test_upstream_evidence_is_kept_beside_a_local_cause() -> None:
    result = diagnose(DiagnosisInput(
        ONSET, signals=(ERRORS_UP,),
        revisions=(OLD, Revision(4, ONSET - dt.timedelta(seconds=20))),
        upstream=(UpstreamAnomaly("payments", ONSET - dt.timedelta(seconds=30)),)))
    assert [c.cause for c in result.candidates] == [Cause.CHANGE, Cause.UNKNOWN]


def test_nothing_fits_gives_unknown_with_reasons() -> None:
    result = diagnose(DiagnosisInput(
        ONSET, signals=(LATENCY_UP,), revisions=(OLD,), pods=(PodHealth("web-1"),)))
    assert [c.cause for c in result.candidates] == [Cause.UNKNOWN]
    assert result.confidence == 0.5
    evidence = result.candidates[0].evidence
    assert evidence[0] == ("last template change (revision 3) was 48h0m before the onset, "
                           "outside the 10m window")
    assert evidence[-1] == "anomalous: latency-p99 (latency) up: 1.2 vs 0.05 expected"


def test_ties_break_toward_the_most_specific_remedy() -> None:
    tied = [Candidate(cause, 0.6, ()) for cause in reversed(list(Cause))]
    assert [c.cause for c in rank(tied)] == [
        Cause.CHANGE, Cause.RESOURCE_EXHAUSTION, Cause.SATURATION, Cause.UNKNOWN]
    assert rank([Candidate(Cause.UNKNOWN, 0.7, ()), Candidate(Cause.CHANGE, 0.6, ())])[0].cause \
        is Cause.UNKNOWN


def test_a_tie_between_rules_in_diagnose() -> None:
    # OOM alone (0.85) against a change at the onset with errors (0.9 or 0.3) = 0.93:
    # no tie; a change at 0.85 needs a revision 1m15s before the onset without errors.
    result = diagnose(DiagnosisInput(
        ONSET, revisions=(OLD, Revision(4, ONSET - dt.timedelta(seconds=75))),
        pods=(PodHealth("web-1", oom_kills=1),)))
    assert result.candidates[0].confidence == pytest.approx(result.candidates[1].confidence)
    assert [c.cause for c in result.candidates] == [Cause.CHANGE, Cause.RESOURCE_EXHAUSTION]


def test_an_empty_diagnosis_cannot_be_built_and_candidates_stay_in_bounds() -> None:
    with pytest.raises(ValueError):
        Diagnosis(())
    with pytest.raises(ValueError):
        Candidate(Cause.CHANGE, 1.5, ())


def test_to_api_fits_the_remediation_resource() -> None:
    pods = tuple(PodHealth(f"web-{i}", restarts=1, oom_kills=1) for i in range(30))
    result = diagnose(DiagnosisInput(
        ONSET, signals=(MEMORY_UP, ERRORS_UP),
        revisions=(OLD, Revision(4, ONSET - dt.timedelta(minutes=1))), pods=pods))
    model = result.to_api()
    assert isinstance(model, api.Diagnosis)
    assert model.cause is result.cause
    assert [c.cause for c in model.candidates] == [c.cause for c in result.candidates]
    dumped = model.model_dump(by_alias=True, mode="json")
    assert api.Diagnosis.model_validate(dumped) == model


# -- properties ----------------------------------------------------------------------------

offsets = st.integers(-3600, 3600).map(lambda s: ONSET + dt.timedelta(seconds=s))
finite = st.floats(-1e9, 1e9, allow_nan=False) | st.none()
signals = st.builds(
    SignalAnomaly, name=st.sampled_from(["a", "b", "c"]), role=st.sampled_from(SignalRole),
    direction=st.sampled_from(Direction), observed=finite, expected=finite,
)
inputs = st.builds(
    DiagnosisInput,
    onset=st.just(ONSET),
    signals=st.lists(signals, max_size=6).map(tuple),
    revisions=st.lists(
        st.builds(Revision, number=st.integers(1, 20), created_at=offsets,
                  template_changed=st.booleans()), max_size=4).map(tuple),
    pods=st.lists(
        st.builds(PodHealth, name=st.just("p"), restarts=st.integers(0, 5),
                  oom_kills=st.integers(0, 2),
                  last_termination_reason=st.sampled_from([None, "OOMKilled", "Error"])),
        max_size=4).map(tuple),
    memory_slope=finite,
    upstream=st.lists(st.builds(UpstreamAnomaly, name=st.just("u"), onset=offsets),
                      max_size=3).map(tuple),
)


@settings(max_examples=200, deadline=None)
@given(inputs)
def test_diagnosis_is_never_empty_sorted_and_bounded(facts: DiagnosisInput) -> None:
    result = diagnose(facts)
    assert result.candidates
    confidences = [c.confidence for c in result.candidates]
    assert all(0.0 <= c <= 1.0 for c in confidences)
    assert confidences == sorted(confidences, reverse=True)
    assert len({c.cause for c in result.candidates}) == len(result.candidates)
    assert all(c.evidence for c in result.candidates)
    result.to_api()  # always a valid Remediation diagnosis
