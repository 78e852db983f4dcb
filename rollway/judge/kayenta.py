"""Kayenta-style (NetflixACAJudge) fixed-horizon canary judge.

Per metric: clean the canary ("experiment") and baseline ("control") samples (NaN
strategy, optional IQR outlier removal), run a two-sided Mann-Whitney test with a
98 % CI on the shift canary - baseline, and classify:

* ``High`` when the CI's lower end is above ``+tolerance * |estimate|`` (25 % dead band
  around the Hodges-Lehmann estimate), direction allows increases, and the effect size
  (mean ratio canary / baseline by default) is ``>= allowed_increase``;
* ``Low`` symmetrically (``upper < -tolerance * |estimate|`` and effect ``<= allowed_decrease``);
* ``Pass`` otherwise; ``Nodata`` / ``NodataFailMetric`` when a side is empty.

Group score = ``100 * Pass / (Pass + High + Low + NodataFailMetric)``; the summary score
is the weighted sum of group scores (unweighted groups share what is left of 100, groups
without data count as 100). Any critical metric that is not ``Pass`` (or 50 % or more
``Nodata`` metrics) forces the score to 0. The score is then ``Pass`` (>= pass threshold,
default 75), ``Marginal`` (>= marginal threshold, default 50) or ``Fail``.

Defaults follow Kayenta's ``NetflixACAJudge``: tolerance 0.25, confidence 0.98,
direction ``either``, NaN strategy ``remove``, outliers kept (factor 3 when removed),
effect thresholds 1.0 (0.5 for CLES). Differences: when both samples are constant (and
differ) Kayenta adds tiny Gaussian jitter before the test; here the exact limit
(shift = difference of the constants, zero-width CI) is used, which is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

from rollway.judge.mannwhitney import ArrayLike, mann_whitney_ci

FloatArray = npt.NDArray[np.float64]


class MetricClassification(StrEnum):
    """Per-metric label (same strings as Kayenta)."""

    PASS = "Pass"
    HIGH = "High"
    LOW = "Low"
    NODATA = "Nodata"
    NODATA_FAIL = "NodataFailMetric"
    ERROR = "Error"


class Direction(StrEnum):
    """Which change counts as a failure."""

    INCREASE = "increase"
    DECREASE = "decrease"
    EITHER = "either"


class NaNStrategy(StrEnum):
    """What to do with NaN samples."""

    REMOVE = "remove"
    REPLACE = "replace"  # with 0.0


class OutlierStrategy(StrEnum):
    """Whether to drop IQR outliers before the test."""

    KEEP = "keep"
    REMOVE = "remove"


class ScoreClassification(StrEnum):
    """Overall verdict from the summary score."""

    PASS = "Pass"
    MARGINAL = "Marginal"
    FAIL = "Fail"


EffectMeasure = Literal["meanRatio", "cles"]


@dataclass(frozen=True)
class MetricConfig:
    """Per-metric analysis configuration (Kayenta's ``analysisConfigurations.canary``)."""

    name: str
    groups: tuple[str, ...] = ("default",)
    direction: Direction = Direction.EITHER
    nan_strategy: NaNStrategy = NaNStrategy.REMOVE
    outlier_strategy: OutlierStrategy = OutlierStrategy.KEEP
    outlier_factor: float = 3.0
    critical: bool = False
    must_have_data: bool = False
    muted: bool = False
    effect_measure: EffectMeasure = "meanRatio"
    allowed_increase: float | None = None
    allowed_decrease: float | None = None
    critical_increase: float | None = None
    critical_decrease: float | None = None

    def threshold(self, value: float | None) -> float:
        """Resolve an effect threshold, defaulting to 'no effect' (1.0, or 0.5 for CLES)."""
        if value is not None:
            return value
        return 0.5 if self.effect_measure == "cles" else 1.0


@dataclass(frozen=True)
class MetricResult:
    """Classification of one metric."""

    name: str
    classification: MetricClassification
    reason: str
    deviation: float
    """Mean ratio canary / baseline (1.0 when undefined by a shortcut, NaN if a mean is 0)."""
    effect_size: float
    critical: bool
    groups: tuple[str, ...]
    muted: bool = False
    conf_int: tuple[float, float] | None = None
    estimate: float | None = None


@dataclass(frozen=True)
class GroupScore:
    """Score of one metric group."""

    name: str
    score: float
    no_data: bool
    label_counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class JudgeResult:
    """Summary of a Kayenta-style judgement."""

    score: float
    classification: ScoreClassification
    reason: str
    metrics: tuple[MetricResult, ...]
    groups: tuple[GroupScore, ...]


def iqr_outliers(
    data: ArrayLike, factor: float = 3.0, reduce_sensitivity: bool = True
) -> npt.NDArray[np.bool_]:
    """Boolean mask of Tukey-fence outliers (fences widened to p1/p99 when reducing sensitivity)."""
    if factor <= 0.0:
        raise ValueError("factor must be greater than zero")
    arr = np.asarray(data, dtype=np.float64)
    if arr.size == 0:
        return np.zeros(0, dtype=np.bool_)
    p25, p75 = np.percentile(arr, [25.0, 75.0])
    iqr = p75 - p25
    lower, upper = p25 - factor * iqr, p75 + factor * iqr
    if reduce_sensitivity:
        p01, p99 = np.percentile(arr, [1.0, 99.0])
        lower, upper = min(p01, lower), max(p99, upper)
    mask: npt.NDArray[np.bool_] = (arr < lower) | (arr > upper)
    return mask


def transform(values: ArrayLike, config: MetricConfig) -> FloatArray:
    """Apply the NaN strategy, then optional IQR outlier removal."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    if config.nan_strategy == NaNStrategy.REMOVE:
        arr = arr[~np.isnan(arr)]
    else:
        arr = np.where(np.isnan(arr), 0.0, arr)
    if config.outlier_strategy == OutlierStrategy.REMOVE and arr.size:
        arr = arr[~iqr_outliers(arr, config.outlier_factor)]
    return arr


def mean_ratio(control: FloatArray, experiment: FloatArray) -> float:
    """Mean(experiment) / mean(control); NaN when either mean is zero."""
    c, e = float(np.mean(control)), float(np.mean(experiment))
    return math.nan if c == 0.0 or e == 0.0 else e / c


def cles(control: FloatArray, experiment: FloatArray) -> float:
    """Common-language effect size: P(experiment > control) + P(tie) / 2."""
    m, n = experiment.size, control.size
    ranks = rankdata(np.concatenate([experiment, control]))
    r1 = float(np.sum(ranks[:m]))
    return (2.0 * r1 - m * (m + 1)) / (2.0 * n * m)


def classify_metric(
    control: ArrayLike,
    experiment: ArrayLike,
    config: MetricConfig,
    *,
    tolerance: float = 0.25,
    conf_level: float = 0.98,
) -> MetricResult:
    """Classify one metric, canary (``experiment``) against baseline (``control``)."""
    ctl = transform(control, config)
    exp = transform(experiment, config)
    name, groups, muted = config.name, config.groups, config.muted

    def result(
        label: MetricClassification,
        reason: str,
        deviation: float = 1.0,
        effect: float = math.nan,
        critical: bool = False,
        ci: tuple[float, float] | None = None,
        estimate: float | None = None,
    ) -> MetricResult:
        return MetricResult(
            name, label, reason, deviation, effect, critical, groups, muted, ci, estimate
        )

    if exp.size == 0 or ctl.size == 0:
        if config.nan_strategy == NaNStrategy.REMOVE:
            reason = f"Missing data for {name}"
            if config.must_have_data and not config.critical:
                return result(MetricClassification.NODATA_FAIL, reason)
            return result(MetricClassification.NODATA, reason, critical=config.critical)
        return result(MetricClassification.PASS, "")
    if np.array_equal(np.sort(exp), np.sort(ctl)):
        return result(MetricClassification.PASS, "The canary and baseline data are identical")
    if np.unique(np.concatenate([exp, ctl])).size == 1:
        return result(MetricClassification.PASS, "")

    deviation = mean_ratio(ctl, exp)
    effect = cles(ctl, exp) if config.effect_measure == "cles" else deviation
    if np.unique(exp).size == 1 and np.unique(ctl).size == 1:
        shift = float(exp[0] - ctl[0])
        ci, estimate = (shift, shift), shift
    else:
        try:
            mw = mann_whitney_ci(exp, ctl, conf_level=conf_level)
        except ValueError as exc:
            return result(
                MetricClassification.ERROR,
                f"Metric classification failed: {exc}",
                deviation,
                effect,
            )
        ci, estimate = mw.conf_int, mw.estimate
    bound = tolerance * abs(estimate)
    up = config.direction in (Direction.INCREASE, Direction.EITHER)
    down = config.direction in (Direction.DECREASE, Direction.EITHER)
    inc, dec = config.threshold(config.allowed_increase), config.threshold(config.allowed_decrease)
    is_high = up and ci[0] > bound and (math.isnan(effect) or effect >= inc)
    is_low = down and ci[1] < -bound and (math.isnan(effect) or effect <= dec)

    if is_high:
        crit = config.critical and (
            math.isnan(effect) or effect >= config.threshold(config.critical_increase)
        )
        reason = f"{name} was classified as High" + (" (Critical)" if crit else "")
        return result(MetricClassification.HIGH, reason, deviation, effect, crit, ci, estimate)
    if is_low:
        crit = config.critical and (
            math.isnan(effect) or effect <= config.threshold(config.critical_decrease)
        )
        reason = f"{name} was classified as Low" + (" (Critical)" if crit else "")
        return result(MetricClassification.LOW, reason, deviation, effect, crit, ci, estimate)
    return result(MetricClassification.PASS, "", deviation, effect, False, ci, estimate)


_NODATA_THRESHOLD = 50.0


def score_metrics(
    results: Sequence[MetricResult],
    group_weights: Mapping[str, float] | None = None,
    *,
    pass_threshold: float = 75.0,
    marginal_threshold: float = 50.0,
) -> JudgeResult:
    """Weighted-sum scorer and threshold classifier over metric results (muted ones ignored)."""
    weights = dict(group_weights or {})
    active = [r for r in results if not r.muted]
    labels: dict[str, list[str]] = {}
    for r in active:
        for g in r.groups:
            labels.setdefault(g, []).append(r.classification.value)
    groups: list[GroupScore] = []
    for g, ls in labels.items():
        counts = {label: ls.count(label) for label in set(ls)}
        n_pass = counts.get(MetricClassification.PASS.value, 0)
        total = n_pass + sum(
            counts.get(k.value, 0)
            for k in (
                MetricClassification.HIGH,
                MetricClassification.LOW,
                MetricClassification.NODATA_FAIL,
            )
        )
        no_data = total == 0
        groups.append(GroupScore(g, 0.0 if no_data else 100.0 * n_pass / total, no_data, counts))

    critical = [r for r in active if r.critical and r.classification != MetricClassification.PASS]
    n_nodata = sum(r.classification == MetricClassification.NODATA for r in active)
    reason = ""
    if critical:
        score = 0.0
        reason = f"Canary Failed: {critical[0].reason}"
    elif active and 100.0 * n_nodata / len(active) >= _NODATA_THRESHOLD:
        score = 0.0
        reason = f"Canary Failed: {_NODATA_THRESHOLD:.0f}% or more metrics returned NODATA"
    else:
        unweighted = [g for g in groups if g.name not in weights]
        share = (100.0 - sum(weights.values())) / len(unweighted) if unweighted else 0.0
        score = 0.0
        for gs in groups:
            effective = 100.0 if gs.no_data else gs.score
            score += effective * weights.get(gs.name, share) / 100.0
        score = round(score, 2)
    if score >= pass_threshold:
        verdict = ScoreClassification.PASS
    elif score >= marginal_threshold:
        verdict = ScoreClassification.MARGINAL
    else:
        verdict = ScoreClassification.FAIL
    return JudgeResult(score, verdict, reason, tuple(results), tuple(groups))


def kayenta_judge(
    metrics: Sequence[tuple[MetricConfig, ArrayLike, ArrayLike]],
    group_weights: Mapping[str, float] | None = None,
    *,
    pass_threshold: float = 75.0,
    marginal_threshold: float = 50.0,
    tolerance: float = 0.25,
    conf_level: float = 0.98,
) -> JudgeResult:
    """Judge a canary from ``(config, baseline_values, canary_values)`` triples."""
    results = [
        classify_metric(control, experiment, cfg, tolerance=tolerance, conf_level=conf_level)
        for cfg, control, experiment in metrics
    ]
    return score_metrics(
        results, group_weights, pass_threshold=pass_threshold, marginal_threshold=marginal_threshold
    )
