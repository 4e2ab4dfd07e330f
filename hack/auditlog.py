"""The kube-apiserver's audit log, read back: who did what to which object, and the answer.

The local stack's API server writes one JSON event per request (see ``AUDIT_POLICY`` in
:mod:`localstack`). This is the evidence that does not depend on the operator's own word:
the end-to-end tests and the benchmarks count from here the actions the operator really took
on a workload (exactly once per decision) and the requests per second it costs the API server.

An *action on a workload* is a mutating call answered 2xx, by the given user, that changes the
Deployment's spec (a rollback, a restart, a scale, through ``deployments`` or its ``scale``
subresource), changes one of its HorizontalPodAutoscalers, or removes one of its pods (a pod
delete or an eviction). A patch that only writes metadata (an annotation stamping an action's
token) acts on nothing by itself and is not counted.

    log = AuditLog(cluster.audit_log)
    acted = log.workload_actions("system:serviceaccount:kubeheal-system:kubeheal-operator",
                                 "shop", "checkout")

When the operator shares its user with the people driving a test (a cluster admin), their
kubectl calls are told apart by user agent: ``exclude_agent="kubectl/"``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localstack import binary

MUTATING = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass(frozen=True)
class AuditRecord:
    """One request as the API server recorded it."""

    audit_id: str
    time: dt.datetime  # when the answer was complete
    user: str
    user_agent: str
    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str
    name: str
    code: int
    request: Any = None  # the request body, where the policy records it (level Request)

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    @property
    def mutating(self) -> bool:
        return self.verb in MUTATING

    @property
    def changes_spec(self) -> bool:
        """Whether the body writes more than metadata (unknown body: assume it does)."""
        body = self.request
        if isinstance(body, list):  # a JSON patch
            return any(not str(op.get("path", "")).startswith("/metadata")
                       for op in body if isinstance(op, dict))
        if isinstance(body, dict):
            return any(key not in ("metadata", "apiVersion", "kind") for key in body)
        return True

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> AuditRecord:
        ref = event.get("objectRef") or {}
        user = event.get("impersonatedUser") or event.get("user") or {}
        stamp = event.get("stageTimestamp") or event.get("requestReceivedTimestamp")
        return cls(
            audit_id=str(event.get("auditID", "")),
            time=_parse_time(stamp),
            user=str(user.get("username", "")),
            user_agent=str(event.get("userAgent", "")),
            verb=str(event.get("verb", "")),
            group=str(ref.get("apiGroup", "")),
            resource=str(ref.get("resource", "")),
            subresource=str(ref.get("subresource", "")),
            namespace=str(ref.get("namespace", "")),
            name=str(ref.get("name", "")),
            code=int((event.get("responseStatus") or {}).get("code") or 0),
            request=event.get("requestObject"),
        )


def _parse_time(stamp: str | None) -> dt.datetime:
    if not stamp:
        return dt.datetime.min.replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def pod_of(pod: str, deployment: str) -> bool:
    """Whether a pod's name is that of a pod of ``deployment`` (``<name>-<rs hash>-<id>``).

    >>> pod_of("pay-7d9f8b6c4-x2x9z", "pay"), pod_of("pay-late-7d9f8b6c4-x2x9z", "pay")
    (True, False)
    """
    return re.fullmatch(rf"{re.escape(deployment)}-[a-z0-9]{{1,10}}-[a-z0-9]{{5}}", pod) is not None


def is_action(record: AuditRecord, namespace: str, deployment: str,
              hpas: Iterable[str] = ()) -> bool:
    """Whether ``record`` is a successful action on the workload (see the module docstring)."""
    if not (record.ok and record.mutating and record.namespace == namespace):
        return False
    if record.group == "apps" and record.resource == "deployments":
        return record.name == deployment and record.subresource in ("", "scale") \
            and (record.subresource == "scale" or record.changes_spec)
    if record.group == "autoscaling" and record.resource == "horizontalpodautoscalers":
        return record.name in {deployment, *hpas} and record.subresource == "" \
            and record.changes_spec
    if record.group == "" and record.resource == "pods" and pod_of(record.name, deployment):
        return (record.verb == "delete" and record.subresource == "") or \
            (record.verb == "create" and record.subresource == "eviction")
    return False


class AuditLog:
    """The audit log file, read incrementally: each call reads only what was appended."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._records: list[AuditRecord] = []

    def records(self) -> list[AuditRecord]:
        """Every record so far (complete lines only: the server may be writing one)."""
        if self.path.exists():
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
            end = data.rfind(b"\n") + 1
            for line in data[:end].splitlines():
                if line.strip():
                    self._records.append(AuditRecord.from_event(json.loads(line)))
            self._offset += end
        return self._records

    def by(self, user: str, since: dt.datetime | None = None,
           until: dt.datetime | None = None,
           exclude_agent: str | None = None) -> list[AuditRecord]:
        """The requests of ``user`` answered within [since, until], except those of the user
        agents starting with ``exclude_agent``."""
        return [r for r in self.records() if r.user == user
                and (since is None or r.time >= since) and (until is None or r.time <= until)
                and not (exclude_agent and r.user_agent.startswith(exclude_agent))]

    def mutations_by(self, user: str, *, namespace: str | None = None,
                     resource: str | None = None, name: str | None = None,
                     since: dt.datetime | None = None, until: dt.datetime | None = None,
                     ok_only: bool = True,
                     exclude_agent: str | None = None) -> list[AuditRecord]:
        """The mutating requests of ``user`` (answered 2xx unless ``ok_only`` is False)."""
        return [r for r in self.by(user, since, until, exclude_agent)
                if r.mutating and (r.ok or not ok_only)
                and (namespace is None or r.namespace == namespace)
                and (resource is None or r.resource == resource)
                and (name is None or r.name == name)]

    def workload_actions(self, user: str, namespace: str, deployment: str,
                         since: dt.datetime | None = None, until: dt.datetime | None = None,
                         hpas: Iterable[str] = (),
                         exclude_agent: str | None = None) -> list[AuditRecord]:
        """The actions ``user`` took on the Deployment, its pods or its HPAs."""
        names = tuple(hpas)
        return [r for r in self.by(user, since, until, exclude_agent)
                if is_action(r, namespace, deployment, names)]

    def rates_by_verb(self, user: str, since: dt.datetime, until: dt.datetime,
                      exclude_agent: str | None = None) -> dict[str, float]:
        """Requests per second of ``user`` by verb over [since, until]."""
        seconds = max((until - since).total_seconds(), 1e-9)
        counts = Counter(r.verb for r in self.by(user, since, until, exclude_agent))
        return {verb: count / seconds for verb, count in sorted(counts.items())}


def whoami(kubeconfig: Path) -> str:
    """The user name the API server knows a kubeconfig's credentials by (as audited)."""
    result = subprocess.run(
        [binary("kubectl"), f"--kubeconfig={kubeconfig}", "auth", "whoami", "-o",
         "jsonpath={.status.userInfo.username}"],
        capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0 or not result.stdout.strip():
        raise RuntimeError(f"kubectl auth whoami ({kubeconfig}) failed: {result.stderr.strip()}")
    return result.stdout.strip()
