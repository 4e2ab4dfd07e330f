"""Shared building blocks of the kubeheal API: the model base, conditions, references.

Every API model derives from :class:`ApiModel`: camelCase on the wire, snake_case in Python,
unknown fields rejected (the API server prunes them; the models say so loudly instead).
Cross-field rules are declared once per model with :func:`cel_rules`, which both attaches
them to the generated CRD as ``x-kubernetes-validations`` and keeps them next to the pydantic
validator that enforces the same rule in Python.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

GROUP: Final = "kubeheal.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"

NAME_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""An RFC 1123 label: what Kubernetes accepts as a namespace or a signal/action name."""


def cel_rules(*rules: tuple[str, str]) -> dict[str, Any]:
    """The ``json_schema_extra`` that puts CEL rules on a model's CRD schema.

    >>> cel_rules(("self.a <= self.b", "a must not exceed b"))
    {'x-kubernetes-validations': [{'rule': 'self.a <= self.b', 'message': 'a must not exceed b'}]}
    """
    return {"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}


class ApiModel(BaseModel):
    """Base of every API model: camelCase aliases, no unknown fields, validated assignment."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        validate_assignment=True,
        use_enum_values=False,
    )

    def to_api(self) -> dict[str, Any]:
        """The JSON-ready dict the Kubernetes API expects (aliases, no unset optionals)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ConditionStatus(enum.StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ApiModel):
    """A condition as the Kubernetes API conventions define it (``metav1.Condition``)."""

    type: str = Field(
        description="Type of the condition, in CamelCase, e.g. Ready.",
        min_length=1,
        max_length=316,
    )
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(
        description="Machine-readable CamelCase reason for the last transition.",
        min_length=1,
        max_length=1024,
    )
    message: str = Field(
        default="", description="Human-readable details of the last transition.", max_length=32768
    )
    last_transition_time: dt.datetime = Field(
        description="When the condition last changed from one status to another."
    )
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="The .metadata.generation that the condition was set for.",
    )


class ObjectReference(ApiModel):
    """A reference by name to an object in the same namespace."""

    name: str = Field(description="Name of the object.", min_length=1, max_length=253)


WorkloadKind = Literal["Deployment", "StatefulSet"]
"""The kinds of workload kubeheal heals (apps/v1)."""


class WorkloadReference(ApiModel):
    """The workload that an incident or an action is about."""

    kind: WorkloadKind = Field(
        default="Deployment", description="Kind of the workload: Deployment or StatefulSet."
    )
    namespace: str = Field(
        description="Namespace of the workload.", pattern=NAME_PATTERN, max_length=63
    )
    name: str = Field(description="Name of the workload.", min_length=1, max_length=253)


_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_LABEL_PREFIX = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def label_key_problem(key: str) -> str | None:
    """Why a label key is not one Kubernetes accepts, or None.

    >>> label_key_problem("app.kubernetes.io/name") is None
    True
    >>> label_key_problem("bad key!")[:40]
    "label key 'bad key!' is not a valid labe"
    """
    prefix, _, name = key.rpartition("/")
    if _LABEL_NAME.fullmatch(name) and (not prefix or _LABEL_PREFIX.fullmatch(prefix)):
        return None
    return (f"label key {key[:80]!r} is not a valid label key ([prefix/]name, name of at most "
            "63 letters, digits, '-', '_' or '.')")


def label_value_problem(value: str) -> str | None:
    """Why a label value is not one Kubernetes accepts, or None.

    >>> label_value_problem(""), label_value_problem("v1.2"), label_value_problem("a b")[:24]
    (None, None, "label value 'a b' is not")
    """
    if value == "" or _LABEL_NAME.fullmatch(value):
        return None
    return (f"label value {value[:80]!r} is not a valid label value (at most 63 letters, digits, "
            "'-', '_' or '.')")


