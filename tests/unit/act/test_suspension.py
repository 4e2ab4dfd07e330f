"""The patches that suspend and restore a GitOps owner's reconciliation, and settling them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubeheal.act.suspension import (
    SUSPENDED_BY,
    SUSPENDED_FOR,
    SUSPENDED_PREVIOUS,
    OwnerKind,
    resume_patch,
    settle_existing,
    suspend_patch,
    suspended,
)


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, as the API server applies it."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def application(automated: Any = "absent") -> dict[str, Any]:
    sync: dict[str, Any] = {"syncOptions": ["CreateNamespace=true"]}
    if automated != "absent":
        sync["automated"] = automated
    return {"metadata": {"name": "shop", "resourceVersion": "41",
                         "annotations": {"team": "shop"}},
            "spec": {"project": "default", "syncPolicy": sync}}


def flux(suspend: Any = "absent") -> dict[str, Any]:
    spec: dict[str, Any] = {"interval": "5m", "path": "./apps"}
    if suspend != "absent":
        spec["suspend"] = suspend
    return {"metadata": {"name": "apps", "resourceVersion": "9"}, "spec": spec}


@pytest.mark.parametrize("automated", [{}, {"prune": True, "selfHeal": True},
                                       {"enabled": True, "selfHeal": True}])
def test_an_application_round_trip_restores_its_automated_sync(automated: Any) -> None:
    before = application(automated)
    assert not suspended(before, "Application")
    patch = suspend_patch(before, "Application", "web-1.1", "shop/web-1")
    assert patch["metadata"]["resourceVersion"] == "41", "conditioned on what was read"
    after = merge(before, patch)
    assert suspended(after, "Application")
    assert "automated" not in after["spec"]["syncPolicy"]
    assert after["spec"]["syncPolicy"]["syncOptions"] == ["CreateNamespace=true"]
    marks = after["metadata"]["annotations"]
    assert (marks[SUSPENDED_BY], marks[SUSPENDED_FOR]) == ("web-1.1", "shop/web-1")
    assert json.loads(marks[SUSPENDED_PREVIOUS]) == automated
    restored = merge(after, resume_patch(after, "Application", marks[SUSPENDED_PREVIOUS]))
    assert restored["spec"] == before["spec"]
    assert restored["metadata"]["annotations"] == {"team": "shop"}


@pytest.mark.parametrize("kind", ["Kustomization", "HelmRelease"])
@pytest.mark.parametrize("suspend", ["absent", False])
def test_a_flux_round_trip_restores_spec_suspend(kind: OwnerKind, suspend: Any) -> None:
    before = flux(suspend)
    assert not suspended(before, kind)
    after = merge(before, suspend_patch(before, kind, "t", "shop/web-1"))
    assert after["spec"]["suspend"] is True and suspended(after, kind)
    previous = after["metadata"]["annotations"][SUSPENDED_PREVIOUS]
    restored = merge(after, resume_patch(after, kind, previous))
    assert restored["spec"] == before["spec"]
    assert restored["metadata"].get("annotations", {}) == {}


def test_an_application_with_automated_sync_disabled_is_suspended_already() -> None:
    assert suspended(application({"enabled": False}), "Application")
    assert suspended(application(), "Application")
    assert not suspended(flux(), "Kustomization")


def test_settling_finds_its_own_token_and_the_original_previous_value() -> None:
    before = application({"selfHeal": True})
    after = merge(before, suspend_patch(before, "Application", "web-1.1", "shop/web-1"))
    mine = settle_existing(after, "Application", "web-1.1", "app")
    assert mine is not None and mine.changed and mine.previous == '{"selfHeal":true}'
    # A later intent finds it suspended by the first: nothing to write, the original kept.
    later = settle_existing(after, "Application", "web-2.1", "app")
    assert later is not None and not later.changed and later.previous == '{"selfHeal":true}'
    assert settle_existing(before, "Application", "web-1.1", "app") is None


def test_a_suspension_by_a_human_is_left_as_it_is() -> None:
    found = settle_existing(flux(True), "Kustomization", "t", "ks")
    assert found is not None and not found.changed and found.previous == "true"
    assert "not by kubeheal" in found.message
