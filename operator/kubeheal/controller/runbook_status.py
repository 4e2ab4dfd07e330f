"""What a Runbook's status says of its workloads: counts of all of them, names of a few.

A runbook may select thousands of Deployments, and an object's status is read by every
``kubectl get``: it carries counts (workloads watched, in alarm, streams and warm streams,
open remediations) and a sample of at most :data:`~kubeheal.api.runbook.WORKLOAD_SAMPLE_SIZE`
workloads, the ones that need a look first. :func:`evaluated_status` composes that part of
the status from an evaluation, with no I/O.

A status is written when what a reader needs changed, not at every evaluation:
:func:`needs_write` is the rule (:mod:`~kubeheal.controller.status_writer` applies it), and
``lastEvaluationTime`` alone is refreshed at most every :data:`STATUS_HEARTBEAT_SECONDS`.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeheal.api.runbook import (
    STATUS_HEARTBEAT_SECONDS,
    WORKLOAD_SAMPLE_SIZE,
    WorkloadsState,
    WorkloadSummary,
)
from kubeheal.controller.runbooks import Evaluation
from kubeheal.controller.store import Json


def workload_sample(evaluation: Evaluation, open_remediations: Mapping[str, str],
                    size: int = WORKLOAD_SAMPLE_SIZE) -> list[WorkloadSummary]:
    """At most ``size`` watched workloads: those with an open remediation first, then those
    in alarm, then by fused score (highest first), then by name.

    ``open_remediations`` maps a workload's name to its open Remediation's name.

    >>> e = Evaluation(True, "Evaluated", "", workloads=("a", "b", "c", "d"),
    ...                scores={"b": 0.2, "c": 0.999}, in_alarm=("c",))
    >>> [(w.name, w.in_alarm, w.score, w.remediation)
    ...  for w in workload_sample(e, {"d": "d-deployment-1"}, size=3)]
    [('d', False, None, 'd-deployment-1'), ('c', True, 0.999, None), ('b', False, 0.2, None)]
    """
    alarms = set(evaluation.in_alarm)

    def score(name: str) -> float | None:
        found = evaluation.scores.get(name)
        return None if found is None else min(1.0, max(0.0, found))

    def urgency(name: str) -> tuple[bool, bool, float, str]:
        found = score(name)
        return (name not in open_remediations, name not in alarms,
                1.0 if found is None else -found, name)

    chosen = sorted(evaluation.workloads, key=urgency)[:size]
    return [WorkloadSummary(name=name, in_alarm=name in alarms, score=score(name),
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

SCORE_BANDS = (0.5, 0.9)
"""Bounds of the score bands a status write follows (low, elevated, high): a score moving
within its band is refreshed by the heartbeat only."""


def essence(patch: Json) -> Json:
    """What of a status patch a reader needs at once: everything but ``lastEvaluationTime``,
    the conditions' transition times, and of the sample only its workloads in alarm or with
    an open remediation, their scores by band (:data:`SCORE_BANDS`). Which healthy workloads
    fill the rest of the sample, and their scores, follow scores that move at every
    evaluation: the heartbeat refreshes them.

    >>> a = {"lastEvaluationTime": "2026-01-01T00:00:00Z", "openRemediations": 0,
    ...      "conditions": [{"type": "Ready", "status": "True",
    ...                      "lastTransitionTime": "2026-01-01T00:00:00Z"}],
    ...      "workloads": {"watched": 2, "sample": [
    ...          {"name": "w", "inAlarm": True, "score": 0.991}, {"name": "v", "score": 0.1}]}}
    >>> b = a | {"lastEvaluationTime": "2026-01-01T00:00:15Z", "workloads": {
    ...          "watched": 2, "sample": [{"name": "w", "inAlarm": True, "score": 0.999},
    ...                                   {"name": "u", "score": 0.3}]}}
    >>> essence(a) == essence(b)
    True
    """
    out = {k: v for k, v in patch.items() if k != "lastEvaluationTime"}
    if "conditions" in out:
        out["conditions"] = [{k: v for k, v in c.items() if k != "lastTransitionTime"}
                             for c in out["conditions"]]
    workloads = out.get("workloads")
    if isinstance(workloads, dict) and "sample" in workloads:
        out["workloads"] = workloads | {"sample": [
            dict(w) | {"score": _band(w.get("score"))} for w in workloads["sample"]
            if w.get("inAlarm") or w.get("remediation")]}
    return out


def _band(score: float | None) -> int | None:
    return None if score is None else sum(score >= bound for bound in SCORE_BANDS)


def needs_write(written: Json | None, written_at: float | None, patch: Json, at: float,
                heartbeat: float = STATUS_HEARTBEAT_SECONDS) -> bool:
    """Whether ``patch`` must be written, given the patch last written (``written``, at the
    monotonic time ``written_at``; None: none since the operator started): when what a reader
    needs changed (:func:`essence`), or when the last write is ``heartbeat`` seconds old.

    >>> s = {"openRemediations": 0, "lastEvaluationTime": "2026-01-01T00:00:00Z"}
    >>> needs_write(None, None, s, 0.0)
    True
    >>> later = s | {"lastEvaluationTime": "2026-01-01T00:00:15Z"}
    >>> needs_write(s, 0.0, later, 15.0), needs_write(s, 0.0, later, 120.0)
    (False, True)
    >>> needs_write(s, 0.0, later | {"openRemediations": 1}, 15.0)
    True
    """
    if written is None or written_at is None or at - written_at >= heartbeat:
        return True
    return essence(patch) != essence(written)
