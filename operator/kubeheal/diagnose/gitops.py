"""Who reconciles a workload from Git: Argo CD or Flux, recognised from its own metadata. Pure.

A workload that a GitOps controller owns must not be changed behind its back: a rollback or a
scale patched onto it is undone at the next sync. The controllers mark what they apply:

- Argo CD, annotation tracking (the default since Argo CD 3.0, and ``annotation+label``): the
  annotation ``argocd.argoproj.io/tracking-id: <app>:<group>/<kind>:<namespace>/<name>``,
  where ``<app>`` is ``<namespace>_<name>`` for an Application outside Argo CD's own namespace
  (applications in any namespace) and the Application's bare name otherwise;
- Argo CD, label tracking (the default before 3.0): the label ``app.kubernetes.io/instance``
  (or a custom label) holding the Application's name only, so the Application's namespace is
  a setting. Helm charts set that label too: a workload that carries it without an Argo CD
  Application behind it is not healed (kubeheal cannot suspend an owner it does not find, so
  it escalates); an Argo CD that tracks by annotation lets the label be switched off;
- Flux: ``kustomize.toolkit.fluxcd.io/name`` and ``/namespace`` (kustomize-controller), or
  ``helm.toolkit.fluxcd.io/name`` and ``/namespace`` (helm-controller).

The annotation is the most precise, then Flux's labels (a HelmRelease's objects carry Helm's
instance label too), then Argo CD's label.

>>> settings = GitOpsSettings()
>>> owner = managed_by({"annotations": {TRACKING_ID: "shop-app:apps/Deployment:shop/web"}},
...                    settings)
>>> owner.describe(), owner.via
('Argo CD Application argocd/shop-app', 'annotation argocd.argoproj.io/tracking-id')
>>> managed_by({"labels": {"app": "web"}}, settings) is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from kubeheal.api.remediation import ManagedBy

TRACKING_ID: Final = "argocd.argoproj.io/tracking-id"
"""Argo CD's tracking annotation: ``<app>:<group>/<kind>:<namespace>/<name>``."""
INSTANCE_LABEL: Final = "app.kubernetes.io/instance"
"""Argo CD's default tracking label (label tracking): the Application's name."""
ARGOCD_APPLICATION: Final = "argoproj.io/v1alpha1"
FLUX_OWNERS: Final[tuple[tuple[str, Literal["Kustomization", "HelmRelease"], str], ...]] = (
    ("kustomize.toolkit.fluxcd.io", "Kustomization", "kustomize.toolkit.fluxcd.io/v1"),
    ("helm.toolkit.fluxcd.io", "HelmRelease", "helm.toolkit.fluxcd.io/v2"),
)
"""Flux's label prefix, the kind of the owner it names, and that kind's apiVersion."""


@dataclass(frozen=True)
class GitOpsSettings:
    """Where Argo CD's Applications live and which label tracks them ('' : annotation only)."""

    argocd_namespace: str = "argocd"
    argocd_tracking_label: str = INSTANCE_LABEL


def _argocd_application(tracking_id: str, settings: GitOpsSettings) -> tuple[str, str] | None:
    """The Application's (namespace, name) in a tracking id, or None if it is not one.

    >>> _argocd_application("shop_web:apps/Deployment:shop/web", GitOpsSettings())
    ('shop', 'web')
    >>> _argocd_application("web:apps/Deployment:shop/web", GitOpsSettings())
    ('argocd', 'web')
    >>> _argocd_application("no-colons", GitOpsSettings()) is None
    True
    """
    app, sep, rest = tracking_id.partition(":")
    if not sep or not app or ":" not in rest:
        return None
    namespace, sep, name = app.partition("_")
    if sep:
        return (namespace, name) if namespace and name else None
    return settings.argocd_namespace, app


def managed_by(metadata: Mapping[str, Any], settings: GitOpsSettings) -> ManagedBy | None:
    """The GitOps object that reconciles a workload with this ``metadata``, or None.

    >>> flux = {"labels": {"kustomize.toolkit.fluxcd.io/name": "apps",
    ...                    "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
    ...                    INSTANCE_LABEL: "web"}}
    >>> managed_by(flux, GitOpsSettings()).describe()
    'Flux Kustomization flux-system/apps'
    >>> managed_by({"labels": {INSTANCE_LABEL: "web"}}, GitOpsSettings()).describe()
    'Argo CD Application argocd/web'
    >>> managed_by({"labels": {INSTANCE_LABEL: "web"}},
    ...            GitOpsSettings(argocd_tracking_label="")) is None
    True
    """
    labels: Mapping[str, str] = metadata.get("labels") or {}
    annotations: Mapping[str, str] = metadata.get("annotations") or {}
    tracking_id = annotations.get(TRACKING_ID, "")
    application = _argocd_application(tracking_id, settings) if tracking_id else None
    if application is not None:
        return ManagedBy(tool="argocd", api_version=ARGOCD_APPLICATION, kind="Application",
                         namespace=application[0], name=application[1],
                         via=f"annotation {TRACKING_ID}")
    for prefix, kind, api_version in FLUX_OWNERS:
        name, namespace = labels.get(f"{prefix}/name"), labels.get(f"{prefix}/namespace")
        if name and namespace:
            return ManagedBy(tool="flux", api_version=api_version, kind=kind,
                             namespace=namespace, name=name,
                             via=f"labels {prefix}/name, {prefix}/namespace")
    label = settings.argocd_tracking_label
    if label and labels.get(label):
        return ManagedBy(tool="argocd", api_version=ARGOCD_APPLICATION, kind="Application",
                         namespace=settings.argocd_namespace, name=labels[label],
                         via=f"label {label}")
    return None
