"""Alertmanager as a trigger, with the real Alertmanager fed by a real Prometheus alerting rule.

Two operator replicas run as the chart runs them; Alertmanager sends its webhook calls, with
the bearer token of a file (as a Secret would hold it), to the *standby*. A bad rollout makes
the demo service fail requests, the rule of ``alerting/rules.yaml`` fires, the standby records
the alert on the runbook, and the leader opens a Remediation for the workload with the alert as
its trigger, which goes through diagnosis (change), decision, the policy and verification as
any incident does. The runbook's only signal is a load signal, which never opens an incident
by itself: the incident can only come from the alert. Calls without the token, or with
another one, are refused and counted.

A stack of its own: the Alertmanager, and the shared ``loop``'s standalone operator would act too.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from localstack import free_port
from loopstack import (
    ChartOperator,
    Json,
    LoopStack,
    Replica,
    demo_deployment,
    demo_runbook,
    demo_slo,
    record_timing,
    timeline,
)

pytestmark = pytest.mark.stack

NS = "alerts"
WORKLOAD = "checkout"
ALERT = "DemoHighErrorRate"
RULES = Path(__file__).parent / "alerting" / "rules.yaml"
TOKEN = "am-to-kubeheal-7c1f0e"


def alertmanager_config(receiver: str, token_file: Path) -> Json:
    """Alertmanager routing every alert to kubeheal's receiver with a bearer token."""
    return {
        "route": {"receiver": "kubeheal", "group_by": ["alertname", "namespace", "deployment"],
                  "group_wait": "1s", "group_interval": "5s", "repeat_interval": "1h"},
        "receivers": [{"name": "kubeheal", "webhook_configs": [{
            "url": receiver, "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer",
                                              "credentials_file": str(token_file)}}}]}],
    }


class Operators:
    """The two replicas, and where Alertmanager calls (the standby's receiver)."""

    def __init__(self, stack: LoopStack, chart: ChartOperator, token_file: Path,
                 standby_port: int) -> None:
        self.stack, self.chart = stack, chart
        self.token_file, self.standby_port = token_file, standby_port
        self.leader: Replica | None = None
        self.standby: Replica | None = None

    def start(self) -> None:
        self.leader = self.stack.start_replica(self.chart, "kubeheal-0",
                                               env=self.receiver_env(free_port()))
        self.stack.wait_for("kubeheal-0 to lead", self.leader.leading, 60, poll=0.5)
        self.standby = self.stack.start_replica(self.chart, "kubeheal-1",
                                                env=self.receiver_env(self.standby_port))
        assert self.standby.health() == {"identity": "kubeheal-1", "leader": False}

    def receiver_env(self, port: int) -> dict[str, str]:
        return {"KUBEHEAL_ALERTS_PORT": str(port),
                "KUBEHEAL_ALERTS_TOKEN_FILE": str(self.token_file)}

    @property
    def receiver(self) -> str:
        return f"http://127.0.0.1:{self.standby_port}"


@pytest.fixture(scope="module")
def alerting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operators]:
    root = tmp_path_factory.mktemp("alerts")
    token_file = root / "receiver-token"
    token_file.write_text(TOKEN + "\n")  # as a Secret's key mounted as a file may end
    standby_port = free_port()
    with LoopStack(root, (NS,), rule_files=[RULES], alertmanager_config=alertmanager_config(
            f"http://127.0.0.1:{standby_port}/alertmanager", token_file)) as stack:
        stack.apply(NS, demo_deployment(WORKLOAD))
        operators = Operators(stack, stack.chart_operator(), token_file, standby_port)
        operators.start()
        load = {"name": "load", "role": "load", "minRelativeDeviation": 0.2,
                "query": "sum by (namespace, deployment) (rate(demo_http_requests_total[20s]))"}
        stack.apply(NS, demo_slo(WORKLOAD, NS), demo_runbook(
            WORKLOAD, NS, signals=[load], alerts=[{"matchLabels": {"alertname": ALERT}}]))
        stack.wait_available(NS, WORKLOAD)
        stack.wait_for("the runbook to be evaluated", lambda: (stack.runbook(NS, WORKLOAD).get(
            "status") or {}).get("lastEvaluationTime"), 120)
        yield operators


