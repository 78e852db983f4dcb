"""Judge metric values against their bounds: pure functions, no I/O.

Three outcomes, as in Argo Rollouts' measurements: a value inside its bounds
passes; outside fails; no data or fewer samples than `min_samples` is
inconclusive, never a pass.
"""

from __future__ import annotations

from rollway.models import AnalysisResult, MetricResult, MetricStatus
from rollway.spec import MetricCheck


def judge_value(
    check: MetricCheck, value: float | None, samples: float | None, query: str = ""
) -> MetricResult:
    """Classify one measured value."""
    base = MetricResult(
        name=check.name, status="pass", value=value, min=check.min, max=check.max,
        samples=samples, query=query,
    )
    if value is None:
        base.status, base.message = "inconclusive", "no data yet"
        return base
    if samples is not None and samples < check.min_samples:
        base.status = "inconclusive"
        base.message = f"{samples:.0f} requests < min_samples {check.min_samples}"
        return base
    if check.min is not None and value < check.min:
        base.status, base.message = "fail", f"{value:.4g} < min {check.min:g}"
    elif check.max is not None and value > check.max:
        base.status, base.message = "fail", f"{value:.4g} > max {check.max:g}"
    else:
        bounds = " ".join(
            s for s in (
                f">= {check.min:g}" if check.min is not None else "",
                f"<= {check.max:g}" if check.max is not None else "",
            ) if s
        )
        base.message = f"{value:.4g} {bounds}"
    return base


def combine(metrics: list[MetricResult], weight: int) -> AnalysisResult:
    """One verdict from many: any fail fails; else any error/inconclusive is inconclusive."""
    statuses = {m.status for m in metrics}
    status: MetricStatus
    if "fail" in statuses:
        status = "fail"
    elif statuses & {"inconclusive", "error"}:
        status = "inconclusive"
    else:
        status = "pass"
    failing = [f"{m.name} {m.message}" for m in metrics if m.status != "pass"]
    message = "; ".join(failing) if failing else f"{len(metrics)} metric(s) within bounds"
    return AnalysisResult(weight=weight, status=status, metrics=metrics, message=message)
