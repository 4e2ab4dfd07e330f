"""Each rule of diagnosis on the cases it exists for, and on the near misses it must refuse."""

from __future__ import annotations

import datetime as dt

import pytest

from kubeheal.api.runbook import Cause, SignalRole
from kubeheal.diagnose import (
    DiagnosisInput,
    DiagnosisSettings,
    Direction,
    PodHealth,
    Revision,
    SignalAnomaly,
    UpstreamAnomaly,
)
from kubeheal.diagnose.diagnosis import diagnose
from kubeheal.diagnose.rules import (
    noisy_or,
    recent_change,
    resource_exhaustion,
    saturation,
    upstream_first,
)

ONSET = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
SETTINGS = DiagnosisSettings()
ERRORS_UP = SignalAnomaly("error-ratio", SignalRole.ERRORS, Direction.UP, 0.3, 0.005)
LATENCY_UP = SignalAnomaly("latency-p99", SignalRole.LATENCY, Direction.UP, 1.2, 0.05)
LOAD_UP = SignalAnomaly("load", SignalRole.LOAD, Direction.UP, 200.0, 50.0)
MEMORY_UP = SignalAnomaly("memory", SignalRole.MEMORY, Direction.UP, 480e6, 105e6)


def before(**kwargs: float) -> dt.datetime:
    return ONSET - dt.timedelta(**kwargs)


def facts(**kwargs: object) -> DiagnosisInput:
    return DiagnosisInput(ONSET, **kwargs)  # type: ignore[arg-type]


# -- change --------------------------------------------------------------------------------


def test_change_is_more_likely_the_closer_the_revision_is_to_the_onset() -> None:
    confidences = []
    for minutes in (0, 1, 5, 9, 10):
        c = recent_change(facts(revisions=(Revision(1, before(days=3)),
                                           Revision(2, before(minutes=minutes)))), SETTINGS)
        assert c is not None and c.cause is Cause.CHANGE
        confidences.append(c.confidence)
    assert confidences == sorted(confidences, reverse=True)
    assert confidences[0] == pytest.approx(0.9)
    assert confidences[-1] == pytest.approx(0.5)


def test_change_outside_the_window_or_after_the_onset_does_not_count() -> None:
    assert recent_change(facts(revisions=(Revision(2, before(minutes=11)),)), SETTINGS) is None
    assert recent_change(facts(revisions=(Revision(2, ONSET + dt.timedelta(minutes=1)),)),
                         SETTINGS) is None
    skewed = recent_change(facts(revisions=(Revision(1, before(days=1)),
                                            Revision(2, ONSET + dt.timedelta(seconds=10)))),
                           SETTINGS)
    assert skewed is not None and "after the onset (clock skew)" in skewed.evidence[0]


def test_change_window_is_configurable() -> None:
    wide = DiagnosisSettings(change_window=dt.timedelta(hours=1))
    revisions = (Revision(1, before(days=1)), Revision(2, before(minutes=30)))
    c = recent_change(facts(revisions=revisions), wide)
    assert c is not None and c.confidence == pytest.approx(0.7)
    assert recent_change(facts(revisions=revisions), SETTINGS) is None


def test_a_restart_only_revision_is_not_a_change() -> None:
    restart = Revision(3, before(minutes=1), template_changed=False)
    assert recent_change(facts(revisions=(Revision(2, before(days=1)), restart)), SETTINGS) is None


def test_the_revision_closest_to_the_onset_is_named_and_errors_strengthen_it() -> None:
    revisions = (Revision(4, before(minutes=8)), Revision(5, before(minutes=2), name="web-5c"))
    plain = recent_change(facts(revisions=revisions), SETTINGS)
    with_errors = recent_change(facts(revisions=revisions, signals=(ERRORS_UP,)), SETTINGS)
    assert plain is not None and with_errors is not None
    assert plain.evidence == ("revision 5 (web-5c) created 2m before the onset (window 10m)",)
    assert with_errors.confidence == pytest.approx(noisy_or([plain.confidence, 0.3]))
    assert "errors rose" in with_errors.evidence[1]


