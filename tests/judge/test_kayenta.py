"""Kayenta-style classifier and scorer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rollway.judge.kayenta import (
    Direction,
    MetricClassification,
    MetricConfig,
    MetricResult,
    NaNStrategy,
    OutlierStrategy,
    ScoreClassification,
    classify_metric,
    cles,
    iqr_outliers,
    kayenta_judge,
    score_metrics,
)
from tests.support.kayenta_mw_data import (
    CLS_HIGH_CONTROL,
    CLS_HIGH_EXPERIMENT,
    CLS_LOW_CONTROL,
    CLS_LOW_EXPERIMENT,
    CLS_PASS_CONTROL,
    CLS_PASS_EXPERIMENT,
)

# Cases from kayenta-judge ClassifierSuite.scala (tolerance 0.10, confLevel 0.95).
CASES = [
    (CLS_PASS_CONTROL, CLS_PASS_EXPERIMENT, Direction.EITHER, MetricClassification.PASS),
    (CLS_HIGH_CONTROL, CLS_HIGH_EXPERIMENT, Direction.EITHER, MetricClassification.HIGH),
    (CLS_LOW_CONTROL, CLS_LOW_EXPERIMENT, Direction.EITHER, MetricClassification.LOW),
    (CLS_LOW_CONTROL, CLS_LOW_EXPERIMENT, Direction.INCREASE, MetricClassification.PASS),
    (CLS_HIGH_CONTROL, CLS_HIGH_EXPERIMENT, Direction.DECREASE, MetricClassification.PASS),
    (CLS_HIGH_CONTROL, CLS_HIGH_EXPERIMENT, Direction.INCREASE, MetricClassification.HIGH),
    (CLS_LOW_CONTROL, CLS_LOW_EXPERIMENT, Direction.DECREASE, MetricClassification.LOW),
]


@pytest.mark.parametrize(("control", "experiment", "direction", "expected"), CASES)
def test_kayenta_classifier_suite(
    control: list[float],
    experiment: list[float],
    direction: Direction,
    expected: MetricClassification,
) -> None:
    cfg = MetricConfig("m", direction=direction)
    r = classify_metric(control, experiment, cfg, tolerance=0.10, conf_level=0.95)
    assert r.classification == expected
    assert not r.critical


def test_allowed_increase_suppresses_small_effects() -> None:
    # High-metric data has mean ratio ~2.0; requiring >= 2.5x turns High into Pass.
    ratio = float(np.mean(CLS_HIGH_EXPERIMENT) / np.mean(CLS_HIGH_CONTROL))
    assert 1.8 < ratio < 2.2
    loose = MetricConfig("m", allowed_increase=2.5)
    assert classify_metric(CLS_HIGH_CONTROL, CLS_HIGH_EXPERIMENT, loose).classification == "Pass"
    tight = MetricConfig("m", allowed_increase=1.5)
    assert classify_metric(CLS_HIGH_CONTROL, CLS_HIGH_EXPERIMENT, tight).classification == "High"


def test_dead_band_around_estimate() -> None:
    # Shift of 1 on values near 1000: significant, but the CI's lower end sits inside
    # 25 % of the estimate only if the CI is wide; a tight CI around 1 is still High.
    rng = np.random.default_rng(3)
    base = rng.normal(1000, 0.1, 200)
    canary = rng.normal(1001, 0.1, 200)
    r = classify_metric(base, canary, MetricConfig("m"))
    assert r.classification == MetricClassification.HIGH
    assert r.estimate is not None and r.estimate == pytest.approx(1.0, abs=0.05)
    # Noisy data: CI [lo, hi] straddles the +/-25 % band -> Pass despite a positive shift.
    base = rng.normal(100, 20, 30)
    canary = base + 5 + rng.normal(0, 20, 30)
    r = classify_metric(base, canary, MetricConfig("m"))
    assert r.conf_int is not None and r.estimate is not None
    assert (r.conf_int[0] > 0.25 * abs(r.estimate)) == (r.classification == "High")


def test_nodata_handling() -> None:
    empty: list[float] = [math.nan, math.nan]
    assert classify_metric([1.0, 2.0], empty, MetricConfig("m")).classification == "Nodata"
    req = MetricConfig("m", must_have_data=True)
    assert classify_metric([1.0], empty, req).classification == "NodataFailMetric"
    crit = classify_metric([1.0], empty, MetricConfig("m", critical=True))
    assert crit.classification == "Nodata" and crit.critical
    rep = MetricConfig("m", nan_strategy=NaNStrategy.REPLACE)
    # NaNs replaced by zero: canary [0, 0] vs baseline [5, 6, 7] is a clear decrease.
    assert classify_metric([5.0, 6.0, 7.0], empty, rep).classification == "Low"


def test_identical_and_constant_data_pass() -> None:
    same = classify_metric([1.0, 2.0, 3.0], [3.0, 1.0, 2.0], MetricConfig("m"))
    assert same.classification == "Pass"
    assert classify_metric([4.0, 4.0], [4.0], MetricConfig("m")).classification == "Pass"
    # Both constant but different: exact shift, zero-width CI.
    r = classify_metric([1.0, 1.0, 1.0], [2.0, 2.0], MetricConfig("m"))
    assert r.classification == "High" and r.conf_int == (1.0, 1.0)


def test_iqr_outlier_removal() -> None:
    data = np.r_[np.linspace(10, 11, 200), 1000.0]
    mask = iqr_outliers(data, factor=3.0)
    assert mask.tolist() == [False] * 200 + [True]
    # The outlier alone would not flip the metric, but removal changes the mean ratio.
    keep = classify_metric(np.linspace(10, 11, 50), data, MetricConfig("m"))
    drop = classify_metric(
        np.linspace(10, 11, 50), data, MetricConfig("m", outlier_strategy=OutlierStrategy.REMOVE)
    )
    assert keep.deviation > 1.3 and drop.deviation == pytest.approx(1.0, abs=0.01)


def test_cles() -> None:
    assert cles(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 1.0
    assert cles(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.5


def _r(label: str, groups: tuple[str, ...] = ("g",), critical: bool = False) -> MetricResult:
    return MetricResult("m", MetricClassification(label), "why", 1.0, 1.0, critical, groups)


def test_scorer_weights_and_thresholds() -> None:
    # Group a: 1 Pass / 2 -> 50; group b: 2 Pass -> 100. Weights a=40, b=60 -> 80.
    rs = [_r("Pass", ("a",)), _r("High", ("a",)), _r("Pass", ("b",)), _r("Pass", ("b",))]
    res = score_metrics(rs, {"a": 40, "b": 60})
    assert res.score == 80.0 and res.classification == ScoreClassification.PASS
    # Unweighted groups share the remainder: a=50 (given), b gets 50 -> 25 + 50 = 75.
    assert score_metrics(rs, {"a": 50}).score == 75.0
    # No weights at all: equal split -> (50 + 100) / 2.
    assert score_metrics(rs).score == 75.0
    assert score_metrics(rs[:2]).classification == ScoreClassification.MARGINAL  # 50
    assert score_metrics([_r("High")]).classification == ScoreClassification.FAIL


def test_critical_high_fails_everything() -> None:
    rs = [_r("Pass")] * 9 + [_r("High", critical=True)]
    res = score_metrics(rs)
    assert res.score == 0.0 and res.classification == ScoreClassification.FAIL
    assert res.reason.startswith("Canary Failed")


def test_too_many_nodata_fails() -> None:
    res = score_metrics([_r("Nodata"), _r("Pass")])
    assert res.score == 0.0


def test_critical_threshold_from_config() -> None:
    high = MetricConfig("m", critical=True, critical_increase=1.5)
    r = classify_metric(CLS_HIGH_CONTROL, CLS_HIGH_EXPERIMENT, high)
    assert r.classification == "High" and r.critical
    soft = MetricConfig("m", critical=True, critical_increase=3.0)
    r = classify_metric(CLS_HIGH_CONTROL, CLS_HIGH_EXPERIMENT, soft)
    assert r.classification == "High" and not r.critical


def test_kayenta_judge_end_to_end() -> None:
    metrics = [
        (
            MetricConfig("latency", groups=("perf",), direction=Direction.INCREASE),
            CLS_HIGH_CONTROL,
            CLS_HIGH_EXPERIMENT,
        ),
        (MetricConfig("errors", groups=("errors",)), CLS_PASS_CONTROL, CLS_PASS_EXPERIMENT),
    ]
    res = kayenta_judge(metrics, {"perf": 50, "errors": 50})
    assert [m.classification for m in res.metrics] == ["High", "Pass"]
    assert res.score == 50.0 and res.classification == ScoreClassification.MARGINAL
    muted = [(MetricConfig("latency", muted=True), CLS_HIGH_CONTROL, CLS_HIGH_EXPERIMENT)]
    assert kayenta_judge(muted + metrics[1:]).score == 100.0
