"""Recognising the GitOps owner of a workload from its labels and annotations."""

from __future__ import annotations

import pytest

from kubeheal.diagnose.gitops import INSTANCE_LABEL, TRACKING_ID, GitOpsSettings, managed_by

SETTINGS = GitOpsSettings()


def owner(labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
          settings: GitOpsSettings = SETTINGS) -> tuple[str, str, str, str, str] | None:
    found = managed_by({"labels": labels or {}, "annotations": annotations or {}}, settings)
    if found is None:
        return None
    return found.tool, found.api_version, found.kind, found.namespace, found.name


def test_an_unmanaged_workload_has_no_owner() -> None:
    assert owner({"app": "web"}) is None
    assert managed_by({}, SETTINGS) is None


@pytest.mark.parametrize(("tracking_id", "namespace", "name"), [
    ("shop:apps/Deployment:shop/web", "argocd", "shop"),
    ("team-a_shop:apps/Deployment:shop/web", "team-a", "shop"),  # apps in any namespace
    ("shop:/Service:shop/web", "argocd", "shop"),  # core group: empty
])
def test_argocd_tracking_annotation(tracking_id: str, namespace: str, name: str) -> None:
    assert owner(annotations={TRACKING_ID: tracking_id}) == (
        "argocd", "argoproj.io/v1alpha1", "Application", namespace, name)


@pytest.mark.parametrize("bad", ["", "shop", ":apps/Deployment:shop/web", "_x:a:b", "x_:a:b"])
def test_a_malformed_tracking_annotation_names_no_owner(bad: str) -> None:
    assert owner(annotations={TRACKING_ID: bad}) is None


def test_argocd_tracking_label_names_the_application_in_the_configured_namespace() -> None:
    assert owner({INSTANCE_LABEL: "shop"}) == (
        "argocd", "argoproj.io/v1alpha1", "Application", "argocd", "shop")
    elsewhere = GitOpsSettings(argocd_namespace="gitops")
    assert owner({INSTANCE_LABEL: "shop"}, settings=elsewhere)[3] == "gitops"  # type: ignore[index]
    custom = GitOpsSettings(argocd_tracking_label="argocd.argoproj.io/instance")
    assert owner({"argocd.argoproj.io/instance": "shop"}, settings=custom) is not None
    assert owner({INSTANCE_LABEL: "shop"}, settings=custom) is None
    assert owner({INSTANCE_LABEL: "shop"}, settings=GitOpsSettings(argocd_tracking_label="")) \
        is None


def test_the_annotation_wins_over_the_label() -> None:
    found = owner({INSTANCE_LABEL: "helm-release"},
                  {TRACKING_ID: "shop:apps/Deployment:shop/web"})
    assert found is not None and found[4] == "shop"


def test_flux_kustomization_labels() -> None:
    labels = {"kustomize.toolkit.fluxcd.io/name": "apps",
              "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}
    assert owner(labels) == ("flux", "kustomize.toolkit.fluxcd.io/v1", "Kustomization",
                             "flux-system", "apps")


def test_flux_helmrelease_labels_win_over_helms_instance_label() -> None:
    labels = {"helm.toolkit.fluxcd.io/name": "web", "helm.toolkit.fluxcd.io/namespace": "shop",
              INSTANCE_LABEL: "shop-web"}
    assert owner(labels) == ("flux", "helm.toolkit.fluxcd.io/v2", "HelmRelease", "shop", "web")


def test_half_a_flux_label_pair_names_no_flux_owner() -> None:
    assert owner({"kustomize.toolkit.fluxcd.io/name": "apps"}) is None
    assert owner({"helm.toolkit.fluxcd.io/namespace": "shop"}) is None


def test_the_owner_says_how_it_was_recognised() -> None:
    found = managed_by({"labels": {INSTANCE_LABEL: "shop"}}, SETTINGS)
    assert found is not None and found.via == f"label {INSTANCE_LABEL}"
