"""Analysis inputs for the judge tests: a production target, a guard metric, a sequential spec."""

from __future__ import annotations

from typing import Any

from rollway.metrics.spec import AnalysisSpec
from rollway.models import AnalysisInput
from rollway.platform.base import Target
from rollway.spec import EnvironmentSpec

GUARD = {"name": "success-rate", "template": "haproxy-success-rate", "min": 0.9}


def make_input(analysis: dict[str, Any], **kw: Any) -> AnalysisInput:
    return AnalysisInput(
        target=Target(service="demo", environment="production"),
        environment=EnvironmentSpec(),
        canary_version="v5",
        stable_version="v4",
        weight=kw.pop("weight", 50),
        analysis=AnalysisSpec.model_validate(analysis),
        window_s=5,
        **kw,
    )


def seq_analysis(**seq: Any) -> dict[str, Any]:
    return {"judge": "sequential", "metrics": [GUARD], "sequential": seq}
