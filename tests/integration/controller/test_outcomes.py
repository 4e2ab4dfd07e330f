"""Outcome statistics on a real API server: a closed Remediation is counted once into its
runbook's status and then marked; counted again after a crash before the mark, it is not
counted twice; two Remediations closing at once are both counted (resourceVersion
conflicts are read again, never overwritten); the runbook's other status writes leave the
statistics alone. The operator's writes are made with its own identity (the chart's
ServiceAccount, under the admission policies), as in a cluster."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from integration.act.workloads import INSECURE
from kubeheal.api.runbook import Runbook
from kubeheal.controller.lifecycle import Health
from kubeheal.controller.outcomes import OUTCOME_RECORDED, OutcomeRecorder
from kubeheal.controller.store import ObjectStore
from kubeheal.observe.kubernetes import api_client_from_kubeconfig
from localstack import Cluster, binary
from loopstack import demo_runbook, install_operator_identity

pytestmark = [pytest.mark.stack, pytest.mark.filterwarnings(INSECURE)]

T0 = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=10)


def at(seconds: float) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def closed(namespace: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Remediation of runbook web (its body to create, its terminal status): a rollback,
    verified."""
    body = {
        "apiVersion": "kubeheal.io/v1alpha1", "kind": "Remediation",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "runbookRef": {"name": "web"},
            "target": {"namespace": namespace, "name": "web"},
            "trigger": {"startedAt": at(0), "detectedAt": at(18), "score": 0.99,
                        "evidence": [{"signal": "error-ratio", "score": 0.99}]},
            "diagnosis": {"cause": "change"},
        },
    }
    intent = {"action": {"name": "roll-back-bad-release", "kind": "rollback",
                         "params": {"toRevision": "1"}},
              "issuedAt": at(20), "token": f"{name}.1"}
    status = {"phase": "Succeeded", "completedAt": at(70),
              "executions": [{"intent": intent, "outcome": "executed", "completedAt": at(21)}],
              "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded",
                              "message": "recovered", "lastTransitionTime": at(70)}]}
    return body, status


async def never_asked(_: Runbook, __: str, ___: str, ____: set[str]) -> Health:
    raise AssertionError("an incident with an action run needs no follow-up")


def as_operator(kubeconfig: Path, *args: str, input: str | None = None) -> None:
    """kubectl with the operator's identity."""
    subprocess.run([binary("kubectl"), f"--kubeconfig={kubeconfig}", *args], input=input,
                   capture_output=True, text=True, timeout=120, check=True)


def test_each_closed_remediation_is_counted_once(crds: Cluster, namespace: str) -> None:
    operator = install_operator_identity(crds)
    crds.kubectl("apply", "-f", "-", input=json.dumps(demo_runbook("web", namespace)))
    for name in ("web-deployment-1", "web-deployment-2", "web-deployment-3"):
        body, status = closed(namespace, name)
        as_operator(operator, "create", "-f", "-", input=json.dumps(body))
        as_operator(operator, "patch", "remediation", name, "-n", namespace,
                    "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}))

    def totals() -> dict[str, Any]:
        runbook = json.loads(crds.kubectl("get", "runbook", "web", "-n", namespace, "-o",
                                          "json").stdout)
        found: dict[str, Any] = runbook["status"]["outcomes"]["totals"]
        return found

    def marked(name: str) -> bool:
        out = crds.kubectl("get", "remediation", name, "-n", namespace, "-o",
                           "jsonpath={.metadata.annotations}").stdout
        return json.loads(out or "{}").get(OUTCOME_RECORDED) == "true"

    async def go() -> None:
        with api_client_from_kubeconfig(operator) as api:
            recorder = OutcomeRecorder(ObjectStore(api), never_asked, {})

            async def pause(_: float) -> bool:
                return True

            await recorder.record(namespace, "web-deployment-1", pause)
            assert totals()["incidents"] == 1 and marked("web-deployment-1")
            # The runbook daemon's own status writes leave the statistics alone.
            crds.kubectl("patch", "runbook", "web", "-n", namespace, "--subresource=status",
                         "--type=merge", "-p", '{"status": {"openRemediations": 0}}')
            # A crash after counting, before marking: counted again, it is only marked.
            as_operator(operator, "annotate", "remediation", "web-deployment-1", "-n",
                        namespace, f"{OUTCOME_RECORDED}-")
            await recorder.record(namespace, "web-deployment-1", pause)
            assert totals()["incidents"] == 1 and marked("web-deployment-1")
            # Two closing at once: one write conflicts, reads again, and both count.
            await asyncio.gather(recorder.record(namespace, "web-deployment-2", pause),
                                 recorder.record(namespace, "web-deployment-3", pause))

    asyncio.run(go())
    counted = totals()
    assert counted["incidents"] == 3 and counted["outcomes"] == {"verified": 3}
    assert counted["autonomous"] == 3 and counted["timeToDetect"]["count"] == 3
    assert [(a["action"], a["succeeded"]) for a in counted["actions"]] == [
        ("roll-back-bad-release", 3)]
    assert all(marked(f"web-deployment-{i}") for i in (1, 2, 3))
