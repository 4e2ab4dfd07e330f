"""The demo service's edges: read workloads and Pods from Kubernetes, serve their metrics.

A :class:`Poller` lists, every second, the Deployments and StatefulSets labelled
``kubeheal.io/demo: "true"`` in the watched namespaces and their running pods (a
StatefulSet's series carry its name under the ``deployment`` label too), turns them into
:class:`~kubeheal.demo.model.Workload` values (:func:`workload_from`, pure) and hands them to
the shared :class:`~kubeheal.demo.model.Simulation`. A :class:`DemoCollector`, registered on a
``CollectorRegistry`` of its own, renders the simulation at scrape time:

- ``demo_http_requests_total{namespace, deployment, pod, code}`` (code 200 or 500),
- ``demo_http_request_duration_seconds{namespace, deployment, pod}`` (histogram),
- ``demo_memory_bytes{namespace, deployment, pod}``,
- ``demo_pod_restarts_total{namespace, deployment, pod}``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
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

from kubeheal.demo.model import (
    BUCKETS,
    CAPACITY_ANNOTATION,
    DEFAULT_CAPACITY,
    DEFAULT_LEAK_RATE,
    DEFAULT_LOAD,
    DEFAULT_MEMORY_LIMIT,
    DEMO_LABEL,
    LEAK_RATE_ANNOTATION,
    LOAD_ANNOTATION,
    MIB,
    PodFacts,
    Simulation,
    Workload,
    fault_of,
    positive_number,
)

log = logging.getLogger(__name__)

Json = Mapping[str, Any]
POD_LABELS = ("namespace", "deployment", "pod")

_QUANTITY = re.compile(r"^([0-9.]+(?:e[0-9]+)?)([KMGTPE]i?|m|k)?$")
_FACTORS = {
    None: 1.0, "m": 1e-3, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
    "E": 1e18, "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50,
    "Ei": 2.0**60,
}


def parse_quantity(text: str) -> float | None:
    """A Kubernetes quantity such as ``512Mi`` or ``1G`` as a number, or None when invalid.

    >>> parse_quantity("512Mi") / 2**20, parse_quantity("1G"), parse_quantity("lots")
    (512.0, 1000000000.0, None)
    """
    match = _QUANTITY.match(text.strip())
    if match is None:
        return None
    try:
        return float(match.group(1)) * _FACTORS[match.group(2)]
    except ValueError:
        return None


def parse_time(text: str | None) -> float | None:
    """An RFC 3339 timestamp as seconds since the epoch.

    >>> parse_time("1970-01-01T00:01:00Z"), parse_time(None)
    (60.0, None)
    """
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _selector(deployment: Json) -> str | None:
    """The Deployment's ``matchLabels`` as a label selector (expressions are not supported)."""
    labels = (deployment.get("spec", {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or None


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
        parse_quantity(str(c.get("resources", {}).get("limits", {}).get("memory", "")))
        for c in containers
    ]
    limit = next((x for x in limits if x), DEFAULT_MEMORY_LIMIT)
    restarts = sum(int(c.get("restartCount", 0)) for c in status.get("containerStatuses") or [])
    leak = positive_number(annotations.get(LEAK_RATE_ANNOTATION), DEFAULT_LEAK_RATE / MIB)
    return PodFacts(
        namespace=str(meta.get("namespace", "")),
        deployment=deployment,
        pod=str(meta.get("name", "")),
        started_at=started or 0.0,
        ready=_ready(pod),
        fault=fault_of(annotations, [str(c.get("image", "")) for c in containers]),
        restarts=restarts,
        memory_limit=limit,
        leak_rate=leak * MIB,
    )


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
        self.namespaces = tuple(namespaces)
        self.simulation = simulation
        self.lock = lock
        self.clock = clock

    def _list(self, call: Callable[..., Any], namespace: str, selector: str) -> list[Json]:
        response = call(namespace, label_selector=selector, _preload_content=False,
                        _request_timeout=10)
        items: list[Json] = json.loads(response.data)["items"]
        return items

    def workloads(self) -> list[Workload]:
        """The demo workloads of the watched namespaces, as they are now."""
        result = []
        for namespace in self.namespaces:
            deployments = [
                workload
                for lister in (self.apps.list_namespaced_deployment,
                               self.apps.list_namespaced_stateful_set)
                for workload in self._list(lister, namespace, f"{DEMO_LABEL}=true")
            ]
            for deployment in deployments:
                selector = _selector(deployment)
                pods = (
                    self._list(self.core.list_namespaced_pod, namespace, selector)
                    if selector else []
                )
                result.append(workload_from(deployment, pods))
        return result

    def poll_once(self) -> None:
        """One poll; on an API error the last known state stays in place."""
        try:
            workloads = self.workloads()
        except Exception as error:  # the API server may be restarting; try again next tick
            log.warning("listing demo workloads failed: %s", error)
            return
        with self.lock:
            self.simulation.observe(workloads, self.clock())

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        """Poll every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            self.poll_once()
            stop.wait(interval)
