"""Workloads that a GitOps controller reconciles, with the published Argo CD Application and
Flux Kustomization CRDs installed (no GitOps controller runs: kubeheal's changes to those
objects are what is checked).

A bad rollout of a Deployment that an Argo CD Application tracks (annotation) needs approval;
approved, kubeheal first removes the Application's automated sync (recording the previous
value on the Remediation and on the Application, with an Event), then rolls back, and the
Remediation's story says that the sync stays off until a human confirms Git holds the fix.
The human lifts it with their own rights (`kubeheal gitops resume`). A Deployment of a Flux
Kustomization that the operator may not patch is left alone: the Remediation escalates and
says why."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from integration.act.test_gitops import AUTOMATED, install_gitops_crds
from loopstack import (
    OPERATOR_NAMESPACE,
    OPERATOR_RELEASE,
    ROOT,
    TERMINAL,
    Json,
    LoopStack,
    timeline,
)

pytestmark = pytest.mark.stack

NS = "gitops"
ARGO, FLUX = "gitops-argo", "gitops-flux"
APP = ("argocd", "gitops-shop")
KUSTOMIZATION = ("flux-system", "apps")


def kubeheal(loop: LoopStack, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A ``kubeheal`` command line run as ``user`` with that user's own kubeconfig."""
    return subprocess.run(
        [sys.executable, "-m", "kubeheal.cli", *args, "--kubeconfig",
         str(loop.cluster.kubeconfig_for(user))],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT / "operator")})


def get(loop: LoopStack, resource: str, namespace: str, name: str) -> Json:
    body: Json = json.loads(loop.kubectl("get", resource, name, "-n", namespace, "-o",
                                         "json").stdout)
    return body


def owners(loop: LoopStack) -> None:
    """The Application (automated sync on) and the Kustomization (not suspended), and the
    operator's rights on Applications in argocd only (the chart's gitops.enabled ClusterRole,
    bound in that one namespace)."""
    for namespace in (APP[0], KUSTOMIZATION[0]):
        loop.kubectl("create", "namespace", namespace, check=False)
    loop.apply(APP[0], {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": APP[1]},
        "spec": {"project": "default",
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": NS},
                 "source": {"repoURL": "https://git.example/shop.git", "path": "deploy",
                            "targetRevision": "main"},
                 "syncPolicy": {"automated": AUTOMATED}}})
    loop.apply(KUSTOMIZATION[0], {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": KUSTOMIZATION[1]},
        "spec": {"interval": "5m", "prune": True, "path": "./shop",
                 "sourceRef": {"kind": "GitRepository", "name": "shop"}}})
    loop.kubectl("create", "rolebinding", "kubeheal-operator-gitops", "-n", APP[0],
                 "--clusterrole=kubeheal-operator-gitops",
                 f"--serviceaccount={OPERATOR_NAMESPACE}:{OPERATOR_RELEASE}-operator")
    # The workloads' GitOps marks: metadata only, no rollout.
    loop.kubectl("annotate", "deployment", ARGO, "-n", NS,
                 f"argocd.argoproj.io/tracking-id={APP[1]}:apps/Deployment:{NS}/{ARGO}")
    loop.kubectl("label", "deployment", FLUX, "-n", NS,
                 f"kustomize.toolkit.fluxcd.io/name={KUSTOMIZATION[1]}",
                 f"kustomize.toolkit.fluxcd.io/namespace={KUSTOMIZATION[0]}")


