"""The remediation lifecycle, transition by transition, without any I/O: each test builds a
remediation and what was observed, fires one transition and reads the status and effects."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from kubeheal.act.intent import TOKEN_ANNOTATION, ActionError, ActionResult
from kubeheal.api.remediation import Phase, Remediation, RemediationStatus
from kubeheal.api.runbook import Action, Runbook
from kubeheal.controller import lifecycle
from kubeheal.controller.lifecycle import (
    MAX_ATTEMPTS,
    MAX_REDECISIONS,
    POLICY_MAX_AGE_SECONDS,
    TRANSITIONS,
    AskPolicy,
    CallAction,
    Closed,
    CountAction,
    Health,
    Notify,
    Observations,
    Outcome,
    PostEvent,
    ReadError,
    ReleaseClaim,
    TargetState,
    TransitionError,
    WriteStatus,
    concrete_action,
    concrete_resize,
    detector_health,
    fire,
)
from kubeheal.decide import ActionKind, RemediationHistory
from kubeheal.notify.messages import NotificationEvent
from kubeheal.policy.decision import Finding, PolicyDecision

ROOT = Path(__file__).resolve().parents[3]
T0 = dt.datetime(2026, 11, 28, 10, 0, tzinfo=dt.UTC)
REVISION = "deployment.kubernetes.io/revision"


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def runbook(**spec: Any) -> Runbook:
    return Runbook.model_validate({
        "apiVersion": "kubeheal.io/v1alpha1", "kind": "Runbook",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "signals": [{"name": "errors", "role": "errors", "query": "q", "threshold": 0.05}],
            "actions": [
                {"name": "undo", "kind": "rollback", "when": {"causes": ["change"]}},
                {"name": "bounce", "kind": "restart", "when": {"causes": ["change"]}},
                {"name": "evict", "kind": "restart", "when": {"causes": ["change"]},
                 "restart": {"strategy": "delete-pod"}},
            ],
            "verification": {"windowSeconds": 30, "rolloutTimeoutSeconds": 60},
            **spec,
        },
    })


def remediation(approvals: list[dict[str, Any]] | None = None) -> Remediation:
    return Remediation.model_validate({
        "metadata": {"name": "web-1", "namespace": "shop"},
        "spec": {
            "runbookRef": {"name": "web"},
            "target": {"namespace": "shop", "name": "web"},
            "trigger": {"startedAt": T0.isoformat(), "detectedAt": T0.isoformat(),
                        "score": 0.99, "evidence": [{"signal": "errors", "score": 1.0}]},
            "diagnosis": {"cause": "change", "candidates": [
                {"cause": "change", "confidence": 0.9, "evidence": ["revision 2 at 09:59"]}]},
            "approvals": approvals or [],
        },
    })


def deployment(revision: int = 2, replicas: int = 3, image: str = "bad", uid: str = "u1",
               token: str | None = None, ready: int = 3, **spec: Any) -> dict[str, Any]:
    annotations = {REVISION: str(revision)}
    if token:
        annotations[TOKEN_ANNOTATION] = token
    return {
        "metadata": {"name": "web", "namespace": "shop", "uid": uid, "generation": 4,
                     "annotations": annotations, "labels": {"app": "web"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"spec": {"containers": [{"name": "web", "image": image}]}},
                 **spec},
        "status": {"replicas": replicas, "updatedReplicas": replicas, "readyReplicas": ready,
                   "availableReplicas": ready, "observedGeneration": 4},
    }


def replica_set(revision: int) -> dict[str, Any]:
    return {"metadata": {"name": f"web-rs{revision}", "uid": f"rs{revision}",
                         "creationTimestamp": "2026-11-28T09:59:00Z",
                         "ownerReferences": [{"uid": "u1", "controller": True}],
                         "annotations": {REVISION: str(revision)}}}


def pod(name: str, restarts: int = 0) -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": "2026-11-28T09:00:00Z"},
            "status": {"containerStatuses": [{"restartCount": restarts}]}}


def target(**kwargs: Any) -> TargetState:
    pods = kwargs.pop("pods", ())
    return TargetState(deployment(**kwargs), (replica_set(1), replica_set(2)), None,
                       tuple(pods))


def obs(seconds: float = 0, **kwargs: Any) -> Observations:
    kwargs.setdefault("runbook", runbook())
    kwargs.setdefault("claimed", True)
    return Observations(at(seconds), **kwargs)


def allow(require_approval: bool = False) -> PolicyDecision:
    reasons = (Finding("risk 0.7 above 0.6"),) if require_approval else ()
    return PolicyDecision(allow=True, require_approval=require_approval, reasons=reasons,
                          violations=(), policy_version="v1")


def deny() -> PolicyDecision:
    finding = Finding("production: no rollback on Fridays", {"guardrail": "window"})
    return PolicyDecision(allow=False, require_approval=False, reasons=(finding,),
                          violations=(finding,), policy_version="v1")


def effects(outcome: Outcome, kind: type) -> list[Any]:
    return [e for e in outcome.effects if isinstance(e, kind)]


def condition(status: RemediationStatus, type_: str) -> tuple[str, str]:
    found = next(c for c in status.conditions if c.type == type_)
    return found.status.value, found.reason


def decided(rem: Remediation | None = None, **target_kwargs: Any) -> RemediationStatus:
    """The status after deciding on the target (the rollback to revision 1 first)."""
    rem = rem or remediation()
    out = fire("decide", rem, RemediationStatus(), obs(target=target(**target_kwargs)))
    return out.status


def executing(rem: Remediation | None = None, **target_kwargs: Any) -> RemediationStatus:
    rem = rem or remediation()
    out = fire("gated", rem, decided(rem, **target_kwargs), obs(policy=allow()))
    assert out.status.phase is Phase.EXECUTING
    return out.status


def with_intent(status: RemediationStatus, rem: Remediation | None = None,
                **target_kwargs: Any) -> RemediationStatus:
    out = fire("prepare", rem or remediation(), status, obs(target=target(**target_kwargs)))
    assert out.status.intent is not None
    return out.status


# -- the table ----------------------------------------------------------------------------------


def test_every_transition_is_drawn_in_the_documented_diagram() -> None:
    doc = (ROOT / "docs" / "lifecycle.md").read_text()
    assert lifecycle.mermaid() in doc, "docs/lifecycle.md: paste lifecycle.mermaid() again"
    drawn = set(re.findall(r"^ {4}(\S+) --> (\S+?)(?:: (\S+))?$", doc, re.M))
    for t in TRANSITIONS:
        for source in t.sources:
            for phase in t.targets:
                assert (source.value if source else "[*]", phase.value, t.trigger) in drawn
        targets = ", ".join(p.value for p in t.targets)
        assert f"| `{t.trigger}` | {targets} | `{t.run.__name__}` |" in doc, t.trigger


def test_each_trigger_fires_from_one_transition_per_phase() -> None:
    seen = [(s, t.trigger) for t in TRANSITIONS for s in t.sources]
    assert len(seen) == len(set(seen))


def test_an_outcome_outside_the_table_is_refused() -> None:
    with pytest.raises(TransitionError):
        fire("acted", remediation(), RemediationStatus(phase=Phase.VERIFYING), obs())


# -- created --------------------------------------------------------------------------------------


def test_created_writes_a_first_status_with_the_diagnosis() -> None:
    out = fire("created", remediation(), None, obs())
    assert out.status.phase is Phase.DETECTED
    assert [e.step for e in out.status.timeline] == ["detected", "diagnosed"]
    assert "revision 2 at 09:59" in out.status.timeline[1].message
    assert effects(out, WriteStatus) and not out.wait


# -- decide ---------------------------------------------------------------------------------------


def test_decide_pins_the_target_and_asks_the_policy() -> None:
    out = fire("decide", remediation(), RemediationStatus(), obs(target=target()))
    action = out.status.action
    assert action is not None and action.name == "undo"
    assert action.params["toRevision"] == "1"
    assert action.pinned is not None
    assert (action.pinned.uid, action.pinned.revision, action.pinned.replicas,
            action.pinned.replica_set) == ("u1", 2, 3, "web-rs2")
    assert re.fullmatch("[0-9a-f]{64}", action.digest)
    assert out.status.decisions == 1 and out.status.phase is Phase.DETECTED
    [ask] = effects(out, AskPolicy)
    assert ask.then == "gated" and ask.input.action.params["toRevision"] == 1
    assert not effects(out, WriteStatus)  # the decision is saved with the policy's answer


def test_decide_skips_an_action_that_cannot_apply_and_records_why() -> None:
    first = TargetState(deployment(revision=1), (replica_set(1),))
    out = fire("decide", remediation(), RemediationStatus(), obs(target=first))
    assert out.status.tried_actions == ["undo"]
    assert "no previous revision" in out.status.timeline[-1].message
    assert out.status.action is None and effects(out, WriteStatus) and not out.wait


def test_decide_refuses_a_restart_whose_strategy_cannot_keep_pods_available() -> None:
    status = RemediationStatus(tried_actions=["undo"])
    recreate = target(strategy={"type": "Recreate"})
    out = fire("decide", remediation(), status, obs(target=recreate))
    assert out.status.tried_actions == ["undo", "bounce"]
    assert "would keep no pod available" in out.status.timeline[-1].message


def test_decide_passes_the_restart_floor_to_the_action() -> None:
    out = fire("decide", remediation(), RemediationStatus(tried_actions=["undo"]),
               obs(target=target(replicas=4, ready=4)))
    assert out.status.action is not None
    assert out.status.action.params["minAvailable"] == "3"


def test_decide_escalates_when_no_action_is_left() -> None:
    status = RemediationStatus(tried_actions=["undo", "bounce", "evict"])
    out = fire("decide", remediation(), status, obs(target=target()))
    assert out.status.phase is Phase.ESCALATED
    assert condition(out.status, "Ready") == ("False", "NoActionLeft")
    assert [n.event for n in effects(out, Notify)] == [NotificationEvent.ESCALATED]
    assert effects(out, Closed)


def test_decide_retries_a_transient_read_error_then_escalates() -> None:
    error = ReadError("unavailable", "connection refused")
    out = fire("decide", remediation(), RemediationStatus(), obs(0, target=error))
    assert out.status.phase is Phase.DETECTED and out.wait
    assert condition(out.status, "TargetReadable") == ("False", "ReadFailed")
    again = fire("decide", remediation(), out.status, obs(60, target=error))
    assert again.status.phase is Phase.DETECTED
    late = fire("decide", remediation(), again.status, obs(121, target=error))
    assert late.status.phase is Phase.ESCALATED
    assert condition(late.status, "Ready") == ("False", "TargetUnavailable")
    # A good read in between starts the count again.
    ok = fire("decide", remediation(), again.status, obs(100, target=target()))
    assert all(c.type != "TargetReadable" for c in ok.status.conditions)


def test_decide_escalates_at_once_when_the_target_is_gone() -> None:
    out = fire("decide", remediation(), RemediationStatus(),
               obs(target=ReadError("not-found", "deployments.apps \"web\" not found")))
    assert out.status.phase is Phase.ESCALATED


def test_decide_blocks_on_the_runbooks_own_rate_limit() -> None:
    out = fire("decide", remediation(), RemediationStatus(),
               obs(target=target(), history=RemediationHistory(actions_last_hour=3)))
    assert out.status.phase is Phase.BLOCKED
    assert condition(out.status, "PolicyAllowed") == ("False", "RunbookGuardrail")
    assert not effects(out, AskPolicy)


# -- gated ----------------------------------------------------------------------------------------


def test_gated_allowed_goes_to_executing() -> None:
    out = fire("gated", remediation(), decided(), obs(policy=allow()))
    assert out.status.phase is Phase.EXECUTING and not out.wait
    assert condition(out.status, "PolicyAllowed")[0] == "True"
    assert effects(out, WriteStatus)


def test_gated_denied_blocks() -> None:
    out = fire("gated", remediation(), decided(), obs(policy=deny()))
    assert out.status.phase is Phase.BLOCKED
    assert "Fridays" in effects(out, PostEvent)[0].message


def test_gated_unavailable_policy_engine_blocks() -> None:
    out = fire("gated", remediation(), decided(),
               obs(policy=PolicyDecision.unavailable("connection refused")))
    assert out.status.phase is Phase.BLOCKED
    assert condition(out.status, "PolicyAllowed") == ("False", "PolicyEngineUnavailable")


def test_gated_dry_run_closes_without_acting() -> None:
    out = fire("gated", remediation(), decided(), obs(policy=allow(), runbook=runbook(
        mode="dry-run")))
    assert out.status.phase is Phase.DRY_RUN
    assert "would rollback" in effects(out, PostEvent)[0].message


def test_gated_approval_required_publishes_the_digest() -> None:
    status = decided()
    out = fire("gated", remediation(), status, obs(policy=allow(require_approval=True)))
    assert out.status.phase is Phase.AWAITING_APPROVAL
    pending = out.status.pending_approval
    assert pending is not None and status.action is not None
    assert (pending.action, pending.digest) == ("undo", status.action.digest)
    assert condition(out.status, "Approved") == ("Unknown", "AwaitingApproval")
    assert "kubeheal approve web-1 -n shop" in effects(out, PostEvent)[0].message
    (notify,) = effects(out, Notify)
    assert notify.event is NotificationEvent.APPROVAL_REQUESTED
    assert "undo awaits approval" in notify.message


# -- approval -------------------------------------------------------------------------------------


def awaiting() -> RemediationStatus:
    return fire("gated", remediation(), decided(),
                obs(policy=allow(require_approval=True))).status


def decision(digest: str, decision: str = "approved", seconds: float = 5) -> dict[str, Any]:
    return {"digest": digest, "decision": decision, "approver": "alice",
            "time": at(seconds).isoformat(), "reason": "bad release"}


def test_approval_waits_for_a_decision_on_its_digest() -> None:
    status = awaiting()
    other = remediation([decision("0" * 64)])  # an approval of something else
    out = fire("approval", other, status, obs(10))
    assert out.status.phase is Phase.AWAITING_APPROVAL and out.effects == ()


def test_approval_approved_executes_and_clears_the_pending_digest() -> None:
    status = awaiting()
    assert status.pending_approval is not None
    rem = remediation([decision(status.pending_approval.digest)])
    out = fire("approval", rem, status, obs(10))
    assert out.status.phase is Phase.EXECUTING
    assert out.status.pending_approval is None
    assert condition(out.status, "Approved") == ("True", "Approved")


def test_approval_rejected_escalates() -> None:
    status = awaiting()
    assert status.pending_approval is not None
    rem = remediation([decision(status.pending_approval.digest, "rejected")])
    out = fire("approval", rem, status, obs(10))
    assert out.status.phase is Phase.ESCALATED
    assert condition(out.status, "Approved") == ("False", "Rejected")


def test_approval_times_out() -> None:
    out = fire("approval", remediation(), awaiting(), obs(901))
    assert out.status.phase is Phase.ESCALATED
    assert condition(out.status, "Approved") == ("False", "ApprovalTimedOut")


# -- prepare --------------------------------------------------------------------------------------


def test_prepare_writes_the_intent_before_the_call() -> None:
    out = fire("prepare", remediation(), executing(), obs(target=target()))
    write, call = out.effects
    assert isinstance(write, WriteStatus) and isinstance(call, CallAction)
    assert write.status.intent == call.intent and call.fresh
    assert call.intent.token == "web-1.1"
    assert call.intent.action.params["toRevision"] == "1"


def test_prepare_records_the_pod_to_evict_in_the_intent() -> None:
    rem = remediation()
    status = RemediationStatus(tried_actions=["undo", "bounce"])
    status = fire("decide", rem, status, obs(target=target())).status
    status = fire("gated", rem, status, obs(policy=allow())).status
    pods = [pod("web-a"), pod("web-b", restarts=4)]
    out = fire("prepare", rem, status, obs(target=target(pods=pods)))
    assert out.status.intent is not None
    assert out.status.intent.action.params["pod"] == "web-b"


def test_prepare_does_nothing_on_a_changed_target_and_decides_again() -> None:
    status = executing()
    out = fire("prepare", remediation(), status, obs(target=target(replicas=5)))
    assert out.status.phase is Phase.DETECTED and out.status.redecisions == 1
    assert not effects(out, CallAction)
    assert "spec.replicas 3 -> 5" in effects(out, PostEvent)[0].message
    rollout = fire("prepare", remediation(), status, obs(target=target(revision=3,
                                                                       image="v3")))
    assert "pod template changed" in rollout.status.timeline[-1].message


def test_redecisions_are_bounded() -> None:
    status = executing().model_copy(update={"redecisions": MAX_REDECISIONS})
    out = fire("prepare", remediation(), status, obs(target=target(replicas=5)))
    assert out.status.phase is Phase.ESCALATED
    assert condition(out.status, "Ready") == ("False", "TargetKeptChanging")


def test_a_new_decision_needs_a_new_approval() -> None:
    rem = remediation()
    first = awaiting()
    assert first.action is not None
    again = fire("prepare", rem, first.model_copy(update={"phase": Phase.EXECUTING}),
                 obs(target=target(replicas=5))).status
    second = fire("decide", rem, again, obs(target=target(replicas=5))).status
    assert second.action is not None and second.action.digest != first.action.digest
    gated = fire("gated", remediation([decision(first.action.digest)]), second,
                 obs(policy=allow(require_approval=True)))
    assert gated.status.phase is Phase.AWAITING_APPROVAL
    waiting = fire("approval", remediation([decision(first.action.digest)]), gated.status,
                   obs(10))
    assert waiting.status.phase is Phase.AWAITING_APPROVAL  # the old approval does not count


def approved_executing() -> tuple[Remediation, RemediationStatus]:
    status = awaiting()
    assert status.pending_approval is not None
    rem = remediation([decision(status.pending_approval.digest)])
    return rem, fire("approval", rem, status, obs(10)).status


def test_prepare_asks_the_policy_again_before_an_approved_action() -> None:
    rem, status = approved_executing()
    out = fire("prepare", rem, status, obs(20, target=target()))
    [ask] = out.effects
    assert isinstance(ask, AskPolicy) and ask.then == "regated"
    assert ask.input.action.params["toRevision"] == 1


def test_regated_deny_blocks_the_approved_action() -> None:
    rem, status = approved_executing()
    out = fire("regated", rem, status, obs(20, target=target(), policy=deny()))
    assert out.status.phase is Phase.BLOCKED and not effects(out, CallAction)


def test_regated_allow_writes_the_intent_and_calls() -> None:
    rem, status = approved_executing()
    out = fire("regated", rem, status, obs(20, target=target(), policy=allow(True)))
    assert out.status.phase is Phase.EXECUTING and effects(out, CallAction)


def test_an_action_that_needed_approval_never_runs_without_one() -> None:
    status = awaiting()
    status.phase = Phase.EXECUTING  # however it got here, the approval is what counts
    out = fire("prepare", remediation(), status, obs(20, target=target()))
    assert out.status.phase is Phase.ESCALATED and out.status.intent is None
    assert condition(out.status, "Ready") == ("False", "NotApproved")
    assert not effects(out, CallAction)


def test_a_rejected_action_never_runs() -> None:
    status = awaiting()
    assert status.pending_approval is not None
    rem = remediation([decision(status.pending_approval.digest, "rejected")])
    status.phase = Phase.EXECUTING
    out = fire("prepare", rem, status, obs(20, target=target()))
    assert out.status.phase is Phase.ESCALATED and not effects(out, CallAction)


def test_an_expired_approval_is_not_executed() -> None:
    rem, status = approved_executing()
    out = fire("prepare", rem, status, obs(3600 + 60, target=target()))
    assert out.status.phase is Phase.ESCALATED
    assert condition(out.status, "Approved") == ("False", "ApprovalExpired")


def test_prepare_asks_the_policy_again_when_its_answer_is_old() -> None:
    out = fire("prepare", remediation(), executing(),
               obs(POLICY_MAX_AGE_SECONDS + 1, target=target()))
    [ask] = out.effects
    assert isinstance(ask, AskPolicy) and ask.then == "regated"
    assert out.status.intent is None
    fresh = fire("prepare", remediation(), executing(),
                 obs(POLICY_MAX_AGE_SECONDS, target=target()))
    assert effects(fresh, CallAction)


def test_nothing_is_executed_for_an_incident_whose_claim_moved() -> None:
    out = fire("prepare", remediation(), executing(), obs(target=target(), claimed=False))
    assert out.status.phase is Phase.ESCALATED and not effects(out, CallAction)
    assert condition(out.status, "Ready") == ("False", "ClaimLost")


# -- acted ----------------------------------------------------------------------------------------


def result(already: bool = False) -> ActionResult:
    return ActionResult("rollback", "deployment shop/web", "web-1.1", 5,
                        "rolled back deployment shop/web to revision 1", already)


def test_acted_executed_starts_verification() -> None:
    status = with_intent(executing())
    out = fire("acted", remediation(), status, obs(1, result=result()))
    assert out.status.phase is Phase.VERIFYING and out.status.intent is None
    assert [e.outcome for e in out.status.executions] == ["executed"]
    assert out.status.tried_actions == ["undo"]
    assert effects(out, CountAction) == [CountAction("rollback", "executed")]


def test_acted_after_a_restart_says_so_and_counts_nothing_twice() -> None:
    status = with_intent(executing())
    out = fire("acted", remediation(), status, obs(1, result=result(True), resumed=True))
    assert "settled after a restart" in out.status.executions[0].message
    assert not effects(out, CountAction)


@pytest.mark.parametrize("reason", ["not-found", "forbidden", "invalid", "unsafe",
                                    "no-previous-revision"])
def test_acted_definite_failure_moves_on(reason: str) -> None:
    status = with_intent(executing())
    out = fire("acted", remediation(), status, obs(1, result=ActionError(reason, "no")))  # type: ignore[arg-type]
    assert out.status.phase is Phase.DETECTED and out.status.intent is None
    assert [e.outcome for e in out.status.executions] == ["failed"]
    assert out.status.tried_actions == ["undo"]


@pytest.mark.parametrize("reason", ["unavailable", "conflict", "ambiguous", "blocked-by-pdb"])
def test_acted_open_outcome_keeps_the_intent_and_retries_the_same_token(reason: str) -> None:
    status = with_intent(executing())
    out = fire("acted", remediation(), status, obs(1, result=ActionError(reason, "503")))  # type: ignore[arg-type]
    assert out.status.phase is Phase.EXECUTING and out.wait
    intent = out.status.intent
    assert intent is not None and intent.token == "web-1.1" and intent.attempts == 1
    assert out.status.executions == [] and out.status.tried_actions == []
    # Not before retryAt; then the same call again.
    early = fire("resume", remediation(), out.status, obs(2, target=target()))
    assert early.effects == ()
    later = fire("resume", remediation(), out.status, obs(60, target=target()))
    [call] = effects(later, CallAction)
    assert call.intent.token == "web-1.1" and not call.fresh


def test_acted_target_changed_decides_again_without_trying_the_next_action() -> None:
    status = with_intent(executing())
    changed = ActionError("target-changed", "rollback of deployment shop/web refused: the "
                          "target changed since the decision (revision 2 -> 3)")
    out = fire("acted", remediation(), status, obs(1, result=changed))
    assert out.status.phase is Phase.DETECTED and out.status.redecisions == 1
    assert out.status.tried_actions == [], "decided again, not counted as tried"
    assert [e.outcome for e in out.status.executions] == ["not-executed"]
    assert out.status.intent is None and not effects(out, CountAction)
    assert effects(out, PostEvent)[0].reason == "TargetChanged"
    status = with_intent(executing()).model_copy(update={"redecisions": MAX_REDECISIONS})
    late = fire("acted", remediation(), status, obs(1, result=changed))
    assert late.status.phase is Phase.ESCALATED
    assert condition(late.status, "Ready") == ("False", "TargetKeptChanging")


def test_acted_open_outcome_escalates_after_the_bound_with_the_intent_kept() -> None:
    status = with_intent(executing())
    assert status.intent is not None
    status.intent.attempts = MAX_ATTEMPTS - 1
    out = fire("acted", remediation(), status, obs(1, result=ActionError("ambiguous", "?")))
    assert out.status.phase is Phase.ESCALATED
    assert out.status.intent is not None and out.status.intent.attempts == MAX_ATTEMPTS
    assert condition(out.status, "Ready") == ("False", "ActionUnsettled")


# -- resume ---------------------------------------------------------------------------------------


def test_resume_settles_an_intent_whose_token_is_on_the_target() -> None:
    status = with_intent(executing())
    # The rollback landed (new template, revision 3) and carries our token.
    landed = target(revision=3, image="good", token="web-1.1")
    out = fire("resume", remediation(), status, obs(5, target=landed))
    [call] = effects(out, CallAction)
    assert not call.fresh


def test_resume_on_a_changed_target_without_our_token_executes_nothing() -> None:
    status = with_intent(executing())
    out = fire("resume", remediation(), status, obs(5, target=target(revision=3, image="v3")))
    assert out.status.phase is Phase.DETECTED and not effects(out, CallAction)
    assert [e.outcome for e in out.status.executions] == ["not-executed"]
    assert out.status.intent is None


def test_resume_uses_the_recorded_pod() -> None:
    rem = remediation()
    status = RemediationStatus(tried_actions=["undo", "bounce"])
    status = fire("decide", rem, status, obs(target=target())).status
    status = fire("gated", rem, status, obs(policy=allow())).status
    status = fire("prepare", rem, status, obs(target=target(pods=[pod("web-a", 3)]))).status
    out = fire("resume", rem, status, obs(5, target=target(pods=[pod("web-z", 9)])))
    [call] = effects(out, CallAction)
    assert call.intent.action.params["pod"] == "web-a"


def test_resume_settles_a_scale_of_an_hpa_by_the_hpas_token() -> None:
    rem = remediation()
    hpa = {"metadata": {"name": "web"}, "spec": {"minReplicas": 2, "maxReplicas": 4}}
    scaled = runbook(actions=[{"name": "out", "kind": "scale", "when": {"causes": ["change"]},
                               "scale": {"maxReplicas": 6}}])
    before = TargetState(deployment(), (replica_set(2),), hpa)
    status = fire("decide", rem, RemediationStatus(), obs(target=before, runbook=scaled)).status
    status = fire("gated", rem, status, obs(policy=allow(), runbook=scaled)).status
    status = fire("prepare", rem, status, obs(target=before, runbook=scaled)).status
    assert status.intent is not None and status.intent.action.params["replicas"] == "4"
    # The HPA took the new floor with our token; the Deployment has no token of ours.
    landed = {"metadata": {"name": "web", "annotations": {TOKEN_ANNOTATION: "web-1.1"}},
              "spec": {"minReplicas": 4, "maxReplicas": 4}}
    after = TargetState(deployment(replicas=4), (replica_set(2),), landed)
    out = fire("resume", rem, status, obs(5, target=after, runbook=scaled))
    [call] = effects(out, CallAction)
    assert call.intent.token == "web-1.1" and out.status.redecisions == 0
    # Without the token, a changed HPA is a changed target: nothing runs.
    moved = {**landed, "metadata": {"name": "web"}}
    other = fire("resume", rem, status, obs(5, target=TargetState(deployment(), (), moved),
                                            runbook=scaled))
    assert other.status.phase is Phase.DETECTED and not effects(other, CallAction)


def evicting(rem: Remediation) -> RemediationStatus:
    status = RemediationStatus(tried_actions=["undo", "bounce"])
    status = fire("decide", rem, status, obs(target=target())).status
    status = fire("gated", rem, status, obs(policy=allow())).status
    return fire("prepare", rem, status, obs(target=target(pods=[pod("web-a", 3)]))).status


def test_resume_settles_an_eviction_by_its_recorded_pod() -> None:
    rem = remediation()
    status = evicting(rem)
    # The pod is gone (evicted, replaced) and the Deployment was scaled since: settled, not
    # decided again.
    out = fire("resume", rem, status, obs(5, target=target(replicas=4, pods=[pod("web-z")])))
    [call] = effects(out, CallAction)
    assert call.intent.action.params["pod"] == "web-a"
    still = fire("resume", rem, status, obs(5, target=target(replicas=4,
                                                             pods=[pod("web-a", 3)])))
    assert still.status.phase is Phase.DETECTED and not effects(still, CallAction)


def test_the_eviction_is_told_the_floor_the_policy_judged() -> None:
    status = evicting(remediation())
    assert status.intent is not None
    assert status.intent.action.params["minAvailable"] == "2"  # 3 ready, one evicted


def test_resume_checks_the_claim_again() -> None:
    status = with_intent(executing())
    out = fire("resume", remediation(), status, obs(5, target=target(), claimed=False))
    assert out.status.phase is Phase.ESCALATED and not effects(out, CallAction)
    assert [e.outcome for e in out.status.executions] == ["not-executed"]


def test_resume_of_an_approved_intent_after_its_approval_expired_executes_nothing() -> None:
    rem, status = approved_executing()
    status = fire("regated", rem, status, obs(20, target=target(), policy=allow(True))).status
    assert status.intent is not None
    out = fire("resume", rem, status, obs(3600 + 60, target=target()))
    assert out.status.phase is Phase.ESCALATED and not effects(out, CallAction)
    assert condition(out.status, "Approved") == ("False", "ApprovalExpired")
    assert [e.outcome for e in out.status.executions] == ["not-executed"]


def test_resume_with_an_old_policy_answer_asks_again_then_calls_the_same_intent() -> None:
    status = with_intent(executing())
    late = obs(POLICY_MAX_AGE_SECONDS + 5, target=target())
    out = fire("resume", remediation(), status, late)
    [ask] = out.effects
    assert isinstance(ask, AskPolicy) and ask.then == "regated"
    allowed = fire("regated", remediation(), out.status,
                   dataclasses.replace(late, policy=allow()))
    [call] = effects(allowed, CallAction)
    assert call.intent.token == "web-1.1" and not call.fresh
    denied = fire("regated", remediation(), out.status, dataclasses.replace(late, policy=deny()))
    assert denied.status.phase is Phase.BLOCKED and not effects(denied, CallAction)
    assert [e.outcome for e in denied.status.executions] == ["not-executed"]


# -- verify ---------------------------------------------------------------------------------------


def verifying() -> RemediationStatus:
    return fire("acted", remediation(), with_intent(executing()), obs(0, result=result())).status


def healthy(s: float) -> Observations:
    return obs(s, health=Health("healthy", "errors 0.01 within 0.05"))


def test_verify_waits_for_the_rollout() -> None:
    rolling = deployment(revision=3)
    rolling["status"]["updatedReplicas"] = 1
    out = fire("verify", remediation(), verifying(),
               obs(5, target=TargetState(rolling)))
    assert out.status.phase is Phase.VERIFYING and out.effects == ()


def test_verify_succeeds_after_the_window() -> None:
    status = fire("verify", remediation(), verifying(), dataclasses.replace(
        healthy(5), target=target(revision=3))).status
    assert status.verification is not None and status.verification.healthy_since == at(5)
    done = fire("verify", remediation(), status, healthy(40))
    assert done.status.phase is Phase.SUCCEEDED
    assert condition(done.status, "Verified") == ("True", "Recovered")


def test_verify_inconclusive_never_moves_to_the_next_action() -> None:
    status = fire("verify", remediation(), verifying(), dataclasses.replace(
        healthy(5), target=target(revision=3))).status
    missing = Health("inconclusive", "signal errors: unavailable: connection refused",
                     "PrometheusUnavailable")
    out = fire("verify", remediation(), status, obs(30, health=missing))
    assert out.status.phase is Phase.VERIFYING
    assert condition(out.status, "Inconclusive") == ("True", "PrometheusUnavailable")
    assert out.status.verification is not None and out.status.verification.healthy_since is None
    late = fire("verify", remediation(), out.status, obs(5 + 121, health=missing))
    assert late.status.phase is Phase.ESCALATED
    assert condition(late.status, "Ready") == ("False", "Inconclusive")
    assert late.status.verification is not None
    assert late.status.verification.result == "inconclusive"
    assert late.status.tried_actions == ["undo"] and late.status.intent is None


def test_verify_conclusive_unhealthy_at_the_deadline_tries_the_next_action() -> None:
    status = fire("verify", remediation(), verifying(), dataclasses.replace(
        healthy(5), target=target(revision=3))).status
    bad = Health("unhealthy", "signal errors = 0.4, past 0.05")
    out = fire("verify", remediation(), status, obs(30, health=bad))
    assert out.status.phase is Phase.VERIFYING
    assert condition(out.status, "Inconclusive") == ("False", "DataPresent")
    late = fire("verify", remediation(), out.status, obs(5 + 121, health=bad))
    assert late.status.phase is Phase.DETECTED
    assert condition(late.status, "Verified") == ("False", "VerificationFailed")


def test_verify_rollout_that_never_completes_fails() -> None:
    rolling = deployment(revision=3)
    rolling["status"]["updatedReplicas"] = 1
    out = fire("verify", remediation(), verifying(), obs(61, target=TargetState(rolling)))
    assert out.status.phase is Phase.DETECTED


def test_verify_unreadable_target_is_retried_then_inconclusive() -> None:
    error = ReadError("unavailable", "timeout")
    out = fire("verify", remediation(), verifying(), obs(5, target=error))
    assert out.status.phase is Phase.VERIFYING
    late = fire("verify", remediation(), verifying(), obs(61, target=error))
    assert late.status.phase is Phase.ESCALATED
    assert condition(late.status, "Ready") == ("False", "Inconclusive")


def test_detector_state_that_is_stale_or_missing_is_inconclusive() -> None:
    now = at(100)
    fresh, old = at(95).timestamp(), at(80).timestamp()
    assert detector_health({"errors": (fresh, False)}, now, 5).verdict == "healthy"
    assert detector_health({"errors": (fresh, True)}, now, 5).verdict == "unhealthy"
    stale = detector_health({"errors": (old, False)}, now, 5)
    assert (stale.verdict, stale.reason) == ("inconclusive", "DetectorStale")
    assert detector_health({"errors": (old, True)}, now, 5).verdict == "inconclusive", \
        "an old alarm says nothing about now"
    assert detector_health({"errors": None, "latency": (fresh, False)}, now, 5).reason == \
        "DetectorStateMissing"
    assert detector_health({"errors": None, "latency": (fresh, True)}, now, 5).verdict == \
        "unhealthy"


def test_every_close_releases_the_claim() -> None:
    closes = [
        fire("gated", remediation(), decided(), obs(policy=deny())),
        fire("approval", remediation(), awaiting(), obs(901)),
        fire("verify", remediation(), verifying(), obs(61, target=ReadError("unavailable", "x"))),
    ]
    for out in closes:
        assert out.status.phase.terminal and effects(out, ReleaseClaim)
        assert out.effects.index(effects(out, ReleaseClaim)[0]) > \
            out.effects.index(effects(out, WriteStatus)[0]), "after the terminal status"


# -- runbook-unavailable --------------------------------------------------------------------------


@pytest.mark.parametrize("phase", [Phase.DETECTED, Phase.AWAITING_APPROVAL, Phase.EXECUTING,
                                   Phase.VERIFYING])
def test_a_missing_runbook_escalates_from_every_open_phase(phase: Phase) -> None:
    out = fire("runbook-unavailable", remediation(), RemediationStatus(phase=phase),
               Observations(at(0), None, runbook_problem="not found"))
    assert out.status.phase is Phase.ESCALATED
    assert condition(out.status, "Ready") == ("False", "RunbookUnavailable")


# -- resize ---------------------------------------------------------------------------------------

RESIZE = {"name": "more-memory", "kind": "resize", "when": {"causes": ["change"]},
          "resize": {"factor": 1.5, "maxMemory": "1Gi"}}


def container(name: str, limit: str | None = "256Mi", request: str | None = "128Mi",
              ) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if limit:
        resources["limits"] = {"memory": limit}
    if request:
        resources["requests"] = {"memory": request}
    return {"name": name, "image": f"{name}:1", "resources": resources}


def with_containers(*containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return deployment(template={"spec": {"containers": list(containers)}}, **spec)


def oom_pod(name: str, killed: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"containerStatuses": [
        {"name": killed, "restartCount": 2,
         "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]}}


def resize(**bounds: Any) -> Action:
    return Action.model_validate({**RESIZE, "resize": {**RESIZE["resize"], **bounds}})


def test_a_resize_raises_the_single_container_by_the_factor_with_its_request() -> None:
    candidate, params, why = concrete_resize(resize(), with_containers(container("app")), [])
    assert why == "" and candidate is not None
    assert params == {"container": "app", "memoryLimit": "384Mi", "from": "256Mi",
                      "factor": "1.5", "maxMemory": "1Gi", "minAvailable": "3",
                      "memoryRequest": "192Mi", "requestFrom": "128Mi"}
    assert candidate.kind is ActionKind.RESIZE
    assert dict(candidate.params) == {"container": "app", "fromBytes": 256 * 2**20,
                                      "toBytes": 384 * 2**20, "maxBytes": 2**30,
                                      "factor": 1.5, "podsUnavailable": 0}


def test_a_resize_defaults_to_the_container_being_oom_killed() -> None:
    d = with_containers(container("proxy", "64Mi", None), container("app"))
    pods = [oom_pod("web-a", "app"), oom_pod("web-b", "app")]
    assert concrete_resize(resize(), d, pods)[1]["container"] == "app"
    assert concrete_resize(resize(container="proxy"), d, pods)[1]["memoryLimit"] == "96Mi"


def test_a_resize_of_several_containers_none_killed_none_named_is_not_guessed() -> None:
    d = with_containers(container("proxy"), container("app"))
    candidate, _, why = concrete_resize(resize(), d, [])
    assert candidate is None and "name one in resize.container" in why


def test_a_resize_is_capped_at_the_maximum_and_stops_there() -> None:
    _, params, _ = concrete_resize(resize(), with_containers(container("app", "800Mi", None)),
                                   [])
    assert (params["memoryLimit"], "memoryRequest" in params) == ("1Gi", False)
    candidate, _, why = concrete_resize(resize(), with_containers(container("app", "1Gi")), [])
    assert candidate is None and why.endswith("nothing left to raise")


def test_a_resize_without_a_limit_or_of_an_unknown_container_names_it() -> None:
    assert "no memory limit" in concrete_resize(
        resize(), with_containers(container("app", None)), [])[2]
    assert "no container 'db'" in concrete_resize(
        resize(container="db"), with_containers(container("app")), [])[2]


def test_a_resize_under_a_recreate_strategy_cannot_keep_the_floor() -> None:
    d = with_containers(container("app"), strategy={"type": "Recreate"})
    candidate, _, why = concrete_action(resize(), d, [], [])
    assert candidate is None and "a resize would keep no pod available" in why


def test_decide_a_resize_pins_the_template_and_asks_the_policy_in_bytes() -> None:
    state = TargetState(with_containers(container("web")), pods=(oom_pod("web-a", "web"),))
    status = RemediationStatus(tried_actions=["undo"])
    out = fire("decide", remediation(), status,
               obs(runbook=runbook(actions=[RESIZE]), target=state))
    chosen = out.status.action
    assert chosen is not None and chosen.kind is ActionKind.RESIZE
    assert chosen.pinned is not None and chosen.pinned.template_hash
    assert (chosen.params["container"], chosen.params["memoryLimit"]) == ("web", "384Mi")
    [ask] = effects(out, AskPolicy)
    assert ask.input.to_opa()["action"]["params"]["toBytes"] == 384 * 2**20
    assert ask.input.risk.factors[0].explanation.startswith("resize:")


def test_decide_escalates_when_the_limit_is_at_the_maximum_and_nothing_is_left() -> None:
    book = runbook(actions=[RESIZE])
    state = TargetState(with_containers(container("web", "1Gi")))
    skipped = fire("decide", remediation(), RemediationStatus(), obs(runbook=book,
                                                                    target=state))
    assert skipped.status.tried_actions == ["more-memory"]
    assert "nothing left to raise" in skipped.status.timeline[-1].message
    out = fire("decide", remediation(), skipped.status, obs(runbook=book, target=state))
    assert condition(out.status, "Ready") == ("False", "NoActionLeft")
