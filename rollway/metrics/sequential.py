"""The sequential judge against live metrics: cumulative counts per traffic step -> verdicts.

For each traffic step (segment) of the canary the counters of both arms (canary and
baseline) are read at the step's start and end; their differences are that step's
counts (a counter that went down was reset: its end value is used). Segments with the
canary share `rho` from the step's weight feed `rollway.judge.sequential_rate_test`
(errors) and `sequential_histogram_test` (latency), whose e-values are averaged by
`combine_evalues` so one `alpha` covers both.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from rollway.judge import (
    Decision,
    HistogramSegment,
    RateSegment,
    SequentialResult,
    combine_evalues,
    sequential_histogram_test,
    sequential_rate_test,
)
from rollway.judge.sequential import histogram_quantile
from rollway.metrics.prometheus import MetricsProvider
from rollway.metrics.results import AnalysisSegment, MetricResult, MetricStatus
from rollway.metrics.spec import SequentialSpec
from rollway.metrics.templates import COUNT_SOURCES, HISTOGRAM_SOURCES, render

ERRORS_NAME = "sequential-errors"
LATENCY_NAME = "sequential-latency"


@dataclass(frozen=True)
class Window:
    """A stretch of time with one canary weight (%)."""

    weight: int
    start: datetime
    end: datetime


def windows(
    segments: list[AnalysisSegment],
    weight: int,
    now: datetime,
    canary_started_at: datetime | None,
    lookback: timedelta,
) -> tuple[list[Window], bool]:
    """Time windows to count in, and whether they are exact traffic steps.

    With `segments` (from the workflow) each step is one window, ending where the next
    begins (the last one now). Without them, one window from the canary's start (or
    `now - lookback`) with the current weight: an approximation, so the caller should
    use the observed traffic share as `rho`.
    """
    if segments:
        out = []
        ordered = sorted(segments, key=lambda s: s.started_at)
        for i, seg in enumerate(ordered):
            end = ordered[i + 1].started_at if i + 1 < len(ordered) else now
            if end > seg.started_at:
                out.append(Window(seg.weight, seg.started_at, min(end, now)))
        return out, True
    start = now - lookback
    if canary_started_at is not None and canary_started_at > start:
        start = canary_started_at
    return ([Window(weight, start, now)] if now > start else []), False


class CounterReader:
    """Counter increases between two instants, with the values cached per (query, time)."""

    def __init__(self, provider: MetricsProvider) -> None:
        self._p = provider
        self._values: dict[tuple[str, datetime], float] = {}
        self._vectors: dict[tuple[str, datetime], dict[str, float]] = {}

    def _value(self, query: str, at: datetime) -> float:
        key = (query, at)
        if key not in self._values:
            self._values[key] = self._p.value(query, at=at) or 0.0
        return self._values[key]

    def _vector(self, query: str, at: datetime) -> dict[str, float]:
        key = (query, at)
        if key not in self._vectors:
            self._vectors[key] = self._p.vector(query, "le", at=at)
        return self._vectors[key]

    def increase(self, query: str, w: Window) -> float:
        """How much a cumulative counter grew in the window (reset-aware)."""
        start, end = self._value(query, w.start), self._value(query, w.end)
        return end - start if end >= start else end

    def histogram_increase(self, query: str, w: Window) -> dict[float, float]:
        """Per `le` bound (seconds, unscaled): cumulative-bucket growth in the window."""
        start, end = self._vector(query, w.start), self._vector(query, w.end)
        out: dict[float, float] = {}
        for le, v_end in end.items():
            v_start = start.get(le, 0.0)
            out[float(le)] = v_end - v_start if v_end >= v_start else v_end
        return out


@dataclass(frozen=True)
class ArmCounts:
    """Counts of one window for both arms."""

    window: Window
    canary_errors: float = 0.0
    baseline_errors: float = 0.0
    canary_total: float = 0.0
    baseline_total: float = 0.0


def share(w: Window, canary: float, baseline: float, spec: SequentialSpec, exact: bool) -> float:
    """The canary's share `rho` of exposure in a window; NaN when it cannot be used."""
    if spec.rho == "observed" or not exact:
        return canary / (canary + baseline) if canary > 0 and baseline > 0 else math.nan
    if spec.baseline == "dedicated":
        return 0.5 if 0 < w.weight < 100 else math.nan
    return w.weight / 100 if 0 < w.weight < 100 else math.nan


@dataclass(frozen=True)
class SequentialOutcome:
    """The metric results, and the combined e-value the verdict rests on."""

    metrics: list[MetricResult]
    combined: SequentialResult | None


def _status(
    r: SequentialResult, combined: SequentialResult, canary_requests: float, spec: SequentialSpec
) -> tuple[MetricStatus, str]:
    threshold = 1.0 / spec.alpha
    if combined.decision == Decision.REGRESSION and r.e_value >= threshold:
        return "fail", f"regression (canary worse than {spec.min_ratio:g}x stable): roll back"
    if r.decision == Decision.NOT_WORSE and canary_requests >= spec.min_requests:
        return "pass", f"within the margin ({spec.margin:g}x stable): evidence it is not worse"
    if r.e_value >= threshold:
        return (
            "inconclusive",
            f"alone e >= {threshold:g}, but combined e={_fmt(combined.e_value)} is not",
        )
    if canary_requests < spec.min_requests:
        return (
            "inconclusive",
            f"only {canary_requests:.0f} canary requests < min_requests {spec.min_requests}",
        )
    if r.decision == Decision.NOT_WORSE:
        return "pass", f"within the margin ({spec.margin:g}x stable)"
    return "inconclusive", "no evidence yet either way (keep soaking)"


