"""Judge metric values against their bounds: pure functions, no I/O.

Three outcomes, as in Argo Rollouts' measurements: a value inside its bounds
passes; outside fails; no data or fewer samples than `min_samples` is
inconclusive, never a pass.
"""

from __future__ import annotations

import math

from rollway.metrics.results import AnalysisResult, MetricResult, MetricStatus
from rollway.metrics.spec import MetricCheck

Z_NOISE = 1.645
"""One-sided 95 % normal quantile: a share must break its bound beyond this noise to fail."""


def wilson(share: float, n: float, z: float = Z_NOISE) -> tuple[float, float]:
    """Wilson score interval of a proportion observed over `n` trials."""
    if n <= 0:
        return 0.0, 1.0
    p = min(max(share, 0.0), 1.0)
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _within_noise(check: MetricCheck, value: float, samples: float, baseline: float | None) -> bool:
    """True when a share that breaks a bound could be that bound plus sampling noise."""
    lo, hi = wilson(value, samples)
    if check.min is not None and value < check.min:
        return hi >= check.min
    if check.max is not None and value > check.max:
        return lo <= check.max
    if baseline is None:
        return False
    if check.max_increase is not None and value > baseline + check.max_increase:
        return lo <= baseline + check.max_increase
    if check.max_ratio is not None and value > baseline * check.max_ratio:
        return lo <= baseline * check.max_ratio
    if check.max_decrease is not None and value < baseline - check.max_decrease:
        return hi >= baseline - check.max_decrease
    if check.min_ratio is not None and value < baseline * check.min_ratio:
        return hi >= baseline * check.min_ratio
    return False


def _relative_problem(check: MetricCheck, value: float, baseline: float) -> str | None:
    """What a value breaks relative to the stable version's, or None."""
    if check.max_increase is not None and value > baseline + check.max_increase:
        return f"{value:.4g} > stable {baseline:.4g} + {check.max_increase:g}"
    if check.max_decrease is not None and value < baseline - check.max_decrease:
        return f"{value:.4g} < stable {baseline:.4g} - {check.max_decrease:g}"
    if check.max_ratio is not None and value > baseline * check.max_ratio:
        return f"{value:.4g} > stable {baseline:.4g} x {check.max_ratio:g}"
    if check.min_ratio is not None and value < baseline * check.min_ratio:
        return f"{value:.4g} < stable {baseline:.4g} x {check.min_ratio:g}"
    return None


def judge_value(
    check: MetricCheck,
    value: float | None,
    samples: float | None,
    query: str = "",
    baseline: float | None = None,
    proportion: bool = False,
) -> MetricResult:
    """Classify one measured value (and, for relative bounds, the stable's value).

    A `proportion` (a success or error rate over `samples` requests) fails only when it
    breaks its bound beyond sampling noise (the one-sided 95 % Wilson bound is past it);
    otherwise the check is inconclusive: one error in a 20-request window is not a
    regression.
    """
    base = MetricResult(
        name=check.name,
        status="pass",
        value=value,
        min=check.min,
        max=check.max,
        samples=samples,
        query=query,
        baseline=baseline,
    )
    if value is None:
        base.status, base.message = "inconclusive", "no data yet"
        return base
    if samples is not None and samples < check.min_samples:
        base.status = "inconclusive"
        base.message = f"{samples:.0f} requests < min_samples {check.min_samples}"
        return base
    if check.relative and baseline is None:
        base.status, base.message = "inconclusive", "no data for the stable version to compare with"
        return base
    relative = _relative_problem(check, value, baseline) if baseline is not None else None
    broken = (
        (check.min is not None and value < check.min)
        or (check.max is not None and value > check.max)
        or relative is not None
    )
    if (
        broken
        and proportion
        and samples is not None
        and _within_noise(check, value, samples, baseline)
    ):
        lo, hi = wilson(value, samples)
        base.status = "inconclusive"
        base.message = (
            f"{value:.4g} breaks its bound but is within noise of {samples:.0f} requests "
            f"(95% interval {lo:.4g}..{hi:.4g}): not enough evidence to fail"
        )
        return base
    if check.min is not None and value < check.min:
        base.status, base.message = "fail", f"{value:.4g} < min {check.min:g}"
    elif check.max is not None and value > check.max:
        base.status, base.message = "fail", f"{value:.4g} > max {check.max:g}"
    elif relative is not None:
        base.status, base.message = "fail", relative
    else:
        bounds = " ".join(
            s
            for s in (
                f">= {check.min:g}" if check.min is not None else "",
                f"<= {check.max:g}" if check.max is not None else "",
            )
            if s
        )
        base.message = f"{value:.4g} {bounds}".rstrip()
        if baseline is not None:
            base.message += f" (stable {baseline:.4g})"
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
    order = {"fail": 0, "error": 1, "inconclusive": 2}
    deciding = sorted((m for m in metrics if m.status != "pass"), key=lambda m: order[m.status])
    failing = [f"{m.name} {m.status}: {m.message}" for m in deciding]
    message = "; ".join(failing) if failing else f"{len(metrics)} metric(s) within bounds"
    return AnalysisResult(weight=weight, status=status, metrics=metrics, message=message)
