"""The demo service's edges: read workloads and Pods from Kubernetes, serve their metrics.

A :class:`Poller` lists, every second, the Deployments and StatefulSets labelled
``kubeheal.io/demo: "true"`` in the watched namespaces and their running pods, in three
LISTs across the cluster (a StatefulSet's series carry its name under the ``deployment``
label too), turns them into
:class:`~kubeheal.demo.model.Workload` values (:func:`workload_from`, pure) and hands them to
the shared :class:`~kubeheal.demo.model.Simulation`. A :class:`DemoCollector`, registered on a
``CollectorRegistry`` of its own, renders the simulation at scrape time:

- ``demo_http_requests_total{namespace, deployment, pod, code}`` (code 200 or 500),
- ``demo_http_request_duration_seconds{namespace, deployment, pod}`` (histogram),
- ``demo_memory_bytes{namespace, deployment, pod}``,
- ``demo_pod_restarts_total{namespace, deployment, pod}``.

When a pod's container reaches its declared memory limit (:func:`~kubeheal.demo.model.oom_due`),
the poller writes the OOM kill as a kubelet would: on the pod's status (``restartCount`` + 1,
``lastState.terminated`` with reason ``OOMKilled`` and exit code 137, a new
``state.running.startedAt``; kwok's stages leave a running, ready pod's status alone) and as a
Warning Event ``OOMKilling`` on the pod (:func:`oom_kill`, pure).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from kubeheal.api.quantity import QuantityError
from kubeheal.api.quantity import parse_quantity as exact_quantity
from kubeheal.demo.model import (
    BUCKETS,
    CAPACITY_ANNOTATION,
    DEFAULT_CAPACITY,
    DEFAULT_LEAK_RATE,
    DEFAULT_LOAD,
    DEFAULT_MEMORY_LIMIT,
    DEMO_LABEL,
    LEAK_PLATEAU_ANNOTATION,
    LEAK_RATE_ANNOTATION,
    LOAD_ANNOTATION,
    MIB,
    PodFacts,
    Simulation,
    Workload,
    fault_of,
    oom_due,
    positive_number,
)

log = logging.getLogger(__name__)

Json = Mapping[str, Any]
POD_LABELS = ("namespace", "deployment", "pod")
OOM_EXIT_CODE = 137  # 128 + SIGKILL


def parse_quantity(text: str) -> float | None:
    """A Kubernetes quantity such as ``512Mi`` or ``1G`` as a number, or None when invalid.

    >>> parse_quantity("512Mi") / 2**20, parse_quantity("1G"), parse_quantity("lots")
    (512.0, 1000000000.0, None)
    """
    try:
        return float(exact_quantity(text))
    except QuantityError:
        return None


def parse_time(text: str | None) -> float | None:
    """An RFC 3339 timestamp as seconds since the epoch.

    >>> parse_time("1970-01-01T00:01:00Z"), parse_time(None)
    (60.0, None)
    """
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _selects(workload: Json, pod: Json) -> bool:
    """Whether the workload's ``matchLabels`` select the pod, in its namespace (expressions are
    not supported: a workload with none selects no pod).

    >>> web = {"metadata": {"namespace": "shop"},
    ...        "spec": {"selector": {"matchLabels": {"app": "web"}}}}
    >>> pod = {"metadata": {"namespace": "shop", "labels": {"app": "web", "hash": "1"}}}
    >>> _selects(web, pod), _selects(web, {"metadata": {**pod["metadata"], "namespace": "x"}})
    (True, False)
    >>> _selects({"metadata": {"namespace": "shop"}, "spec": {}}, pod)
    False
    """
    labels = (workload.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
    return bool(labels) and pod["metadata"]["namespace"] == workload["metadata"]["namespace"] \
        and labels.items() <= (pod["metadata"].get("labels") or {}).items()


def _ready(pod: Json) -> bool:
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return False
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def pod_facts_from(pod: Json, deployment: str) -> PodFacts | None:
    """The model's view of a pod object (as JSON), or None when it is not running.

    >>> pod = {"metadata": {"name": "web-1", "namespace": "shop", "annotations": {
    ...         "demo.kubeheal.io/fault": "leak"}},
    ...        "spec": {"containers": [{"name": "app", "image": "app:1",
    ...                  "resources": {"limits": {"memory": "256Mi"}}}]},
    ...        "status": {"phase": "Running", "startTime": "2026-11-28T12:00:00Z",
    ...                   "conditions": [{"type": "Ready", "status": "True"}]}}
    >>> facts = pod_facts_from(pod, "web")
    >>> facts.fault.value, facts.ready, facts.memory_limit / 2**20
    ('leak', True, 256.0)
    """
    meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
    if status.get("phase") != "Running":
        return None
    containers = spec.get("containers") or []
    annotations = meta.get("annotations") or {}
    started = parse_time(status.get("startTime")) or parse_time(meta.get("creationTimestamp"))
    limits = [
        (str(c.get("name", "")),
         parse_quantity(str(c.get("resources", {}).get("limits", {}).get("memory", ""))))
        for c in containers
    ]
    name, limit = next(((n, x) for n, x in limits if x),
                       (str(containers[0].get("name", "")) if containers else "", None))
    statuses = status.get("containerStatuses") or []
    restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
    running = next((((c.get("state") or {}).get("running") or {}).get("startedAt")
                    for c in statuses if c.get("name") == name), None)
    leak = positive_number(annotations.get(LEAK_RATE_ANNOTATION), DEFAULT_LEAK_RATE / MIB)
    plateau = positive_number(annotations.get(LEAK_PLATEAU_ANNOTATION), 0.0)
    return PodFacts(
        namespace=str(meta.get("namespace", "")),
        deployment=deployment,
        pod=str(meta.get("name", "")),
        started_at=started or 0.0,
        ready=_ready(pod),
        fault=fault_of(annotations, [str(c.get("image", "")) for c in containers]),
        restarts=restarts,
        memory_limit=limit or DEFAULT_MEMORY_LIMIT,
        leak_rate=leak * MIB,
        leak_plateau=plateau * MIB if plateau else None,
        container=name,
        limited=limit is not None,
        container_started_at=parse_time(running),
    )


def oom_kill(pod: Json, container: str, at: str) -> tuple[Json, Json]:
    """The pod status patch (JSON merge, on the resourceVersion read) and the Event of an OOM
    kill of ``container`` at ``at`` (RFC 3339), as a kubelet would record them.

    >>> pod = {"metadata": {"name": "web-1", "namespace": "shop", "uid": "u",
    ...                     "resourceVersion": "9"},
    ...        "spec": {"containers": [{"name": "app",
    ...                                 "resources": {"limits": {"memory": "256Mi"}}}]},
    ...        "status": {"containerStatuses": [{"name": "app", "restartCount": 2, "ready": True,
    ...            "state": {"running": {"startedAt": "2026-11-28T12:00:00Z"}}}]}}
    >>> patch, event = oom_kill(pod, "app", "2026-11-28T12:01:00Z")
    >>> (status,) = patch["status"]["containerStatuses"]
    >>> status["restartCount"], status["lastState"]["terminated"]["reason"], status["state"]
    (3, 'OOMKilled', {'running': {'startedAt': '2026-11-28T12:01:00Z'}})
    >>> event["reason"], event["involvedObject"]["name"], event["message"][:38]
    ('OOMKilling', 'web-1', 'Memory cgroup out of memory: container')
    """
    meta = pod.get("metadata", {})
    statuses = copy.deepcopy(list((pod.get("status") or {}).get("containerStatuses") or []))
    limit = next((str(c.get("resources", {}).get("limits", {}).get("memory", ""))
                  for c in (pod.get("spec") or {}).get("containers") or []
                  if c.get("name") == container), "")
    for status in statuses:
        if status.get("name") != container:
            continue
        started = ((status.get("state") or {}).get("running") or {}).get("startedAt")
        status["restartCount"] = int(status.get("restartCount", 0)) + 1
        status["lastState"] = {"terminated": {
            "exitCode": OOM_EXIT_CODE, "reason": "OOMKilled", "startedAt": started or at,
            "finishedAt": at}}
        status["state"] = {"running": {"startedAt": at}}
    patch = {"metadata": {"resourceVersion": meta.get("resourceVersion")},
             "status": {"containerStatuses": statuses}}
    event = {
        "metadata": {"generateName": f"{meta.get('name', '')}.",
                     "namespace": meta.get("namespace", "")},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": meta.get("name", ""),
                           "namespace": meta.get("namespace", ""), "uid": meta.get("uid", ""),
                           "fieldPath": f"spec.containers{{{container}}}"},
        "reason": "OOMKilling", "type": "Warning",
        "message": (f"Memory cgroup out of memory: container {container} reached its memory "
                    f"limit {limit}; killed (exit code {OOM_EXIT_CODE}) and restarted"),
        "source": {"component": "kubeheal-demo"},
        "firstTimestamp": at, "lastTimestamp": at, "count": 1,
    }
    return patch, event


def workload_from(deployment: Json, pods: Iterable[Json]) -> Workload:
    """A Deployment and its pods (as JSON) as a :class:`Workload` of running pods.

    >>> d = {"metadata": {"name": "web", "namespace": "shop",
    ...                   "annotations": {"demo.kubeheal.io/load": "120"}}}
    >>> w = workload_from(d, [])
    >>> w.load, w.capacity, w.pods
    (120.0, 40.0, ())
    """
    meta = deployment.get("metadata", {})
    annotations = meta.get("annotations") or {}
    name = str(meta.get("name", ""))
    facts = (pod_facts_from(p, name) for p in pods)
    return Workload(
        namespace=str(meta.get("namespace", "")),
        deployment=name,
        load=positive_number(annotations.get(LOAD_ANNOTATION), DEFAULT_LOAD),
        capacity=positive_number(annotations.get(CAPACITY_ANNOTATION), DEFAULT_CAPACITY),
        pods=tuple(sorted((f for f in facts if f is not None), key=lambda f: f.pod)),
    )


class DemoCollector(Collector):
    """Renders the simulation's pods as metric families at scrape time."""

    def __init__(self, simulation: Simulation, lock: threading.Lock,
                 clock: Callable[[], float] = time.time) -> None:
        self.simulation = simulation
        self.lock = lock
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "demo_http_requests", "Requests served, by status code.", labels=[*POD_LABELS, "code"]
        )
        duration = HistogramMetricFamily(
            "demo_http_request_duration_seconds", "Request latency.", labels=list(POD_LABELS)
        )
        memory = GaugeMetricFamily(
            "demo_memory_bytes", "Memory in use by the pod.", labels=list(POD_LABELS)
        )
        restarts = CounterMetricFamily(
            "demo_pod_restarts", "Container restarts of the pod.", labels=list(POD_LABELS)
        )
        with self.lock:
            samples = self.simulation.sample(self.clock())
            for s in samples:
                labels = [s.pod.namespace, s.pod.deployment, s.pod.pod]
                c = s.counters
                for code, value in sorted(c.requests.items()):
                    requests.add_metric([*labels, code], value)
                buckets = [(_le(b), v) for b, v in zip(BUCKETS, c.buckets, strict=True)]
                duration.add_metric(labels, [*buckets, ("+Inf", c.count)], c.total_seconds)
                memory.add_metric(labels, s.behaviour.memory_bytes)
                restarts.add_metric(labels, float(s.pod.restarts))
        yield from (requests, duration, memory, restarts)


