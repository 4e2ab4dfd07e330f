"""What a Runbook's status says of its workloads: counts of all of them, names of a few.

A runbook may select thousands of Deployments, and an object's status is read by every
``kubectl get`` and written at every evaluation: it carries counts (workloads watched, in
alarm, streams and warm streams, open remediations) and a sample of at most
:data:`~kubeheal.api.runbook.WORKLOAD_SAMPLE_SIZE` workloads, the ones that need a look first.
:func:`evaluated_status` composes that part of the status from an evaluation, with no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeheal.api.runbook import WORKLOAD_SAMPLE_SIZE, WorkloadsState, WorkloadSummary
from kubeheal.controller.runbooks import Evaluation
from kubeheal.controller.store import Json


def workload_sample(evaluation: Evaluation, open_remediations: Mapping[str, str],
                    size: int = WORKLOAD_SAMPLE_SIZE) -> list[WorkloadSummary]:
    """At most ``size`` watched workloads: those with an open remediation first, then those
    in alarm, then by fused score (highest first), then by name.

    ``open_remediations`` maps a workload's name to its open Remediation's name.

    >>> from kubeheal.detect.values import IncidentScore
    >>> e = Evaluation(True, "Evaluated", "", workloads=("a", "b", "c", "d"),
    ...                incidents=(IncidentScore("ns/b", 0.2, False),
    ...                           IncidentScore("ns/c", 0.999, True)), in_alarm=("c",))
    >>> [(w.name, w.in_alarm, w.score, w.remediation)
    ...  for w in workload_sample(e, {"d": "d-deployment-1"}, size=3)]
    [('d', False, None, 'd-deployment-1'), ('c', True, 0.999, None), ('b', False, 0.2, None)]
    """
    scores = {i.workload.rpartition("/")[2]: min(1.0, max(0.0, i.probability))
              for i in evaluation.incidents}
    alarms = set(evaluation.in_alarm)

    def urgency(name: str) -> tuple[bool, bool, float, str]:
        score = scores.get(name, -1.0)
        return (name not in open_remediations, name not in alarms, -score, name)

    chosen = sorted(evaluation.workloads, key=urgency)[:size]
    return [WorkloadSummary(name=name, in_alarm=name in alarms, score=scores.get(name),
                            remediation=open_remediations.get(name)) for name in chosen]


def evaluated_status(evaluation: Evaluation, open_remediations: Mapping[str, str]) -> Json:
    """The workload and stream part of a Runbook's status after an evaluation, bounded
    whatever the number of workloads (a merge patch: the sample replaces the last one).

    >>> names = tuple(f"w{i:04}" for i in range(1500))
    >>> status = evaluated_status(Evaluation(True, "Evaluated", "", workloads=names,
    ...                                      ready_streams=10, total_streams=1500), {})
    >>> status["workloads"]["watched"], len(status["workloads"]["sample"]), status["warmup"]
    (1500, 50, {'readyStreams': 10, 'totalStreams': 1500})
    """
    workloads = WorkloadsState(
        watched=len(evaluation.workloads),
        in_alarm=len(set(evaluation.in_alarm)),
        sample=workload_sample(evaluation, open_remediations),
    )
    return {
        "workloads": workloads.to_api(),
        "warmup": {"readyStreams": evaluation.ready_streams,
                   "totalStreams": evaluation.total_streams},
    }
