"""``kubeheal report`` as text: a table for the terminal, Markdown, or JSON.

:func:`build` gathers the figures of every runbook in scope over the days asked for, the
coverage and the SLOs' error budgets into a :class:`Report`; :func:`render` prints it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from kubeheal.api.outcomes import OutcomeCounts, OutcomeKind, OutcomeStatistics
from kubeheal.outcomes.figures import Coverage, RunbookFigures, runbook_figures
from kubeheal.outcomes.record import merge, since

Format = Literal["table", "json", "markdown"]
_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": dt.timedelta(minutes=1), "h": dt.timedelta(hours=1), "d": dt.timedelta(days=1),
          "w": dt.timedelta(weeks=1)}


def parse_since(text: str) -> dt.timedelta:
    """A look-back such as ``7d``, ``24h``, ``2w`` or ``90m``.

    >>> parse_since("7d"), parse_since("36h")
    (datetime.timedelta(days=7), datetime.timedelta(days=1, seconds=43200))
    >>> parse_since("a week")
    Traceback (most recent call last):
    ...
    ValueError: --since 'a week': expected a number and a unit, m h d or w (e.g. 7d)
    """
    found = _DURATION.match(text.strip())
    if not found:
        raise ValueError(f"--since {text!r}: expected a number and a unit, m h d or w (e.g. 7d)")
    return int(found.group(1)) * _UNITS[found.group(2)]


@dataclass(frozen=True)
class RunbookInput:
    """What the report reads of one Runbook."""

    namespace: str
    name: str
    mode: str
    has_slo: bool
    statistics: OutcomeStatistics


@dataclass(frozen=True)
class SloBudget:
    namespace: str
    name: str
    objective: float
    budget_remaining: float | None


@dataclass(frozen=True)
class Report:
    scope: str
    first_day: dt.date
    generated_at: dt.datetime
    overall: RunbookFigures
    runbooks: tuple[RunbookFigures, ...]
    coverage: Coverage | None
    coverage_problem: str
    slos: tuple[SloBudget, ...]


def build(scope: str, now: dt.datetime, look_back: dt.timedelta,
          runbooks: Iterable[RunbookInput], coverage: Coverage | None, coverage_problem: str,
          slos: Iterable[SloBudget]) -> Report:
    """The report over the UTC days from ``now - look_back`` to ``now`` (statistics are kept
    per day, so the first day counts whole)."""
    first = (now - look_back).astimezone(dt.UTC).date()
    figures, total = [], OutcomeCounts()
    for r in sorted(runbooks, key=lambda r: (r.namespace, r.name)):
        counts = since(r.statistics, first)
        total = merge(total, counts)
        figures.append(runbook_figures(r.namespace, r.name, r.mode, r.has_slo, counts))
    overall = runbook_figures("", "(all)", "", False, total)
    return Report(scope, first, now, overall, tuple(figures), coverage, coverage_problem,
                  tuple(sorted(slos, key=lambda s: (s.namespace, s.name))))


# -- formatting ---------------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    """A duration for people.

    >>> duration(None), duration(12.3), duration(75), duration(7300)
    ('-', '12s', '1m15s', '2h01m')
    """
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def share(part: int, whole: int) -> str:
    """``part of whole (P%)``.

    >>> share(1, 3), share(0, 0)
    ('1 of 3 (33%)', '0 of 0')
    """
    return f"{part} of {whole} ({part / whole:.0%})" if whole else f"{part} of {whole}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _p50_p90(values: dict[float, float | None]) -> str:
    return f"{duration(values[0.5])} / {duration(values[0.9])}"


Section = tuple[str, Sequence[str], Sequence[Sequence[str]]]


def sections(report: Report) -> list[Section]:
    """The report as titled tables (headers, rows); the milestones come first."""
    o = report.overall
    outcomes = ", ".join(f"{k.value} {o.outcomes[k.value]}" for k in OutcomeKind
                         if o.outcomes.get(k.value))
    if report.coverage is not None:
        c = report.coverage
        covered = (f"{share(c.selected, c.deployments)} Deployments selected by a runbook; "
                   f"{share(c.with_slo, c.deployments)} by one with an sloRef")
    else:
        covered = f"unknown: {report.coverage_problem}"
    milestones: list[Sequence[str]] = [
        ["incidents", f"{o.incidents}" + (f" ({outcomes})" if outcomes else "")],
        ["remediated with no human", share(o.autonomous, o.acting_incidents)
         + " (dry-run incidents left out)"],
        ["coverage", covered],
        ["time to detect p50 / p90", _p50_p90(o.time_to_detect)],
        ["time to recover p50 / p90", _p50_p90(o.time_to_recover)],
        ["approval latency p50 / p90", _p50_p90(o.approval_latency)],
        ["false alarms", share(o.false_alarms, o.incidents)],
    ]
    many = report.scope == "all namespaces"

    def book(f: RunbookFigures) -> str:
        return f"{f.namespace}/{f.runbook}" if many else f.runbook

    per_runbook = [
        [book(f), f.mode, str(f.incidents), share(f.autonomous, f.acting_incidents),
         _p50_p90(f.time_to_detect), _p50_p90(f.time_to_recover), _pct(f.false_alarm_rate)]
        for f in report.runbooks]
    actions = [[cause, action, kind, str(ok), str(bad)]
               for cause, action, kind, ok, bad in o.actions]
    outcome_rows = [[k.value, str(o.outcomes.get(k.value, 0))] for k in OutcomeKind]
    causes = [[cause, str(n)] for cause, n in o.causes.items()]
    false_alarms = [[book(f), signal, str(f.signal_incidents.get(signal, 0)), _pct(rate)]
                    for f in report.runbooks for signal, rate in
                    f.false_alarm_rate_by_signal.items()]
    dry = [[book(f), str(f.dry_run_incidents),
            ", ".join(f"{what} x{n}" for what, n in f.would_have_done.items()) or "-",
            str(f.dry_run_confirmed), str(f.dry_run_recovered_unaided)]
           for f in report.runbooks if f.mode == "dry-run" or f.dry_run_incidents]
    budgets = [[f"{s.namespace}/{s.name}" if many else s.name, f"{s.objective:g}",
                "no data yet" if s.budget_remaining is None else f"{s.budget_remaining:.0%}"]
               for s in report.slos]
    return [
        ("Milestones", ("figure", "value"), milestones),
        ("Runbooks", ("runbook", "mode", "incidents", "no human", "MTTD p50 / p90",
                      "MTTR p50 / p90", "false alarms"), per_runbook),
        ("Outcomes", ("outcome", "incidents"), outcome_rows),
        ("Actions by cause", ("cause", "action", "kind", "recovered", "did not"), actions),
        ("Top causes", ("cause", "incidents"), causes),
        ("False alarms by runbook and signal", ("runbook", "signal", "incidents", "rate"),
         false_alarms),
        ("Dry-run runbooks", ("runbook", "incidents", "would have done", "confirmed",
                              "recovered unaided"), dry),
        ("Error budget left", ("SLO", "objective", "budget left"), budgets),
    ]


def _title(report: Report) -> str:
    return (f"kubeheal report: {report.scope}, incidents closed since {report.first_day} "
            f"(UTC days), as of {report.generated_at.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%SZ}")


def render(report: Report, fmt: Format) -> str:
    """The report as ``table`` (aligned text), ``markdown`` or ``json``."""
    if fmt == "json":
        return json.dumps(as_json(report), indent=2, default=str)
    lines = [f"# {_title(report)}" if fmt == "markdown" else _title(report)]
    for title, headers, rows in sections(report):
        lines.append("")
        if fmt == "markdown":
            lines += [f"## {title}", "", "| " + " | ".join(headers) + " |",
                      "|" + "|".join(" --- " for _ in headers) + "|"]
            lines += ["| " + " | ".join(row) + " |" for row in rows] or ["(none)"]
            continue
        lines.append(title)
        if not rows:
            lines.append("  (none)")
            continue
        table = [list(headers) if title != "Milestones" else [], *map(list, rows)]
        widths = [max(len(r[i]) for r in table if r) for i in range(len(headers))]
        for row in table:
            if row:
                lines.append("  " + "  ".join(cell.ljust(w) for cell, w in
                                              zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def as_json(report: Report) -> dict[str, Any]:
    """Every figure, with the same names as the metrics' labels where they exist."""

    def figures(f: RunbookFigures) -> dict[str, Any]:
        d = asdict(f)
        for key in ("time_to_detect", "time_to_recover", "approval_latency"):
            d[key] = {f"p{round(q * 100)}": v for q, v in d[key].items()}
        d["actions"] = [dict(zip(("cause", "action", "kind", "succeeded", "failed"), a,
                                 strict=True)) for a in f.actions]
        d["autonomous_share"] = f.autonomous_share
        return d

    c = report.coverage
    return {
        "scope": report.scope,
        "first_day": report.first_day.isoformat(),
        "generated_at": report.generated_at.isoformat(),
        "overall": figures(report.overall),
        "runbooks": [figures(f) for f in report.runbooks],
        "coverage": None if c is None else {
            "deployments": c.deployments, "selected": c.selected, "with_slo": c.with_slo,
            "selected_share": c.selected_share, "slo_share": c.slo_share},
        "coverage_problem": report.coverage_problem,
        "slos": [asdict(s) for s in report.slos],
    }
