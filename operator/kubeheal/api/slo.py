"""The ``ServiceLevelObjective`` resource: an SLI, an objective, and the budget it leaves.

The operator evaluates the SLI on an interval and keeps the error budget and burn rates in
the status; runbooks verify recovery against it and may use its burn-rate breach as a signal.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from kubeheal.api.base import ApiModel, Condition, ObjectMeta, cel_rules


class RatioSli(ApiModel):
    """An SLI as good events over total events."""

    good: str = Field(
        description="PromQL for the rate of good events, e.g. non-5xx requests per second.",
        min_length=1,
        max_length=4096,
    )
    total: str = Field(
        description="PromQL for the rate of all events.", min_length=1, max_length=4096
    )


class ThresholdSli(ApiModel):
    """An SLI as the share of evaluations where a query stays on the good side of a bound."""

    query: str = Field(
        description="PromQL returning one value, e.g. a p99 latency in seconds.",
        min_length=1,
        max_length=4096,
    )
    max: float = Field(description="The query is good while at or below this value.")


class Sli(ApiModel):
    """Exactly one of ratio or threshold."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            ("has(self.ratio) != has(self.threshold)", "set exactly one of ratio or threshold")
        )
    )

    ratio: RatioSli | None = Field(default=None, description="Good events over total events.")
    threshold: ThresholdSli | None = Field(
        default=None, description="A query that must stay at or below a bound."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Sli:
        if (self.ratio is None) == (self.threshold is None):
            raise ValueError("set exactly one of ratio or threshold")
        return self


class ServiceLevelObjectiveSpec(ApiModel):
    """An SLI, its objective over a window, and the burn-rate alerting windows."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            (
                "self.shortWindowSeconds < self.longWindowSeconds",
                "shortWindowSeconds must be less than longWindowSeconds",
            )
        )
    )

    sli: Sli = Field(description="The service level indicator.")
    objective: float = Field(
        gt=0.0, lt=1.0, description="Target share of good events, e.g. 0.99, in (0, 1)."
    )
    window_seconds: int = Field(
        default=28 * 86400,
        ge=60,
        le=90 * 86400,
        description="The rolling window the objective holds over.",
    )
    short_window_seconds: int = Field(
        default=300, ge=10, le=86400, description="Short window of the multi-window burn rate."
    )
    long_window_seconds: int = Field(
        default=3600, ge=60, le=7 * 86400, description="Long window of the multi-window burn rate."
    )
    burn_rate_threshold: float = Field(
        default=14.4,
        gt=0.0,
        le=1000.0,
        description="Both windows burning faster than this means a breach.",
    )
    interval_seconds: int = Field(
        default=30, ge=1, le=3600, description="Seconds between two evaluations of the SLI."
    )

    @model_validator(mode="after")
    def _windows(self) -> ServiceLevelObjectiveSpec:
        if self.short_window_seconds >= self.long_window_seconds:
            raise ValueError("shortWindowSeconds must be less than longWindowSeconds")
        return self


class BurnRates(ApiModel):
    """Error-budget burn rates: 1 spends the budget exactly over the window."""

    short: float | None = Field(default=None, description="Burn rate over the short window.")
    long: float | None = Field(default=None, description="Burn rate over the long window.")


class ServiceLevelObjectiveStatus(ApiModel):
    observed_generation: int | None = Field(default=None, description="Last generation seen.")
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=16,
        description="Ready, Breaching.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    sli_value: float | None = Field(default=None, description="SLI over the short window.")
    error_budget_remaining: float | None = Field(
        default=None, description="Share of the window's error budget left, 1 = untouched."
    )
    burn_rates: BurnRates = Field(default_factory=BurnRates, description="Current burn rates.")
    breaching: bool = Field(
        default=False, description="Both burn-rate windows exceed the threshold."
    )
    last_evaluation_time: dt.datetime | None = Field(
        default=None, description="When the SLI was last evaluated."
    )


class ServiceLevelObjective(ApiModel):
    """A service level objective that runbooks verify against."""

    api_version: Literal["kubeheal.io/v1alpha1"] = "kubeheal.io/v1alpha1"
    kind: Literal["ServiceLevelObjective"] = "ServiceLevelObjective"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ServiceLevelObjectiveSpec
    status: ServiceLevelObjectiveStatus | None = None
