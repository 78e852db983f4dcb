"""What an analysis is asked and what it answers: the payloads of the `analyze` activity.

They live with the metrics package (which never imports `rollway.models`); the
models module re-exports them for the workflow and the `state` query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from rollway.metrics.spec import AnalysisSpec
from rollway.platform.base import Target
from rollway.spec import EnvironmentSpec

MetricStatus = Literal["pass", "fail", "inconclusive", "error"]


class MetricResult(BaseModel):
    """One metric at one analysis: its value, its bound, and why it passed or not."""

    name: str
    status: MetricStatus
    value: float | None = None
    min: float | None = None
    max: float | None = None
    samples: float | None = None
    baseline: float | None = Field(default=None, description="The stable version's value.")
    query: str = ""
    message: str = ""
    method: str = Field(
        default="threshold", description="How it was judged: threshold, sequential, kayenta."
    )
    statistic: float | None = Field(
        default=None, description="The test statistic: e-value (sequential), score (kayenta)."
    )
    threshold: float | None = Field(
        default=None, description="What the statistic is compared with (e.g. 1/alpha)."
    )


class AnalysisResult(BaseModel):
    at: datetime | None = None
    weight: int = 0
    status: MetricStatus
    metrics: list[MetricResult] = Field(default_factory=list)
    message: str = ""
    judge: str = Field(default="threshold", description="threshold, sequential or kayenta.")
    e_value: float | None = Field(
        default=None, description="Sequential judge: the combined e-value (roll back at 1/alpha)."
    )
    score: float | None = Field(default=None, description="Kayenta judge: the 0-100 score.")
    no_traffic: bool = Field(
        default=False,
        description="Neither the canary nor the stable served a request in the last interval: "
        "the platform may be down (hold and alert, this is not 'no data yet').",
    )


class AnalysisSegment(BaseModel):
    """One traffic step of a canary: its weight (%) from `started_at` until the next step."""

    weight: int = Field(ge=0, le=100)
    started_at: datetime


class AnalysisInput(BaseModel):
    target: Target
    environment: EnvironmentSpec
    canary_version: str
    stable_version: str | None
    weight: int
    analysis: AnalysisSpec
    window_s: float = Field(description="How far back each query looks, in seconds.")
    segments: list[AnalysisSegment] = Field(
        default_factory=list,
        description="This canary's traffic steps so far, oldest first, the current one last.",
    )
    canary_started_at: datetime | None = Field(
        default=None, description="When the canary first got traffic (sequential judge)."
    )
    canary_instance: str | None = Field(
        default=None,
        description="The platform's name for the canary build when it is not the label's "
        "(a rebuild of the stable label runs beside it); None: the label.",
    )
    stable_instance: str | None = Field(default=None, description="The same for the stable build.")