@pytest.mark.parametrize("first", [
    Revision(1, before(minutes=5, seconds=5)),
    # Older ReplicaSets garbage-collected: the earliest one known changed from we know not what.
    Revision(7, before(minutes=2)),
])
def test_a_workloads_first_known_revision_is_not_a_change(first: Revision) -> None:
    assert recent_change(facts(revisions=(first,), signals=(ERRORS_UP,)), SETTINGS) is None


def test_load_on_a_new_workload_is_saturation_not_a_change() -> None:
    """A Deployment created 5 minutes before load rose: its revision 1 is no cause."""
    new = facts(revisions=(Revision(1, before(minutes=5, seconds=5), name="search-6f7d"),),
                signals=(LATENCY_UP, LOAD_UP))
    result = diagnose(new, SETTINGS)
    assert result.cause is Cause.SATURATION
    assert Cause.CHANGE not in {c.cause for c in result.candidates}


def test_a_new_workload_without_evidence_is_unknown_and_says_why() -> None:
    result = diagnose(facts(revisions=(Revision(1, before(minutes=3)),), signals=(ERRORS_UP,)),
                      SETTINGS)
    assert result.cause is Cause.UNKNOWN
    assert result.candidates[0].evidence[0] == (
        "revision 1 is the first known revision of the workload (created 3m before the onset): "
        "not a change, nothing to roll back to")


# -- resource exhaustion -------------------------------------------------------------------


def test_no_memory_facts_no_resource_exhaustion() -> None:
    assert resource_exhaustion(facts(pods=(PodHealth("a"),), memory_slope=10.0), SETTINGS) is None


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"pods": (PodHealth("a", oom_kills=1),)}, 0.85),
    ({"pods": (PodHealth("a", last_termination_reason="OOMKilled"),)}, 0.85),
    ({"signals": (MEMORY_UP,)}, 0.6),
    ({"memory_slope": 2 * 2**20}, 0.4),
    ({"pods": (PodHealth("a", restarts=3),)}, 0.35),
    ({"signals": (SignalAnomaly("restarts", SignalRole.RESTARTS, Direction.UP),)}, 0.35),
    ({"signals": (MEMORY_UP,), "memory_slope": 2 * 2**20}, 0.76),
])
def test_each_piece_of_exhaustion_evidence(kwargs: dict[str, object], expected: float) -> None:
    c = resource_exhaustion(facts(**kwargs), SETTINGS)
    assert c is not None and c.cause is Cause.RESOURCE_EXHAUSTION
    assert c.confidence == pytest.approx(expected)
    assert len(c.evidence) == len(kwargs)


def test_exhaustion_evidence_names_pods_and_memory_growth() -> None:
    pods = tuple(PodHealth(f"web-{i}", restarts=1, oom_kills=1) for i in range(5))
    c = resource_exhaustion(facts(pods=pods, signals=(MEMORY_UP,), memory_slope=2 * 2**20),
                            SETTINGS)
    assert c is not None
    assert c.evidence[0] == "5 pods OOM-killed: web-0, web-1, web-2 and 2 more"
    assert c.evidence[1].startswith("memory rose: memory (memory) up: 4.8e+08 vs 1.05e+08")
    assert c.evidence[2] == "memory grows by 120 MiB/min"
    assert c.evidence[3].startswith("5 restarts: web-0 (1)")
    assert c.confidence > 0.97


def test_memory_going_down_is_not_exhaustion() -> None:
    down = SignalAnomaly("memory", SignalRole.MEMORY, Direction.DOWN, 50e6, 100e6)
    assert resource_exhaustion(facts(signals=(down,), memory_slope=-100.0), SETTINGS) is None


# -- saturation ----------------------------------------------------------------------------


def test_load_and_latency_up_with_errors_flat_is_saturation() -> None:
    c = saturation(facts(signals=(LOAD_UP, LATENCY_UP)), SETTINGS)
    assert c is not None and c.cause is Cause.SATURATION
    assert c.confidence == pytest.approx(noisy_or([0.4 + 0.3, 0.5, 0.3]))
    assert c.evidence[-1] == "errors stayed flat"


