"""About 300 workloads and 20 runbooks on one operator: reads come from watches, and a bad
rollout among them is still found.

The scenario of :mod:`scalestack` (the benchmark's, smaller): 300 one-pod Deployments over 10
namespaces, three signals each from the watch-based exporter, two runbooks per namespace
splitting its workloads. Evidence from the API server's audit log, by the operator's user:
over a steady window of several intervals in which the runbooks were evaluated (the
operator's own evaluation count), apart from kopf's own watch restarts the operator listed no
Deployments, Runbooks or SLOs, and Remediations only to decide on a workload in alarm (far
fewer LISTs than evaluations): what each evaluation reads comes from watch-backed caches. And
it wrote fewer runbook statuses than it made evaluations: a status is written when it
changes (or at its heartbeat), not once per evaluation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from scalestack import ScaleScenario

WORKLOADS, RUNBOOKS, NAMESPACES, INTERVAL = 300, 20, 10, 5


@pytest.fixture(scope="module")
def scale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScaleScenario]:
    scenario = ScaleScenario(Path(tmp_path_factory.mktemp("scale")), WORKLOADS, RUNBOOKS,
                             interval=INTERVAL, scrape=INTERVAL, namespaces=NAMESPACES)
    try:
        scenario.start()
        scenario.wait_for_pods(timeout=600)
        scenario.wait_for_history()
        scenario.start_operator()
        yield scenario
    finally:
        scenario.stop()


def test_reads_come_from_watches_and_a_fault_among_300_is_detected(
        scale: ScaleScenario) -> None:
    assert scale.running_pods() == WORKLOADS
    first = scale.wait_first_complete_evaluation(timeout=600)
    assert first is not None, scale.stack.diagnostics()

    window = scale.measure(6 * INTERVAL)

    assert window.evaluations >= RUNBOOKS, "the runbooks were evaluated in the window"
    ours = [entry for entry in window.lists if not entry.endswith("(kopf)")]
    assert [e for e in ours if not e.startswith("list remediations")] == []
    # Remediations are listed only to decide on a workload in alarm, never for every
    # evaluation as a LIST per tick would be.
    assert len(ours) < window.evaluations
    assert window.status_patches < window.evaluations, "a status write per evaluation"

    namespace, name, fault = scale.inject_fault()
    assert scale.time_to_detect(namespace, name, fault, timeout=300) is not None, \
        scale.stack.diagnostics()
