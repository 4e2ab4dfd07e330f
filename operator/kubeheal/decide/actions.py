"""Candidate remediation actions, as plain values.

An :class:`Action` is what the operator proposes to do to one workload: its kind and the
parameters the guardrails judge it by. The parameter names are the ones the policies read
(``policies/kubeheal/guardrails``), so they are camelCase like the rest of the policy input:

- restart: ``strategy`` (``rollout`` or ``delete-pod``), ``maxUnavailableShare`` (share of
  pods a rollout restarts at once), ``podsUnavailable`` (how many *ready* pods it takes
  down at once: 1 to delete a ready pod, 0 to delete one that is not ready);
- scale: ``replicas`` (the new count), ``minReplicas`` and ``maxReplicas`` (the runbook's
  bounds);
- rollback: ``toRevision`` (optional; the previous revision otherwise);
- resize: ``container``, ``fromBytes`` and ``toBytes`` (its memory limit now and after),
  ``maxBytes`` (the runbook's maximum), ``factor`` (the runbook's factor) and
  ``podsUnavailable`` (ready pods its rolling update takes down at once, as for a restart).

>>> a = Action.scale(replicas=6, min_replicas=2, max_replicas=10)
>>> a.kind, dict(a.params)
(<ActionKind.SCALE: 'scale'>, {'replicas': 6, 'minReplicas': 2, 'maxReplicas': 10})
>>> Action.restart(strategy="delete-pod", pods_unavailable=0).params["podsUnavailable"]
0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeAlias

from kubeheal.api.runbook import ActionKind as ActionKind  # the Runbook API's own kinds

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None


def _frozen(params: Mapping[str, JsonValue]) -> Mapping[str, JsonValue]:
    return MappingProxyType(dict(params))


@dataclass(frozen=True)
class Action:
    """One candidate action: its kind and the parameters the guardrails judge."""

    kind: ActionKind
    params: Mapping[str, JsonValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ActionKind(self.kind))
        object.__setattr__(self, "params", _frozen(self.params))

    @classmethod
    def restart(
        cls,
        *,
        strategy: str = "rollout",
        max_unavailable_share: float = 0.25,
        pods_unavailable: int | None = None,
        ready_replicas: int | None = None,
    ) -> Action:
        """A restart; ``pods_unavailable`` defaults from the strategy when it can.

        For a rollout restart, the ready pods taken down at once are
        ``floor(ready_replicas * max_unavailable_share)`` but at least one (what a
        Deployment's ``maxUnavailable`` resolves to, rounded down, with a surge of at least
        one making progress). For ``delete-pod`` it is one unless the caller knows the pod
        is not ready and says 0.

        >>> Action.restart(ready_replicas=8).params["podsUnavailable"]
        2
        >>> Action.restart(ready_replicas=2).params["podsUnavailable"]
        1
        """
        params: dict[str, JsonValue] = {
            "strategy": strategy,
            "maxUnavailableShare": max_unavailable_share,
        }
        if pods_unavailable is None and strategy == "rollout" and ready_replicas is not None:
            pods_unavailable = min(
                ready_replicas, max(1, math.floor(ready_replicas * max_unavailable_share))
            )
        elif pods_unavailable is None and strategy == "delete-pod":
            pods_unavailable = 1
        if pods_unavailable is not None:
            params["podsUnavailable"] = pods_unavailable
        return cls(ActionKind.RESTART, params)

    @classmethod
    def scale(cls, *, replicas: int, min_replicas: int, max_replicas: int) -> Action:
        """A scale to ``replicas`` within the runbook's bounds."""
        return cls(
            ActionKind.SCALE,
            {"replicas": replicas, "minReplicas": min_replicas, "maxReplicas": max_replicas},
        )

    @classmethod
    def rollback(cls, *, to_revision: int | None = None) -> Action:
        """A rollback to ``to_revision``, or to the previous revision."""
        params: dict[str, JsonValue] = {}
        if to_revision is not None:
            params["toRevision"] = to_revision
        return cls(ActionKind.ROLLBACK, params)

    @classmethod
    def resize(cls, *, container: str, from_bytes: int, to_bytes: int, max_bytes: int,
               factor: float, pods_unavailable: int) -> Action:
        """A raise of ``container``'s memory limit from ``from_bytes`` to ``to_bytes``.

        >>> Action.resize(container="app", from_bytes=256, to_bytes=384, max_bytes=1024,
        ...               factor=1.5, pods_unavailable=0).params["toBytes"]
        384
        """
        return cls(ActionKind.RESIZE, {
            "container": container, "fromBytes": from_bytes, "toBytes": to_bytes,
            "maxBytes": max_bytes, "factor": factor, "podsUnavailable": pods_unavailable})

    def to_json(self) -> dict[str, JsonValue]:
        """The ``action`` part of the policy input."""
        return {"kind": str(self.kind), "params": dict(self.params)}
