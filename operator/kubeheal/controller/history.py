"""What kubeheal already did to a target and in its namespace, read by label selectors.

The guardrails count a target's actions in the last hour, its escalations in the last day,
the time of its last action, and the actions in its namespace in the last hour. Deciding
reads them from two bounded lists, never from every Remediation of the namespace: the
target's Remediations (label ``kubeheal.io/target``), and those that acted in the last few
hours (label ``kubeheal.io/acted-hour``, the UTC hour of a Remediation's latest action,
written before the action is called). :func:`read_history` reads them, :func:`history_of`
counts, with no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from kubeheal.api.remediation import Phase
from kubeheal.controller.store import TARGET_LABEL, Json, ObjectStore
from kubeheal.decide import RemediationHistory
from kubeheal.observe.kubernetes import parse_time

ACTED_HOUR_LABEL = "kubeheal.io/acted-hour"
ACTED_HOURS_READ = 3
"""Hours of ``kubeheal.io/acted-hour`` read back: the current one, the last one, and one more
for an action recorded in the hour after the one it was labelled in."""


def acted_hour(moment: dt.datetime) -> str:
    """The value of ``kubeheal.io/acted-hour`` for an action at ``moment`` (UTC hour).

    >>> acted_hour(dt.datetime(2026, 12, 2, 5, 59, 59, tzinfo=dt.UTC))
    '2026120205'
    """
    return moment.astimezone(dt.UTC).strftime("%Y%m%d%H")


def acted_recently(moment: dt.datetime) -> str:
    """The label selector of the Remediations that may have acted in the hour before
    ``moment``.

    >>> acted_recently(dt.datetime(2026, 12, 2, 0, 30, tzinfo=dt.UTC))
    'kubeheal.io/acted-hour in (2026120200,2026120123,2026120122)'
    """
    hours = (acted_hour(moment - dt.timedelta(hours=h)) for h in range(ACTED_HOURS_READ))
    return f"{ACTED_HOUR_LABEL} in ({','.join(hours)})"


def _executed(remediation: Json) -> list[dt.datetime]:
    return [at for record in (remediation.get("status") or {}).get("executions") or []
            if record.get("outcome") == "executed"
            and (at := parse_time(record.get("completedAt"))) is not None]


def history_of(target: str, of_target: Iterable[Json], acted: Iterable[Json],
               moment: dt.datetime, incident: str = "") -> RemediationHistory:
    """The history the guardrails read, from the target's Remediations and those that acted
    recently in its namespace (either list may hold a Remediation of the other).

    ``incident`` names the Remediation deciding: its own actions count towards the
    rate limits, but not as the last action the cooldown waits for, since the cooldown
    separates incidents: within one, the next action follows a failed one at once.

    >>> def rem(name, target, executed=(), phase="Succeeded", closed=None):
    ...     return {"metadata": {"name": name, "uid": name, "labels": {TARGET_LABEL: target}},
    ...             "status": {"phase": phase, "completedAt": closed, "executions": [
    ...                 {"outcome": "executed", "completedAt": t} for t in executed]}}
    >>> at = dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)
    >>> mine = [rem("web-1", "web", ["2026-12-02T11:30:00Z", "2026-12-02T10:00:00Z"]),
    ...         rem("web-2", "web", phase="Escalated", closed="2026-12-01T20:00:00Z")]
    >>> others = [rem("db-1", "db", ["2026-12-02T11:10:00Z"]), mine[0]]
    >>> history = history_of("web", mine, others, at)
    >>> history.actions_last_hour, history.namespace_actions_last_hour, history.failed_last_day
    (1, 2, 1)
    >>> history.last_action_at.isoformat()
    '2026-12-02T11:30:00+00:00'
    >>> same = history_of("web", mine, others, at, incident="web-1")
    >>> same.actions_last_hour, same.last_action_at
    (1, None)
    """
    hour_ago, day_ago = moment - dt.timedelta(hours=1), moment - dt.timedelta(days=1)
    mine = [r for r in of_target if (r["metadata"].get("labels") or {}).get(TARGET_LABEL)
            == target]
    everyone = {r["metadata"]["uid"]: r for r in (*mine, *acted)}
    actions = [at for r in mine for at in _executed(r)]
    failed = 0
    for r in mine:
        status = r.get("status") or {}
        closed = parse_time(status.get("completedAt"))
        if status.get("phase") == Phase.ESCALATED.value and closed and closed > day_ago:
            failed += 1
    return RemediationHistory(
        actions_last_hour=sum(1 for at in actions if at > hour_ago),
        namespace_actions_last_hour=sum(1 for r in everyone.values() for at in _executed(r)
                                        if at > hour_ago),
        failed_last_day=failed,
        last_action_at=max((at for r in mine if r["metadata"]["name"] != incident
                            for at in _executed(r)), default=None),
    )


async def read_history(store: ObjectStore, namespace: str, target: str,
                       moment: dt.datetime, incident: str = "") -> RemediationHistory:
    """The guardrails' history of ``target`` at ``moment``, from two label selectors, as
    the Remediation ``incident`` sees it (see :func:`history_of`)."""
    return history_of(
        target, await store.list("remediations", namespace, {TARGET_LABEL: target}),
        await store.list("remediations", namespace, selector=acted_recently(moment)), moment,
        incident)
