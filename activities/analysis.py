"""The canary analysis: query Prometheus and judge (threshold, sequential or kayenta)."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime

from temporalio import activity

from rollway.home import home
from rollway.metrics import export
from rollway.metrics.analysis import combine
from rollway.metrics.prometheus import MetricQueryError, PrometheusProvider
from rollway.metrics.runner import query_variables, run_analysis, stable_variables
from rollway.models import AnalysisInput, AnalysisResult, MetricResult
from rollway.stack import prometheus_url

__all__ = ["analyze", "query_variables", "stable_variables"]

log = logging.getLogger(__name__)


def prometheus_provider() -> PrometheusProvider:
    """The worker's Prometheus: $ROLLWAY_PROMETHEUS_URL, else the local stack's."""
    url = os.environ.get("ROLLWAY_PROMETHEUS_URL") or prometheus_url(home())
    if not url:
        raise MetricQueryError(
            "no Prometheus configured: set ROLLWAY_PROMETHEUS_URL or `rollway up`"
        )
    return PrometheusProvider(url)


@activity.defn(name="analyze")
def analyze(inp: AnalysisInput) -> AnalysisResult:
    """Measure and judge once; a failed query is an `error` result, not an exception."""
    try:
        result = run_analysis(inp, prometheus_provider(), datetime.now(UTC))
    except MetricQueryError as e:  # no Prometheus configured
        names = [m.name for m in inp.analysis.metrics] or [inp.analysis.judge]
        result = combine(
            [MetricResult(name=n, status="error", message=str(e)) for n in names], inp.weight
        )
        result.judge = inp.analysis.judge
    try:
        export.record(inp, result)
    except Exception:  # metrics must never fail an analysis
        log.exception("exporting analysis metrics failed")
    return result
