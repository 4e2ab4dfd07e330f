"""Alertmanager's webhook payload, and which runbook each alert is for: pure, no I/O.

Alertmanager's ``webhook_config`` POSTs a JSON document (version ``"4"``) holding a group of
alerts, each ``firing`` or ``resolved``, with its labels, annotations, ``startsAt`` and a
``fingerprint`` of its labels. :func:`parse_webhook` reads it or says plainly what is wrong;
:func:`alert_workload` tells whether an alert is one a runbook names (``spec.alerts``) and for
which Deployment; :func:`status_patch` turns the alerts of one call into the merge patch of a
Runbook's ``status.alerts`` (firing recorded, resolved and stale removed, bounded);
:func:`firing` and :func:`opened_by` are what the leader's evaluation reads back.

>>> payload = {"version": "4", "status": "firing", "alerts": [{
...     "status": "firing", "fingerprint": "1a30ba71cca2921f",
...     "labels": {"alertname": "HighErrorRate", "namespace": "shop", "deployment": "checkout"},
...     "annotations": {"summary": "5xx above 5%"},
...     "startsAt": "2026-12-02T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}]}
>>> (alert,) = parse_webhook(payload)
>>> alert.name, alert.firing, alert.summary
('HighErrorRate', True, '5xx above 5%')
>>> from kubeheal.api.runbook import AlertMatch
>>> alert_workload(alert, AlertMatch(match_labels={"alertname": "HighErrorRate"}), "shop")
'checkout'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kubeheal.api.base import explain
from kubeheal.api.runbook import ALERTS_KEPT, AlertMatch, ReceivedAlert

NAMESPACE_LABEL = "namespace"
"""The alert label that names the namespace (as kube-state-metrics and most rules have it)."""
MAX_ALERTS = 1000
_OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


class PayloadError(ValueError):
    """The request is not an Alertmanager webhook payload this receiver reads."""


class _Alert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(min_length=1)
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: dt.datetime
    generatorURL: str = ""
    fingerprint: str = Field(default="", max_length=64)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    alerts: list[_Alert] = Field(max_length=MAX_ALERTS)


@dataclass(frozen=True)
class WebhookAlert:
    """One alert of a webhook call."""

    firing: bool
    labels: Mapping[str, str]
    starts_at: dt.datetime
    fingerprint: str
    summary: str = ""
    generator_url: str = ""

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")


def fingerprint_of(labels: Mapping[str, str]) -> str:
    """A stable fingerprint of a label set, for an alert that came without one.

    >>> fingerprint_of({"b": "2", "a": "1"}) == fingerprint_of({"a": "1", "b": "2"})
    True
    """
    text = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_webhook(body: Any) -> tuple[WebhookAlert, ...]:
    """The alerts of an Alertmanager webhook payload (version 4); :class:`PayloadError`
    names what is wrong with anything else.

    >>> parse_webhook({"version": "3", "alerts": []})
    Traceback (most recent call last):
    ...
    kubeheal.observe.alertmanager.PayloadError: not an Alertmanager webhook payload of \
version 4: version: Input should be '4'
    """
    if not isinstance(body, dict):
        raise PayloadError("not an Alertmanager webhook payload: the body must be a JSON object")
    try:
        payload = _Payload.model_validate(body)
    except ValidationError as e:
        raise PayloadError(f"not an Alertmanager webhook payload of version 4: {explain(e)}"
                           ) from None
    return tuple(
        WebhookAlert(
            firing=a.status == "firing", labels=dict(a.labels),
            starts_at=a.startsAt if a.startsAt.tzinfo else a.startsAt.replace(tzinfo=dt.UTC),
            fingerprint=a.fingerprint or fingerprint_of(a.labels),
            summary=(a.annotations.get("summary") or a.annotations.get("description") or "")[:1024],
            generator_url=a.generatorURL[:2048])
        for a in payload.alerts)


def alert_workload(alert: WebhookAlert, match: AlertMatch, namespace: str) -> str | None:
    """The Deployment an alert names for a runbook in ``namespace``, when the alert carries
    every label of ``match`` and names that namespace; else None.

    >>> a = WebhookAlert(True, {"alertname": "X", "namespace": "shop", "svc": "cart"},
    ...                  dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "f")
    >>> m = AlertMatch(match_labels={"alertname": "X"}, workload_label="svc")
    >>> alert_workload(a, m, "shop"), alert_workload(a, m, "other")
    ('cart', None)
    >>> alert_workload(a, AlertMatch(match_labels={"alertname": "Y"}), "shop") is None
    True

    A label that cannot be a Deployment's name names none:

    >>> bad = WebhookAlert(True, {"alertname": "X", "namespace": "shop", "svc": "Cart_1"},
    ...                    dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "f")
    >>> alert_workload(bad, m, "shop") is None
    True
    """
    labels = alert.labels
    if labels.get(NAMESPACE_LABEL) != namespace:
        return None
    if any(labels.get(key) != value for key, value in match.match_labels.items()):
        return None
    workload = labels.get(match.workload_label, "")
    return workload if _OBJECT_NAME.fullmatch(workload) else None


def matched(alert: WebhookAlert, matches: Sequence[AlertMatch],
            namespace: str) -> tuple[str, AlertMatch] | None:
    """The workload and the first of a runbook's ``spec.alerts`` that the alert matches."""
    for match in matches:
        workload = alert_workload(alert, match, namespace)
        if workload is not None:
            return workload, match
    return None


