"""The demo's behaviour model: each fault shows in the metrics it should, and its remedy
(rollback, restart, scale-out) removes it; counters only grow."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeheal.demo.model import (
    BASE_MEMORY,
    BUCKETS,
    MIB,
    Behaviour,
    Fault,
    PodCounters,
    PodFacts,
    Simulation,
    Workload,
    behave,
    fault_of,
    queueing_factor,
)

NOW = 1_800_000_000.0


def pod(name: str, fault: Fault = Fault.NONE, ready: bool = True,
        started_at: float = NOW - 60) -> PodFacts:
    return PodFacts("shop", "checkout", name, started_at=started_at, ready=ready, fault=fault)


def workload(*pods: PodFacts, load: float = 60.0, capacity: float = 40.0) -> Workload:
    return Workload("shop", "checkout", load=load, capacity=capacity, pods=pods)


@pytest.mark.parametrize(("annotations", "images", "expected"), [
    ({}, ["app:1"], Fault.NONE),
    ({"demo.kubeheal.io/fault": "bad-build"}, ["app:1"], Fault.BAD_BUILD),
    ({"demo.kubeheal.io/fault": " Leak "}, [], Fault.LEAK),
    ({}, ["registry.example:5000/app:1.2-bad"], Fault.BAD_BUILD),
    ({}, ["registry.example:5000/app-bad"], Fault.NONE),  # the port is not a tag
    ({}, ["app:1-bad@sha256:abc"], Fault.BAD_BUILD),
    ({"demo.kubeheal.io/fault": "unknown"}, ["app:1"], Fault.NONE),
])
def test_fault_of_reads_annotation_then_image_tag(
    annotations: dict[str, str], images: list[str], expected: Fault
) -> None:
    assert fault_of(annotations, images) is expected


def test_healthy_baseline() -> None:
    pods = tuple(pod(f"p{i}") for i in range(3))
    w = workload(*pods)  # 20 req/s per pod, half the capacity
    for t in range(100):
        for p in pods:
            b = behave(w, p, NOW + t, seed=1)
            assert 0.004 <= b.error_ratio <= 0.006
            assert 0.020 <= b.latency_median <= 0.050
            assert abs(b.memory_bytes - BASE_MEMORY) <= 2 * MIB
            assert b.request_rate == pytest.approx(20.0)


def test_noise_is_deterministic_per_seed() -> None:
    p = pod("p0")
    w = workload(p)
    assert behave(w, p, NOW, seed=1) == behave(w, p, NOW, seed=1)
    assert behave(w, p, NOW, seed=1) != behave(w, p, NOW, seed=2)
    assert behave(w, p, NOW + 0.2, seed=1) == behave(w, p, NOW + 0.7, seed=1)


def test_load_is_spread_over_ready_pods_only() -> None:
    ready, starting = pod("a"), pod("b", ready=False)
    w = workload(ready, starting, load=30.0)
    assert behave(w, ready, NOW).request_rate == 30.0
    assert behave(w, starting, NOW).request_rate == 0.0


def test_more_replicas_lower_latency_under_load() -> None:
    medians = []
    for replicas in (2, 3, 4, 6, 8):
        pods = tuple(pod(f"p{i}") for i in range(replicas))
        medians.append(behave(workload(*pods, load=200.0), pods[0], NOW).latency_median)
    assert medians == sorted(medians, reverse=True)
    assert medians[0] / medians[-1] > 4


def test_saturation_keeps_errors_flat() -> None:
    pods = tuple(pod(f"p{i}") for i in range(2))
    b = behave(workload(*pods, load=400.0), pods[0], NOW)
    assert b.error_ratio < 0.01
    assert b.latency_quantile(0.99) > 0.5


def test_queueing_factor_is_capped_and_monotone() -> None:
    factors = [queueing_factor(rate, 40.0) for rate in range(0, 200, 5)]
    assert factors == sorted(factors)
    assert factors[0] == 1.0
    assert max(factors) == pytest.approx(20.0)


def test_bad_build_pods_fail_while_previous_template_is_healthy() -> None:
    good, bad = pod("good"), pod("bad", fault=Fault.BAD_BUILD)
    w = workload(good, bad)
    g, b = behave(w, good, NOW), behave(w, bad, NOW)
    assert 0.25 <= b.error_ratio <= 0.35
    assert g.error_ratio < 0.01
    assert b.latency_median / g.latency_median == pytest.approx(3.0, rel=0.15)


def test_leak_grows_memory_then_hurts_and_a_fresh_pod_starts_over() -> None:
    old = pod("old", fault=Fault.LEAK, started_at=NOW - 300)
    fresh = pod("fresh", fault=Fault.LEAK, started_at=NOW - 1)
    w = workload(old, fresh)
    memories = [behave(w, old, NOW - 300 + t).memory_bytes for t in range(0, 200, 20)]
    assert memories == sorted(memories)
    assert memories[-1] - memories[0] == pytest.approx(180 * 2 * MIB, abs=5 * MIB)

    o, f = behave(w, old, NOW), behave(w, fresh, NOW)
    assert o.memory_bytes == pytest.approx(old.memory_limit, abs=2 * MIB)  # capped at the limit
    assert f.memory_bytes < 110 * MIB
    assert o.error_ratio > 0.2 and f.error_ratio < 0.01
    assert o.latency_median > 4 * f.latency_median


def test_counters_accumulate_rate_times_time() -> None:
    c = PodCounters()
    b = Behaviour(request_rate=50.0, error_ratio=0.2, latency_median=0.1, memory_bytes=0.0)
    c.advance(b, 2.0)
    c.advance(b, -1.0)  # a clock going back adds nothing
    assert c.count == pytest.approx(100.0)
    assert c.requests["500"] == pytest.approx(20.0)
    assert c.requests["200"] == pytest.approx(80.0)
    assert c.buckets[BUCKETS.index(0.1)] == pytest.approx(50.0)  # the median's bucket
    assert c.total_seconds / c.count == pytest.approx(0.1 * math.exp(0.35**2 / 2))


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.floats(0.0, 5000.0), st.floats(0.0, 1.0), st.floats(0.001, 10.0),
            st.floats(-2.0, 30.0),
        ),
        max_size=20,
    )
)
def test_counters_are_monotonic_and_buckets_cumulative(
    steps: list[tuple[float, float, float, float]]
) -> None:
    c = PodCounters()
    for rate, errors, latency, dt in steps:
        before = (dict(c.requests), list(c.buckets), c.count, c.total_seconds)
        c.advance(Behaviour(rate, errors, latency, 0.0), dt)
        assert all(c.requests[k] >= v for k, v in before[0].items())
        assert all(a >= b for a, b in zip(c.buckets, before[1], strict=True))
        assert c.count >= before[2] and c.total_seconds >= before[3]
        assert all(a <= b for a, b in zip(c.buckets, c.buckets[1:], strict=False))
        assert c.buckets[-1] <= c.count * (1 + 1e-12)


def test_simulation_counts_from_discovery_and_forgets_gone_pods() -> None:
    sim = Simulation(seed=5)
    a, b = pod("a"), pod("b")
    sim.observe([workload(a, load=10.0)], NOW)
    first = sim.sample(NOW + 10)
    assert [s.pod.pod for s in first] == ["a"]
    assert first[0].counters.count == pytest.approx(100.0)

    sim.observe([workload(a, b, load=10.0)], NOW + 10)
    second = {s.pod.pod: s.counters.count for s in sim.sample(NOW + 12)}
    assert second["a"] == pytest.approx(110.0)
    assert second["b"] == pytest.approx(10.0)

    sim.observe([workload(b, load=10.0)], NOW + 12)
    sim.observe([workload(a, b, load=10.0)], NOW + 13)  # "a" again: a new series from zero
    third = {s.pod.pod: s.counters.count for s in sim.sample(NOW + 14)}
    assert third["a"] == pytest.approx(5.0)
