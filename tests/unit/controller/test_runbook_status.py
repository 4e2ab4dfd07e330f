"""A Runbook's status stays within the CRD's bounds whatever the number of workloads."""

from __future__ import annotations

import pytest

from kubeheal.api.runbook import WORKLOAD_SAMPLE_SIZE, RunbookStatus
from kubeheal.controller.runbook_status import evaluated_status, workload_sample
from kubeheal.controller.runbooks import Evaluation


def evaluation(count: int, alarms: tuple[str, ...] = (), scores: dict[str, float] | None = None,
               ) -> Evaluation:
    names = tuple(f"w-{i:05}" for i in range(count))
    return Evaluation(
        True, "Evaluated", "", workloads=names, ready_streams=count, total_streams=2 * count,
        scores={w: (scores or {}).get(w, 0.1) for w in names},
        in_alarm=alarms)


@pytest.mark.parametrize("count", [0, 1, WORKLOAD_SAMPLE_SIZE, 1500, 10_000])
def test_the_status_counts_every_workload_and_names_a_bounded_sample(count: int) -> None:
    status = evaluated_status(evaluation(count), {})
    parsed = RunbookStatus.model_validate(status)  # the CRD's limits are the model's
    assert parsed.workloads.watched == count
    assert len(parsed.workloads.sample) == min(count, WORKLOAD_SAMPLE_SIZE)
    assert (parsed.warmup.ready_streams, parsed.warmup.total_streams) == (count, 2 * count)


def test_open_remediations_then_alarms_then_scores_come_first() -> None:
    e = evaluation(1500, alarms=("w-01400", "w-00003"),
                   scores={"w-00900": 0.9, "w-00901": 0.95, "w-01400": 0.999})
    sample = workload_sample(e, {"w-01499": "w-01499-deployment-2"})
    assert [w.name for w in sample[:5]] == ["w-01499", "w-01400", "w-00003", "w-00901",
                                            "w-00900"]
    assert sample[0].remediation == "w-01499-deployment-2" and not sample[0].in_alarm
    assert sample[1].in_alarm and sample[1].score == 0.999
    assert [w.name for w in sample[5:8]] == ["w-00000", "w-00001", "w-00002"]
    status = evaluated_status(e, {"w-01499": "w-01499-deployment-2"})
    assert status["workloads"]["inAlarm"] == 2


def test_a_workload_not_scored_has_no_score_and_comes_after_scored_ones() -> None:
    e = Evaluation(False, "NoData", "", workloads=("a", "b"),
                   scores={"b": 0.3})
    assert [(w.name, w.score) for w in workload_sample(e, {})] == [("b", 0.3), ("a", None)]
