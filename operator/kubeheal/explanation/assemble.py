"""The explanation of one workload, assembled from facts the operator gathered. Pure.

The operator reads its own memory (the runbooks' evaluations and detector streams), the
Remediations and the guardrails' history, and asks OPA for a preview of each action; this
module turns those facts into one JSON document: which runbooks select the workload, each
stream's state, the open and recent Remediations, and every reason that holds an action back
right now (:data:`HOLDS`), each with its reason in words.

>>> import datetime as dt
>>> at = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
>>> stream = StreamFacts("error-ratio", "errors", has_series=True, exists=True, warm=True,
...                      learned=400, warmup=60, last_at=at.timestamp() - 5, observed=0.004,
...                      expected=0.005, probability=0.3, anomalous=0, k=2, n=5)
>>> book = RunbookFacts("checkout", "enforce", 5, cooldown_seconds=300, max_concurrent=1,
...                     max_actions_per_hour=3, evaluated_at=at.timestamp() - 4,
...                     evaluation_ok=True, evaluation_reason="Evaluated", streams=(stream,))
>>> doc = explain("shop", "checkout", (book,), (), RemediationHistory(), at)
>>> [h["hold"] for h in doc["runbooks"][0]["holds"]]
['no-alarm']
>>> doc["summary"]
'checkout: no signal is in alarm: error-ratio 0 of the last 5 points anomalous (an alarm needs 2)'
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubeheal.decide import RemediationHistory
from kubeheal.detect.values import rarity

Json = dict[str, Any]

RECENT_REMEDIATIONS = 5
"""Closed Remediations of the workload shown, newest first."""
MAX_RUNBOOKS = 10
"""Runbooks selecting the workload shown (by name); the answer says how many more there are,
so that it stays small and asks OPA a bounded number of times."""
STALE_INTERVALS = 2
"""A stream whose last point is older than this many intervals is not current."""
HOLDS = (
    "invalid", "not-evaluated", "evaluation-failed", "no-data", "warming-up", "stale",
    "no-alarm", "open-incident", "concurrency", "cooldown", "rate-limit", "dry-run", "policy",
)
"""What may hold an action back, in the order the loop meets them."""
OPEN_PHASES = ("Detected", "AwaitingApproval", "Executing", "Verifying")


@dataclass(frozen=True)
class StreamFacts:
    """One (runbook, workload, signal) stream as the operator holds it now."""

    signal: str
    role: str
    has_series: bool | None
    """Whether the signal's query answered for the workload at its last read (None: not
    read yet)."""
    exists: bool = False
    warm: bool = False
    learned: int = 0
    warmup: int = 0
    last_at: float | None = None
    observed: float | None = None
    expected: float | None = None
    probability: float | None = None
    anomalous: int = 0
    """Anomalous points among the last ``n``."""
    k: int = 0
    n: int = 0
    alarm: bool = False
    since: float | None = None
    learning_held: bool = False


@dataclass(frozen=True)
class ActionPreview:
    """One action of a runbook made concrete on the workload now, and OPA's preview of it."""

    name: str
    kind: str
    cause: str | None = None
    """The cause the preview assumes (the open incident's, else the action's first)."""
    params: Mapping[str, str] = field(default_factory=dict)
    unfit: str = ""
    """Why the action cannot apply to the workload now ('' when it can)."""
    risk: float | None = None
    allow: bool | None = None
    require_approval: bool = False
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunbookFacts:
    """A runbook that selects the workload, and what the operator knows of it."""

    name: str
    mode: str
    interval_seconds: int
    cooldown_seconds: int = 0
    max_concurrent: int = 1
    max_actions_per_hour: int = 0
    evaluated_at: float | None = None
    evaluation_ok: bool | None = None
    evaluation_reason: str = ""
    evaluation_message: str = ""
    streams: tuple[StreamFacts, ...] = ()
    open_of_runbook: int = 0
    """Open Remediations of this runbook, any workload."""
    previews: tuple[ActionPreview, ...] = ()
    problem: str = ""
    """Why the runbook's spec is invalid ('' when it is valid)."""


def rfc3339(moment: dt.datetime | float | None) -> str | None:
    """A time as RFC 3339 UTC text (seconds); a float is seconds since the epoch.

    >>> rfc3339(0.0), rfc3339(None)
    ('1970-01-01T00:00:00Z', None)
    """
    if moment is None:
        return None
    if isinstance(moment, float | int):
        moment = dt.datetime.fromtimestamp(moment, dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def _number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 6)