def test_gitops_managed_workloads(loop: LoopStack) -> None:
    install_gitops_crds(loop.cluster)
    owners(loop)
    loop.kubectl("create", "rolebinding", "alice-approves", "-n", NS,
                 "--clusterrole=kubeheal-approver", "--user=alice")
    loop.watch(NS, ARGO)
    loop.watch(NS, FLUX)

    for name in (ARGO, FLUX):
        loop.inject_bad_rollout(NS, name)
    waiting = {name: loop.wait_for_phase(NS, {"AwaitingApproval"}, 180, target=name)
               for name in (ARGO, FLUX)}
    for remediation in waiting.values():
        status = remediation["status"]
        assert status["policy"]["requireApproval"] is True, timeline(remediation)
        assert any("is managed by" in r for r in status["policy"]["reasons"]), status["policy"]
        assert "gitops_managed" in [f["name"] for f in status["risk"]["factors"]]
    assert waiting[ARGO]["status"]["action"]["managedBy"]["name"] == APP[1]
    assert waiting[FLUX]["status"]["action"]["managedBy"]["kind"] == "Kustomization"
    # Nothing touched the owners before the approval.
    assert get(loop, "applications.argoproj.io", *APP)["spec"]["syncPolicy"]["automated"] \
        == AUTOMATED
    for name in (ARGO, FLUX):
        approve = kubeheal(loop, "alice", "approve", waiting[name]["metadata"]["name"], "-n", NS)
        assert approve.returncode == 0, approve.stderr

    # Argo CD: automated sync removed first, recorded, told; then the rollback, verified.
    argo = loop.wait_for_phase(NS, TERMINAL, 300, target=ARGO)
    assert argo["status"]["phase"] == "Succeeded", timeline(argo)
    assert [e["outcome"] for e in argo["status"]["executions"]] == ["executed"]
    gitops = argo["status"]["gitops"]
    assert (gitops["owner"]["namespace"], gitops["owner"]["name"]) == APP
    assert gitops["changed"] is True and gitops["field"] == "spec.syncPolicy.automated"
    assert json.loads(gitops["previous"]) == AUTOMATED
    app = get(loop, "applications.argoproj.io", *APP)
    assert "automated" not in app["spec"].get("syncPolicy", {})
    assert app["metadata"]["annotations"]["kubeheal.io/suspended-by"] == gitops["token"]
    steps = [message for _, step, message in timeline(argo) if step == "acted"]
    assert "stays suspended until a human confirms that Git holds the fix" in steps[0]
    assert steps[1].startswith("rolled back"), steps
    name = argo["metadata"]["name"]
    events = [e for e in loop.events(NS, "ReconciliationSuspended")
              if e["involvedObject"]["name"] == name]
    assert events and f"kubeheal gitops resume {name} -n {NS}" in events[0]["message"]
    suspended = next(c for c in argo["status"]["conditions"]
                     if c["type"] == "ReconciliationSuspended")
    assert (suspended["status"], suspended["reason"]) == ("True", "SuspendedByKubeheal")
    recovered = [e for e in loop.events(NS, "Recovered") if e["involvedObject"]["name"] == name]
    assert recovered and "stays suspended until a human confirms" in recovered[0]["message"]
    assert loop.deployment(NS, ARGO)["spec"]["template"]["metadata"].get(
        "annotations", {}).get("demo.kubeheal.io/fault") is None, "rolled back"

    # Lifting it is the human's call, with the human's own rights.
    loop.kubectl("create", "role", "remediation-reader", "-n", NS, "--verb=get",
                 "--resource=remediations.kubeheal.io")
    loop.kubectl("create", "rolebinding", "bob-reads", "-n", NS, "--role=remediation-reader",
                 "--user=bob")
    refused = kubeheal(loop, "bob", "gitops", "resume", name, "-n", NS)
    assert refused.returncode == 1 and "forbidden" in refused.stderr, refused
    assert get(loop, "applications.argoproj.io", *APP)["spec"].get("syncPolicy", {}).get(
        "automated") is None
    loop.kubectl("create", "role", "gitops-resume", "-n", APP[0], "--verb=get,patch",
                 "--resource=applications.argoproj.io")
    loop.kubectl("create", "rolebinding", "bob-resumes", "-n", APP[0], "--role=gitops-resume",
                 "--user=bob")
    resumed = kubeheal(loop, "bob", "gitops", "resume", name, "-n", NS)
    assert resumed.returncode == 0, resumed.stderr
    assert "reconciles from Git again" in resumed.stdout
    app = get(loop, "applications.argoproj.io", *APP)
    assert app["spec"]["syncPolicy"]["automated"] == AUTOMATED
    assert "kubeheal.io/suspended-by" not in (app["metadata"].get("annotations") or {})
    again = kubeheal(loop, "bob", "gitops", "resume", name, "-n", NS)
    assert again.returncode == 1 and "resumed already" in again.stderr

    # Flux, without the rights: nothing done to the Deployment, escalated with the reason.
    flux = loop.wait_for_phase(NS, TERMINAL, 120, target=FLUX)
    assert flux["status"]["phase"] == "Escalated", timeline(flux)
    ready = next(c for c in flux["status"]["conditions"] if c["type"] == "Ready")
    assert ready["reason"] == "GitOpsSuspendFailed", ready
    assert "forbidden" in ready["message"] or "cannot" in ready["message"]
    assert "gitops.enabled=true" in ready["message"]
    assert [e["outcome"] for e in flux["status"]["executions"]] == ["not-executed"]
    assert "gitops" not in flux["status"]
    deployment = loop.deployment(NS, FLUX)
    assert deployment["spec"]["template"]["metadata"]["annotations"][
        "demo.kubeheal.io/fault"] == "bad-build"
    assert "kubeheal.io/action-token" not in (deployment["metadata"].get("annotations") or {})
    assert "suspend" not in get(loop, "kustomizations.kustomize.toolkit.fluxcd.io",
                                *KUSTOMIZATION)["spec"]
    for name in (ARGO, FLUX):
        loop.kubectl("delete", "runbook", name, "-n", NS)
