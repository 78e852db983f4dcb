"""Analysis spec: which metrics judge a canary, how often, and how many bad checks roll it back.

Split from `rollway.spec` so the analysis code owns its own configuration.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rollway.durations import Duration
from rollway.metrics.templates import COUNT_SOURCES, HISTOGRAM_SOURCES, TEMPLATES

MAX_SOAK_CAP = timedelta(days=30)
"""The longest `max_soak` allowed."""

JudgeKind = Literal["threshold", "sequential", "kayenta"]
BaselineMode = Literal["stable", "dedicated"]


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


class CountQueries(SpecModel):
    """Custom cumulative counters for one arm (`${version}`, `${server}`, `${workload}`)."""

    errors: str = Field(
        description="PromQL: cumulative bad events, e.g. sum(…_total{code=~'5..'})."
    )
    total: str = Field(description="PromQL: cumulative requests of the same arm.")


class SequentialSpec(SpecModel):
    """Rollway's anytime-valid judge: canary vs baseline counts, checkable at every interval.

    Rolls back when the e-value of "the canary is worse by at least `min_ratio`" reaches
    `1/alpha`; the chance of ever rolling back a canary that is not worse is at most
    `alpha`, however often it is checked. Passes only on evidence that the canary is
    within `margin` (and the floors): a canary at or beyond it is ever passed with
    probability at most `beta` (see docs/judge.md).
    """

    alpha: float = Field(
        default=0.01, gt=0, lt=0.5, description="Probability of ever rolling back a good canary."
    )
    min_ratio: float = Field(
        default=1.1, ge=1.0, description="Smallest canary/baseline error-rate ratio that matters."
    )
    latency_min_ratio: float | None = Field(
        default=None, ge=1.0, description="Same for latency tail ratios; default `min_ratio`."
    )
    min_abs_increase: float = Field(
        default=0.0,
        ge=0.0,
        description="Also ignore error-rate increases below this (0.005=0.5pp).",
    )
    margin: float = Field(
        default=1.5,
        ge=1.0,
        description="Tolerated canary/stable ratio (error rate, share of slow requests): a step "
        "passes only on evidence that the canary is below it.",
    )
    beta: float = Field(
        default=0.05,
        gt=0,
        lt=0.5,
        description="Probability of ever passing a canary at or beyond the margin.",
    )
    error_floor: float = Field(
        default=0.001,
        ge=0.0,
        lt=1.0,
        description="Canary error rates below this are tolerated whatever stable's (0.001=0.1%).",
    )
    latency_floor: float = Field(
        default=0.05,
        ge=0.0,
        lt=1.0,
        description="Shares of canary requests slower than a bucket bound below this are "
        "tolerated whatever stable's (0.05: tails are judged down to about p95).",
    )
    prior_scale: float = Field(default=1.0, gt=0, description="Log-odds spread of alternatives.")
    errors: str | None = Field(
        default="haproxy", description="Error counters: " + ", ".join(COUNT_SOURCES) + "; or null."
    )
    errors_query: CountQueries | None = Field(
        default=None, description="Custom error counters (instead of `errors`)."
    )
    latency: str | None = Field(
        default="http",
        description="Latency histogram: " + ", ".join(HISTOGRAM_SOURCES) + "; or null.",
    )
    latency_query: str | None = Field(
        default=None, description="Custom `sum by (le) (…_bucket{…})` (instead of `latency`)."
    )
    latency_scale: float = Field(
        default=1.0, gt=0, description="Multiplies `latency_query` bounds into seconds."
    )
    min_requests: int = Field(
        default=50,
        ge=0,
        description="Canary requests needed before 'no regression' counts as a pass.",
    )
    min_events: int = Field(
        default=5, ge=0, description="Events needed before the test may call it either way."
    )
    baseline: BaselineMode = Field(
        default="stable",
        description="Compare with the stable version, or with a dedicated baseline deployment "
        "of the stable version that gets the same weight as the canary.",
    )
    baseline_version: str = Field(
        default="${stable}-baseline", description="Version label of a dedicated baseline."
    )
    rho: Literal["weight", "observed"] = Field(
        default="weight",
        description="Canary share of traffic: the step's weight (exact with weighted routing) "
        "or the observed request share (sticky routing, unequal replicas).",
    )
    lookback: Duration = Field(
        default=timedelta(minutes=30),
        description="Without step start times from the workflow: how far back to count.",
    )

    @model_validator(mode="after")
    def _sources(self) -> SequentialSpec:
        if self.errors is not None and self.errors not in COUNT_SOURCES:
            raise ValueError(
                f"errors '{self.errors}' is unknown; known: {', '.join(COUNT_SOURCES)}"
            )
        if self.latency is not None and self.latency not in HISTOGRAM_SOURCES:
            raise ValueError(
                f"latency '{self.latency}' is unknown; known: {', '.join(HISTOGRAM_SOURCES)}"
            )
        if not (self.errors or self.errors_query or self.latency or self.latency_query):
            raise ValueError("give at least one of errors, errors_query, latency, latency_query")
        smallest = max(self.min_ratio, self.latency_min_ratio or self.min_ratio)
        if self.margin < smallest:
            raise ValueError(
                f"margin ({self.margin:g}) must be >= min_ratio ({smallest:g}): a canary the "
                "judge may roll back cannot also be within the tolerated margin"
            )
        return self


class KayentaMetric(SpecModel):
    """One metric sampled every `step` over the window, canary vs baseline."""

    name: str
    template: str | None = None
    query: str | None = None
    group: str = "default"
    direction: Literal["increase", "decrease", "either"] = "increase"
    critical: bool = False
    must_have_data: bool = False
    nan_strategy: Literal["remove", "replace"] = "remove"
    outliers: Literal["keep", "remove"] = "keep"
    effect_measure: Literal["meanRatio", "cles"] = "meanRatio"
    allowed_increase: float | None = Field(default=None, gt=0)
    allowed_decrease: float | None = Field(default=None, gt=0)
    critical_increase: float | None = Field(default=None, gt=0)
    critical_decrease: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_source(self) -> KayentaMetric:
        if (self.template is None) == (self.query is None):
            raise ValueError("give exactly one of 'template' or 'query'")
        if self.template is not None and self.template not in TEMPLATES:
            known = ", ".join(sorted(TEMPLATES))
            raise ValueError(f"template '{self.template}' is unknown; known: {known}")
        return self


class KayentaSpec(SpecModel):
    """Kayenta-style fixed-horizon judge: Mann-Whitney per metric, a 0-100 score.

    Meant to be read once, at the end of the window: evaluated at every interval it
    rolls back good canaries more often than its confidence level suggests.
    """

    metrics: list[KayentaMetric] = Field(min_length=1)
    group_weights: dict[str, float] = Field(default_factory=dict)
    pass_threshold: float = Field(default=75.0, ge=0, le=100)
    marginal_threshold: float = Field(default=50.0, ge=0, le=100)
    tolerance: float = Field(default=0.25, ge=0)
    conf_level: float = Field(default=0.98, gt=0.5, lt=1.0)
    step: Duration = Field(default=timedelta(minutes=1), description="One sample per step.")
    lookback: Duration = Field(
        default=timedelta(minutes=30), description="Window (never before the canary started)."
    )
    min_points: int = Field(
        default=3, ge=1, description="Samples per side below which a metric has no data."
    )
    baseline: BaselineMode = "stable"
    baseline_version: str = "${stable}-baseline"

    @model_validator(mode="after")
    def _scores(self) -> KayentaSpec:
        if self.marginal_threshold > self.pass_threshold:
            raise ValueError("marginal_threshold must not exceed pass_threshold")
        if sum(self.group_weights.values()) > 100 + 1e-9:
            raise ValueError("group_weights must sum to at most 100")
        groups = {m.group for m in self.metrics}
        unknown = set(self.group_weights) - groups
        if unknown:
            raise ValueError(f"group_weights name unknown groups: {', '.join(sorted(unknown))}")
        if self.step < timedelta(seconds=1):
            raise ValueError("step must be at least 1s")
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
    max_soak: Duration | None = Field(
        default=None,
        description="Longest a step may soak waiting for a passing analysis (the soak extends "
        "while the judge is inconclusive); then the canary pauses for a human with the numbers.",
    )
    metrics: list[MetricCheck] = Field(
        default_factory=list,
        description="Threshold checks; with the sequential or kayenta judge, absolute guards.",
    )
    judge: JudgeKind = Field(
        default="threshold",
        description="threshold (bounds per interval), sequential (anytime-valid canary vs "
        "baseline test), kayenta (Mann-Whitney per metric, 0-100 score).",
    )
    sequential: SequentialSpec | None = None
    kayenta: KayentaSpec | None = None
    variables: dict[str, str] = Field(
        default_factory=dict,
        description="Extra query placeholders, e.g. cpu_limit: '0.5', memory_limit: '536870912'.",
    )

    @property
    def active(self) -> bool:
        """True when there is anything to analyse (the workflow skips analysis otherwise)."""
        return bool(self.metrics) or self.judge != "threshold"

    @model_validator(mode="after")
    def _judge(self) -> AnalysisSpec:
        if self.judge == "sequential" and self.sequential is None:
            self.sequential = SequentialSpec()
        if self.judge == "kayenta" and self.kayenta is None:
            raise ValueError("judge 'kayenta' needs a 'kayenta:' section with its metrics")
        if self.judge != "threshold" and not self.metrics:
            raise ValueError(
                f"judge '{self.judge}' needs at least one absolute guard in 'metrics' "
                "(e.g. a success rate with 'min'): the canary ramp analyses only when "
                "'metrics' is set"
            )
        return self

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: timedelta) -> timedelta:
        if v < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return v

    @model_validator(mode="after")
    def _max_soak(self) -> AnalysisSpec:
        if self.max_soak is None:
            return self
        shortest = self.initial_delay + self.interval
        if self.max_soak < shortest:
            raise ValueError(
                f"max_soak ({self.max_soak}) must be at least initial_delay + interval "
                f"({shortest}): otherwise no analysis can run before it; raise max_soak"
            )
        if self.max_soak > MAX_SOAK_CAP:
            raise ValueError(
                f"max_soak ({self.max_soak}) is over {MAX_SOAK_CAP.days} days: pause for a "
                "human sooner (lower max_soak)"
            )
        return self
