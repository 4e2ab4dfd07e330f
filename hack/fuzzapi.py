"""Bad input at scale: generated Runbooks, ServiceLevelObjectives and Remediations, mutated,
sent to the real API server with the operator running, and each outcome classified.

Objects come from hypothesis strategies built from the pydantic models' own schema (the one
the CRDs are generated from), with the few fields whose meaning a schema cannot say drawn from
sensible values (PromQL that parses, selectors, existing SLOs). Each object then gets one
mutation: none, a wrong type, an out-of-range number, an unknown field, a huge string, bad
PromQL, a bad selector, or a reference to an SLO that does not exist.

An invalid object must be refused by the API server with the field named, or accepted and
marked by the operator: ``Ready=False`` with a message naming the field (Runbooks, SLOs), or
``Claimed=False`` and never acted on (Remediations, which only the operator's own identity may
create at all, so they are sent as the operator). :func:`run_fuzz` returns the counts; used by
``bench/fuzz_api.py`` (1,000 objects and more) and by an end-to-end test (about 200, seeded).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import hypothesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubeheal.api.crd import structural
from kubeheal.api.remediation import RemediationSpec
from kubeheal.api.runbook import RunbookSpec
from kubeheal.api.slo import ServiceLevelObjectiveSpec

Json = dict[str, Any]
GROUP, VERSION = "kubeheal.io", "v1alpha1"
KINDS = {"Runbook": ("runbooks", RunbookSpec), "ServiceLevelObjective":
         ("servicelevelobjectives", ServiceLevelObjectiveSpec),
         "Remediation": ("remediations", RemediationSpec)}

GOOD_PROMQL = (
    'sum by (namespace, deployment) (rate(demo_http_requests_total[1m]))',
    'max by (namespace, deployment) (demo_memory_bytes)',
    'histogram_quantile(0.99, sum by (namespace, deployment, le) '
    '(rate(demo_http_request_duration_seconds_bucket[1m])))',
    'sum by (namespace, deployment) (rate(demo_http_requests_total{code=~"5.."}[1m]))',
)
BAD_PROMQL = (
    "sum(rate(demo_http_requests_total[1m])",  # unclosed
    "rate(demo_http_requests_total[1m)",
    'demo_http_requests_total{code=}',
    "sum by (deployment) rate(x[1m])",
    "1 +* 2",
    "demo_memory_bytes[5m]",  # a range vector where an instant one is needed
    "histogram_quantile(0.99,",
    "@@@",
    "rate(x[1q])",
    "sum by (namespace, deployment) (demo_memory_bytes) and on(",
)
BAD_SELECTORS: tuple[Json, ...] = (
    {"matchLabels": {"bad key!": "x"}},
    {"matchLabels": {"app": "not a valid value!"}},
    {"matchExpressions": [{"key": "app", "operator": "Around", "values": ["x"]}]},
    {"matchExpressions": [{"key": "app", "operator": "In", "values": []}]},
    {"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]},
    {"matchLabels": {"app": "x" * 64}},
)
MUTATIONS = ("none", "wrong-type", "out-of-range", "unknown-field", "huge-string",
             "bad-promql", "bad-selector", "missing-slo")
HUGE = 100_000


# -- generation -------------------------------------------------------------------------------


def _names() -> st.SearchStrategy[str]:
    return st.from_regex(r"[a-z]([a-z0-9-]{0,14}[a-z0-9])?", fullmatch=True)


def from_schema(schema: Mapping[str, Any], path: str = "spec",
                overrides: Mapping[str, st.SearchStrategy[Any]] | None = None,
                ) -> st.SearchStrategy[Any]:
    """Values that a structural OpenAPI schema (as in our CRDs) describes, within its bounds.

    ``overrides`` replaces the strategy at a path (``spec.signals[]`` for list items).
    """
    overrides = overrides or {}
    if path in overrides:
        return overrides[path]
    if "enum" in schema:
        return st.sampled_from(list(schema["enum"]))
    kind = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        return st.one_of(st.integers(0, 10), st.sampled_from(["25%", "1"]))
    if kind == "object":
        props: Mapping[str, Any] = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        if not props and isinstance(schema.get("additionalProperties"), dict):
            return st.dictionaries(_names(), from_schema(schema["additionalProperties"],
                                                         f"{path}{{}}", overrides), max_size=3)
        fields = {name: from_schema(sub, f"{path}.{name}", overrides)
                  for name, sub in props.items()}
        return st.fixed_dictionaries(
            {k: v for k, v in fields.items() if k in required},
            optional={k: v for k, v in fields.items() if k not in required})
    if kind == "array":
        low = int(schema.get("minItems", 0))
        high = min(int(schema.get("maxItems", low + 3)), low + 3)
        return st.lists(from_schema(schema.get("items") or {}, f"{path}[]", overrides),
                        min_size=low, max_size=high)
    if kind == "integer":
        low = int(schema.get("minimum", 0))
        return st.integers(low, min(int(schema.get("maximum", low + 1000)), low + 1000))
    if kind == "number":
        low = float(schema.get("minimum", 0.0))
        high = float(schema.get("maximum", low + 1000.0))
        return st.floats(low, high, allow_nan=False, allow_infinity=False,
                         exclude_min=bool(schema.get("exclusiveMinimum")),
                         exclude_max=bool(schema.get("exclusiveMaximum")))
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        if schema.get("format") == "date-time":
            return st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2030, 1, 1)).map(
                lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"))
        if "pattern" in schema:
            low = int(schema.get("minLength", 1))
            return st.from_regex(schema["pattern"], fullmatch=True).filter(
                lambda s: low <= len(s) <= int(schema.get("maxLength", 63)))
        low = int(schema.get("minLength", 0))
        high = min(int(schema.get("maxLength", 40)), low + 40)
        return st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=low,
                       max_size=high)
    return st.just({})


def spec_schema(kind: str) -> Json:
    return structural(KINDS[kind][1].model_json_schema(by_alias=True, mode="validation"))


def sensible(kind: str, slos: Sequence[str], actions: Sequence[Json]) -> dict[str, Any]:
    """Overrides for what a schema cannot say: PromQL, selectors, SLOs, coherent actions."""
    query = st.sampled_from(GOOD_PROMQL)
    if kind == "Runbook":
        return {
            "spec.selector": st.fixed_dictionaries(
                {"matchLabels": st.fixed_dictionaries({"app": _names()})}),
            "spec.signals[].query": query,
            "spec.sloRef": st.sampled_from([{"name": s} for s in slos]),
            "spec.actions": st.lists(st.sampled_from(list(actions)), min_size=1, max_size=3,
                                     unique_by=lambda a: a["name"]),
        }
    if kind == "ServiceLevelObjective":
        return {"spec.shortWindowSeconds": st.sampled_from([60, 300]),
                "spec.longWindowSeconds": st.sampled_from([600, 3600]),
                "spec.sli": st.one_of(
            st.fixed_dictionaries({"ratio": st.fixed_dictionaries(
                {"good": query, "total": query})}),
            st.fixed_dictionaries({"threshold": st.fixed_dictionaries(
                {"query": query, "max": st.floats(0, 10, allow_nan=False)})}))}
    return {}


@dataclass(frozen=True)
class Case:
    """One object to send, and what was done to it."""

    kind: str
    body: Json
    mutation: str
    path: str  # the field the mutation touched ('' for none)


def _leaves(node: Any, path: str = "spec") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, f"{path}[{i}]")
    yield path, node


def _parts(path: str) -> list[str | int]:
    """A path as keys and indices.

    >>> _parts("spec.signals[2].query")
    ['spec', 'signals', 2, 'query']
    """
    return [int(p) if p.isdigit() else p
            for p in path.replace("[", ".").replace("]", "").split(".") if p]


def _get(body: Any, path: str) -> Any:
    for part in _parts(path):
        body = body[part]
    return body


def _set(body: Json, path: str, value: Any) -> None:
    *parent, last = _parts(path)
    node: Any = body
    for part in parent:
        node = node[part]
    node[last] = value


def _schema_at(schema: Json, path: str) -> Json:
    """The schema of the value at a concrete path under spec."""
    node: Any = schema
    for part in _parts(path)[1:]:
        if isinstance(part, int):
            node = node.get("items") or {}
        else:
            node = (node.get("properties") or {}).get(part) or node.get(
                "additionalProperties") or {}
        if not isinstance(node, dict):
            return {}
    return dict(node)


def mutate(kind: str, body: Json, rng: random.Random, schema: Json) -> Case:
    """One mutation of a valid body, chosen by ``rng`` (a kind that does not apply: none)."""
    mutation = rng.choice(MUTATIONS)
    spec = body["spec"]
    leaves = [(p, v) for p, v in _leaves(spec) if p != "spec"]
    if mutation == "wrong-type" and leaves:
        path, value = rng.choice(leaves)
        wrong = {str: 12345, int: "twelve", float: "a number", bool: "yes", list: {"a": 1},
                 dict: "an object"}
        _set(body, path, wrong.get(type(value), [1, 2]))
        return Case(kind, body, mutation, path)
    if mutation == "out-of-range":
        numeric = [(p, _schema_at(schema, p)) for p, v in leaves
                   if isinstance(v, int | float) and not isinstance(v, bool)]
        bounded = [(p, b) for p, b in numeric if "minimum" in b or "maximum" in b]
        if bounded:
            path, bounds = rng.choice(bounded)
            value = (bounds["maximum"] + rng.choice([1, 10**6]) if "maximum" in bounds
                     else bounds["minimum"] - rng.choice([1, 10**6]))
            _set(body, path, int(value) if bounds.get("type") == "integer" else value)
            return Case(kind, body, mutation, path)
    if mutation == "unknown-field":
        objects = [p for p, v in _leaves(spec) if isinstance(v, dict)
                   and _schema_at(schema, p).get("properties")]
        path = rng.choice(objects)
        target = _get(body, path)
        target["fuzzUnknownField"] = rng.choice([1, "x", {"nested": True}])
        return Case(kind, body, mutation, f"{path}.fuzzUnknownField")
    if mutation == "huge-string":
        strings = [p for p, v in leaves if isinstance(v, str)]
        if strings:
            path = rng.choice(strings)
            _set(body, path, "x" * HUGE)
            return Case(kind, body, mutation, path)
    if mutation == "bad-promql":
        queries = [p for p, v in leaves if isinstance(v, str) and v in GOOD_PROMQL]
        if queries:
            path = rng.choice(queries)
            _set(body, path, rng.choice(BAD_PROMQL))
            return Case(kind, body, mutation, path)
    if mutation == "bad-selector" and "selector" in spec:
        spec["selector"] = json.loads(json.dumps(rng.choice(BAD_SELECTORS)))
        return Case(kind, body, mutation, "spec.selector")
    if mutation == "missing-slo" and kind == "Runbook":
        spec["sloRef"] = {"name": f"no-such-slo-{rng.randrange(10**6)}"}
        return Case(kind, body, mutation, "spec.sloRef.name")
    return Case(kind, body, "none", "")


def examples(strategy: st.SearchStrategy[Any], count: int, seed: int) -> list[Any]:
    """``count`` examples of a strategy, the same ones for the same seed."""
    found: list[Any] = []

    @hypothesis.seed(seed)
    @settings(database=None, max_examples=count, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value: Any) -> None:
        found.append(value)

    collect()
    return found[:count]


def generate(count: int, seed: int, namespace: str, slos: Sequence[str],
             actions: Sequence[Json]) -> list[Case]:
    """``count`` cases, the same for the same seed: the kinds in turn, each mutated once."""
    rng = random.Random(seed)
    kinds = list(KINDS)
    schemas = {k: spec_schema(k) for k in kinds}
    specs = {k: examples(from_schema(schemas[k], "spec", sensible(k, slos, actions)),
                         -(-count // len(kinds)), seed + i) for i, k in enumerate(kinds)}
    cases: list[Case] = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        pool = specs[kind]
        spec = json.loads(json.dumps(pool[(i // len(kinds)) % len(pool)]))
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind,
                "metadata": {"name": f"fuzz-{i}", "namespace": namespace,
                             "labels": {"kubeheal.io/fuzz": "true"}},
                "spec": spec}
        if kind == "Remediation":  # in the namespace it is sent to, as the operator's are
            spec["target"]["namespace"] = namespace
        cases.append(mutate(kind, body, rng, schemas[kind]))
    return cases


# -- sending and judging ----------------------------------------------------------------------


@dataclass
class Counts:
    """What became of the objects sent."""

    rejected: int = 0  # by the API server, naming a field
    not_ready: int = 0  # accepted Runbooks and SLOs: Ready=False, naming the field
    disowned: int = 0  # accepted Remediations: Claimed=False, never acted on
    valid: int = 0  # accepted Runbooks and SLOs: Ready=True
    operator_crashes: int = 0
    problems: list[str] = field(default_factory=list)  # outcomes that break the rules
    by_mutation: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def sent(self) -> int:
        return self.rejected + self.not_ready + self.disowned + self.valid + len(self.problems)

    def table(self) -> str:
        lines = [f"objects sent                       {self.sent}",
                 f"rejected by the API server         {self.rejected}",
                 f"accepted and Ready=False           {self.not_ready}",
                 f"accepted Remediation, not acted on {self.disowned}  (Claimed=False)",
                 f"accepted and valid (Ready=True)    {self.valid}",
                 f"operator crashes                   {self.operator_crashes}",
                 f"outcomes breaking the rules        {len(self.problems)}",
                 "", "by mutation (mutation, outcome): count"]
        lines += [f"  {m:14} {o:10} {n}" for (m, o), n in sorted(self.by_mutation.items())]
        lines += [f"  ! {p}" for p in self.problems[:20]]
        return "\n".join(lines)


def names_a_field(message: str, case: Case) -> bool:
    """Whether a rejection or condition names a field of the spec (or the mutated one).

    >>> names_a_field('spec.signals[0].query: parse error', Case("Runbook", {}, "none", ""))
    True
    >>> names_a_field("something failed", Case("Runbook", {}, "none", ""))
    False
    """
    leaf = case.path.rsplit(".", 1)[-1].split("[")[0]
    return bool(re.search(r"\bspec[.:\[]", message)) or (bool(leaf) and leaf in message)


def _message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message", ""))
    except ValueError:
        return str(error.body)


def condition(body: Json, type_: str) -> Json | None:
    for c in (body.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def run_fuzz(admin: client.ApiClient, operator: client.ApiClient, cases: Sequence[Case],
             alive: Callable[[], bool], batch: int = 25, timeout: float = 90.0,
             progress: Callable[[str], None] | None = None) -> Counts:
    """Send the cases in batches, wait for the operator's verdict on each, then delete them."""
    counts = Counts()
    admin_api, operator_api = client.CustomObjectsApi(admin), client.CustomObjectsApi(operator)
    for start in range(0, len(cases), batch):
        accepted: list[Case] = []
        for case in cases[start:start + batch]:
            plural = KINDS[case.kind][0]
            api = operator_api if case.kind == "Remediation" else admin_api
            try:
                api.create_namespaced_custom_object(GROUP, VERSION,
                                                    case.body["metadata"]["namespace"],
                                                    plural, case.body,
                                                    field_validation="Strict")
            except ApiException as e:
                message = _message(e)
                # 400/422: the schema or its CEL rules; 403: an admission policy.
                if e.status in (400, 403, 422) and names_a_field(message, case):
                    counts.rejected += 1
                    counts.by_mutation[(case.mutation, "rejected")] += 1
                else:
                    counts.problems.append(f"{case.kind} {case.mutation} {case.path}: "
                                           f"HTTP {e.status} {message[:200]}")
                continue
            accepted.append(case)
        _judge(admin_api, accepted, counts, timeout)
        for case in cases[start:start + batch]:
            namespace = case.body["metadata"]["namespace"]
            try:
                admin_api.delete_namespaced_custom_object(GROUP, VERSION, namespace,
                                                          KINDS[case.kind][0],
                                                          case.body["metadata"]["name"])
            except ApiException as e:
                if e.status != 404:
                    raise
        if not alive():
            counts.operator_crashes += 1
            break
        if progress is not None:
            progress(f"{min(start + batch, len(cases))}/{len(cases)} sent")
    return counts


