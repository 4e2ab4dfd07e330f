"""What counts as an action on a workload, read from audit events as the API server writes
them (the shapes below are those of kube-apiserver's JSON audit backend)."""

from __future__ import annotations

from typing import Any

import pytest

from auditlog import AuditRecord, is_action

OPERATOR = "system:serviceaccount:kubeheal-system:kubeheal-operator"


def event(verb: str, resource: str, name: str, *, group: str = "apps", sub: str = "",
          code: int = 200, body: Any = None, user: str = OPERATOR,
          namespace: str = "shop") -> dict[str, Any]:
    ref = {"resource": resource, "namespace": namespace, "name": name, "apiGroup": group,
           "apiVersion": "v1"}
    if sub:
        ref["subresource"] = sub
    found: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Request",
        "auditID": "0b1c", "stage": "ResponseComplete", "verb": verb,
        "user": {"username": user, "groups": ["system:authenticated"]},
        "userAgent": "kubeheal", "objectRef": ref, "responseStatus": {"code": code},
        "requestReceivedTimestamp": "2026-01-02T03:04:05.000001Z",
        "stageTimestamp": "2026-01-02T03:04:05.123456Z",
    }
    if body is not None:
        found["requestObject"] = body
    return found


def action(**kwargs: Any) -> bool:
    verb, resource, name = kwargs.pop("verb"), kwargs.pop("resource"), kwargs.pop("name")
    return is_action(AuditRecord.from_event(event(verb, resource, name, **kwargs)), "shop",
                     "checkout")


def test_a_record_keeps_who_what_and_the_answer() -> None:
    record = AuditRecord.from_event(event("patch", "deployments", "checkout", code=409))
    assert (record.user, record.verb, record.resource, record.namespace, record.name) == (
        OPERATOR, "patch", "deployments", "shop", "checkout")
    assert record.code == 409 and not record.ok and record.mutating
    assert record.time.microsecond == 123456 and record.time.tzinfo is not None


@pytest.mark.parametrize(("kwargs", "expected"), [
    # rollback (JSON patch of the template), restart (strategic merge), scale (merge)
    ({"verb": "patch", "resource": "deployments", "name": "checkout",
      "body": [{"op": "replace", "path": "/spec/template", "value": {}}]}, True),
    ({"verb": "patch", "resource": "deployments", "name": "checkout",
      "body": {"spec": {"template": {"metadata": {"annotations": {"a": "b"}}}}}}, True),
    ({"verb": "update", "resource": "deployments", "name": "checkout", "sub": "scale"}, True),
    # a token stamped on the Deployment acts on nothing by itself
    ({"verb": "patch", "resource": "deployments", "name": "checkout",
      "body": {"metadata": {"annotations": {"kubeheal.io/action-token": "t"}}}}, False),
    ({"verb": "patch", "resource": "deployments", "name": "checkout",
      "body": [{"op": "add", "path": "/metadata/annotations/x", "value": "t"}]}, False),
    # refused, another workload, another namespace, a status write
    ({"verb": "patch", "resource": "deployments", "name": "checkout", "code": 409,
      "body": {"spec": {"replicas": 4}}}, False),
    ({"verb": "patch", "resource": "deployments", "name": "checkout-canary",
      "body": {"spec": {"replicas": 4}}}, False),
    ({"verb": "patch", "resource": "deployments", "name": "checkout", "namespace": "other",
      "body": {"spec": {"replicas": 4}}}, False),
    ({"verb": "patch", "resource": "deployments", "name": "checkout", "sub": "status"}, False),
    # its pods: deleted or evicted; reads are never actions
    ({"verb": "delete", "resource": "pods", "name": "checkout-5d8f7c9b6-abcde",
      "group": ""}, True),
    ({"verb": "create", "resource": "pods", "name": "checkout-5d8f7c9b6-abcde", "group": "",
      "sub": "eviction", "code": 201}, True),
    ({"verb": "create", "resource": "pods", "name": "checkout-5d8f7c9b6-abcde", "group": "",
      "sub": "eviction", "code": 429}, False),
    ({"verb": "delete", "resource": "pods", "name": "checkout-canary-5d8f7c9b6-abcde",
      "group": ""}, False),
    ({"verb": "get", "resource": "pods", "name": "checkout-5d8f7c9b6-abcde", "group": ""},
     False),
    # its HPA
    ({"verb": "patch", "resource": "horizontalpodautoscalers", "name": "checkout",
      "group": "autoscaling", "body": {"spec": {"minReplicas": 5}}}, True),
])
def test_what_is_an_action_on_the_workload(kwargs: dict[str, Any], expected: bool) -> None:
    assert action(**kwargs) is expected
