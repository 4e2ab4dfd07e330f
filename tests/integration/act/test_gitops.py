"""Suspending a GitOps owner's reconciliation on the real API server, with the published
Argo CD Application and Flux Kustomization and HelmRelease CRDs installed (no GitOps
controller runs: what kubeheal writes to those objects is what is checked)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from integration.act.workloads import INSECURE, api_client
from kubeheal.act.gitops import GitOpsSuspender
from kubeheal.act.suspension import SUSPENDED_BY, SUSPENDED_FOR, SUSPENDED_PREVIOUS, SuspensionError
from kubeheal.api.remediation import GitOpsSuspension, ManagedBy
from kubeheal.observe.kubernetes import api_client_from_kubeconfig
from kubeheal.resume import ResumeError, resume_reconciliation
from localstack import Cluster, binary
from loopstack import install_operator_identity

pytestmark = [pytest.mark.stack, pytest.mark.filterwarnings(INSECURE)]

ROOT = Path(__file__).resolve().parents[3]
THIRDPARTY_CRDS = ROOT.parent / "shared" / "thirdparty-crds"
AUTOMATED = {"prune": True, "selfHeal": True}


def install_gitops_crds(cluster: Cluster) -> None:
    """The Argo CD and Flux CRDs, from ../shared/thirdparty-crds beside the clone."""
    if not THIRDPARTY_CRDS.is_dir():
        pytest.fail(f"{THIRDPARTY_CRDS} is missing: the published Argo CD and Flux CRDs are "
                    "read from ../shared/thirdparty-crds beside the clone")
    for crd in sorted(THIRDPARTY_CRDS.glob("*.yaml")):
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crd))
        name = crd.name.partition("_")[2].removesuffix(".yaml") + "." + \
            crd.name.partition("_")[0]
        deadline = time.monotonic() + 60
        while not established(cluster, name):
            # (kubectl wait fails while the published manifest's null conditions are there)
            assert time.monotonic() < deadline, f"CRD {name} not Established within 60s"
            time.sleep(0.5)


def established(cluster: Cluster, crd: str) -> bool:
    status = json.loads(cluster.kubectl("get", "crd", crd, "-o", "json").stdout).get("status")
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in (status or {}).get("conditions") or [])


@pytest.fixture(scope="module")
def gitops_crds(cluster: Cluster) -> Cluster:
    install_gitops_crds(cluster)
    return cluster


@pytest.fixture(scope="module")
def api(gitops_crds: Cluster) -> Iterator[client.ApiClient]:
    with api_client(gitops_crds) as api:
        yield api


def create(cluster: Cluster, body: dict[str, Any]) -> None:
    cluster.kubectl("create", "-f", "-", input=json.dumps(body))


def get(cluster: Cluster, kind: str, namespace: str, name: str) -> dict[str, Any]:
    out = cluster.kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout
    body: dict[str, Any] = json.loads(out)
    return body


def application(namespace: str, name: str = "shop") -> ManagedBy:
    return ManagedBy(tool="argocd", api_version="argoproj.io/v1alpha1", kind="Application",
                     namespace=namespace, name=name)


def create_application(cluster: Cluster, namespace: str, name: str = "shop") -> None:
    create(cluster, {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"project": "default",
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
                 "source": {"repoURL": "https://git.example/shop.git", "path": "deploy",
                            "targetRevision": "main"},
                 "syncPolicy": {"automated": AUTOMATED, "syncOptions": ["CreateNamespace=true"]}},
    })


async def test_an_application_loses_its_automated_sync_once_and_keeps_the_previous_value(
        gitops_crds: Cluster, api: client.ApiClient, namespace: str) -> None:
    create_application(gitops_crds, namespace)
    suspender = GitOpsSuspender(api)
    owner = application(namespace)

    first = await suspender.suspend(owner, "web-deployment-1.1", f"{namespace}/web-deployment-1")

    assert first.changed and first.field == "spec.syncPolicy.automated"
    assert json.loads(first.previous) == AUTOMATED
    app = get(gitops_crds, "applications.argoproj.io", namespace, "shop")
    assert "automated" not in app["spec"]["syncPolicy"]
    assert app["spec"]["syncPolicy"]["syncOptions"] == ["CreateNamespace=true"]
    marks = app["metadata"]["annotations"]
    assert marks[SUSPENDED_BY] == "web-deployment-1.1"
    assert marks[SUSPENDED_FOR] == f"{namespace}/web-deployment-1"
    assert json.loads(marks[SUSPENDED_PREVIOUS]) == AUTOMATED
    version = app["metadata"]["resourceVersion"]

    again = await suspender.suspend(owner, "web-deployment-1.1", f"{namespace}/web-deployment-1")
    assert again.changed and json.loads(again.previous) == AUTOMATED
    later = await suspender.suspend(owner, "web-deployment-2.1", f"{namespace}/web-deployment-2")
    assert not later.changed and json.loads(later.previous) == AUTOMATED
    assert get(gitops_crds, "applications.argoproj.io", namespace, "shop")["metadata"][
        "resourceVersion"] == version, "settled by the token: nothing written twice"


@pytest.mark.parametrize(("kind", "resource", "api_version", "spec"), [
    ("Kustomization", "kustomizations.kustomize.toolkit.fluxcd.io",
     "kustomize.toolkit.fluxcd.io/v1",
     {"interval": "5m", "prune": True, "path": "./apps",
      "sourceRef": {"kind": "GitRepository", "name": "shop"}}),
    ("HelmRelease", "helmreleases.helm.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io/v2",
     {"interval": "5m", "suspend": False,
      "chart": {"spec": {"chart": "web", "sourceRef": {"kind": "HelmRepository",
                                                        "name": "shop"}}}}),
])
async def test_a_flux_object_is_suspended(gitops_crds: Cluster, api: client.ApiClient,
                                          namespace: str, kind: str, resource: str,
                                          api_version: str, spec: dict[str, Any]) -> None:
    create(gitops_crds, {"apiVersion": api_version, "kind": kind,
                         "metadata": {"name": "apps", "namespace": namespace}, "spec": spec})
    owner = ManagedBy(tool="flux", api_version=api_version, kind=kind,  # type: ignore[arg-type]
                      namespace=namespace, name="apps")

    result = await GitOpsSuspender(api).suspend(owner, "t.1", f"{namespace}/web-deployment-1")

    assert result.changed and result.field == "spec.suspend"
    assert result.previous == json.dumps(spec.get("suspend"))
    body = get(gitops_crds, resource, namespace, "apps")
    assert body["spec"]["suspend"] is True
    assert body["metadata"]["annotations"][SUSPENDED_BY] == "t.1"


async def test_a_missing_owner_is_a_final_error_that_names_it(
        gitops_crds: Cluster, api: client.ApiClient, namespace: str) -> None:
    with pytest.raises(SuspensionError) as missing:
        await GitOpsSuspender(api).suspend(application(namespace, "nowhere"), "t.1", "x/y")
    assert missing.value.reason == "not-found" and not missing.value.transient
    assert f"Argo CD Application {namespace}/nowhere" in missing.value.message
    unknown_kind = application(namespace).model_copy(update={"api_version": "argoproj.io/v9"})
    with pytest.raises(SuspensionError) as no_crd:
        await GitOpsSuspender(api).suspend(unknown_kind, "t.1", "x/y")
    assert no_crd.value.reason == "not-found"


async def test_without_rights_nothing_is_written_and_the_error_says_what_to_grant(
        gitops_crds: Cluster, namespace: str) -> None:
    create_application(gitops_crds, namespace)
    with api_client_from_kubeconfig(gitops_crds.kubeconfig_for("bob")) as bob, \
            pytest.raises(SuspensionError) as refused:
        await GitOpsSuspender(bob).suspend(application(namespace), "t.1", "x/y")
    assert refused.value.reason == "forbidden" and not refused.value.transient
    assert "gitops.enabled=true" in refused.value.message
    app = get(gitops_crds, "applications.argoproj.io", namespace, "shop")
    assert app["spec"]["syncPolicy"]["automated"] == AUTOMATED


async def test_a_fenced_suspender_writes_nothing(gitops_crds: Cluster, api: client.ApiClient,
                                                 namespace: str) -> None:
    create_application(gitops_crds, namespace)

    def fence() -> None:
        raise PermissionError("not the leader")

    with pytest.raises(PermissionError):
        await GitOpsSuspender(api, fence=fence).suspend(application(namespace), "t.1", "x/y")
    app = get(gitops_crds, "applications.argoproj.io", namespace, "shop")
    assert app["spec"]["syncPolicy"]["automated"] == AUTOMATED
    assert SUSPENDED_BY not in (app["metadata"].get("annotations") or {})


def remediation(namespace: str, name: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"apiVersion": "kubeheal.io/v1alpha1", "kind": "Remediation",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"runbookRef": {"name": "web"},
                     "target": {"namespace": namespace, "name": "web"},
                     "trigger": {"startedAt": now, "detectedAt": now, "score": 0.99},
                     "diagnosis": {"cause": "change"}}}


async def test_the_human_lifts_what_a_closed_remediation_suspended(
        crds: Cluster, gitops_crds: Cluster, api: client.ApiClient, namespace: str) -> None:
    operator = install_operator_identity(crds)
    create_application(gitops_crds, namespace)
    owner = application(namespace)
    name = "web-deployment-1"
    suspended = await GitOpsSuspender(api).suspend(owner, f"{name}.1", f"{namespace}/{name}")
    record = GitOpsSuspension(owner=owner, field=suspended.field, previous=suspended.previous,
                              changed=True, token=f"{name}.1",
                              suspended_at=dt.datetime.now(dt.UTC))

    def as_operator(*args: str, input: str | None = None) -> None:
        subprocess.run([binary("kubectl"), f"--kubeconfig={operator}", *args], input=input,
                       capture_output=True, text=True, timeout=120, check=True)

    as_operator("create", "-f", "-", input=json.dumps(remediation(namespace, name)))

    def phase(value: str) -> None:
        as_operator("patch", "remediation", name, "-n", namespace, "--subresource=status",
                    "--type=merge", "-p", json.dumps({"status": {
                        "phase": value, "gitops": record.to_api()}}))

    phase("Verifying")
    with pytest.raises(ResumeError, match="still open \\(phase Verifying\\)"):
        resume_reconciliation(api, namespace, name)
    assert "automated" not in get(crds, "applications.argoproj.io", namespace, "shop")[
        "spec"]["syncPolicy"]

    phase("Succeeded")
    with api_client_from_kubeconfig(crds.kubeconfig_for("bob")) as bob, \
            pytest.raises(ResumeError, match="forbidden"):
        resume_reconciliation(bob, namespace, name)
    resumed = resume_reconciliation(api, namespace, name)
    assert "reconciles from Git again" in resumed.describe()
    app = get(crds, "applications.argoproj.io", namespace, "shop")
    assert app["spec"]["syncPolicy"] == {"automated": AUTOMATED,
                                         "syncOptions": ["CreateNamespace=true"]}
    assert not set(app["metadata"].get("annotations") or {}) & {
        SUSPENDED_BY, SUSPENDED_FOR, SUSPENDED_PREVIOUS}
    with pytest.raises(ResumeError, match="resumed already"):
        resume_reconciliation(api, namespace, name)
    with pytest.raises(ResumeError, match="deleted by retention"):
        resume_reconciliation(api, namespace, "web-deployment-9")