def test_without_load_up_there_is_no_saturation() -> None:
    assert saturation(facts(signals=(LATENCY_UP, ERRORS_UP)), SETTINGS) is None
    load_down = SignalAnomaly("load", SignalRole.LOAD, Direction.DOWN, 10.0, 50.0)
    assert saturation(facts(signals=(load_down, LATENCY_UP)), SETTINGS) is None


def test_load_alone_is_weak_and_errors_up_weaken_saturation() -> None:
    unknown_ratio = SignalAnomaly("load", SignalRole.LOAD, Direction.UP)
    alone = saturation(facts(signals=(unknown_ratio,)), SETTINGS)
    assert alone is not None and alone.confidence == pytest.approx(0.4)
    clean = saturation(facts(signals=(LOAD_UP, LATENCY_UP)), SETTINGS)
    noisy = saturation(facts(signals=(LOAD_UP, LATENCY_UP, ERRORS_UP)), SETTINGS)
    assert clean is not None and noisy is not None
    assert noisy.confidence < 0.6 < clean.confidence
    assert "errors rose too" in noisy.evidence[-1]


def test_a_saturation_signal_counts_as_load_and_bigger_spikes_count_more() -> None:
    cpu = SignalAnomaly("cpu", SignalRole.SATURATION, Direction.UP, 0.95, 0.5)
    c = saturation(facts(signals=(cpu, LATENCY_UP)), SETTINGS)
    assert c is not None and c.cause is Cause.SATURATION
    small = SignalAnomaly("load", SignalRole.LOAD, Direction.UP, 60.0, 50.0)
    big = SignalAnomaly("load", SignalRole.LOAD, Direction.UP, 500.0, 50.0)
    s, b = (saturation(facts(signals=(x,)), SETTINGS) for x in (small, big))
    assert s is not None and b is not None and s.confidence < b.confidence <= 0.7


# -- upstream ------------------------------------------------------------------------------


def test_upstream_anomalous_first_is_evidence_for_unknown() -> None:
    c = upstream_first(facts(upstream=(
        UpstreamAnomaly("payments", before(seconds=45)),
        UpstreamAnomaly("ledger", before(minutes=3)),
        UpstreamAnomaly("search", ONSET + dt.timedelta(seconds=5)),
        UpstreamAnomaly("cache", ONSET),
    )), SETTINGS)
    assert c is not None and c.cause is Cause.UNKNOWN
    assert c.evidence == (
        "upstream ledger anomalous since 3m before the onset",
        "upstream payments anomalous since 45s before the onset",
    )
    assert c.confidence == pytest.approx(0.75)


def test_upstream_lead_is_configurable() -> None:
    lead = DiagnosisSettings(min_upstream_lead=dt.timedelta(minutes=1))
    assert upstream_first(facts(upstream=(UpstreamAnomaly("p", before(seconds=45)),)),
                          lead) is None


# -- facts ---------------------------------------------------------------------------------


def test_naive_times_are_refused() -> None:
    naive = dt.datetime(2026, 11, 28, 12, 0)
    with pytest.raises(ValueError, match="no time zone"):
        DiagnosisInput(naive)
    with pytest.raises(ValueError, match="revision 2"):
        Revision(2, naive)
    with pytest.raises(ValueError, match="upstream payments"):
        UpstreamAnomaly("payments", naive)


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError):
        DiagnosisSettings(change_window=dt.timedelta(0))
    with pytest.raises(ValueError):
        DiagnosisSettings(clock_skew=dt.timedelta(seconds=-1))


def test_signal_ratio_and_description() -> None:
    assert LOAD_UP.ratio == 4.0
    assert SignalAnomaly("x", SignalRole.OTHER, Direction.UP, 1.0, 0.0).ratio is None
    assert SignalAnomaly("x", SignalRole.OTHER, Direction.UP, 1.0).describe() == "x (other) up: 1"
    assert SignalAnomaly("x", SignalRole.OTHER, Direction.DOWN).describe() == "x (other) down"