def _fmt(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else "> 1e300"


def run_sequential(
    provider: MetricsProvider,
    spec: SequentialSpec,
    canary_vars: dict[str, str],
    baseline_vars: dict[str, str],
    wins: list[Window],
    exact: bool,
) -> SequentialOutcome:
    """Query both arms per window, run the tests, explain every verdict."""
    reader = CounterReader(provider)
    note = "" if exact else " [one window, observed share: no step times from the workflow]"
    tests: list[tuple[str, SequentialResult, float, float | None, float | None, str]] = []
    plans: list[Callable[[], None]] = []

    errors = spec.errors_query or (COUNT_SOURCES[spec.errors] if spec.errors else None)
    if errors is not None:
        q_err, q_tot = errors.errors, errors.total
        c_err, c_tot = render(q_err, canary_vars), render(q_tot, canary_vars)
        b_err, b_tot = render(q_err, baseline_vars), render(q_tot, baseline_vars)

        def plan_errors() -> None:
            segs: list[RateSegment] = []
            ce = ct = be = bt = 0.0
            for w in wins:
                counts = ArmCounts(
                    w,
                    reader.increase(c_err, w),
                    reader.increase(b_err, w),
                    reader.increase(c_tot, w),
                    reader.increase(b_tot, w),
                )
                rho = share(w, counts.canary_total, counts.baseline_total, spec, exact)
                if math.isnan(rho) or counts.canary_total + counts.baseline_total <= 0:
                    continue
                segs.append(
                    RateSegment(
                        rho,
                        min(counts.canary_errors, counts.canary_total),
                        min(counts.baseline_errors, counts.baseline_total),
                        counts.canary_total,
                        counts.baseline_total,
                    )
                )
                ce, ct = ce + segs[-1].canary_events, ct + counts.canary_total
                be, bt = be + segs[-1].baseline_events, bt + counts.baseline_total
            if not segs:
                return
            r = sequential_rate_test(
                segs,
                alpha=spec.alpha,
                min_ratio=spec.min_ratio,
                min_abs_increase=spec.min_abs_increase,
                prior_scale=spec.prior_scale,
                min_events=spec.min_events,
                margin=spec.margin,
                beta=spec.beta,
                floor=spec.error_floor,
            )
            tests.append(
                (ERRORS_NAME, r, ct, ce / ct if ct else None, be / bt if bt else None, c_err)
            )

        plans.append(plan_errors)

    hist_query = spec.latency_query or (
        HISTOGRAM_SOURCES[spec.latency].buckets if spec.latency else None
    )
    if hist_query is not None:
        scale = (
            spec.latency_scale
            if spec.latency_query
            else HISTOGRAM_SOURCES[spec.latency or ""].scale
        )
        c_h, b_h = render(hist_query, canary_vars), render(hist_query, baseline_vars)

        def plan_latency() -> None:
            per_window = [
                (w, reader.histogram_increase(c_h, w), reader.histogram_increase(b_h, w))
                for w in wins
            ]
            bounds = sorted(
                set.intersection(*[set(c) | set(b) for _, c, b in per_window if c or b])
                if any(c or b for _, c, b in per_window)
                else set()
            )
            if len(bounds) < 2 or not math.isinf(bounds[-1]):
                return
            segs: list[HistogramSegment] = []
            c_cum = np.zeros(len(bounds))
            b_cum = np.zeros(len(bounds))
            for w, c, b in per_window:
                cc = np.maximum.accumulate([max(c.get(le, 0.0), 0.0) for le in bounds])
                bc = np.maximum.accumulate([max(b.get(le, 0.0), 0.0) for le in bounds])
                rho = share(w, float(cc[-1]), float(bc[-1]), spec, exact)
                if math.isnan(rho) or cc[-1] + bc[-1] <= 0:
                    continue
                segs.append(HistogramSegment(rho, cc.tolist(), bc.tolist()))
                c_cum, b_cum = c_cum + cc, b_cum + bc
            if not segs:
                return
            scaled = [le * scale for le in bounds]
            r = sequential_histogram_test(
                scaled,
                segs,
                alpha=spec.alpha,
                min_ratio=spec.latency_min_ratio or spec.min_ratio,
                prior_scale=spec.prior_scale,
                min_events=spec.min_events,
                margin=spec.margin,
                beta=spec.beta,
                floor=spec.latency_floor,
            )
            p99c = histogram_quantile(0.99, scaled, c_cum)
            p99b = histogram_quantile(0.99, scaled, b_cum)
            tests.append(
                (
                    LATENCY_NAME,
                    r,
                    float(c_cum[-1]),
                    None if math.isnan(p99c) else p99c,
                    None if math.isnan(p99b) else p99b,
                    c_h,
                )
            )

        plans.append(plan_latency)

    for plan in plans:
        plan()
    names = [n for n, *_ in tests]
    missing = [
        n
        for n, wanted in ((ERRORS_NAME, errors is not None), (LATENCY_NAME, hist_query is not None))
        if wanted and n not in names
    ]
    results = [
        MetricResult(
            name=n,
            status="inconclusive",
            method="sequential",
            threshold=1.0 / spec.alpha,
            message="no canary or baseline traffic counted yet" + note,
        )
        for n in missing
    ]
    if not tests:
        return SequentialOutcome(results, None)
    combined = (
        combine_evalues([t[1] for t in tests], alpha=spec.alpha) if len(tests) > 1 else tests[0][1]
    )
    for name, r, canary_requests, value, baseline, query in tests:
        status, why = _status(r, combined, canary_requests, spec)
        results.append(
            MetricResult(
                name=name,
                status=status,
                value=value,
                baseline=baseline,
                samples=canary_requests,
                query=query,
                method="sequential",
                statistic=r.e_value,
                threshold=1.0 / spec.alpha,
                message=f"{why}: {r.explanation}{note}",
            )
        )
    return SequentialOutcome(results, combined)
