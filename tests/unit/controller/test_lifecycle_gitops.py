"""The lifecycle of a remediation whose target Argo CD or Flux reconciles: the owner is part of
the decision, its reconciliation is suspended before the action and recorded, and an owner
that cannot be suspended leaves the workload alone and escalates. No I/O."""

from __future__ import annotations

import dataclasses
from typing import Any

from kubeheal.act.suspension import SuspensionError, SuspensionResult
from kubeheal.api.remediation import ManagedBy, Phase, RemediationStatus
from kubeheal.controller.lifecycle import (
    CallAction,
    Notify,
    PostEvent,
    SuspendOwner,
    TargetState,
    WriteStatus,
    fire,
)
from unit.controller.test_lifecycle import (
    allow,
    condition,
    effects,
    healthy,
    obs,
    remediation,
    result,
    runbook,
    target,
)

ARGO = ManagedBy(tool="argocd", api_version="argoproj.io/v1alpha1", kind="Application",
                 namespace="argocd", name="shop", via="annotation argocd.argoproj.io/tracking-id")
FLUX = ManagedBy(tool="flux", api_version="kustomize.toolkit.fluxcd.io/v1",
                 kind="Kustomization", namespace="flux-system", name="apps", via="labels")
SUSPENDED = SuspensionResult("spec.syncPolicy.automated", '{"selfHeal":true}', True,
                             "suspended the reconciliation of Argo CD Application argocd/shop: "
                             'automated sync removed (was {"selfHeal":true})')


def managed(owner: ManagedBy | None = ARGO, **kwargs: Any) -> TargetState:
    return dataclasses.replace(target(**kwargs), managed_by=owner)


def executing_managed(owner: ManagedBy | None = ARGO) -> RemediationStatus:
    rem = remediation()
    decided = fire("decide", rem, RemediationStatus(), obs(target=managed(owner))).status
    out = fire("gated", rem, decided, obs(policy=allow()))
    assert out.status.phase is Phase.EXECUTING
    return out.status


def suspending() -> tuple[RemediationStatus, SuspendOwner]:
    out = fire("prepare", remediation(), executing_managed(), obs(target=managed()))
    write, suspend = out.effects
    assert isinstance(write, WriteStatus) and isinstance(suspend, SuspendOwner)
    return out.status, suspend


def test_the_decision_names_the_owner_and_the_policy_and_risk_see_it() -> None:
    rem = remediation()
    plain = fire("decide", rem, RemediationStatus(), obs(target=target()))
    out = fire("decide", rem, RemediationStatus(), obs(target=managed()))
    assert out.status.action is not None and out.status.action.managed_by == ARGO
    [ask] = [e for e in out.effects if type(e).__name__ == "AskPolicy"]
    assert ask.input.to_opa()["target"]["managedBy"]["name"] == "shop"
    assert out.status.risk is not None and plain.status.risk is not None
    assert out.status.risk.score > plain.status.risk.score
    assert "gitops_managed" in [f.name for f in out.status.risk.factors]
    assert "gitops_managed" not in [f.name for f in plain.status.risk.factors]
    assert plain.status.action is not None
    assert out.status.action.digest != plain.status.action.digest, \
        "approving the action approves suspending its owner"


def test_the_intent_is_written_then_the_owner_suspended_before_any_call() -> None:
    status, suspend = suspending()
    assert status.intent is not None and suspend.intent == status.intent and suspend.fresh
    assert suspend.intent.action.managed_by == ARGO


def test_a_suspension_is_recorded_told_plainly_and_then_the_action_is_called() -> None:
    status, _ = suspending()
    out = fire("suspended", remediation(), status, obs(1, suspension=SUSPENDED))
    assert out.status.phase is Phase.EXECUTING
    gitops = out.status.gitops
    assert gitops is not None and gitops.owner == ARGO and gitops.changed
    assert (gitops.field, gitops.previous, gitops.token) == (
        "spec.syncPolicy.automated", '{"selfHeal":true}', "web-1.1")
    assert condition(out.status, "ReconciliationSuspended") == ("True", "SuspendedByKubeheal")
    [event] = effects(out, PostEvent)
    assert event.reason == "ReconciliationSuspended"
    assert "stays suspended until a human confirms that Git holds the fix" in event.message
    assert "kubeheal gitops resume web-1 -n shop" in event.message
    assert event.message in out.status.timeline[-1].message
    write, _, call = out.effects
    assert isinstance(write, WriteStatus) and isinstance(call, CallAction)
    assert call.intent.token == "web-1.1" and call.fresh


