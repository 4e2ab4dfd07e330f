"""The milestones of self-healing, computed from outcome statistics and the cluster's objects.

:func:`runbook_figures` turns one runbook's counts into the figures people ask about (share
remediated with no human, MTTD and MTTR percentiles, approval latency, false alarms per
signal, dry-run evidence); :func:`coverage` says which share of the Deployments a runbook
selects, and which share one with an SLO. ``kubeheal report`` prints them, the operator
exports them as metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kubeheal.api.base import LabelSelector
from kubeheal.api.outcomes import OutcomeCounts, OutcomeKind
from kubeheal.outcomes.sketch import quantile

QUANTILES = (0.5, 0.9)


def ratio(part: float, whole: float) -> float | None:
    """``part / whole``, None when there is no whole.

    >>> ratio(1, 4), ratio(0, 0)
    (0.25, None)
    """
    return part / whole if whole else None


@dataclass(frozen=True)
class RunbookFigures:
    """What one runbook's incidents amount to over a stretch of time."""

    namespace: str
    runbook: str
    mode: str
    has_slo: bool
    incidents: int
    outcomes: dict[str, int]
    acting_incidents: int
    """Incidents of the runbook when it could act (dry-run incidents left out)."""
    autonomous: int
    """Verified with no human decision."""
    with_human: int
    time_to_detect: dict[float, float | None]
    time_to_recover: dict[float, float | None]
    approval_latency: dict[float, float | None]
    false_alarms: int
    false_alarm_rate: float | None
    false_alarm_rate_by_signal: dict[str, float | None]
    signal_incidents: dict[str, int]
    causes: dict[str, int]
    actions: list[tuple[str, str, str, int, int]]
    """(cause, action, kind, succeeded, failed)."""
    dry_run_incidents: int = 0
    would_have_done: dict[str, int] = field(default_factory=dict)
    dry_run_confirmed: int = 0
    dry_run_recovered_unaided: int = 0

    @property
    def autonomous_share(self) -> float | None:
        return ratio(self.autonomous, self.acting_incidents)


def runbook_figures(namespace: str, runbook: str, mode: str, has_slo: bool,
                    counts: OutcomeCounts) -> RunbookFigures:
    """The figures of one runbook's counts.

    >>> from kubeheal.api.outcomes import OutcomeCounts
    >>> c = OutcomeCounts(incidents=4, outcomes={"verified": 2, "dry-run": 1, "rejected": 1},
    ...                   autonomous=2, signals={"errors": 4}, false_alarms=1,
    ...                   false_alarm_signals={"errors": 1})
    >>> f = runbook_figures("shop", "checkout", "enforce", True, c)
    >>> f.acting_incidents, f.autonomous_share, f.false_alarm_rate_by_signal
    (3, 0.6666666666666666, {'errors': 0.25})
    """
    acting = counts.incidents - counts.outcomes.get(OutcomeKind.DRY_RUN.value, 0)
    return RunbookFigures(
        namespace=namespace, runbook=runbook, mode=mode, has_slo=has_slo,
        incidents=counts.incidents, outcomes=dict(counts.outcomes),
        acting_incidents=acting, autonomous=counts.autonomous, with_human=counts.with_human,
        time_to_detect={q: quantile(counts.time_to_detect, q) for q in QUANTILES},
        time_to_recover={q: quantile(counts.time_to_recover, q) for q in QUANTILES},
        approval_latency={q: quantile(counts.approval_latency, q) for q in QUANTILES},
        false_alarms=counts.false_alarms,
        false_alarm_rate=ratio(counts.false_alarms, counts.incidents),
        false_alarm_rate_by_signal={
            s: ratio(counts.false_alarm_signals.get(s, 0), n)
            for s, n in sorted(counts.signals.items())},
        signal_incidents=dict(sorted(counts.signals.items())),
        causes=dict(sorted(counts.causes.items(), key=lambda kv: (-kv[1], kv[0]))),
        actions=sorted(((a.cause, a.action, a.kind, a.succeeded, a.failed)
                        for a in counts.actions), key=lambda a: (-(a[3] + a[4]), a[0], a[1])),
        dry_run_incidents=counts.dry_run.incidents,
        would_have_done=dict(counts.dry_run.would_have_done),
        dry_run_confirmed=counts.dry_run.confirmed,
        dry_run_recovered_unaided=counts.dry_run.recovered_unaided,
    )


@dataclass(frozen=True)
class Coverage:
    """Deployments selected by a runbook, and by a runbook that verifies against an SLO."""

    deployments: int
    selected: int
    with_slo: int

    @property
    def selected_share(self) -> float | None:
        return ratio(self.selected, self.deployments)

    @property
    def slo_share(self) -> float | None:
        return ratio(self.with_slo, self.deployments)


@dataclass(frozen=True)
class SelectingRunbook:
    namespace: str
    selector: LabelSelector
    has_slo: bool


def coverage(deployments: Iterable[tuple[str, Mapping[str, str]]],
             runbooks: Iterable[SelectingRunbook]) -> Coverage:
    """Which share of the Deployments (namespace, labels) the runbooks select, and which
    share a runbook with an ``sloRef`` selects (a runbook selects in its own namespace).

    >>> web = LabelSelector(match_labels={"app": "web"})
    >>> c = coverage([("shop", {"app": "web"}), ("shop", {"app": "db"}), ("lab", {"app": "web"})],
    ...              [SelectingRunbook("shop", web, True)])
    >>> c, c.selected_share
    (Coverage(deployments=3, selected=1, with_slo=1), 0.3333333333333333)
    """
    books = list(runbooks)
    total = selected = with_slo = 0
    for namespace, labels in deployments:
        total += 1
        mine = [r for r in books if r.namespace == namespace and r.selector.matches(dict(labels))]
        selected += bool(mine)
        with_slo += any(r.has_slo for r in mine)
    return Coverage(total, selected, with_slo)