def received(alert: WebhookAlert, workload: str, match: AlertMatch,
             now: dt.datetime) -> ReceivedAlert:
    """The record of a firing alert in a Runbook's status."""
    return ReceivedAlert(name=alert.name[:253], workload=workload, starts_at=alert.starts_at,
                         received_at=now, stale_after_seconds=match.stale_after_seconds,
                         labels=dict(sorted(alert.labels.items())[:32]), summary=alert.summary,
                         generator_url=alert.generator_url)


def is_stale(record: ReceivedAlert, now: dt.datetime) -> bool:
    """Whether Alertmanager has not sent the alert again for too long to take it as firing."""
    return (now - record.received_at).total_seconds() > record.stale_after_seconds


def status_patch(recorded: Mapping[str, ReceivedAlert],
                 alerts: Iterable[tuple[WebhookAlert, str, AlertMatch]],
                 now: dt.datetime) -> dict[str, Any]:
    """The merge patch of ``status.alerts`` for one webhook call: each firing alert recorded
    (by fingerprint), each resolved one and each stale record removed (``None``), and the
    oldest dropped beyond :data:`ALERTS_KEPT`. Empty when nothing changes.

    >>> t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> m = AlertMatch(match_labels={"alertname": "X"})
    >>> up = WebhookAlert(True, {"alertname": "X"}, t, "aa")
    >>> patch = status_patch({}, [(up, "web", m)], t)
    >>> list(patch), patch["aa"]["workload"]
    (['aa'], 'web')
    >>> down = WebhookAlert(False, {"alertname": "X"}, t, "aa")
    >>> status_patch({"aa": ReceivedAlert.model_validate(patch["aa"])}, [(down, "web", m)], t)
    {'aa': None}
    >>> status_patch({}, [(down, "web", m)], t)
    {}
    """
    kept = {key: record for key, record in recorded.items() if not is_stale(record, now)}
    patch: dict[str, Any] = {key: None for key in recorded if key not in kept}
    for alert, workload, match in alerts:
        if alert.firing:
            record = received(alert, workload, match, now)
            kept[alert.fingerprint] = record
            patch[alert.fingerprint] = record.to_api()
        elif alert.fingerprint in kept:
            del kept[alert.fingerprint]
            patch[alert.fingerprint] = None
    newest = sorted(kept, key=lambda key: kept[key].received_at, reverse=True)
    for key in newest[ALERTS_KEPT:]:
        patch[key] = None
    return patch


def recorded_alerts(status: Mapping[str, Any] | None) -> dict[str, ReceivedAlert]:
    """The alert records of a Runbook's status; a record that does not read is left out."""
    records: dict[str, ReceivedAlert] = {}
    for key, value in ((status or {}).get("alerts") or {}).items():
        try:
            records[key] = ReceivedAlert.model_validate(value)
        except ValidationError:
            continue
    return records


def firing(recorded: Mapping[str, ReceivedAlert],
           now: dt.datetime) -> list[tuple[str, ReceivedAlert]]:
    """The records still taken as firing, by fingerprint, oldest start first."""
    return sorted(((key, r) for key, r in recorded.items() if not is_stale(r, now)),
                  key=lambda item: (item[1].starts_at, item[0]))


def opened_by(fingerprint: str, record: ReceivedAlert,
              remediations: Iterable[Mapping[str, Any]]) -> str | None:
    """The Remediation that this firing of the alert (its fingerprint and start) already
    opened, if any: one firing opens one incident, whatever became of it.

    >>> t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    >>> r = ReceivedAlert(name="X", workload="web", starts_at=t, received_at=t)
    >>> body = {"metadata": {"name": "web-deployment-1"}, "spec": {"trigger": {"alert": {
    ...     "fingerprint": "aa", "startsAt": "2026-01-01T00:00:00Z"}}}}
    >>> opened_by("aa", r, [body]), opened_by("bb", r, [body])
    ('web-deployment-1', None)
    """
    for body in remediations:
        alert = ((body.get("spec") or {}).get("trigger") or {}).get("alert") or {}
        if alert.get("fingerprint") != fingerprint or not alert.get("startsAt"):
            continue
        if dt.datetime.fromisoformat(str(alert["startsAt"])) == record.starts_at:
            return str(body["metadata"]["name"])
    return None
