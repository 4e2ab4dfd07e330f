"""A synthetic exporter for many workloads, cheap for the API server: one watch, no polling.

The demo service (:mod:`kubeheal.demo`) simulates pods in detail and lists every namespace
and every Deployment's pods each half second: right for a few workloads, a load of its own
on the API server at ten thousand. This exporter watches the Deployments labelled
``kubeheal.io/scale=true`` through one watch-backed cache (list once, then watch) and serves
three signals per Deployment, computed at scrape time:

- ``scale_http_requests_total{namespace, deployment, code}`` (code 200 or 500): about 50
  requests/s with 5 % noise, 0.5 % errors;
- ``scale_latency_p99_seconds{namespace, deployment}``: about 0.12 s with 8 % noise.

A Deployment whose pod template carries ``demo.kubeheal.io/fault: bad-build`` (a bad
rollout, as the end-to-end tests inject it) serves 30 % errors at five times the latency
until the template changes back.

    python hack/scaleexporter.py --kubeconfig K --namespace scale-000 ... --port 9100
"""

from __future__ import annotations

import argparse
import functools
import random
import threading
import time
from collections.abc import Iterator, Sequence

from kubernetes import client
from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from kubeheal.observe.cache import WatchedObjects
from kubeheal.observe.kubernetes import Json, api_client_from_kubeconfig

SCALE_LABEL = "kubeheal.io/scale"
FAULT_ANNOTATION = "demo.kubeheal.io/fault"
LABELS = ("namespace", "deployment")


def faulty(deployment: Json) -> bool:
    """Whether the Deployment's pod template is a bad build.

    >>> template = {"metadata": {"annotations": {FAULT_ANNOTATION: "bad-build"}}}
    >>> faulty({"spec": {"template": template}})
    True
    """
    template = deployment.get("spec", {}).get("template", {}).get("metadata") or {}
    return (template.get("annotations") or {}).get(FAULT_ANNOTATION) == "bad-build"


class ScaleCollector(Collector):
    """The signals of every watched Deployment, advanced to the time of each scrape."""

    def __init__(self, deployments: WatchedObjects, namespaces: Sequence[str],
                 seed: int = 0) -> None:
        self.deployments = deployments
        self.namespaces = tuple(namespaces)
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.totals: dict[tuple[str, str], list[float]] = {}  # ok, errors
        self.last = time.time()

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("scale_http_requests", "Requests served, by code.",
                                       labels=[*LABELS, "code"])
        latency = GaugeMetricFamily("scale_latency_p99_seconds", "99th percentile latency.",
                                    labels=list(LABELS))
        with self.lock:
            now = time.time()
            elapsed, self.last = now - self.last, now
            gauss = self.random.gauss
            for namespace in self.namespaces:
                for deployment in self.deployments.in_namespace(namespace):
                    name = deployment["metadata"]["name"]
                    bad = faulty(deployment)
                    rate = 50.0 * (1 + 0.05 * gauss(0, 1)) * elapsed
                    errors = (0.3 if bad else 0.005) * (1 + 0.1 * gauss(0, 1))
                    totals = self.totals.setdefault((namespace, name), [0.0, 0.0])
                    totals[0] += rate * (1 - errors)
                    totals[1] += rate * errors
                    requests.add_metric([namespace, name, "200"], totals[0])
                    requests.add_metric([namespace, name, "500"], totals[1])
                    latency.add_metric([namespace, name],
                                       (0.6 if bad else 0.12) * (1 + 0.08 * gauss(0, 1)))
        yield from (requests, latency)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", action="append", required=True)
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    apps = client.AppsV1Api(api_client_from_kubeconfig(args.kubeconfig))
    deployments = WatchedObjects("deployments", {"": functools.partial(
        apps.list_deployment_for_all_namespaces, label_selector=f"{SCALE_LABEL}=true")})
    deployments.start()
    while not deployments.synced:
        time.sleep(0.1)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ScaleCollector(deployments, args.namespace, args.seed))
    start_http_server(args.port, addr="127.0.0.1", registry=registry)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
