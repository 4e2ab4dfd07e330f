"""Leader election on a coordination.k8s.io/v1 Lease, as Kubernetes' own controllers do it.

Replicas of the operator compete for one Lease in the operator's namespace. The holder renews
it every ``retry_period``; the others look at it as often and take it over only when it has
not changed for a whole lease duration *as they observed it*, on their own monotonic clock, so
that no clock skew between nodes matters. Every write to the Lease carries the
``resourceVersion`` that was read: of two candidates, the second gets a conflict and stays a
standby.

The holder acts only while its lease is surely valid. :meth:`LeaderElection.check` (the
*fence*) raises :class:`NotLeader` unless the moment its last successful renewal was *sent*,
plus the lease duration minus a safety margin, is still ahead on the monotonic clock; a
standby that observed that renewal cannot take over before then. The object store, the
actions and the Events call it before every write. A leader that cannot renew within its
renew deadline has lost: the caller stops at once (client-go exits the process too).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubeheal.observe.kubernetes import Json, KubernetesError, kubernetes_error

log = logging.getLogger(__name__)

Fence = Callable[[], None]
"""Raises (and so prevents the write) unless this process may write now."""

DEFAULT_LEASE_NAME: Final = "kubeheal"


class NotLeader(KubernetesError):
    """A write refused before it was sent: this process does not hold the lease (any more)."""

    def __init__(self, message: str) -> None:
        super().__init__("unavailable", f"not the leader, nothing written: {message}")


@dataclass(frozen=True)
class ElectionConfig:
    """Which Lease, who competes for it, and the timings (seconds) of client-go's defaults.

    >>> ElectionConfig("kubeheal", "ops", "pod-a", lease_duration=5, renew_deadline=6)
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: leader election: the renew deadline (6s) must be shorter than the lease ...
    """

    lease_name: str
    lease_namespace: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    margin: float = 2.0

    def __post_init__(self) -> None:
        problem = None
        if not self.lease_name or not self.lease_namespace or not self.identity:
            problem = "the lease name, its namespace and the identity must not be empty"
        elif not 0 < self.retry_period < self.renew_deadline:
            problem = (f"the retry period ({self.retry_period:g}s) must be positive and shorter "
                       f"than the renew deadline ({self.renew_deadline:g}s)")
        elif self.renew_deadline >= self.lease_duration:
            problem = (f"the renew deadline ({self.renew_deadline:g}s) must be shorter than the "
                       f"lease duration ({self.lease_duration:g}s)")
        elif not 0 <= self.margin < self.lease_duration:
            problem = (f"the safety margin ({self.margin:g}s) must be between 0 and the lease "
                       f"duration ({self.lease_duration:g}s)")
        if problem:
            raise ValueError(f"leader election: {problem}")

    @classmethod
    def from_env(cls, env: Mapping[str, str], **given: Any) -> ElectionConfig:
        """``given`` settings (command-line flags; None means unset), else KUBEHEAL_* variables.

        The identity defaults to the pod's name (``POD_NAME``), else host name and process id;
        the namespace to the pod's own (the ServiceAccount's namespace file), else "default".

        >>> c = ElectionConfig.from_env({"KUBEHEAL_LEASE_NAMESPACE": "ops",
        ...                              "KUBEHEAL_IDENTITY": "pod-a",
        ...                              "KUBEHEAL_LEASE_DURATION": "20"}, lease_name="x")
        >>> c.lease_name, c.lease_namespace, c.identity, c.lease_duration, c.renew_deadline
        ('x', 'ops', 'pod-a', 20.0, 10.0)
        """
        def setting(key: str, variable: str) -> Any:
            value = given.get(key)
            return value if value is not None else env.get(variable) or None

        timings = {key: float(value) for key, variable in (
            ("lease_duration", "KUBEHEAL_LEASE_DURATION"),
            ("renew_deadline", "KUBEHEAL_RENEW_DEADLINE"),
            ("retry_period", "KUBEHEAL_RETRY_PERIOD"))
            if (value := setting(key, variable)) is not None}
        return cls(
            lease_name=setting("lease_name", "KUBEHEAL_LEASE_NAME") or DEFAULT_LEASE_NAME,
            lease_namespace=(setting("lease_namespace", "KUBEHEAL_LEASE_NAMESPACE")
                             or _own_namespace()),
            identity=(setting("identity", "KUBEHEAL_IDENTITY") or env.get("POD_NAME")
                      or f"{socket.gethostname()}-{os.getpid()}"),
            **timings,
        )


def _own_namespace() -> str:
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as file:
            return file.read().strip() or "default"
    except OSError:
        return "default"


# -- the pure part: what the Lease says and what to write -----------------------------------


@dataclass(frozen=True)
class LeaseRecord:
    """The parts of a Lease that election reads; ``holder`` is empty when it was released."""

    holder: str
    duration: float
    renew_time: str
    transitions: int
    resource_version: str

    @classmethod
    def from_api(cls, lease: Mapping[str, Any]) -> LeaseRecord:
        spec = lease.get("spec") or {}
        return cls(holder=spec.get("holderIdentity") or "",
                   duration=float(spec.get("leaseDurationSeconds") or 0),
                   renew_time=spec.get("renewTime") or "",
                   transitions=int(spec.get("leaseTransitions") or 0),
                   resource_version=(lease.get("metadata") or {}).get("resourceVersion", ""))


@dataclass(frozen=True)
class Observed:
    """A Lease record and when (monotonic) this process first saw it as it is."""

    record: LeaseRecord
    since: float


def observe(previous: Observed | None, record: LeaseRecord, now: float) -> Observed:
    """The new observation: the clock restarts only when the record changed.

    >>> r = LeaseRecord("pod-a", 15, "t1", 0, "7")
    >>> observe(observe(None, r, 100.0), r, 110.0).since
    100.0
    >>> observe(observe(None, r, 100.0), LeaseRecord("pod-a", 15, "t2", 0, "8"), 110.0).since
    110.0
    """
    if previous is not None and previous.record == record:
        return previous
    return Observed(record, now)


def may_take(observed: Observed, identity: str, now: float) -> bool:
    """Whether ``identity`` may write itself into the Lease now.

    Yes when the Lease is free (released), already its own, or unchanged for its whole
    duration since this process first saw it so.

    >>> held = Observed(LeaseRecord("pod-a", 15, "t1", 0, "7"), since=100.0)
    >>> may_take(held, "pod-b", 114.9), may_take(held, "pod-b", 115.0), may_take(held, "pod-a", 101)
    (False, True, True)
    >>> may_take(Observed(LeaseRecord("", 1, "t1", 3, "9"), since=100.0), "pod-b", 100.0)
    True
    """
    record = observed.record
    if not record.holder or record.holder == identity:
        return True
    return now >= observed.since + record.duration


def micro_time(moment: dt.datetime) -> str:
    """Kubernetes' MicroTime.

    >>> micro_time(dt.datetime(2026, 12, 2, 1, 2, 3, 45, tzinfo=dt.UTC))
    '2026-12-02T01:02:03.000045Z'
    """
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def claimed(lease: Json | None, config: ElectionConfig, at: dt.datetime) -> Json:
    """The Lease with ``config.identity`` holding it from ``at``: a new Lease, a takeover
    (acquireTime set, one more transition) or a renewal (renewTime only).

    The resourceVersion that was read stays in the body: the update fails with a conflict if
    anyone wrote the Lease meanwhile.

    >>> cfg = ElectionConfig("kubeheal", "ops", "pod-b")
    >>> at = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    >>> old = {"metadata": {"name": "kubeheal", "resourceVersion": "7"},
    ...        "spec": {"holderIdentity": "pod-a", "leaseTransitions": 2}}
    >>> new = claimed(old, cfg, at)
    >>> spec = new["spec"]
    >>> new["metadata"]["resourceVersion"], spec["holderIdentity"], spec["leaseTransitions"]
    ('7', 'pod-b', 3)
    >>> claimed(new, cfg, at)["spec"]["leaseTransitions"]
    3
    """
    now = micro_time(at)
    if lease is None:
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": config.lease_name, "namespace": config.lease_namespace},
                "spec": {"holderIdentity": config.identity, "acquireTime": now, "renewTime": now,
                         "leaseDurationSeconds": math.ceil(config.lease_duration),
                         "leaseTransitions": 0}}
    spec = dict(lease.get("spec") or {})
    if spec.get("holderIdentity") != config.identity:
        spec |= {"holderIdentity": config.identity, "acquireTime": now,
                 "leaseTransitions": int(spec.get("leaseTransitions") or 0) + 1}
    spec |= {"renewTime": now, "leaseDurationSeconds": math.ceil(config.lease_duration)}
    return {**lease, "spec": spec}


def released(lease: Json, at: dt.datetime) -> Json:
    """The Lease handed back: no holder and a duration of one second, so that a standby
    takes over at once (as client-go's ReleaseOnCancel does)."""
    spec = dict(lease.get("spec") or {})
    spec |= {"holderIdentity": None, "leaseDurationSeconds": 1, "renewTime": micro_time(at),
             "acquireTime": micro_time(at)}
    return {**lease, "spec": spec}


# -- talking to the API server ----------------------------------------------------------------


class LeaderElection:
    """One candidate for the Lease: :meth:`acquire`, then :meth:`keep`, then :meth:`release`.

    Synchronous, meant for a thread of its own: renewals then go on while the operator's event
    loop is busy, and never queue behind its API calls. ``clock`` is monotonic (a suspended
    process finds its lease expired when it resumes).
    """

    def __init__(self, api_client: client.ApiClient, config: ElectionConfig,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.api = client.CoordinationV1Api(api_client)
        self.config = config
        self.clock = clock
        self.valid_until = -math.inf  # monotonic; writes are fenced from then on
        self.lost = False
        self.stopped = threading.Event()  # set to end acquire() or keep() early
        self.observed: Observed | None = None
        self._lease: Json | None = None  # the Lease as last written by this process

    @property
    def leading(self) -> bool:
        return not self.lost and self.clock() < self.valid_until

    def check(self) -> None:
        """The fence: return only if this process surely holds the lease now."""
        if self.lost:
            raise NotLeader(f"{self.config.identity} lost the lease {self._where}")
        if self.clock() >= self.valid_until:
            raise NotLeader(f"{self.config.identity} holds no valid lease {self._where}")

    @property
    def _where(self) -> str:
        return f"{self.config.lease_namespace}/{self.config.lease_name}"

    def acquire(self) -> bool:
        """Return True once this process holds the lease (it stands by until then), False
        if :attr:`stopped` was set first."""
        said = ""
        while not self.stopped.is_set():
            try:
                if self.try_hold():
                    log.info("%s leads: holds the lease %s", self.config.identity, self._where)
                    return True
                holder = self.observed.record.holder if self.observed else ""
                if holder != said:
                    log.info("%s stands by: the lease %s is held by %s", self.config.identity,
                             self._where, holder)
                    said = holder
            except KubernetesError as e:
                log.warning("lease %s: %s; trying again", self._where, e)
            self.stopped.wait(self.config.retry_period)
        return False

    def keep(self) -> str | None:
        """Renew the lease every retry period; return why it was lost, or None once
        :attr:`stopped` is set.

        Lost when another holder is found, or when no renewal succeeded within the renew
        deadline (each attempt is bounded by what is left of it).
        """
        timings = self.config
        last = self.valid_until - timings.lease_duration + timings.margin
        while not self.stopped.wait(timings.retry_period):
            left = last + timings.renew_deadline - self.clock()
            if left <= 0:
                return self._lose(f"no renewal within the renew deadline "
                                  f"({timings.renew_deadline:g}s)")
            try:
                renewed = self.try_hold(timeout=min(left, timings.retry_period))
            except KubernetesError as e:
                log.warning("lease %s not renewed: %s", self._where, e)
                continue
            if not renewed:
                holder = self.observed.record.holder if self.observed else "?"
                return self._lose(f"the lease is held by {holder}")
            last = self.valid_until - timings.lease_duration + timings.margin
        return None

    def _lose(self, why: str) -> str:
        self.lost = True
        self.valid_until = -math.inf
        return why

    def release(self) -> None:
        """Hand the lease back (on a clean shutdown) so that a standby takes over at once."""
        lease, self._lease = self._lease, None
        self._lose("released")
        if lease is None:
            return
        try:
            self._call(self.api.replace_namespaced_lease, self.config.lease_name,
                       self.config.lease_namespace, released(lease, _now()),
                       timeout=self.config.retry_period)
            log.info("%s released the lease %s", self.config.identity, self._where)
        except KubernetesError as e:  # a conflict: someone else holds it already
            log.warning("lease %s not released: %s", self._where, e)

    def try_hold(self, timeout: float | None = None) -> bool:
        """One round: read the Lease, write ourselves into it if we may; whether we hold it."""
        cfg = self.config
        timeout = timeout or cfg.retry_period
        try:
            lease: Json | None = self._call(self.api.read_namespaced_lease, cfg.lease_name,
                                            cfg.lease_namespace, timeout=timeout)
        except KubernetesError as e:
            if e.kind != "not-found":
                raise
            lease = None
        now = self.clock()
        if lease is not None:
            self.observed = observe(self.observed, LeaseRecord.from_api(lease), now)
            if not may_take(self.observed, cfg.identity, now):
                return False
        sent = self.clock()  # the lease runs from no earlier than this
        body = claimed(lease, cfg, _now())
        try:
            if lease is None:
                written = self._call(self.api.create_namespaced_lease, cfg.lease_namespace,
                                     body, timeout=timeout)
            else:
                written = self._call(self.api.replace_namespaced_lease, cfg.lease_name,
                                     cfg.lease_namespace, body, timeout=timeout)
        except KubernetesError as e:
            if e.kind == "conflict":  # someone else wrote it first (or created it)
                return False
            raise
        self._lease = written
        self.observed = observe(self.observed, LeaseRecord.from_api(written), self.clock())
        if not self.lost:
            self.valid_until = sent + cfg.lease_duration - cfg.margin
        return True

    @staticmethod
    def _call(method: Callable[..., Any], *args: Any, timeout: float) -> Json:
        try:
            response = method(*args, _preload_content=False, _request_timeout=timeout)
            body: Json = json.loads(response.data or b"{}")
            return body
        except (ApiException, urllib3.exceptions.HTTPError) as e:
            raise kubernetes_error(e) from e


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