def stream_json(stream: StreamFacts) -> Json:
    """A stream's state for the explanation."""
    return {
        "signal": stream.signal, "role": stream.role, "hasData": stream.has_series,
        "exists": stream.exists, "warm": stream.warm, "learned": stream.learned,
        "warmup": stream.warmup, "lastPointAt": rfc3339(stream.last_at),
        "observed": _number(stream.observed), "expected": _number(stream.expected),
        "score": _number(stream.probability),
        "rarity": rarity(stream.probability) if stream.probability is not None
        and stream.warm else None,
        "debounce": {"anomalous": stream.anomalous, "k": stream.k, "n": stream.n},
        "alarm": stream.alarm, "alarmSince": rfc3339(stream.since),
        "learningHeld": stream.learning_held,
    }


def remediation_json(body: Json) -> Json:
    """What the explanation shows of one Remediation."""
    spec, status = body.get("spec") or {}, body.get("status") or {}
    timeline = status.get("timeline") or []
    action = status.get("action") or {}
    return {
        "name": body["metadata"]["name"],
        "runbook": (spec.get("runbookRef") or {}).get("name"),
        "phase": status.get("phase", "Detected"),
        "cause": (spec.get("diagnosis") or {}).get("cause"),
        "action": f"{action['kind']} {action.get('name', '')}".strip() if action else None,
        "openedAt": rfc3339(_time(body["metadata"].get("creationTimestamp"))),
        "closedAt": rfc3339(_time(status.get("completedAt"))),
        "last": timeline[-1].get("message") if timeline else None,
    }


def _closed_at(body: Json) -> dt.datetime | None:
    status = body.get("status") or {}
    if status.get("phase", "Detected") in OPEN_PHASES:
        return None
    return _time(status.get("completedAt")) or _time(body["metadata"].get("creationTimestamp"))


def _hold(kind: str, reason: str) -> Json:
    return {"hold": kind, "reason": reason}


def _detection_holds(book: RunbookFacts, now: dt.datetime) -> list[Json]:
    """What keeps the detectors from seeing an alarm on the workload (none: they would)."""
    if book.problem:
        return [_hold("invalid", f"the runbook is invalid: {book.problem}")]
    if book.evaluated_at is None:
        return [_hold("not-evaluated", "the leading operator has not evaluated this runbook "
                                       "since it started")]
    if not book.evaluation_ok:
        return [_hold("evaluation-failed",
                      f"the last evaluation ({rfc3339(book.evaluated_at)}) was skipped, "
                      f"{book.evaluation_reason}: {book.evaluation_message}; no action is "
                      f"taken on missing data")]
    holds: list[Json] = []
    blind = [s.signal for s in book.streams if s.has_series is False]
    if blind:
        holds.append(_hold("no-data", f"no data for this workload: {', '.join(blind)} "
                                      f"returned no series for it at the last evaluation, so "
                                      f"{'it is' if len(blind) == 1 else 'they are'} not "
                                      f"scored"))
    cold = [s for s in book.streams if s.exists and not s.warm]
    if cold:
        holds.append(_hold("warming-up", "; ".join(
            f"{s.signal} has learned {s.learned} of its {s.warmup} warm-up points"
            for s in cold)))
    horizon = now.timestamp() - STALE_INTERVALS * book.interval_seconds
    stale = [s.signal for s in book.streams
             if s.exists and s.has_series is not False and (s.last_at or 0.0) < horizon]
    if stale:
        holds.append(_hold("stale", f"{', '.join(stale)}: no point in the last "
                                    f"{STALE_INTERVALS} intervals ({book.interval_seconds}s)"))
    alarming = [s for s in book.streams if s.alarm and s.role != "load"]
    if not alarming:
        scored = [s for s in book.streams if s.exists and s.role != "load"]
        detail = "; ".join(f"{s.signal} {s.anomalous} of the last {s.n} points anomalous "
                           f"(an alarm needs {s.k})" for s in scored)
        holds.append(_hold("no-alarm", "no signal is in alarm" + (f": {detail}" if detail
                                                                  else "")))
    return holds


def _incident_holds(book: RunbookFacts, workload: str, remediations: Sequence[Json],
                    history: RemediationHistory, now: dt.datetime) -> list[Json]:
    """What would keep an alarm from opening an incident or acting, by the runbook's own
    guardrails and the one open incident per workload."""
    holds: list[Json] = []
    still_open = [r for r in remediations if _closed_at(r) is None]
    for body in still_open:
        status = body.get("status") or {}
        holds.append(_hold("open-incident", (
            f"remediation {body['metadata']['name']} is open (phase "
            f"{status.get('phase', 'Detected')}): one incident per workload at a time, and a "
            f"new one opens only once it is closed")))
    if not still_open and book.open_of_runbook >= book.max_concurrent:
        holds.append(_hold("concurrency", (
            f"{book.open_of_runbook} remediations of this runbook are open (max "
            f"{book.max_concurrent})")))
    closed = [c for c in (_closed_at(r) for r in remediations) if c is not None]
    if closed and book.cooldown_seconds:
        until = max(closed) + dt.timedelta(seconds=book.cooldown_seconds)
        if until > now:
            holds.append(_hold("cooldown", (
                f"cooling down until {rfc3339(until)} ({book.cooldown_seconds}s after the "
                f"last remediation of {workload} closed, {rfc3339(max(closed))}); no incident "
                f"opens before")))
    if history.actions_last_hour >= book.max_actions_per_hour:
        holds.append(_hold("rate-limit", (
            f"rate limit: {history.actions_last_hour} actions on the target in the last hour "
            f"(max {book.max_actions_per_hour})")))
    if book.mode == "dry-run":
        holds.append(_hold("dry-run", "the runbook is in dry-run: it records what it would do "
                                      "and acts on nothing"))
    return holds


