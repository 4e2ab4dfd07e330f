"""``kubeheal explain DEPLOYMENT -n NS``: ask the operator why it did or did not act.

The command cannot read the operator's memory (the detector streams) or its OPA sidecar, so
it asks the operator through the API server: it creates an ``ExplanationRequest`` in the
namespace with the user's own credentials, naming the user as the API server sees them (a
SelfSubjectReview; the admission policy refuses any other name), waits for the leading
operator's answer in its status, deletes the request and returns the answer. The operator
answers only what the user may read; a refusal comes back as one line naming what is missing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubeheal.api.base import GROUP, VERSION
from kubeheal.api.explanation import (
    ExplainedTarget,
    ExplanationPhase,
    ExplanationRequestSpec,
    Requester,
)
from kubeheal.approve import api_message

PLURAL = "explanationrequests"
Json = dict[str, Any]


class ExplainError(Exception):
    """Why there is no explanation, in one line a user can act on."""


def requester(api: client.ApiClient) -> Requester:
    """The user these credentials are, as the API server sees them."""
    review = client.AuthenticationV1Api(api).create_self_subject_review(
        client.V1SelfSubjectReview(api_version="authentication.k8s.io/v1",
                                   kind="SelfSubjectReview"))
    info = review.status.user_info
    return Requester(username=info.username, groups=list(info.groups or []))


def request_body(namespace: str, deployment: str, who: Requester) -> Json:
    """The ExplanationRequest to create.

    >>> body = request_body("shop", "checkout", Requester(username="alice", groups=["dev"]))
    >>> body["metadata"], body["spec"]["target"], body["spec"]["requester"]["username"]
    ({'generateName': 'checkout-', 'namespace': 'shop'}, {'kind': 'Deployment', \
'name': 'checkout'}, 'alice')
    """
    spec = ExplanationRequestSpec(target=ExplainedTarget(name=deployment), requester=who)
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "ExplanationRequest",
            "metadata": {"generateName": f"{deployment[:50]}-", "namespace": namespace},
            "spec": spec.to_api()}


def ask(api: client.ApiClient, namespace: str, deployment: str, timeout: float = 60.0,
        poll: float = 0.5, clock: Callable[[], float] = time.monotonic) -> Json:
    """The operator's explanation of ``deployment``; ExplainError when there is none."""
    objects = client.CustomObjectsApi(api)
    try:
        who = requester(api)
    except ApiException as e:
        raise ExplainError(f"cannot tell who you are: {api_message(e)}") from None
    try:
        created = objects.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, request_body(namespace, deployment, who))
    except ApiException as e:
        if e.status == 404:
            raise ExplainError(f"cannot ask in namespace {namespace}: the ExplanationRequest "
                               f"kind or the namespace does not exist ({api_message(e)}); "
                               f"install kubeheal's CRDs") from None
        raise ExplainError(f"cannot ask the operator: {api_message(e)}") from None
    name = created["metadata"]["name"]
    deadline = clock() + timeout
    try:
        while True:
            try:
                body = objects.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL,
                                                            name)
            except ApiException as e:
                raise ExplainError(f"cannot read the answer ({namespace}/{name}): "
                                   f"{api_message(e)}") from None
            status = body.get("status") or {}
            phase = status.get("phase")
            if phase == ExplanationPhase.ANSWERED.value:
                explanation: Json = status.get("explanation") or {}
                return explanation
            if phase in (ExplanationPhase.REFUSED.value, ExplanationPhase.FAILED.value):
                raise ExplainError(f"{phase.lower()}: {status.get('message', '')}")
            if clock() >= deadline:
                raise ExplainError(
                    f"no answer from the kubeheal operator within {timeout:g}s: is it running "
                    f"and does it watch namespace {namespace}? (its leader answers; see "
                    f"`kubectl get lease -n <its namespace>`)")
            time.sleep(poll)
    finally:
        with contextlib.suppress(ApiException):  # else the operator deletes it when due
            objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
