"""The alert rules name metrics and label values the worker really exports."""

from __future__ import annotations

import re

from prometheus_client import generate_latest

from rollway.metrics.export import record
from rollway.models import AnalysisInput, AnalysisResult, MetricResult
from rollway.platform.base import Target
from rollway.spec_loader import load_pipeline
from tests.support.deploy import ROOT

RULES = (ROOT / "deploy/prometheus/rules/rollway.yml").read_text()


def exported() -> str:
    spec = load_pipeline(ROOT / "pipelines/demo.yaml")
    inp = AnalysisInput(
        target=Target(service="demo", environment="production"),
        environment=spec.environments["production"],
        canary_version="v2",
        stable_version="v1",
        weight=10,
        analysis=spec.canary.analysis,
        window_s=5.0,
    )
    for status in ("pass", "fail", "inconclusive", "error"):
        metric = MetricResult(name="success-rate", status=status, value=0.99, baseline=0.99)
        record(inp, AnalysisResult(status=status, metrics=[metric]))
    return generate_latest().decode()


def test_rule_metrics_exist() -> None:
    text = exported()
    names = set(re.findall(r"\b((?:rollway|process)_[a-z_]+)\b", RULES))
    assert "rollway_analyses_total" in names
    for name in names:
        assert re.search(rf"^{name}[{{ ]", text, re.M), f"{name} is not exported by the worker"


def test_rule_status_values_exist() -> None:
    text = exported()
    for status in set(re.findall(r'status="(\w+)"', RULES)):
        assert f'status="{status}"' in text, status