def test_an_owner_that_cannot_be_suspended_leaves_the_workload_alone_and_escalates() -> None:
    for reason in ("not-found", "forbidden", "invalid"):
        status, _ = suspending()
        error = SuspensionError(reason, "cannot suspend Argo CD Application argocd/shop: no")  # type: ignore[arg-type]
        out = fire("suspended", remediation(), status, obs(1, suspension=error))
        assert out.status.phase is Phase.ESCALATED
        assert not effects(out, CallAction)
        assert out.status.intent is None and out.status.gitops is None
        assert [e.outcome for e in out.status.executions] == ["not-executed"]
        assert condition(out.status, "Ready") == ("False", "GitOpsSuspendFailed")
        assert condition(out.status, "ReconciliationSuspended") == ("False", "SuspendFailed")
        [notify] = effects(out, Notify)
        assert "nothing was done to deployment shop/web" in notify.message


def test_an_open_suspension_is_tried_again_with_the_same_intent() -> None:
    status, _ = suspending()
    out = fire("suspended", remediation(), status,
               obs(1, suspension=SuspensionError("unavailable", "timeout")))
    assert out.status.phase is Phase.EXECUTING and out.wait
    assert out.status.intent is not None and out.status.intent.attempts == 1
    assert not effects(out, CallAction)
    later = fire("resume", remediation(), out.status, obs(60, target=managed()))
    [again] = effects(later, SuspendOwner)
    assert again.intent.token == "web-1.1" and not again.fresh


def test_a_resumed_intent_records_a_suspension_it_finds_before_settling() -> None:
    status, _ = suspending()
    # The operator died after suspending and acting: the token is on the Deployment.
    landed = managed(token="web-1.1", revision=3)
    out = fire("resume", remediation(), status, obs(5, target=landed))
    [suspend] = out.effects
    assert isinstance(suspend, SuspendOwner) and not suspend.fresh


def test_a_later_action_on_the_same_owner_does_not_suspend_again() -> None:
    status, _ = suspending()
    status = fire("suspended", remediation(), status, obs(1, suspension=SUSPENDED)).status
    status = fire("acted", remediation(), status, obs(2, result=result())).status
    assert status.phase is Phase.VERIFYING
    status.phase = Phase.EXECUTING
    status.action = status.executions[0].intent.action
    out = fire("prepare", remediation(), status, obs(3, target=managed(), policy=allow()))
    assert effects(out, CallAction) and not effects(out, SuspendOwner)


def test_an_owner_that_changed_since_the_decision_is_decided_again() -> None:
    status = executing_managed(ARGO)
    out = fire("prepare", remediation(), status, obs(target=managed(FLUX)))
    assert out.status.phase is Phase.DETECTED and out.status.redecisions == 1
    assert "GitOps owner" in out.status.timeline[-1].message
    gone = fire("prepare", remediation(), executing_managed(ARGO), obs(target=managed(None)))
    assert gone.status.phase is Phase.DETECTED


def test_the_closing_story_says_the_reconciliation_stays_suspended() -> None:
    status, _ = suspending()
    status = fire("suspended", remediation(), status, obs(1, suspension=SUSPENDED)).status
    status = fire("acted", remediation(), status, obs(2, result=result())).status
    status = fire("verify", remediation(), status, dataclasses.replace(
        healthy(5), target=target(revision=3))).status
    out = fire("verify", remediation(), status, healthy(40))
    assert out.status.phase is Phase.SUCCEEDED
    ready = next(c for c in out.status.conditions if c.type == "Ready")
    assert ready.status.value == "True"
    [closing] = [e for e in effects(out, PostEvent) if e.reason == "Recovered"]
    assert "Argo CD Application argocd/shop stays suspended" in closing.message
    assert "kubeheal gitops resume" in closing.message


def test_a_suspension_found_in_place_is_recorded_as_not_changed() -> None:
    status, _ = suspending()
    already = SuspensionResult("spec.suspend", "true", False,
                               "Flux Kustomization flux-system/apps: spec.suspend is true "
                               "already (not by kubeheal); nothing changed")
    out = fire("suspended", remediation(), status, obs(1, suspension=already))
    assert out.status.gitops is not None and not out.status.gitops.changed
    assert condition(out.status, "ReconciliationSuspended") == ("True", "SuspendedAlready")


def test_a_dry_run_says_it_would_suspend_the_owner_and_suspends_nothing() -> None:
    rem = remediation()
    decided = fire("decide", rem, RemediationStatus(), obs(target=managed())).status
    out = fire("gated", rem, decided, obs(policy=allow(), runbook=runbook(mode="dry-run")))
    assert out.status.phase is Phase.DRY_RUN
    assert not effects(out, SuspendOwner) and out.status.gitops is None
    [event] = effects(out, PostEvent)
    assert "after suspending the reconciliation of Argo CD Application argocd/shop" in \
        event.message
