"""Analyses exported as worker metrics, and the activity's failure path."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from activities.analysis import analyze
from rollway.metrics import export
from rollway.models import AnalysisResult, MetricResult
from tests.support.metrics.judge_inputs import GUARD, make_input, seq_analysis


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_every_analysis_is_exported_with_its_labels() -> None:
    inp = make_input(seq_analysis())
    target = {"service": "demo", "environment": "production", "version": "v5"}
    result = AnalysisResult(
        weight=50,
        status="fail",
        judge="sequential",
        e_value=250.0,
        metrics=[
            MetricResult(
                name="sequential-errors",
                status="fail",
                value=0.04,
                baseline=0.02,
                statistic=250.0,
                method="sequential",
            )
        ],
    )
    before = sample("rollway_analyses_total", **target, judge="sequential", status="fail") or 0.0
    export.record(inp, result)
    metric = target | {"metric": "sequential-errors"}
    assert sample("rollway_analysis_metric_value", **metric) == 0.04
    assert sample("rollway_analysis_metric_baseline", **metric) == 0.02
    assert sample("rollway_analysis_metric_statistic", **metric) == 250.0
    assert sample("rollway_analysis_e_value", **target) == 250.0
    assert sample("rollway_analysis_metric_verdicts_total", **metric, status="fail") >= 1  # type: ignore[operator]
    after = sample("rollway_analyses_total", **target, judge="sequential", status="fail")
    assert after == before + 1


def test_without_prometheus_the_activity_returns_errors_not_exceptions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROLLWAY_PROMETHEUS_URL", "http://127.0.0.1:9")
    inp = make_input({"metrics": [GUARD]})
    result = analyze(inp)
    assert result.status == "inconclusive" and result.metrics[0].status == "error"
    assert "unreachable" in result.metrics[0].message or "failed" in result.metrics[0].message
    inp = make_input(seq_analysis())
    result = analyze(inp)
    assert result.status == "inconclusive" and result.judge == "sequential"
    assert {m.status for m in result.metrics} == {"error"}