def post(url: str, body: object, token: str | None) -> tuple[int, Json]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers,
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def counter(url: str, name: str, **labels: str) -> float:
    """A counter's value on the receiver's /metrics (0 when it has no such sample)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == name and sample.labels == labels)


def test_unauthenticated_calls_are_refused_and_counted(alerting: Operators) -> None:
    url = f"{alerting.receiver}/alertmanager"
    payload = {"version": "4", "status": "firing", "alerts": [{
        "status": "firing", "startsAt": "2026-01-01T00:00:00Z", "fingerprint": "f00d",
        "labels": {"alertname": ALERT, "namespace": NS, "deployment": WORKLOAD}}]}
    status, body = post(url, payload, None)
    assert status == 401 and "Bearer" in body["error"]
    status, _ = post(url, payload, "not-" + TOKEN)
    assert status == 401
    assert counter(alerting.receiver, "kubeheal_alert_receiver_requests_total",
                   outcome="unauthorized") == 2
    # Authenticated, but not a webhook payload: refused, saying why.
    status, body = post(url, {"version": "4", "alerts": [{"status": "pending"}]}, TOKEN)
    assert status == 400 and "alerts[0].status" in body["error"], body
    # None of them recorded anything, though the alert is one the runbook names.
    assert not (alerting.stack.runbook(NS, WORKLOAD).get("status") or {}).get("alerts")
    assert alerting.stack.remediations(NS) == []


def test_a_firing_alert_opens_the_incident_and_it_is_healed(alerting: Operators) -> None:
    stack = alerting.stack
    fault = stack.inject_bad_rollout(NS, WORKLOAD)

    opened = stack.wait_for_phase(NS, ("Detected", "AwaitingApproval", "Executing", "Verifying"),
                                  240,
                                  target=WORKLOAD)
    trigger = opened["spec"]["trigger"]
    assert trigger["alert"]["name"] == ALERT, trigger
    assert trigger["alert"]["labels"]["deployment"] == WORKLOAD
    assert trigger["evidence"] == [] or "evidence" not in trigger
    assert opened["spec"]["diagnosis"]["cause"] == "change", opened["spec"]["diagnosis"]
    assert f"Alertmanager alert {ALERT} firing for {WORKLOAD}" in timeline(opened)[0][2]

    # Another alert for the workload while its incident is open adds nothing: the claim holds
    # it back, as it holds back the detectors. (Sent by hand, with the token, and resolved
    # before the incident closes, so that it cannot open the next one.)
    other = {"status": "firing", "startsAt": fault.isoformat(), "fingerprint": "0ther0ne",
             "labels": {"alertname": ALERT, "namespace": NS, "deployment": WORKLOAD,
                        "instance": "another"}}
    url = f"{alerting.receiver}/alertmanager"
    assert post(url, {"version": "4", "alerts": [other]}, TOKEN) == (
        200, {"recorded": 1, "removed": 0, "unmatched": 0})
    name = opened["metadata"]["name"]
    stack.wait_for("the second alert to be held back", lambda: [
        e for e in stack.events(NS, "IncidentHeldBack")
        if f"remediation {name} is still open" in e["message"]], 60)
    assert post(url, {"version": "4", "alerts": [{**other, "status": "resolved"}]}, TOKEN) == (
        200, {"recorded": 0, "removed": 1, "unmatched": 0})

    done = stack.wait_for_phase(NS, ("Succeeded", "Escalated", "Blocked"), 300, target=WORKLOAD)
    record_timing("alertmanager", fault, done)
    steps = [step for _, step, _ in timeline(done)]
    assert done["status"]["phase"] == "Succeeded", timeline(done)
    assert {"decided", "gated", "acted", "verified"} <= set(steps), steps
    assert [e["outcome"] for e in done["status"]["executions"]] == ["executed"]
    assert done["status"]["action"]["kind"] == "rollback"

    # The standby recorded the alert, the leader acted; once it resolved, Alertmanager said
    # so and the record went, and that one firing opened one incident.
    standby, leader = alerting.standby, alerting.leader
    assert standby is not None and leader is not None
    assert counter(alerting.receiver, "kubeheal_alert_receiver_alerts_total",
                   status="firing", result="recorded") >= 1
    assert f"alert {ALERT} firing for {NS}/{WORKLOAD} recorded" in standby.log()
    assert f"runbook {NS}/{WORKLOAD} opened" in leader.log()
    assert f"runbook {NS}/{WORKLOAD} opened" not in standby.log()
    stack.wait_for("the resolved alert to leave the runbook's status", lambda: not (
        stack.runbook(NS, WORKLOAD).get("status") or {}).get("alerts"), 180)
    assert len(stack.remediations(NS, WORKLOAD)) == 1
