"""A StatefulSet's diagnosis reads its ControllerRevisions as a Deployment's reads its
ReplicaSets: a bad new revision is a change, its first revision never is."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kubeheal.api.runbook import Cause, SignalRole
from kubeheal.diagnose import (
    DiagnosisInput,
    Direction,
    SignalAnomaly,
    diagnose,
    revisions_from_controller_revisions,
)

ONSET = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
ERRORS_UP = SignalAnomaly("error-ratio", SignalRole.ERRORS, Direction.UP, 0.3, 0.005)


def revision(number: int, before_onset: dt.timedelta, image: str) -> dict[str, Any]:
    created = (ONSET - before_onset).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"metadata": {"name": f"db-{number}", "creationTimestamp": created},
            "revision": number,
            "data": {"spec": {"template": {"$patch": "replace", "metadata": {"labels": {
                "app": "db"}}, "spec": {"containers": [{"name": "db", "image": image}]}}}}}


def test_a_bad_new_controller_revision_is_a_change() -> None:
    revisions = revisions_from_controller_revisions([
        revision(2, dt.timedelta(minutes=1), "db:2"),
        revision(1, dt.timedelta(days=2), "db:1")])
    assert [(r.number, r.name, r.template_changed) for r in revisions] == [
        (1, "db-1", True), (2, "db-2", True)]
    result = diagnose(DiagnosisInput(ONSET, signals=(ERRORS_UP,), revisions=revisions))
    assert result.cause is Cause.CHANGE


def test_the_first_controller_revision_is_never_a_change() -> None:
    revisions = revisions_from_controller_revisions([
        revision(1, dt.timedelta(minutes=1), "db:1")])
    result = diagnose(DiagnosisInput(ONSET, signals=(ERRORS_UP,), revisions=revisions))
    assert result.cause is not Cause.CHANGE


def test_controller_revisions_without_number_or_time_are_skipped() -> None:
    nameless = revision(3, dt.timedelta(minutes=1), "db:3")
    del nameless["revision"]
    timeless = revision(4, dt.timedelta(minutes=1), "db:4")
    del timeless["metadata"]["creationTimestamp"]
    assert revisions_from_controller_revisions([nameless, timeless]) == ()