def _judge(api: client.CustomObjectsApi, accepted: Sequence[Case], counts: Counts,
           timeout: float) -> None:
    waiting = {(c.kind, c.body["metadata"]["name"]): c for c in accepted}
    deadline = time.monotonic() + timeout
    while waiting and time.monotonic() < deadline:
        for (kind, name), case in list(waiting.items()):
            namespace = case.body["metadata"]["namespace"]
            body = api.get_namespaced_custom_object(GROUP, VERSION, namespace, KINDS[kind][0],
                                                    name)
            verdict = _verdict(kind, body)
            if verdict is None:
                continue
            del waiting[(kind, name)]
            good, message = verdict
            if kind == "Remediation":
                if good:
                    counts.problems.append(f"{kind} {name}: claimed, though kubeheal did not "
                                           "open it")
                else:
                    counts.disowned += 1
                    counts.by_mutation[(case.mutation, "disowned")] += 1
            elif good:
                counts.valid += 1
                counts.by_mutation[(case.mutation, "valid")] += 1
                if case.mutation in ("bad-promql", "bad-selector", "missing-slo"):
                    counts.problems.append(f"{kind} {case.mutation} {case.path}: Ready=True")
            elif names_a_field(message, case):
                counts.not_ready += 1
                counts.by_mutation[(case.mutation, "not-ready")] += 1
            else:
                counts.problems.append(f"{kind} {case.mutation} {case.path}: not ready without "
                                       f"naming a field: {message[:200]}")
        if waiting:
            time.sleep(1.0)
    for kind, name in waiting:
        counts.problems.append(f"{kind} {name} ({waiting[(kind, name)].mutation}): no verdict "
                               f"within {timeout:.0f}s")


def _verdict(kind: str, body: Json) -> tuple[bool, str] | None:
    """(Ready, message) once the operator has judged the current generation; else None."""
    if kind == "Remediation":
        claimed = condition(body, "Claimed")
        if claimed is None:
            return None
        return claimed["status"] == "True", str(claimed.get("message", ""))
    ready = condition(body, "Ready")
    if ready is None or ready.get("observedGeneration") not in (
            None, body["metadata"].get("generation")):
        return None
    return ready["status"] == "True", str(ready.get("message", ""))
