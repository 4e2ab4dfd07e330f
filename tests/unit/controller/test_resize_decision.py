"""Deciding a resize: which container, how much, within which bounds, and what the policy and
the action are told."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kubeheal.api.remediation import Phase, Remediation, RemediationStatus
from kubeheal.api.runbook import Action, Runbook
from kubeheal.controller.lifecycle import (
    AskPolicy,
    Observations,
    TargetState,
    concrete_action,
    concrete_resize,
    fire,
)
from kubeheal.decide import ActionKind

T0 = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)
RESIZE = {"name": "more-memory", "kind": "resize", "when": {"causes": ["resource-exhaustion"]},
          "resize": {"factor": 1.5, "maxMemory": "1Gi"}}


def deployment(*containers: dict[str, Any], replicas: int = 3, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "generation": 2,
                     "annotations": {"deployment.kubernetes.io/revision": "1"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"spec": {"containers": list(containers)}}, **spec},
        "status": {"replicas": replicas, "readyReplicas": replicas,
                   "availableReplicas": replicas, "updatedReplicas": replicas},
    }


def container(name: str, limit: str | None = "256Mi", request: str | None = "128Mi",
              ) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if limit:
        resources["limits"] = {"memory": limit}
    if request:
        resources["requests"] = {"memory": request}
    return {"name": name, "image": f"{name}:1", "resources": resources}


def oom_pod(name: str, killed: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"containerStatuses": [
        {"name": killed, "restartCount": 2,
         "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]}}


def action(**resize: Any) -> Action:
    return Action.model_validate({**RESIZE, "resize": {**RESIZE["resize"], **resize}})


def test_a_single_container_is_raised_by_the_factor_with_its_request() -> None:
    candidate, params, why = concrete_resize(action(), deployment(container("app")), [])
    assert why == "" and candidate is not None
    assert params == {"container": "app", "memoryLimit": "384Mi", "from": "256Mi",
                      "factor": "1.5", "maxMemory": "1Gi", "minAvailable": "3",
                      "memoryRequest": "192Mi", "requestFrom": "128Mi"}
    assert candidate.kind is ActionKind.RESIZE
    assert dict(candidate.params) == {"container": "app", "fromBytes": 256 * 2**20,
                                      "toBytes": 384 * 2**20, "maxBytes": 2**30,
                                      "factor": 1.5, "podsUnavailable": 0}


def test_the_container_defaults_to_the_one_being_oom_killed() -> None:
    d = deployment(container("proxy", "64Mi", None), container("app"))
    pods = [oom_pod("web-a", "app"), oom_pod("web-b", "app")]
    assert concrete_resize(action(), d, pods)[1]["container"] == "app"
    assert concrete_resize(action(container="proxy"), d, pods)[1]["memoryLimit"] == "96Mi"


def test_several_containers_none_killed_and_none_named_is_not_guessed() -> None:
    d = deployment(container("proxy"), container("app"))
    candidate, _, why = concrete_resize(action(), d, [])
    assert candidate is None and "name one in resize.container" in why


def test_a_limit_at_the_maximum_leaves_nothing_to_raise() -> None:
    candidate, _, why = concrete_resize(action(), deployment(container("app", "1Gi")), [])
    assert candidate is None and why.endswith("nothing left to raise")


def test_the_raise_is_capped_at_the_maximum() -> None:
    _, params, _ = concrete_resize(action(), deployment(container("app", "800Mi", None)), [])
    assert (params["memoryLimit"], "memoryRequest" in params) == ("1Gi", False)


def test_a_container_without_a_limit_or_an_unknown_one_is_refused_with_its_name() -> None:
    assert "no memory limit" in concrete_resize(
        action(), deployment(container("app", None)), [])[2]
    assert "no container 'db'" in concrete_resize(
        action(container="db"), deployment(container("app")), [])[2]


def test_a_recreate_strategy_cannot_keep_the_availability_floor() -> None:
    d = deployment(container("app"), strategy={"type": "Recreate"})
    candidate, _, why = concrete_action(action(), d, [], [])
    assert candidate is None and "a resize would keep no pod available" in why


def remediation() -> Remediation:
    return Remediation.model_validate({
        "metadata": {"name": "web-1", "namespace": "shop"},
        "spec": {
            "runbookRef": {"name": "web"},
            "target": {"namespace": "shop", "name": "web"},
            "trigger": {"startedAt": T0.isoformat(), "detectedAt": T0.isoformat(),
                        "score": 0.99, "evidence": [{"signal": "restarts", "score": 1.0}]},
            "diagnosis": {"cause": "resource-exhaustion", "candidates": [
                {"cause": "resource-exhaustion", "confidence": 0.9,
                 "evidence": ["3 pods OOM-killed"]}]},
        },
    })


def runbook() -> Runbook:
    return Runbook.model_validate({
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "signals": [{"name": "restarts", "role": "restarts", "query": "q",
                         "threshold": 0.5}],
            "actions": [{"name": "bounce", "kind": "restart",
                         "when": {"causes": ["resource-exhaustion"]}}, RESIZE],
        },
    })


def test_decide_after_a_failed_restart_pins_the_template_and_asks_the_policy() -> None:
    target = TargetState(deployment(container("app")), pods=(oom_pod("web-a", "app"),))
    status = RemediationStatus(tried_actions=["bounce"])
    out = fire("decide", remediation(), status,
               Observations(T0, runbook(), target=target, claimed=True))
    chosen = out.status.action
    assert chosen is not None and chosen.kind is ActionKind.RESIZE
    assert chosen.pinned is not None and chosen.pinned.template_hash
    assert chosen.params["memoryLimit"] == "384Mi"
    (ask,) = [e for e in out.effects if isinstance(e, AskPolicy)]
    assert ask.input.to_opa()["action"] == {"kind": "resize", "params": {
        "container": "app", "fromBytes": 256 * 2**20, "toBytes": 384 * 2**20,
        "maxBytes": 2**30, "factor": 1.5, "podsUnavailable": 0}}
    assert ask.input.risk.factors[0].explanation.startswith("resize:")


def test_decide_escalates_when_the_limit_is_at_the_maximum_and_nothing_else_is_left() -> None:
    target = TargetState(deployment(container("app", "1Gi")))
    status = RemediationStatus(tried_actions=["bounce"])
    obs = Observations(T0, runbook(), target=target, claimed=True)
    skipped = fire("decide", remediation(), status, obs)
    assert skipped.status.tried_actions == ["bounce", "more-memory"]
    assert "nothing left to raise" in skipped.status.timeline[-1].message
    out = fire("decide", remediation(), skipped.status, obs)
    assert out.status.phase is Phase.ESCALATED
