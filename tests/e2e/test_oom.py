"""Out of memory: a leak that every pod of the template has is OOM-killed again and again.
A restart does not cure it (verification fails: the kills go on), the resize does (the
limit is raised once, within bounds, and the leak plateaus below it)."""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
import urllib.request
from typing import Any

import pytest

from auditlog import AuditLog
from loopstack import (
    OPEN,
    OPERATOR_USER,
    TERMINAL,
    Json,
    LoopStack,
    demo_deployment,
    demo_runbook,
    record_timing,
    timeline,
)

pytestmark = pytest.mark.stack

NS, NAME = "oom", "cache"
MIB = 2**20
# Each pod grows from 100 MiB by 8 MiB/s: OOM-killed at 256Mi about every 20 s; its working
# set would level off at 300 MiB, which fits under 512Mi (the limit raised by a factor of 2).
LEAK = {"demo.kubeheal.io/fault": "leak", "demo.kubeheal.io/leak-mib-per-second": "8",
        "demo.kubeheal.io/leak-plateau-mib": "300"}
RESTARTS_WINDOW = 40  # seconds of restarts a verification looks back on: two kill periods


def leaking_deployment() -> Json:
    body = demo_deployment(NAME, template_annotations=LEAK)
    (container,) = body["spec"]["template"]["spec"]["containers"]
    container["resources"] = {"limits": {"memory": "256Mi"}, "requests": {"memory": "128Mi"}}
    return body


def oom_runbook() -> Json:
    body = demo_runbook(
        NAME, NS,
        signals=[{
            "name": "restarts", "role": "restarts", "threshold": 0.5,
            "query": "sum by (namespace, deployment) "
                     f"(increase(demo_pod_restarts_total[{RESTARTS_WINDOW}s]))",
        }],
        actions=[
            {"name": "restart", "kind": "restart", "when": {"causes": ["resource-exhaustion"]}},
            {"name": "more-memory", "kind": "resize",
             "when": {"causes": ["resource-exhaustion"]},
             "resize": {"factor": 2, "maxMemory": "1Gi"}},
        ],
        # Longer than a pod takes from its start to its first kill (and that kill to show):
        # a restart that only buys time until then does not verify.
        verification={"windowSeconds": 50, "rolloutTimeoutSeconds": 90},
    )
    del body["spec"]["sloRef"]  # the restarts signal's threshold is what must hold
    return body


def oom_killed(pod: Json) -> bool:
    return any(((s.get("lastState") or {}).get("terminated") or {}).get("reason") == "OOMKilled"
               and s.get("restartCount", 0) > 0
               for s in (pod.get("status") or {}).get("containerStatuses") or [])


def memory(container: Json) -> tuple[str, str]:
    resources = container.get("resources") or {}
    return resources["limits"]["memory"], resources["requests"]["memory"]


def max_memory_mib(loop: LoopStack) -> float | None:
    query = f'max(demo_memory_bytes{{namespace="{NS}",deployment="{NAME}"}})'
    url = f"{loop.prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=10) as response:
        result: list[Any] = json.loads(response.read())["data"]["result"]
    return float(result[0]["value"][1]) / MIB if result else None


def test_oom_kills_are_cured_by_a_resize_not_a_restart(loop: LoopStack) -> None:
    loop.kubectl("label", "namespace", NS, "--overwrite", "kubeheal.io/tier=development")
    loop.apply(NS, leaking_deployment())
    loop.wait_available(NS, NAME)

    # The simulated kernel kills: the pod's status and an Event say so, as a kubelet's would.
    killed = loop.wait_for("a pod to be OOM-killed",
                           lambda: [p for p in loop.pods(NS, NAME) if oom_killed(p)], 120)
    (status,) = killed[0]["status"]["containerStatuses"]
    assert status["lastState"]["terminated"]["exitCode"] == 137
    assert loop.wait_for("an OOMKilling event", lambda: loop.events(NS, "OOMKilling"), 30)

    fault = loop.kubectl("get", "deployment", NAME, "-n", NS, "-o",
                         "jsonpath={.metadata.creationTimestamp}").stdout
    loop.apply(NS, oom_runbook())
    opened = loop.wait_for_phase(NS, {*OPEN, *TERMINAL}, 420)
    diagnosis = opened["spec"]["diagnosis"]
    assert diagnosis["cause"] == "resource-exhaustion", diagnosis
    evidence = " ".join(diagnosis["candidates"][0]["evidence"])
    assert "OOM-killed" in evidence and f"({NAME})" in evidence, evidence

    done = loop.wait_for_phase(NS, TERMINAL, 900)
    record_timing("out of memory", dt.datetime.fromisoformat(fault), done)
    status = done["status"]
    story = "\n".join(" ".join(entry) for entry in timeline(done))
    assert status["phase"] == "Succeeded", story
    # The restart ran, and its verification failed: the new pods were killed too.
    assert [(e["intent"]["action"]["kind"], e["outcome"]) for e in status["executions"]] == \
        [("restart", "executed"), ("resize", "executed")], story
    assert any(step == "verified" and "not recovered" in message
               for _, step, message in timeline(done)), story
    resize = status["executions"][1]["intent"]["action"]["params"]
    assert (resize["container"], resize["from"], resize["memoryLimit"]) == \
        (NAME, "256Mi", "512Mi")
    assert status["verification"]["result"] == "succeeded"

    # Raised exactly once, within bounds: the API server's own record of the operator's
    # writes on the Deployment holds one resize and one restart, nothing else.
    (container,) = loop.deployment(NS, NAME)["spec"]["template"]["spec"]["containers"]
    assert memory(container) == ("512Mi", "256Mi")
    actions = AuditLog(loop.cluster.audit_log).workload_actions(OPERATOR_USER, NS, NAME)
    bodies = [json.dumps(a.request) for a in actions]
    assert len(actions) == 2, bodies
    assert sum("512Mi" in b for b in bodies) == 1 and sum("restartedAt" in b for b in bodies) \
        == 1, bodies

    # The kills stopped: the running pods carry the new limit and were never killed, and
    # their memory levels off at the leak's plateau, under the limit.
    def resized_pods() -> list[Json]:
        now = loop.pods(NS, NAME)
        return now if now and all(memory(p["spec"]["containers"][0])[0] == "512Mi"
                                  for p in now) else []

    def levelled_off() -> float | None:
        peak = max_memory_mib(loop)
        return peak if peak is not None and peak >= 290 else None

    running = loop.wait_for("only resized pods to run", resized_pods, 60)
    assert not any(oom_killed(p) for p in running), [p["status"] for p in running]
    peak = loop.wait_for("memory to level off at the plateau", levelled_off, 60)
    assert peak < 512 * 0.7, peak
    assert not any(oom_killed(p) for p in loop.pods(NS, NAME))
    loop.kubectl("delete", "runbook", NAME, "-n", NS)
