"""A StatefulSet's bad rollout whose new pod never becomes Ready is rolled back and verified.

The StatefulSet (podManagementPolicy OrderedReady, the default) rolls out an image tagged
``-bad``; the local stack's kwok never makes such a pod Ready, so the controller replaces the
highest ordinal and then waits for it forever. The two pods left carry the load and slow
down: the runbook (``targetKind: StatefulSet``) detects it, the diagnosis finds the new
ControllerRevision (a change), the rollback patches the template back to the previous
ControllerRevision and evicts the stuck pod, which the controller would otherwise wait for
even after the rollback (kubernetes/kubernetes#67250). The rollout completes, the SLO holds,
and the API server's audit log shows the action exactly once: one template patch and one
eviction by the operator.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

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
    demo_slo,
    timeline,
)

pytestmark = pytest.mark.stack

NS, NAME = "ledger", "ledger-db"
GOOD, BAD = f"registry.example/{NAME}:1.4", f"registry.example/{NAME}:1.5-bad"


def demo_statefulset(name: str) -> Json:
    """The demo's workload as a StatefulSet: three pods, one at a time, OrderedReady; each
    pod's capacity is such that two pods alone run near saturation."""
    body = demo_deployment(name, replicas=3, load=60, capacity=32)
    body["kind"] = "StatefulSet"
    body["spec"].pop("revisionHistoryLimit")
    body["spec"].update(serviceName=name, podManagementPolicy="OrderedReady",
                        updateStrategy={"type": "RollingUpdate"}, revisionHistoryLimit=5)
    return body


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopStack]:
    with LoopStack(tmp_path_factory.mktemp("statefulset"), (NS,)) as stack:
        stack.apply(NS, demo_statefulset(NAME))
        stack.start_operator()
        yield stack


def _image(stack: LoopStack) -> str:
    statefulset = stack.get("statefulset", NS, NAME)
    return str(statefulset["spec"]["template"]["spec"]["containers"][0]["image"])


def _ready(pod: Json) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _stuck_pod(stack: LoopStack) -> Json | None:
    """The pod of the bad image that is there and not Ready (the rollout waits for it)."""
    return next((p for p in stack.pods(NS, NAME)
                 if p["spec"]["containers"][0]["image"] == BAD and not _ready(p)), None)


def _acted(audit: AuditLog, since: dt.datetime) -> list[str]:
    """The operator's actions on the StatefulSet and its pods, from the audit log."""
    actions = []
    for record in audit.mutations_by(OPERATOR_USER, namespace=NS, since=since):
        if record.group == "apps" and record.resource == "statefulsets" \
                and record.name == NAME and record.changes_spec:
            actions.append(f"{record.verb} statefulset")
        if record.resource == "pods" and record.name.startswith(f"{NAME}-") and (
                record.subresource == "eviction" or record.verb == "delete"):
            actions.append(f"{record.verb} {record.subresource or 'pod'} {record.name}")
    return actions


def test_stuck_statefulset_rollout_is_rolled_back_and_verified(stack: LoopStack) -> None:
    audit = AuditLog(stack.cluster.audit_log)
    stack.kubectl("rollout", "status", "-n", NS, f"statefulset/{NAME}", "--timeout=180s")
    # A staging namespace: an unlabelled tier counts as important, and with one pod not Ready
    # the rollback's risk would then ask a human first (a gate tested elsewhere).
    stack.kubectl("label", "namespace", NS, "kubeheal.io/tier=staging")
    stack.apply(NS, demo_slo(NAME, NS), demo_runbook(NAME, NS, targetKind="StatefulSet"))
    stack.wait_for("the runbook to be warm", lambda: stack.warm(NS, NAME), 300)

    fault = dt.datetime.now(dt.UTC)
    stack.kubectl("set", "image", f"statefulset/{NAME}", "-n", NS, f"{NAME}={BAD}")
    stuck = stack.wait_for("a pod of the bad image stuck not Ready",
                           lambda: _stuck_pod(stack), 120)
    assert stuck["metadata"]["name"] == f"{NAME}-2", stuck["metadata"]["name"]

    opened = stack.wait_for_phase(NS, {*OPEN, *TERMINAL}, 240, target=NAME)
    assert opened["spec"]["target"]["kind"] == "StatefulSet"
    assert opened["spec"]["diagnosis"]["cause"] == "change", opened["spec"]["diagnosis"]
    done = stack.wait_for_phase(NS, TERMINAL, 300, target=NAME)
    status = done["status"]
    assert status["phase"] == "Succeeded", timeline(done)
    assert status["action"]["kind"] == "rollback"
    assert [e["outcome"] for e in status["executions"]] == ["executed"], timeline(done)
    assert status["verification"]["result"] == "succeeded", timeline(done)
    # The stuck pod was recorded in the intent before the call, with its UID.
    params = status["executions"][0]["intent"]["action"]["params"]
    assert params["toRevision"] == "1", params
    assert (params["pod"], params["podUid"]) == (stuck["metadata"]["name"],
                                                 stuck["metadata"]["uid"]), params

    # The template is the good one, every pod runs it and is Ready, the stuck one replaced.
    assert _image(stack) == GOOD
    sts = stack.get("statefulset", NS, NAME)["status"]
    assert sts["currentRevision"] == sts["updateRevision"] and sts["readyReplicas"] == 3, sts
    pods = stack.pods(NS, NAME)
    assert all(p["spec"]["containers"][0]["image"] == GOOD and _ready(p) for p in pods), pods
    replaced = next(p for p in pods if p["metadata"]["name"] == stuck["metadata"]["name"])
    assert replaced["metadata"]["uid"] != stuck["metadata"]["uid"]

    # Exactly once, by the API server's own record: one template patch, one eviction.
    acted = _acted(audit, fault)
    assert acted == ["patch statefulset", f"create eviction {NAME}-2"], acted
    assert len(stack.remediations(NS, NAME)) == 1
