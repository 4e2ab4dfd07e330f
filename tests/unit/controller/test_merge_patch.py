"""The status is written as the merge patch from what was read to what is meant: applied by
the API server (RFC 7386), it gives exactly the new status, whatever the old one held."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kubeheal.controller.store import merge_patch

keys = st.sampled_from(["action", "params", "verification", "intent", "a", "b"])
scalars = st.one_of(st.text(max_size=3), st.integers(), st.booleans(),
                    st.lists(st.integers(), max_size=2))
documents = st.recursive(scalars, lambda inner: st.dictionaries(keys, inner, max_size=4),
                         max_leaves=12)
objects = st.dictionaries(keys, documents, max_size=5)


def apply(target: Any, patch: Any) -> Any:
    """RFC 7386, as the API server applies a merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply(result.get(key), value)
    return result


@given(old=objects, new=objects)
def test_the_patch_turns_the_old_status_into_the_new_one(old: dict[str, Any],
                                                         new: dict[str, Any]) -> None:
    assert apply(old, merge_patch(old, new)) == new


def test_a_later_action_inherits_nothing_from_an_earlier_one() -> None:
    old = {"action": {"kind": "restart", "params": {"strategy": "rollout"}},
           "verification": {"result": "failed", "rolloutCompletedAt": "2026-12-02T10:52:23Z"}}
    new = {"action": {"kind": "resize", "params": {"memoryLimit": "512Mi"}},
           "verification": {"result": "pending", "startedAt": "2026-12-02T10:55:35Z"}}
    patch = merge_patch(old, new)
    assert patch["action"]["params"] == {"memoryLimit": "512Mi", "strategy": None}
    assert patch["verification"]["rolloutCompletedAt"] is None
    assert merge_patch(new, new) == {}
