"""Analysis spec: which metrics judge a canary, how often, and how many bad checks roll it back.

Split from `rollway.spec` so the analysis code owns its own configuration.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rollway.durations import Duration
from rollway.metrics.templates import TEMPLATES


class SpecModel(BaseModel):
    """Base for spec models: unknown keys are errors (a typo must not be ignored)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class MetricCheck(SpecModel):
    """One metric judged at every analysis interval.

    Give either a `template` (a named query from `rollway.metrics.templates`) or a
    raw PromQL `query` with `${service}`, `${environment}`, `${version}`,
    `${stable}`, `${interval}` placeholders. Bounds are absolute (`min`, `max`)
    and/or relative to the stable version measured the same way
    (`max_increase`/`max_decrease` in the metric's unit, `max_ratio`/`min_ratio`).
    """

    name: str
    template: str | None = None
    query: str | None = None
    min: float | None = None
    max: float | None = None
    max_increase: float | None = Field(
        default=None, ge=0, description="Canary may exceed stable by at most this much."
    )
    max_decrease: float | None = Field(
        default=None, ge=0, description="Canary may fall below stable by at most this much."
    )
    max_ratio: float | None = Field(
        default=None, gt=0, description="Canary may be at most stable x this (e.g. 1.2)."
    )
    min_ratio: float | None = Field(
        default=None, gt=0, description="Canary must be at least stable x this."
    )
    min_samples: int = Field(
        default=0, ge=0, description="Fewer requests in the window make the check inconclusive."
    )

    @property
    def relative(self) -> bool:
        """True when a bound compares the canary with the stable version."""
        return any(
            v is not None
            for v in (self.max_increase, self.max_decrease, self.max_ratio, self.min_ratio)
        )

    @model_validator(mode="after")
    def _one_source(self) -> MetricCheck:
        if (self.template is None) == (self.query is None):
            raise ValueError("give exactly one of 'template' or 'query'")
        if self.min is None and self.max is None and not self.relative:
            raise ValueError(
                "give a bound: 'min'/'max' (absolute) or 'max_increase', 'max_decrease', "
                "'max_ratio', 'min_ratio' (relative to stable)"
            )
        if self.template is not None and self.template not in TEMPLATES:
            known = ", ".join(sorted(TEMPLATES))
            raise ValueError(f"template '{self.template}' is unknown; known: {known}")
        return self


class AnalysisSpec(SpecModel):
    """How often the canary is judged and how many bad checks roll it back."""

    interval: Duration = Field(default=timedelta(minutes=1))
    initial_delay: Duration = Field(default=timedelta(0))
    failure_limit: int = Field(
        default=1, ge=1, description="Consecutive failed checks that roll the canary back."
    )
    inconclusive_limit: int = Field(
        default=3, ge=1, description="Consecutive inconclusive checks that pause for a human."
    )
    metrics: list[MetricCheck] = Field(default_factory=list)

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: timedelta) -> timedelta:
        if v < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return v