def _le(bound: float) -> str:
    """A bucket bound as Prometheus' own clients print it: ``0.005``, ``1.0``."""
    return repr(float(bound))


def demo_registry(simulation: Simulation, lock: threading.Lock,
                  clock: Callable[[], float] = time.time) -> CollectorRegistry:
    """A registry of its own holding only the demo's collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DemoCollector(simulation, lock, clock))
    return registry


class Poller:
    """Lists demo Deployments and StatefulSets and their pods and feeds them to the
    simulation."""

    def __init__(self, api_client: Any, namespaces: Sequence[str], simulation: Simulation,
                 lock: threading.Lock, clock: Callable[[], float] = time.time) -> None:
        from kubernetes import client  # imported here: no import-time cost for pure users

        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.namespaces = frozenset(namespaces)
        self.simulation = simulation
        self.lock = lock
        self.clock = clock
        self._pods: dict[tuple[str, str], Json] = {}  # as last listed, by (namespace, name)

    def _list(self, call: Callable[..., Any], selector: str | None = None) -> list[Json]:
        response = call(label_selector=selector, _preload_content=False, _request_timeout=10)
        items: list[Json] = json.loads(response.data)["items"]
        return [i for i in items if i["metadata"]["namespace"] in self.namespaces]

    def workloads(self) -> list[Workload]:
        """The demo workloads of the watched namespaces, as they are now: three LISTs across
        the cluster per poll, whatever the number of namespaces and workloads (a LIST per
        namespace and workload, every half second, made the API server the busiest process
        of the local stack)."""
        listed = [workload
                  for lister in (self.apps.list_deployment_for_all_namespaces,
                                 self.apps.list_stateful_set_for_all_namespaces)
                  for workload in self._list(lister, f"{DEMO_LABEL}=true")]
        pods = self._list(self.core.list_pod_for_all_namespaces) if listed else []
        self._pods = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in pods}
        return [workload_from(w, [p for p in pods if _selects(w, p)]) for w in listed]

    def kill_out_of_memory(self, workloads: Sequence[Workload], now: float) -> None:
        """Write an OOM kill for each pod whose container reached its memory limit. The
        status write is conditioned on the pod as listed, so a kill is written once even
        when the next list is older than it."""
        from kubernetes.client.exceptions import ApiException

        at = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for workload in workloads:
            for facts in workload.pods:
                pod = self._pods.get((facts.namespace, facts.pod))
                if pod is None or not oom_due(facts, now):
                    continue
                patch, event = oom_kill(pod, facts.container, at)
                try:
                    self.core.patch_namespaced_pod_status(
                        facts.pod, facts.namespace, patch,
                        _content_type="application/merge-patch+json", _request_timeout=10)
                    self.core.create_namespaced_event(facts.namespace, event,
                                                      _request_timeout=10)
                except ApiException as error:
                    if error.status != 409:  # 409: the pod changed since it was listed
                        log.warning("OOM kill of pod %s/%s not written: %s", facts.namespace,
                                    facts.pod, error.reason)
                    continue
                log.info("pod %s/%s: container %s OOM-killed at its memory limit",
                         facts.namespace, facts.pod, facts.container)

    def poll_once(self) -> None:
        """One poll; on an API error the last known state stays in place."""
        try:
            workloads = self.workloads()
        except Exception as error:  # the API server may be restarting; try again next tick
            log.warning("listing demo workloads failed: %s", error)
            return
        now = self.clock()
        with self.lock:
            self.simulation.observe(workloads, now)
        try:
            self.kill_out_of_memory(workloads, now)
        except Exception as error:  # as for listing: the next poll tries again
            log.warning("writing OOM kills failed: %s", error)

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        """Poll every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            self.poll_once()
            stop.wait(interval)