def preview_json(preview: ActionPreview) -> Json:
    """An action's preview: what it would be, its risk, and OPA's verdict with reasons."""
    if preview.unfit:
        verdict = "cannot-apply"
    elif preview.allow is None:
        verdict = "not-asked"
    elif not preview.allow:
        verdict = "denied"
    else:
        verdict = "approval-required" if preview.require_approval else "allowed"
    return {
        "action": preview.name, "kind": preview.kind, "assumedCause": preview.cause,
        "params": dict(preview.params), "risk": _number(preview.risk), "verdict": verdict,
        "reasons": [preview.unfit] if preview.unfit else list(preview.reasons),
    }


def _policy_hold(previews: Sequence[Json]) -> list[Json]:
    if not previews or any(p["verdict"] in ("allowed", "approval-required") for p in previews):
        return []
    why = "; ".join(f"{p['action']}: {', '.join(p['reasons']) or p['verdict']}"
                    for p in previews)
    return [_hold("policy", f"no action would run now: {why}")]


def explain(namespace: str, workload: str, runbooks: Sequence[RunbookFacts],
            remediations: Sequence[Json], history: RemediationHistory, now: dt.datetime,
            target: Json | None = None, runbooks_not_shown: int = 0) -> Json:
    """The explanation of ``workload``: one document, every reason in words.

    ``remediations`` are the workload's (label ``kubeheal.io/target``), any order; ``history``
    is what the guardrails count for it; ``target`` is the Deployment's summary;
    ``runbooks_not_shown`` counts the selecting runbooks left out (see :data:`MAX_RUNBOOKS`).
    """
    ordered = sorted(remediations, key=lambda r: r["metadata"].get("creationTimestamp") or "",
                     reverse=True)
    still_open = [remediation_json(r) for r in ordered if _closed_at(r) is None]
    recent = [remediation_json(r) for r in ordered if _closed_at(r) is not None]
    books = []
    for book in sorted(runbooks, key=lambda b: b.name):
        previews = [preview_json(p) for p in book.previews]
        holds = [*_detection_holds(book, now),
                 *_incident_holds(book, workload, ordered, history, now),
                 *_policy_hold(previews)]
        books.append({
            "name": book.name, "mode": book.mode, "intervalSeconds": book.interval_seconds,
            "lastEvaluation": None if book.evaluated_at is None else {
                "at": rfc3339(book.evaluated_at), "ok": book.evaluation_ok,
                "reason": book.evaluation_reason, "message": book.evaluation_message},
            "inAlarm": any(s.alarm and s.role != "load" for s in book.streams),
            "streams": [stream_json(s) for s in book.streams],
            "holds": holds,
            "actions": previews,
        })
    return {
        "namespace": namespace, "workload": workload, "asOf": rfc3339(now),
        "target": target or {},
        "runbooks": books,
        "runbooksNotShown": runbooks_not_shown,
        "remediations": {"open": still_open, "recent": recent[:RECENT_REMEDIATIONS]},
        "history": {"actionsLastHour": history.actions_last_hour,
                    "namespaceActionsLastHour": history.namespace_actions_last_hour,
                    "failedLastDay": history.failed_last_day,
                    "lastActionAt": rfc3339(history.last_action_at)},
        "summary": summary(workload, books),
    }


def summary(workload: str, books: Sequence[Json]) -> str:
    """One line: what would happen now, or the first thing holding each runbook back.

    >>> summary("web", [])
    'no runbook selects web: kubeheal does not watch it'
    >>> summary("web", [{"name": "a", "holds": [], "inAlarm": True}])
    'a: in alarm, nothing holds an action back'
    """
    if not books:
        return f"no runbook selects {workload}: kubeheal does not watch it"
    parts = []
    for book in books:
        holds = book["holds"]
        if holds:
            parts.append(f"{book['name']}: {holds[0]['reason']}")
        else:
            parts.append(f"{book['name']}: in alarm, nothing holds an action back")
    return "; ".join(parts)
