"""The operator's own Prometheus metrics, on a registry of their own (no import-time globals).

Every decision the controller makes moves one of these, so nobody needs the logs to know what
it did: incidents opened, actions by kind and outcome, policy decisions, approvals pending,
time to detect and to recover, evaluation duration and failures, warm-up state, SLO state,
notifications sent, failed and dropped. The ``kubeheal_outcome_*`` and coverage gauges are read
from what lasts (the runbooks' outcome statistics since counting began, the cluster's
Deployments), so a restart does not reset them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from kubeheal.notify.delivery import DeliveryMetrics

_LATENCY_BUCKETS = (1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1800, 3600)


@dataclass
class OperatorMetrics:
    """All of kubeheal's metrics, registered on ``registry``."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.incidents_opened = Counter(
            "kubeheal_incidents_opened_total", "Incidents opened (Remediations created).",
            ["namespace", "runbook", "cause"], registry=r)
        self.actions = Counter(
            "kubeheal_actions_total", "Remediation actions by kind and outcome.",
            ["namespace", "runbook", "kind", "outcome"], registry=r)
        self.learned_decisions = Counter(
            "kubeheal_learned_decisions_total",
            "Decisions of runbooks with learning on, by mode and by whether the learned order "
            "puts another action first than the runbook (changed).",
            ["namespace", "runbook", "mode", "changed"], registry=r)
        self.policy_decisions = Counter(
            "kubeheal_policy_decisions_total", "Policy engine decisions by outcome.",
            ["namespace", "runbook", "outcome"], registry=r)
        self.remediations_closed = Counter(
            "kubeheal_remediations_closed_total", "Remediations by terminal phase.",
            ["namespace", "runbook", "phase"], registry=r)
        self.remediations_deleted = Counter(
            "kubeheal_remediations_deleted_total",
            "Closed Remediations deleted by the retention policy.",
            ["namespace", "runbook"], registry=r)
        self.approvals_pending = Gauge(
            "kubeheal_approvals_pending", "Remediations awaiting a human's approval.",
            ["namespace"], registry=r)
        self.time_to_detect = Histogram(
            "kubeheal_time_to_detect_seconds", "Anomaly onset to Remediation created.",
            ["namespace", "runbook"], buckets=_LATENCY_BUCKETS, registry=r)
        self.time_to_recover = Histogram(
            "kubeheal_time_to_recover_seconds", "Anomaly onset to recovery verified.",
            ["namespace", "runbook"], buckets=_LATENCY_BUCKETS, registry=r)
        self.evaluation_duration = Histogram(
            "kubeheal_evaluation_duration_seconds", "Duration of one runbook evaluation.",
            ["namespace", "runbook"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=r)
        self.evaluation_failures = Counter(
            "kubeheal_evaluation_failures_total", "Evaluations skipped, by reason.",
            ["namespace", "runbook", "reason"], registry=r)
        self.streams = Gauge(
            "kubeheal_detector_streams", "Detector streams by warm-up state.",
            ["namespace", "runbook", "state"], registry=r)
        self.slo_error_budget = Gauge(
            "kubeheal_slo_error_budget_remaining", "Share of the error budget left.",
            ["namespace", "slo"], registry=r)
        self.slo_burn_rate = Gauge(
            "kubeheal_slo_burn_rate", "Error budget burn rate by window.",
            ["namespace", "slo", "window"], registry=r)
        self.outcome_incidents = Gauge(
            "kubeheal_outcome_incidents", "Closed incidents by outcome, since counting began.",
            ["namespace", "runbook", "outcome"], registry=r)
        self.outcome_autonomous = Gauge(
            "kubeheal_outcome_autonomous", "Incidents verified with no human decision.",
            ["namespace", "runbook"], registry=r)
        self.outcome_false_alarms = Gauge(
            "kubeheal_outcome_false_alarms",
            "Incidents rejected as not an incident, or recovered before any action.",
            ["namespace", "runbook"], registry=r)
        self.outcome_seconds = Gauge(
            "kubeheal_outcome_seconds",
            "Quantiles of time to detect, to recover, and approval latency (measure).",
            ["namespace", "runbook", "measure", "quantile"], registry=r)
        self.outcome_false_alarm_ratio = Gauge(
            "kubeheal_outcome_false_alarm_ratio",
            "Share of a signal's incidents that were false alarms.",
            ["namespace", "runbook", "signal"], registry=r)
        self.outcome_action_runs = Gauge(
            "kubeheal_outcome_action_runs",
            "Action runs per cause that recovered the workload (succeeded) or not (failed).",
            ["namespace", "runbook", "cause", "action", "result"], registry=r)
        self.dry_run_incidents = Gauge(
            "kubeheal_dry_run_incidents",
            "Incidents of dry-run runbooks: seen, confirmed (still unhealthy a window later), "
            "recovered-unaided.", ["namespace", "runbook", "verdict"], registry=r)
        self.coverage_deployments = Gauge(
            "kubeheal_coverage_deployments",
            "Deployments (scope all), selected by a runbook (runbook), by one with an SLO (slo).",
            ["namespace", "scope"], registry=r)
        self.slo_breaching = Gauge(
            "kubeheal_slo_breaching", "1 when both burn-rate windows exceed the threshold.",
            ["namespace", "slo"], registry=r)
        self.notifications = Counter(
            "kubeheal_notifications_total",
            "Notifications by receiver, event and outcome (delivered; failed: refused or out of "
            "attempts; dropped: the queue was full; fenced: this replica no longer leads).",
            ["receiver", "event", "outcome"], registry=r)
        self.notification_failures = Counter(
            "kubeheal_notification_delivery_failures_total",
            "Failed delivery attempts by receiver and reason (timeout, connection, http-<code>).",
            ["receiver", "reason"], registry=r)
        self.notifications_queued = Gauge(
            "kubeheal_notifications_queued", "Notifications waiting to be sent.",
            ["receiver"], registry=r)

    @property
    def delivery(self) -> DeliveryMetrics:
        return DeliveryMetrics(self.notifications, self.notification_failures,
                               self.notifications_queued)