class LabelSelectorRequirement(ApiModel):
    """One `matchExpressions` entry of a label selector."""

    key: str = Field(description="The label key the selector applies to.", min_length=1,
                     max_length=317)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="How the key relates to the values."
    )
    values: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Values for In and NotIn; must be empty for Exists and DoesNotExist.",
    )

    @model_validator(mode="after")
    def _well_formed(self) -> LabelSelectorRequirement:
        problems = [p for p in (label_key_problem(self.key),
                                *(label_value_problem(v) for v in self.values)) if p]
        if self.operator in ("In", "NotIn") and not self.values:
            problems.append(f"operator {self.operator} needs at least one value")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            problems.append(f"operator {self.operator} takes no values")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class LabelSelector(ApiModel):
    """A Kubernetes label selector; an empty selector is rejected (it would match everything)."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            (
                "(has(self.matchLabels) && size(self.matchLabels) > 0) || "
                "(has(self.matchExpressions) && size(self.matchExpressions) > 0)",
                "selector must not be empty: set matchLabels or matchExpressions",
            )
        )
    )

    match_labels: dict[str, str] = Field(
        default_factory=dict,
        max_length=32,
        description="Labels that a workload must carry, all of them.",
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list,
        max_length=16,
        description="Set-based requirements that a workload must satisfy, all of them.",
    )

    @model_validator(mode="after")
    def _not_empty(self) -> LabelSelector:
        if not self.match_labels and not self.match_expressions:
            raise ValueError("selector must not be empty: set matchLabels or matchExpressions")
        problems = [p for k, v in self.match_labels.items()
                    for p in (label_key_problem(k), label_value_problem(v)) if p]
        if problems:
            raise ValueError("matchLabels: " + "; ".join(problems))
        return self

    def as_query(self) -> str:
        """The selector as the ``labelSelector`` string of a list call.

        >>> LabelSelector(match_labels={"app": "shop"}).as_query()
        'app=shop'
        >>> LabelSelector(match_expressions=[
        ...     LabelSelectorRequirement(key="tier", operator="In", values=["a", "b"])]).as_query()
        'tier in (a,b)'
        """
        parts = [f"{k}={v}" for k, v in sorted(self.match_labels.items())]
        for e in self.match_expressions:
            if e.operator == "Exists":
                parts.append(e.key)
            elif e.operator == "DoesNotExist":
                parts.append(f"!{e.key}")
            else:
                op = "in" if e.operator == "In" else "notin"
                parts.append(f"{e.key} {op} ({','.join(e.values)})")
        return ",".join(parts)

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether a workload with these labels is selected.

        >>> s = LabelSelector(match_labels={"app": "shop"})
        >>> s.matches({"app": "shop", "tier": "web"}), s.matches({"app": "cart"})
        (True, False)
        """
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        for e in self.match_expressions:
            present = e.key in labels
            ok = {
                "In": present and labels.get(e.key) in e.values,
                "NotIn": not present or labels.get(e.key) not in e.values,
                "Exists": present,
                "DoesNotExist": not present,
            }[e.operator]
            if not ok:
                return False
        return True


class ObjectMeta(ApiModel):
    """The part of ``metadata`` that kubeheal reads; the API server owns the rest."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(default=None, description="Name of the object.")
    namespace: str | None = Field(default=None, description="Namespace of the object.")
    generation: int | None = Field(default=None, description="Generation of the spec.")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations.")


def field_path(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location in the API server's notation.

    >>> field_path(("spec", "actions", 0, "scale"))
    'spec.actions[0].scale'
    """
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def explain(error: ValidationError) -> str:
    """A ValidationError as one line per problem, each naming the field, for a user to act on.

    >>> from pydantic import ValidationError
    >>> try:
    ...     WorkloadReference.model_validate({"namespace": "Bad_NS", "name": "web"})
    ... except ValidationError as e:
    ...     print(explain(e))
    namespace: String should match pattern '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'
    """
    lines = []
    for e in error.errors():
        message = str(e["msg"]).removeprefix("Value error, ")
        lines.append(f"{field_path(tuple(e['loc'])) or '(root)'}: {message}")
    return "\n".join(lines)
