"""Finished Remediations are deleted by a retention policy, never while something reads them.

Every incident is one Remediation, so without a clean-up their number only grows. The leader
deletes a *closed* Remediation once the policy says it is due (beyond the last ``keep_last``
closed ones of its runbook, or closed longer than ``ttl`` ago) and only when nothing still
needs it:

- the guardrails: deciding counts a target's actions in the last hour, the namespace's
  actions in the last hour, the target's escalations in the last day, and the time of its
  last action (cooldowns, at most a day in a Runbook). A Remediation closed more than
  :data:`GUARDRAIL_HORIZON` ago (its actions all ran before it closed) counts for none;
- the outcome statistics: :func:`outcome_kept` (the annotation
  ``kubeheal.io/outcome-recorded: "true"``, set once its outcome is folded into statistics
  that outlive it), or an age past ``max_age`` for one whose outcome was never recorded.

Open Remediations are never deleted. :func:`due_for_deletion` is the whole decision, with no
I/O; :func:`retain` applies it once, :func:`retain_forever` every ``interval``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from kubeheal.api.remediation import Phase
from kubeheal.controller.metrics import OperatorMetrics
from kubeheal.controller.store import RUNBOOK_LABEL, Json, ObjectStore, now
from kubeheal.observe.kubernetes import KubernetesError, parse_time

log = logging.getLogger(__name__)

OUTCOME_RECORDED = "kubeheal.io/outcome-recorded"
GUARDRAIL_HORIZON = dt.timedelta(days=1)
"""How far back the guardrails read a target's and a namespace's past actions."""


@dataclass(frozen=True)
class RetentionPolicy:
    """When closed Remediations are deleted.

    >>> RetentionPolicy(keep_last=0, ttl=None).enabled
    False
    >>> RetentionPolicy(max_age=dt.timedelta(hours=2))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: retention: the maximum age (2:00:00) must be at least the guardrails' ...
    """

    keep_last: int = 50
    """Closed Remediations kept per runbook, newest first (0: no limit by count)."""
    ttl: dt.timedelta | None = dt.timedelta(days=7)
    """Closed Remediations older than this are due (None: no limit by age)."""
    max_age: dt.timedelta = dt.timedelta(days=30)
    """A due Remediation whose outcome was never recorded is deleted once this old."""
    interval: float = 600.0
    """Seconds between two passes."""

    def __post_init__(self) -> None:
        if self.keep_last < 0:
            raise ValueError(f"retention: keep_last ({self.keep_last}) must not be negative")
        if self.ttl is not None and self.ttl <= dt.timedelta(0):
            raise ValueError(f"retention: the TTL ({self.ttl}) must be positive")
        if self.max_age < GUARDRAIL_HORIZON:
            raise ValueError(f"retention: the maximum age ({self.max_age}) must be at least "
                             f"the guardrails' horizon ({GUARDRAIL_HORIZON})")
        if self.interval <= 0:
            raise ValueError(f"retention: the interval ({self.interval:g}s) must be positive")

    @property
    def enabled(self) -> bool:
        return self.keep_last > 0 or self.ttl is not None


def outcome_kept(remediation: Json, moment: dt.datetime, max_age: dt.timedelta) -> bool:
    """Whether deleting a closed Remediation loses no outcome: the outcome statistics folded
    it in (and said so with the annotation ``kubeheal.io/outcome-recorded: "true"``), or it
    is older than ``max_age`` (it was never folded in, and never will be).

    >>> at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    >>> meta = {"creationTimestamp": "2026-11-30T00:00:00Z"}
    >>> outcome_kept({"metadata": meta}, at, dt.timedelta(days=30))
    False
    >>> outcome_kept({"metadata": {**meta, "annotations": {OUTCOME_RECORDED: "true"}}}, at,
    ...              dt.timedelta(days=30))
    True
    >>> outcome_kept({"metadata": meta}, at, dt.timedelta(hours=23))
    True
    """
    meta = remediation["metadata"]
    if (meta.get("annotations") or {}).get(OUTCOME_RECORDED) == "true":
        return True
    created = parse_time(meta.get("creationTimestamp"))
    return created is not None and moment - created > max_age


def closed_at(remediation: Json) -> dt.datetime | None:
    """When a Remediation closed; None while it is open (an unknown phase counts as open)."""
    status = remediation.get("status") or {}
    try:
        if not Phase(status.get("phase", Phase.DETECTED.value)).terminal:
            return None
    except ValueError:
        return None
    return (parse_time(status.get("completedAt"))
            or parse_time(remediation["metadata"].get("creationTimestamp")))


def due_for_deletion(remediations: Iterable[Json], policy: RetentionPolicy,
                     moment: dt.datetime) -> list[Json]:
    """The Remediations to delete now: closed, due by the policy (beyond the newest
    ``keep_last`` closed ones of their runbook in their namespace, or closed more than ``ttl``
    ago), read by no guardrail any more, and whose outcome is kept (:func:`outcome_kept`)."""
    if not policy.enabled:
        return []
    closed: dict[tuple[str, str], list[tuple[dt.datetime, Json]]] = {}
    for body in remediations:
        at = closed_at(body)
        if at is not None:
            meta = body["metadata"]
            key = (meta.get("namespace", ""), (meta.get("labels") or {}).get(RUNBOOK_LABEL, ""))
            closed.setdefault(key, []).append((at, body))
    due: list[Json] = []
    for group in closed.values():
        group.sort(key=lambda pair: (pair[0], pair[1]["metadata"]["name"]), reverse=True)
        for rank, (at, body) in enumerate(group):
            beyond = policy.keep_last > 0 and rank >= policy.keep_last
            expired = policy.ttl is not None and moment - at > policy.ttl
            if (beyond or expired) and moment - at > GUARDRAIL_HORIZON \
                    and outcome_kept(body, moment, policy.max_age):
                due.append(body)
    return due


async def retain(store: ObjectStore, namespaces: Sequence[str], policy: RetentionPolicy,
                 metrics: OperatorMetrics, clock: Callable[[], dt.datetime] = now) -> list[str]:
    """One pass over the Remediations of ``namespaces`` (empty: every namespace): delete
    those due, each only as it was read (a Remediation changed since is left for the next
    pass). Returns the deleted ones as ``namespace/name``."""
    items: list[Json] = []
    for namespace in namespaces or (None,):
        items += await store.list_all("remediations", namespace)
    deleted: list[str] = []
    for body in due_for_deletion(items, policy, clock()):
        meta = body["metadata"]
        try:
            await store.delete("remediations", meta["namespace"], meta["name"],
                               uid=meta["uid"], resource_version=meta["resourceVersion"])
        except KubernetesError as e:
            if e.kind not in ("not-found", "conflict"):
                raise
            continue
        metrics.remediations_deleted.labels(
            meta["namespace"], (meta.get("labels") or {}).get(RUNBOOK_LABEL, "")).inc()
        deleted.append(f"{meta['namespace']}/{meta['name']}")
    if deleted:
        log.info("retention deleted %d closed remediations: %s", len(deleted),
                 ", ".join(deleted[:20]) + (" ..." if len(deleted) > 20 else ""))
    return deleted


async def retain_forever(store: ObjectStore, namespaces: Sequence[str],
                         policy: RetentionPolicy, metrics: OperatorMetrics) -> None:
    """:func:`retain` every ``policy.interval`` seconds; a failed pass is retried then."""
    while True:
        try:
            await retain(store, namespaces, policy, metrics)
        except KubernetesError as e:
            log.warning("retention pass failed (retried in %.0fs): %s", policy.interval, e)
        except Exception:  # the clean-up never stops for one odd object
            log.exception("retention pass failed (retried in %.0fs)", policy.interval)
        await asyncio.sleep(policy.interval)
