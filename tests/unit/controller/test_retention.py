"""Which closed Remediations the retention policy deletes, and which it must keep."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kubeheal.controller.retention import (
    GUARDRAIL_HORIZON,
    OUTCOME_RECORDED,
    RetentionPolicy,
    due_for_deletion,
)
from kubeheal.controller.store import rfc3339

NOW = dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def rem(name: str, runbook: str = "rb", closed: dt.timedelta | None = None,
        recorded: bool = True, created: dt.timedelta = dt.timedelta(days=2),
        namespace: str = "shop", phase: str = "Succeeded") -> dict[str, Any]:
    """A Remediation created ``created`` ago and closed ``closed`` ago (None: still open)."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace,
                            "creationTimestamp": rfc3339(NOW - created),
                            "labels": {"kubeheal.io/runbook": runbook}}
    if recorded:
        meta["annotations"] = {OUTCOME_RECORDED: "true"}
    status: dict[str, Any] = {"phase": "Executing" if closed is None else phase}
    if closed is not None:
        status["completedAt"] = rfc3339(NOW - closed)
    return {"metadata": meta, "status": status}


def names(items: list[dict[str, Any]]) -> list[str]:
    return sorted(i["metadata"]["name"] for i in items)


def test_beyond_the_newest_n_of_a_runbook_are_deleted_oldest_first() -> None:
    items = [rem(f"r{d}", closed=d * DAY, created=d * DAY + dt.timedelta(hours=1))
             for d in (2, 3, 4, 5)]
    assert names(due_for_deletion(items, RetentionPolicy(keep_last=2, ttl=None), NOW)) == \
        ["r4", "r5"]


def test_the_count_is_per_runbook_and_per_namespace() -> None:
    items = [rem("a1", "a", 2 * DAY), rem("a2", "a", 3 * DAY), rem("b1", "b", 4 * DAY),
             rem("c1", "a", 5 * DAY, namespace="other")]
    assert names(due_for_deletion(items, RetentionPolicy(keep_last=1, ttl=None), NOW)) == ["a2"]


def test_open_remediations_are_never_deleted_nor_counted() -> None:
    items = [rem("open", created=40 * DAY), rem("closed", closed=3 * DAY)]
    assert due_for_deletion(items, RetentionPolicy(keep_last=1, ttl=None), NOW) == []
    unknown = rem("odd", closed=3 * DAY, phase="Whatever")
    assert due_for_deletion([unknown], RetentionPolicy(keep_last=1, ttl=DAY), NOW) == []


def test_what_the_guardrails_read_is_kept_however_far_beyond_the_policy() -> None:
    recent = [rem(f"r{h}", closed=dt.timedelta(hours=h)) for h in (1, 2, 23)]
    policy = RetentionPolicy(keep_last=1, ttl=dt.timedelta(minutes=30))
    assert due_for_deletion(recent, policy, NOW) == []
    past = rem("r25", closed=GUARDRAIL_HORIZON + dt.timedelta(hours=1))
    assert names(due_for_deletion([*recent, past], policy, NOW)) == ["r25"]


def test_the_ttl_deletes_by_age_alone() -> None:
    items = [rem("young", closed=2 * DAY), rem("old", closed=9 * DAY, created=9 * DAY)]
    assert names(due_for_deletion(items, RetentionPolicy(keep_last=0, ttl=7 * DAY), NOW)) == \
        ["old"]


def test_an_outcome_never_recorded_waits_for_the_maximum_age() -> None:
    young = rem("young", closed=5 * DAY, created=5 * DAY, recorded=False)
    old = rem("old", closed=31 * DAY, created=31 * DAY, recorded=False)
    policy = RetentionPolicy(keep_last=0, ttl=2 * DAY, max_age=30 * DAY)
    assert names(due_for_deletion([young, old], policy, NOW)) == ["old"]
    young["metadata"]["annotations"] = {OUTCOME_RECORDED: "false"}
    assert names(due_for_deletion([young, old], policy, NOW)) == ["old"]
    young["metadata"]["annotations"] = {OUTCOME_RECORDED: "true"}
    assert names(due_for_deletion([young, old], policy, NOW)) == ["old", "young"]


def test_a_policy_without_limits_deletes_nothing() -> None:
    items = [rem(f"r{d}", closed=d * DAY, created=d * DAY) for d in range(2, 60)]
    assert due_for_deletion(items, RetentionPolicy(keep_last=0, ttl=None), NOW) == []


@pytest.mark.parametrize("settings, message", [
    ({"keep_last": -1}, "keep_last"),
    ({"ttl": dt.timedelta(0)}, "TTL"),
    ({"max_age": dt.timedelta(hours=23)}, "horizon"),
    ({"interval": 0.0}, "interval"),
])
def test_bad_settings_are_refused_with_the_setting_named(settings: dict[str, Any],
                                                         message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetentionPolicy(**settings)
