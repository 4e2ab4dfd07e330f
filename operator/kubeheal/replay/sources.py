"""Where ``kubeheal replay`` reads from, with the user's own credentials: the Runbook (the
cluster, or a file), the Deployments it selects and their ReplicaSets, Prometheus history
(range queries), and the policy engine.

The CLI cannot reach the operator's OPA sidecar, so the policies are asked in one of two
ways a user can run: :class:`OpaEval` evaluates the repository's ``policies/`` bundle with
the local ``opa`` binary (``opa eval``), and ``--opa-url`` asks an OPA server that already
holds the policies, through the operator's own :class:`~kubeheal.policy.gate.PolicyGate`.
Either fails closed: no answer is a denial that says why.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client

from kubeheal.api.runbook import Runbook
from kubeheal.controller.runbooks import parse_runbook
from kubeheal.decide.policy_input import PolicyInput
from kubeheal.observe.kubernetes import KubernetesError, KubernetesReader, call
from kubeheal.observe.prometheus import PrometheusClient, QueryError, SharedQueries
from kubeheal.policy import PolicyDecision, parse_decision, read_policy_directory
from kubeheal.policy.gate import describe_error
from kubeheal.replay.loop import History, Window

Json = dict[str, Any]


class ReplayError(Exception):
    """Why the replay cannot run, in one line a user can act on."""


def runbook_from_file(path: Path, namespace: str) -> Runbook:
    """The Runbook in a YAML file, in ``namespace`` unless the file names one."""
    try:
        body = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ReplayError(f"cannot read {path}: {e}") from None
    if not isinstance(body, dict) or body.get("kind") != "Runbook":
        raise ReplayError(f"{path}: not a Runbook (kind: Runbook)")
    runbook, problem = parse_runbook(body)
    if runbook is None:
        raise ReplayError(f"{path}: {problem}")
    runbook.metadata.namespace = runbook.metadata.namespace or namespace
    return runbook


async def runbook_from_cluster(reader: KubernetesReader, namespace: str, name: str) -> Runbook:
    """The Runbook ``name`` in ``namespace``, as the user may read it."""
    objects = client.CustomObjectsApi(reader.api_client)
    try:
        body = await call(objects.get_namespaced_custom_object, "kubeheal.io", "v1alpha1",
                          namespace, "runbooks", name)
    except KubernetesError as e:
        raise ReplayError(f"runbook {namespace}/{name}: {e}") from None
    runbook, problem = parse_runbook(body)
    if runbook is None:
        raise ReplayError(f"runbook {namespace}/{name}: {problem}")
    return runbook


async def read_history(reader: KubernetesReader, prometheus: PrometheusClient,
                       runbook: Runbook, window: Window) -> tuple[History, dict[str, str]]:
    """The Deployments the runbook selects, their ReplicaSets, each signal's points from
    ``historySeconds`` before the window to its end, and the namespace's labels."""
    namespace = runbook.metadata.namespace or ""
    spec = runbook.spec
    try:
        found = await reader.list_deployments(namespace, "")
        deployments = {d["metadata"]["name"]: d for d in found
                       if spec.selector.matches(d["metadata"].get("labels") or {})}
        replica_sets = {w: await reader.replica_sets(d) for w, d in deployments.items()}
    except KubernetesError as e:
        raise ReplayError(f"reading the Deployments of namespace {namespace}: {e}") from None
    if not deployments:
        raise ReplayError(f"runbook {namespace}/{runbook.metadata.name} selects no Deployment "
                          f"in namespace {namespace}")
    try:
        labels = (await call(client.CoreV1Api(reader.api_client).read_namespace, namespace)
                  )["metadata"].get("labels") or {}
    except KubernetesError:
        labels = {}  # the namespace's tier is then unknown to the risk score
    if spec.slo_ref is not None:  # the live loop opens no incident without its SLO
        try:
            await call(client.CustomObjectsApi(reader.api_client).get_namespaced_custom_object,
                       "kubeheal.io", "v1alpha1", namespace, "servicelevelobjectives",
                       spec.slo_ref.name)
        except KubernetesError as e:
            raise ReplayError(f"spec.sloRef.name: ServiceLevelObjective {spec.slo_ref.name!r}: "
                              f"{e}; the runbook opens no incident without it") from None
    queries = SharedQueries(prometheus, gather=0.0)
    # On the window's grid, so that each step has the points of its own time.
    earliest = window.since.timestamp() - spec.detection.history_seconds
    start = dt.datetime.fromtimestamp(math.floor(earliest / window.step) * window.step, dt.UTC)
    series: dict[str, dict[str, tuple[tuple[float, float], ...]]] = {}
    for index, signal in enumerate(spec.signals):
        try:
            answer = await queries.query_range(signal.query, start, window.until, window.step,
                                               namespace)
        except QueryError as e:
            raise ReplayError(f"spec.signals[{index}] {signal.name}: {e}") from None
        series[signal.name] = {s.labels.get(signal.workload_label, ""): s.points for s in answer}
    return History(series, deployments, replica_sets), dict(labels)


class OpaEval:
    """The policies of a bundle directory, evaluated by the local ``opa`` binary per input.

    The bundle's version is put where the operator's gate puts it
    (``data.kubeheal.meta.version``), so each decision names the policies it was made under.
    """

    def __init__(self, binary: str, policies: Path, timeout: float = 30.0) -> None:
        self.binary, self.policies, self.timeout = binary, policies, timeout
        try:
            self.version = read_policy_directory(policies).version
        except (OSError, ValueError) as e:
            raise ReplayError(f"--policies {policies}: {e}") from None
        if not any(policies.rglob("*.rego")):
            raise ReplayError(f"--policies {policies}: no .rego files")

    async def decide(self, policy_input: PolicyInput) -> PolicyDecision:
        with tempfile.TemporaryDirectory() as scratch:
            meta = Path(scratch) / "meta.json"
            meta.write_text(json.dumps({"kubeheal": {"meta": {"version": self.version}}}))
            try:
                proc = await asyncio.create_subprocess_exec(
                    self.binary, "eval", "--format", "json", "--stdin-input",
                    "--data", str(self.policies), "--data", str(meta), "data.kubeheal.decision",
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE)
                out, err = await asyncio.wait_for(
                    proc.communicate(json.dumps(policy_input.to_opa()).encode()), self.timeout)
            except (OSError, TimeoutError) as e:
                return PolicyDecision.unavailable(f"{self.binary} eval: {describe_error(e)}",
                                                  self.version)
        if proc.returncode != 0:
            return PolicyDecision.unavailable(
                f"{self.binary} eval: {err.decode(errors='replace').strip()[:300]}", self.version)
        try:
            answer = json.loads(out)["result"][0]["expressions"][0]["value"]
        except (ValueError, KeyError, IndexError, TypeError):
            return PolicyDecision.unavailable("no decision at data.kubeheal.decision",
                                              self.version)
        return parse_decision(answer, self.version)
