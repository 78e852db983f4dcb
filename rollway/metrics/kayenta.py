"""The Kayenta-style judge against live metrics: range queries per arm -> score -> verdict.

Each metric is sampled every `step` over the window (canary and baseline, same query),
`rollway.judge.kayenta_judge` classifies it with Mann-Whitney and scores the canary.
Score >= pass threshold passes, >= marginal threshold is inconclusive, below fails.
A metric with fewer than `min_points` samples on either side makes the whole judgement
inconclusive (a fixed-horizon test needs its data).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rollway.durations import format_duration
from rollway.judge import (
    Direction,
    MetricClassification,
    MetricConfig,
    NaNStrategy,
    OutlierStrategy,
    ScoreClassification,
    kayenta_judge,
)
from rollway.metrics.prometheus import MetricsProvider
from rollway.metrics.results import MetricResult, MetricStatus
from rollway.metrics.spec import KayentaMetric, KayentaSpec
from rollway.metrics.templates import TEMPLATES, render

SCORE_NAME = "kayenta-score"


def metric_config(m: KayentaMetric) -> MetricConfig:
    """The judge's configuration for one spec metric."""
    return MetricConfig(
        name=m.name,
        groups=(m.group,),
        direction=Direction(m.direction),
        nan_strategy=NaNStrategy(m.nan_strategy),
        outlier_strategy=OutlierStrategy(m.outliers),
        critical=m.critical,
        must_have_data=m.must_have_data,
        effect_measure=m.effect_measure,
        allowed_increase=m.allowed_increase,
        allowed_decrease=m.allowed_decrease,
        critical_increase=m.critical_increase,
        critical_decrease=m.critical_decrease,
    )


def window_start(now: datetime, spec: KayentaSpec, canary_started_at: datetime | None) -> datetime:
    """The window's start: `lookback` ago, but never before the canary got traffic."""
    start = now - spec.lookback
    return max(start, canary_started_at) if canary_started_at is not None else start


def run_kayenta(
    provider: MetricsProvider,
    spec: KayentaSpec,
    canary_vars: dict[str, str],
    baseline_vars: dict[str, str],
    start: datetime,
    now: datetime,
) -> tuple[list[MetricResult], float | None]:
    """Sample, judge and explain; returns the metric results and the score (None if none)."""
    step = spec.step.total_seconds()
    interval = {"interval": f"{max(1, round(step))}s"}
    # Range queries evaluate at start + k*step; the first sample's window must not
    # reach back before the canary existed.
    first = start + timedelta(seconds=step)
    triples = []
    short: list[str] = []
    queries: dict[str, str] = {}
    for m in spec.metrics:
        text = TEMPLATES[m.template].query if m.template else m.query or ""
        q_c = render(text, canary_vars | interval)
        q_b = render(text, baseline_vars | interval)
        queries[m.name] = q_c
        canary = provider.range(q_c, first, now, step) if now > first else []
        baseline = provider.range(q_b, first, now, step) if now > first else []
        if min(len(canary), len(baseline)) < spec.min_points:
            short.append(f"{m.name} ({len(canary)} canary / {len(baseline)} baseline samples)")
        triples.append((metric_config(m), baseline, canary))
    span = format_duration(timedelta(seconds=round((now - start).total_seconds())))
    if short:
        msg = (
            f"fewer than {spec.min_points} samples per side over {span}: "
            + ", ".join(short)
            + "; a fixed-horizon judge waits for its data"
        )
        waiting = [
            MetricResult(
                name=m.name, status="inconclusive", method="kayenta", query=queries[m.name]
            )
            for m in spec.metrics
        ]
        waiting.append(
            MetricResult(
                name=SCORE_NAME,
                status="inconclusive",
                method="kayenta",
                threshold=spec.pass_threshold,
                message=msg,
            )
        )
        return waiting, None
    judged = kayenta_judge(
        triples,
        spec.group_weights or None,
        pass_threshold=spec.pass_threshold,
        marginal_threshold=spec.marginal_threshold,
        tolerance=spec.tolerance,
        conf_level=spec.conf_level,
    )
    verdicts: dict[ScoreClassification, MetricStatus] = {
        ScoreClassification.PASS: "pass",
        ScoreClassification.MARGINAL: "inconclusive",
        ScoreClassification.FAIL: "fail",
    }
    overall = verdicts[judged.classification]
    results: list[MetricResult] = []
    for (_, baseline, canary), r in zip(triples, judged.metrics, strict=True):
        label = r.classification
        status: MetricStatus
        if label == MetricClassification.PASS:
            status, why = "pass", "no significant difference"
        elif label == MetricClassification.ERROR:
            status, why = "error", r.reason
        elif label in (MetricClassification.NODATA, MetricClassification.NODATA_FAIL):
            status, why = "inconclusive", r.reason
        else:  # High / Low: fails only if the score fails
            status = overall
            why = r.reason + ("" if overall != "pass" else f"; tolerated by score {judged.score:g}")
        ci = (
            f", 98% CI of shift [{r.conf_int[0]:.4g}, {r.conf_int[1]:.4g}]"
            if r.conf_int is not None
            else ""
        )
        mean_c = sum(canary) / len(canary) if canary else None
        mean_b = sum(baseline) / len(baseline) if baseline else None
        results.append(
            MetricResult(
                name=r.name,
                status=status,
                value=mean_c,
                baseline=mean_b,
                samples=float(len(canary)),
                query=queries[r.name],
                method="kayenta",
                statistic=r.deviation,
                message=(
                    f"{label.value}: {why} (mean canary/baseline {r.deviation:.3g}{ci}, "
                    f"{len(canary)} vs {len(baseline)} samples over {span})"
                ),
            )
        )
    groups = ", ".join(f"{g.name} {g.score:.0f}" for g in judged.groups)
    results.append(
        MetricResult(
            name=SCORE_NAME,
            status=overall,
            value=judged.score,
            min=spec.pass_threshold,
            method="kayenta",
            statistic=judged.score,
            threshold=spec.pass_threshold,
            message=(
                f"score {judged.score:g} -> {judged.classification.value} (pass >= "
                f"{spec.pass_threshold:g}, marginal >= {spec.marginal_threshold:g}; groups: "
                f"{groups})" + (f"; {judged.reason}" if judged.reason else "")
            ),
        )
    )
    return results, judged.score
