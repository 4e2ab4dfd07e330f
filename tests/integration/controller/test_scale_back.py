"""The way back of a temporary scale-out on a real API server, where it must do nothing:
replicas someone changed since the scale-out stay, a newer incident of the workload comes
first, a target that no longer carries the scale-out's token is not kubeheal's to lower, and
nothing is due before the hold. The operator's writes are made with its own identity (the
chart's ServiceAccount, under the admission policies), as in a cluster; Prometheus is never
asked on these paths (the level before the incident is on record)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from integration.act.workloads import INSECURE, apply, deployment_manifest
from kubeheal.act.intent import TOKEN_ANNOTATION
from kubeheal.controller.claims import IncidentClaims
from kubeheal.controller.scaleback import ScaleBackWatcher
from kubeheal.controller.store import TARGET_LABEL, ObjectStore
from kubeheal.observe.kubernetes import KubernetesReader, api_client_from_kubeconfig
from kubeheal.observe.prometheus import PrometheusClient
from localstack import Cluster, binary
from loopstack import demo_runbook, install_operator_identity

pytestmark = [pytest.mark.stack, pytest.mark.filterwarnings(INSECURE)]

HOLD = 30
SCALE_OUT = {"name": "scale-out", "kind": "scale", "when": {"causes": ["saturation"]},
             "scale": {"minReplicas": 2, "maxReplicas": 9, "step": 3,
                       "scaleBack": {"holdSeconds": HOLD}}}


def stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def as_operator(kubeconfig: Path, *args: str, input: str | None = None) -> None:
    subprocess.run([binary("kubectl"), f"--kubeconfig={kubeconfig}", *args], input=input,
                   capture_output=True, text=True, timeout=120, check=True)


def remediation(namespace: str, workload: str, sequence: int) -> dict[str, Any]:
    now = stamp(dt.datetime.now(dt.UTC))
    return {
        "apiVersion": "kubeheal.io/v1alpha1", "kind": "Remediation",
        "metadata": {"name": f"{workload}-deployment-{sequence}", "namespace": namespace,
                     "labels": {TARGET_LABEL: workload, "kubeheal.io/runbook": "web"}},
        "spec": {"runbookRef": {"name": "web"},
                 "target": {"namespace": namespace, "name": workload},
                 "trigger": {"startedAt": now, "detectedAt": now, "score": 0.99,
                             "evidence": [{"signal": "latency-p99", "score": 0.99}]},
                 "diagnosis": {"cause": "saturation"}},
    }


def scaled_out(uid: str, name: str, executed: dt.datetime) -> dict[str, Any]:
    """A verified scale-out from 3 to 5 replicas, its way back planned."""
    action = {"name": "scale-out", "kind": "scale",
              "params": {"replicas": "5", "from": "3", "minReplicas": "2", "maxReplicas": "9"},
              "pinned": {"uid": uid, "templateHash": "h", "replicas": 3}}
    return {"phase": "Succeeded", "completedAt": stamp(executed), "action": action,
            "executions": [{"intent": {"action": action, "issuedAt": stamp(executed),
                                       "token": f"{name}.1"},
                            "outcome": "executed", "completedAt": stamp(executed)}],
            "scaleBack": {"state": "Planned", "loadSignal": "load", "loadBefore": 60.0,
                          "tolerance": 0.1, "holdSeconds": HOLD}}


def test_a_scale_back_does_nothing_over_others_and_before_its_hold(crds: Cluster,
                                                                   namespace: str) -> None:
    operator = install_operator_identity(crds)
    crds.kubectl("apply", "-f", "-", input=json.dumps(
        demo_runbook("web", namespace, actions=[SCALE_OUT])))
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    cases = {  # workload: (replicas now, token on it, executed at)
        "changed": (7, True, long_ago),   # someone scaled it after kubeheal
        "newer": (5, True, long_ago),     # a newer incident was opened first
        "foreign": (5, False, long_ago),  # another action stamped its token since
        "early": (5, True, dt.datetime.now(dt.UTC)),  # the hold is not over
    }
    for workload, (replicas, token, executed) in cases.items():
        manifest = deployment_manifest(namespace, workload, replicas=replicas)
        name = f"{workload}-deployment-1"
        manifest["metadata"]["annotations"] = {
            TOKEN_ANNOTATION: name + ".1" if token else "someone-else.1"}
        apply(crds, manifest)
        uid = json.loads(crds.kubectl("get", "deployment", workload, "-n", namespace, "-o",
                                      "json").stdout)["metadata"]["uid"]
        as_operator(operator, "create", "-f", "-",
                    input=json.dumps(remediation(namespace, workload, 1)))
        as_operator(operator, "patch", "remediation", name, "-n", namespace,
                    "--subresource=status", "--type=merge", "-p",
                    json.dumps({"status": scaled_out(uid, name, executed)}))
    as_operator(operator, "create", "-f", "-",
                input=json.dumps(remediation(namespace, "newer", 2)))

    async def check_each() -> dict[str, float | None]:
        with api_client_from_kubeconfig(operator) as api:
            store = ObjectStore(api)
            watcher = ScaleBackWatcher(store, KubernetesReader(api),
                                       PrometheusClient("http://127.0.0.1:9"),
                                       IncidentClaims(api))
            return {w: await watcher.check(namespace, f"{w}-deployment-1") for w in cases}

    waits = asyncio.run(check_each())
    plans = {w: json.loads(crds.kubectl(
        "get", "remediation", f"{w}-deployment-1", "-n", namespace, "-o",
        "jsonpath={.status.scaleBack}").stdout) for w in cases}
    assert (plans["changed"]["state"], waits["changed"]) == ("Abandoned", None)
    assert "spec.replicas is 7, not the 5 the scale-out set" in plans["changed"]["message"]
    assert plans["newer"]["state"] == "Abandoned"
    assert "newer-deployment-2" in plans["newer"]["message"]
    assert plans["foreign"]["state"] == "Abandoned"
    assert "no longer carries the scale-out's token" in plans["foreign"]["message"]
    assert (plans["early"]["state"], waits["early"]) == ("Waiting", 5.0)
    assert "holding the scale-out until" in plans["early"]["message"]
    # Nothing was opened, nothing scaled.
    names = json.loads(crds.kubectl("get", "remediations", "-n", namespace, "-o",
                                    "json").stdout)["items"]
    assert len(names) == 5
    for workload, (replicas, _, _) in cases.items():
        assert json.loads(crds.kubectl("get", "deployment", workload, "-n", namespace, "-o",
                                       "json").stdout)["spec"]["replicas"] == replicas
    reasons = {e["reason"] for e in json.loads(crds.kubectl(
        "get", "events", "-n", namespace, "-o", "json").stdout)["items"]}
    assert {"ScaleBackAbandoned", "ScaleBackWaiting"} <= reasons
