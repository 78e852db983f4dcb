"""The canary analysis: query each metric from Prometheus and judge it."""

from __future__ import annotations

import os

from temporalio import activity

from rollway.home import home
from rollway.metrics.analysis import combine, judge_value
from rollway.metrics.prometheus import MetricQueryError, PrometheusProvider
from rollway.metrics.templates import TEMPLATES, render
from rollway.models import AnalysisInput, AnalysisResult, MetricResult
from rollway.platform.local import backend_name, server_name
from rollway.stack import prometheus_url


def _prometheus() -> PrometheusProvider:
    url = os.environ.get("ROLLWAY_PROMETHEUS_URL") or prometheus_url(home())
    if not url:
        raise MetricQueryError(
            "no Prometheus configured: set ROLLWAY_PROMETHEUS_URL or `rollway up`"
        )
    return PrometheusProvider(url)


def query_variables(inp: AnalysisInput) -> dict[str, str]:
    """Values for a query's `${…}` placeholders."""
    return {
        "service": inp.target.service,
        "environment": inp.target.environment,
        "version": inp.canary_version,
        "stable": inp.stable_version or "",
        "interval": f"{max(1, round(inp.window_s))}s",
        "proxy": backend_name(inp.target),
        "server": server_name(inp.canary_version),
        "stable_server": server_name(inp.stable_version or ""),
    }


def stable_variables(variables: dict[str, str]) -> dict[str, str]:
    """The same variables, pointed at the stable version (for relative bounds)."""
    return variables | {"version": variables["stable"], "server": variables["stable_server"]}


@activity.defn(name="analyze")
def analyze(inp: AnalysisInput) -> AnalysisResult:
    """Measure every metric once; a failed query is an `error` result, not an exception."""
    variables = query_variables(inp)
    results: list[MetricResult] = []
    try:
        prom = _prometheus()
    except MetricQueryError as e:
        prom, setup_error = None, str(e)
    for check in inp.analysis.metrics:
        t = TEMPLATES[check.template] if check.template else None
        query = render(t.query if t else check.query or "", variables)
        samples_q = render(t.samples, variables) if t and t.samples else None
        if prom is None:
            results.append(MetricResult(name=check.name, status="error", message=setup_error))
            continue
        try:
            value = prom.value(query)
            samples = prom.value(samples_q) if samples_q else None
            baseline = None
            if check.relative and inp.stable_version:
                template = t.query if t else check.query or ""
                baseline = prom.value(render(template, stable_variables(variables)))
        except MetricQueryError as e:
            results.append(
                MetricResult(name=check.name, status="error", query=query, message=str(e))
            )
            continue
        results.append(judge_value(check, value, samples, query, baseline))
    return combine(results, inp.weight)
