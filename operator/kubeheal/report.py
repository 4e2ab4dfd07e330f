"""``kubeheal report``: what the cluster's runbooks achieved, read from the API.

Everything comes from objects a user can read with ``kubectl``: the Runbooks' outcome
statistics (``status.outcomes``), the Deployments (coverage) and the ServiceLevelObjectives'
error budgets (their status, kept current by the operator). Nothing is read from the
operator itself, so a user sees what RBAC lets them list, and the report works while the
operator is down.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from kubeheal.api.base import GROUP, VERSION, explain
from kubeheal.api.outcomes import OutcomeStatistics
from kubeheal.api.runbook import Runbook
from kubeheal.approve import api_message
from kubeheal.outcomes.figures import SelectingRunbook, coverage
from kubeheal.outcomes.render import Report, RunbookInput, SloBudget, build


class ReportError(Exception):
    """Why the report could not be made, in one line a user can act on."""


def _list(api: client.ApiClient, plural: str, namespace: str | None) -> list[dict[str, Any]]:
    objects = client.CustomObjectsApi(api)
    if namespace is None:
        found = objects.list_cluster_custom_object(GROUP, VERSION, plural)
    else:
        found = objects.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)
    items: list[dict[str, Any]] = found.get("items", [])
    return items


def _runbook_input(body: dict[str, Any]) -> RunbookInput:
    meta, spec = body["metadata"], body.get("spec") or {}
    try:
        stats = OutcomeStatistics.model_validate(
            (body.get("status") or {}).get("outcomes") or {})
    except ValidationError as e:
        raise ReportError(f"runbook {meta['namespace']}/{meta['name']}: status.outcomes "
                          f"unreadable: {explain(e)}") from None
    return RunbookInput(meta["namespace"], meta["name"], str(spec.get("mode", "")),
                        bool(spec.get("sloRef")), stats)


def make_report(api: client.ApiClient, namespace: str | None, look_back: dt.timedelta,
                now: dt.datetime | None = None) -> Report:
    """The report of one namespace, or of all (``namespace`` None)."""
    moment = now or dt.datetime.now(dt.UTC)
    try:
        runbooks = _list(api, "runbooks", namespace)
        slos = _list(api, "servicelevelobjectives", namespace)
    except ApiException as e:
        raise ReportError(f"cannot list kubeheal's objects: {api_message(e)}") from None
    inputs = [_runbook_input(r) for r in runbooks]
    selecting = []
    for body in runbooks:
        try:
            model = Runbook.model_validate({k: body[k] for k in ("metadata", "spec")})
        except ValidationError:
            continue  # an invalid runbook selects nothing
        selecting.append(SelectingRunbook(body["metadata"]["namespace"], model.spec.selector,
                                          model.spec.slo_ref is not None))
    apps = client.AppsV1Api(api)
    covered, problem = None, ""
    try:
        deployments = (apps.list_deployment_for_all_namespaces() if namespace is None
                       else apps.list_namespaced_deployment(namespace)).items
        covered = coverage(((d.metadata.namespace, d.metadata.labels or {})
                            for d in deployments), selecting)
    except ApiException as e:
        problem = f"cannot list Deployments: {api_message(e)}"
    budgets = [SloBudget(s["metadata"]["namespace"], s["metadata"]["name"],
                         float((s.get("spec") or {}).get("objective", 0)),
                         (s.get("status") or {}).get("errorBudgetRemaining"))
               for s in slos]
    scope = "all namespaces" if namespace is None else f"namespace {namespace}"
    return build(scope, moment, look_back, inputs, covered, problem, budgets)
