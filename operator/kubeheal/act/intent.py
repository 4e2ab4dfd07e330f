"""Intent tokens, action results and action errors: what makes an action safe to retry.

Before an action runs, the controller records an intent with a fresh token in the
Remediation status. Every action stamps that token on what it changes (the Deployment, or
the HPA that scales it) in the same API write as the change itself; an eviction is settled
by its pod, chosen and recorded in the intent, being gone. After a crash or an answer that
leaves the outcome open, the controller settles the intent by reading the target:
:func:`action_applied` says whether the token is there, that is whether the action ran. So no
action runs twice, and none is forgotten.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

TOKEN_ANNOTATION: Final = "kubeheal.io/action-token"
"""Annotation on the target (Deployment or HPA) holding the token of the last action on it."""
RESTARTED_AT_ANNOTATION: Final = "kubectl.kubernetes.io/restartedAt"
"""Pod template annotation that ``kubectl rollout restart`` sets; changing it rolls the pods."""

ActionName = Literal["rollout-restart", "evict-pod", "scale", "rollback", "resize"]
ActionErrorReason = Literal[
    "not-found", "forbidden", "conflict", "invalid", "unavailable", "no-previous-revision",
    "unsafe", "blocked-by-pdb", "below-floor", "ambiguous", "target-changed",
]
RETRYABLE: Final[frozenset[ActionErrorReason]] = frozenset(
    {"conflict", "unavailable", "blocked-by-pdb", "below-floor", "ambiguous"})
"""Failures after which the same intent (same token) may be tried again: nothing ran, or the
outcome is still open and the token settles it. ``target-changed`` (the target is no longer
the one the action was decided for; nothing ran) calls for a new decision. Any other failure
is final for the action."""


@dataclass(frozen=True)
class ActionResult:
    """What an action did: to which target, under which token, and the target's generation.

    ``already_applied`` is true when the token was found on the target before the call, so
    nothing was changed this time: the action had run before.
    """

    kind: ActionName
    target: str
    token: str
    generation_after: int | None
    message: str
    already_applied: bool = False


class ActionError(Exception):
    """An action that could not be executed, with one message a user can act on.

    >>> str(ActionError("no-previous-revision", "deployment shop/web has only revision 1"))
    'deployment shop/web has only revision 1'
    """

    def __init__(self, reason: ActionErrorReason, message: str) -> None:
        super().__init__(message)
        self.reason: ActionErrorReason = reason
        self.message = message

    @property
    def retryable(self) -> bool:
        """Whether the same intent may be tried again later (see :data:`RETRYABLE`).

        >>> ActionError("blocked-by-pdb", "...").retryable, ActionError("unsafe", "...").retryable
        (True, False)
        """
        return self.reason in RETRYABLE


def action_applied(deployment: Mapping[str, Any], token: str) -> bool:
    """Whether the Deployment carries the action token ``token``: then that action ran.

    The annotation holds the token of the last action only, which is what settling needs:
    the controller settles an intent before it issues the next one on the same target.

    >>> d = {"metadata": {"annotations": {TOKEN_ANNOTATION: "rem-1-a"}}}
    >>> action_applied(d, "rem-1-a"), action_applied(d, "rem-1-b"), action_applied({}, "x")
    (True, False, False)
    """
    if not token:
        return False
    annotations = (deployment.get("metadata") or {}).get("annotations") or {}
    return bool(annotations.get(TOKEN_ANNOTATION) == token)
