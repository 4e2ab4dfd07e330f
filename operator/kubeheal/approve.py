"""Human approval of a remediation: ``kubeheal approve`` and ``kubeheal reject``.

A decision is for one action: the one awaiting approval, named by the digest the operator
published in ``status.pendingApproval``. It is appended to ``spec.approvals``. The approver
is whoever the current kubeconfig authenticates as, learnt from the API server itself (a
SelfSubjectReview), never typed in. The API server's admission policy then checks that this
user holds the ``approve`` verb, that the digest is the pending one and that the list only
grows; this module only turns its answers into one clear line.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubeheal.api.base import GROUP, VERSION
from kubeheal.api.remediation import ApprovalDecision, Phase

PLURAL = "remediations"


class ApprovalError(Exception):
    """Why a decision could not be recorded, in one line a user can act on."""


@dataclass(frozen=True)
class ApprovalResult:
    namespace: str
    name: str

    action: str
    decision: ApprovalDecision

    def describe(self) -> str:
        """What was done, for the terminal.

        >>> d = ApprovalDecision(digest="ab" * 32, decision="approved", approver="alice",
        ...                      time=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), reason="ok")
        >>> ApprovalResult("shop", "checkout-1", "roll-back", d).describe()
        'remediation shop/checkout-1: roll-back approved by alice at 2026-01-01T00:00:00Z: ok'
        """
        d = self.decision
        when = d.time.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        text = (f"remediation {self.namespace}/{self.name}: {self.action} {d.decision} by "
                f"{d.approver} at {when}"
                + (f" ({d.category})" if d.category else ""))
        return f"{text}: {d.reason}" if d.reason else text


def current_user(api: client.ApiClient) -> str:
    """The username the API server sees for these credentials."""
    review = client.AuthenticationV1Api(api).create_self_subject_review(
        client.V1SelfSubjectReview(api_version="authentication.k8s.io/v1",
                                   kind="SelfSubjectReview")
    )
    username: str = review.status.user_info.username
    return username


def api_message(error: ApiException) -> str:
    """The API server's own message from an error response, on one line."""
    try:
        message = str(json.loads(error.body or "{}").get("message") or error.reason)
    except (ValueError, AttributeError):
        message = str(error.reason)
    return " ".join(message.split())


def record_decision(
    api: client.ApiClient,
    namespace: str,
    name: str,
    decision: Literal["approved", "rejected"],
    reason: str = "",
    now: dt.datetime | None = None,
    not_an_incident: bool = False,
) -> ApprovalResult:
    """Append the current user's decision on the pending action to ``spec.approvals``;
    a rejection ``not_an_incident`` says the alarm was false (the outcome statistics count
    it as a false alarm)."""
    if not_an_incident and decision != "rejected":
        raise ApprovalError("only a rejection can say the alarm was not an incident")
    objects = client.CustomObjectsApi(api)
    try:
        body: dict[str, Any] = objects.get_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name
        )
    except ApiException as e:
        if e.status == 404:
            raise ApprovalError(f"remediation {namespace}/{name} not found") from None
        raise ApprovalError(f"cannot read remediation {namespace}/{name}: {api_message(e)}") \
            from None
    status = body.get("status") or {}
    phase = status.get("phase", Phase.DETECTED.value)
    pending = status.get("pendingApproval") or {}
    approvals: list[dict[str, Any]] = body["spec"].get("approvals") or []
    existing = next((a for a in approvals if a.get("digest") == pending.get("digest")), None)
    if pending and existing:
        raise ApprovalError(
            f"remediation {namespace}/{name}: {pending.get('action')} was already "
            f"{existing['decision']} by {existing['approver']}"
        )
    if phase != Phase.AWAITING_APPROVAL.value or not pending.get("digest"):
        raise ApprovalError(f"remediation {namespace}/{name} is not awaiting approval "
                            f"(phase {phase})")
    try:
        user = current_user(api)
    except ApiException as e:
        raise ApprovalError(f"cannot tell who you are: {api_message(e)}") from None
    approval = ApprovalDecision(
        digest=pending["digest"], decision=decision, approver=user,
        time=now or dt.datetime.now(dt.UTC), reason=reason,
        category="not-an-incident" if not_an_incident else None,
    )
    patch = {
        "metadata": {"resourceVersion": body["metadata"]["resourceVersion"]},
        "spec": {"approvals": [*approvals, approval.to_api()]},
    }
    try:
        objects.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, patch)
    except ApiException as e:
        if e.status == 409:
            raise ApprovalError(f"remediation {namespace}/{name} changed meanwhile; "
                                "look again and retry") from None
        raise ApprovalError(f"not allowed: {api_message(e)}") from None
    return ApprovalResult(namespace, name, str(pending.get("action") or ""), approval)
