"""Analysis spec: judges, their fields, and old pipelines staying valid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from rollway.metrics.spec import AnalysisSpec, SequentialSpec
from rollway.metrics.templates import COUNT_SOURCES, HISTOGRAM_SOURCES, TEMPLATES, render

ROOT = Path(__file__).resolve().parents[2]
GUARD = {"name": "success-rate", "template": "haproxy-success-rate", "min": 0.9}


@pytest.mark.parametrize("name", ["demo", "order-service", "shop"])
def test_existing_pipelines_still_validate_with_the_threshold_judge(name: str) -> None:
    data = yaml.safe_load((ROOT / "pipelines" / f"{name}.yaml").read_text())
    spec = AnalysisSpec.model_validate(data["canary"].get("analysis") or {})
    assert spec.judge == "threshold" and spec.sequential is None and spec.kayenta is None


def test_sequential_defaults() -> None:
    spec = AnalysisSpec.model_validate({"judge": "sequential", "metrics": [GUARD]})
    seq = spec.sequential
    assert seq is not None and seq.alpha == 0.01 and seq.min_ratio == 1.1
    assert seq.errors == "haproxy" and seq.latency == "http" and seq.baseline == "stable"
    assert spec.active


def test_sequential_fields_parse() -> None:
    spec = AnalysisSpec.model_validate(
        {
            "judge": "sequential",
            "metrics": [GUARD],
            "sequential": {
                "alpha": 0.05,
                "min_ratio": 1.5,
                "errors": "istio",
                "latency": None,
                "baseline": "dedicated",
                "rho": "observed",
                "lookback": "10m",
            },
        }
    )
    assert spec.sequential is not None and spec.sequential.lookback.total_seconds() == 600


@pytest.mark.parametrize(
    ("section", "fragment"),
    [
        ({"alpha": 0}, "greater than 0"),
        ({"alpha": 0.7}, "less than 0.5"),
        ({"min_ratio": 0.9}, "greater than or equal to 1"),
        ({"errors": "haproxi"}, "errors 'haproxi' is unknown"),
        ({"latency": "zipkin"}, "latency 'zipkin' is unknown"),
        ({"errors": None, "latency": None}, "at least one of"),
        ({"aplha": 0.1}, "Extra inputs"),
    ],
)
def test_bad_sequential_sections_are_explained(section: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        AnalysisSpec.model_validate(
            {"judge": "sequential", "metrics": [GUARD], "sequential": section}
        )


def test_a_judge_needs_a_guard_so_the_ramp_analyses() -> None:
    with pytest.raises(ValidationError, match="at least one absolute guard"):
        AnalysisSpec.model_validate({"judge": "sequential"})


def test_kayenta_needs_its_section_and_sane_scores() -> None:
    with pytest.raises(ValidationError, match="needs a 'kayenta:' section"):
        AnalysisSpec.model_validate({"judge": "kayenta", "metrics": [GUARD]})
    metric = {"name": "errors", "template": "haproxy-error-rate", "critical": True}
    ok = AnalysisSpec.model_validate(
        {
            "judge": "kayenta",
            "metrics": [GUARD],
            "kayenta": {"metrics": [metric], "group_weights": {"default": 100}, "step": "10s"},
        }
    )
    assert ok.kayenta is not None and ok.kayenta.metrics[0].direction == "increase"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"pass_threshold": 40, "marginal_threshold": 60}, "must not exceed"),
        ({"group_weights": {"latency": 10}}, "unknown groups"),
        ({"group_weights": {"default": 120}}, "at most 100"),
        ({"metrics": []}, "at least 1"),
    ]
    for bad, fragment in cases:
        with pytest.raises(ValidationError, match=fragment):
            AnalysisSpec.model_validate(
                {"judge": "kayenta", "metrics": [GUARD], "kayenta": {"metrics": [metric], **bad}}
            )


def test_every_template_renders_with_the_documented_variables() -> None:
    variables = {
        k: "x"
        for k in [
            "service",
            "environment",
            "version",
            "stable",
            "interval",
            "proxy",
            "server",
            "stable_server",
            "workload",
            "stable_workload",
            "namespace",
            "cpu_limit",
            "memory_limit",
        ]
    }
    for t in TEMPLATES.values():
        assert "${" not in render(t.query, variables)
        if t.samples:
            assert "${" not in render(t.samples, variables)
    for c in COUNT_SOURCES.values():
        assert "${" not in render(c.errors, variables) + render(c.total, variables)
    for h in HISTOGRAM_SOURCES.values():
        assert "sum by (le)" in h.buckets


def test_template_library_covers_the_usual_sources() -> None:
    for name in [
        "haproxy-error-rate",
        "http-p99-latency",
        "http-server-p99-latency",
        "istio-error-rate",
        "linkerd-p99-latency",
        "nginx-p99-latency",
        "process-cpu-of-limit",
        "process-memory-of-limit",
        "container-cpu-of-limit",
        "container-memory-of-limit",
    ]:
        assert name in TEMPLATES


def test_saturation_template_without_its_limit_says_what_to_add() -> None:
    with pytest.raises(ValueError, match=r"\$\{cpu_limit\}.*analysis.variables"):
        render(
            TEMPLATES["process-cpu-of-limit"].query,
            {"service": "s", "environment": "e", "version": "v", "interval": "5s"},
        )


def test_sequential_spec_is_importable_on_its_own() -> None:
    assert SequentialSpec().min_requests == 50
