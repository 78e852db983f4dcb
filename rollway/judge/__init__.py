"""Canary judge statistics: pure functions over counts and samples (no I/O, no Temporal).

* :func:`sequential_rate_test` / :func:`sequential_histogram_test`: Rollway's default,
  anytime-valid judge, safe to call after every scrape; :func:`combine_evalues` merges
  several of them under one ``alpha``.
* :func:`kayenta_judge`: Kayenta (NetflixACAJudge) style fixed-horizon judge.
* :func:`mann_whitney_ci`: R-equivalent Wilcoxon rank-sum test with a shift CI.
"""

from rollway.judge.kayenta import (
    Direction,
    JudgeResult,
    MetricClassification,
    MetricConfig,
    MetricResult,
    NaNStrategy,
    OutlierStrategy,
    ScoreClassification,
    classify_metric,
    kayenta_judge,
    score_metrics,
)
from rollway.judge.mannwhitney import MannWhitneyResult, mann_whitney_ci
from rollway.judge.sequential import (
    Decision,
    HistogramSegment,
    RateSegment,
    SequentialResult,
    combine_evalues,
    sequential_histogram_test,
    sequential_rate_test,
)

__all__ = [
    "Decision",
    "Direction",
    "HistogramSegment",
    "JudgeResult",
    "MannWhitneyResult",
    "MetricClassification",
    "MetricConfig",
    "MetricResult",
    "NaNStrategy",
    "OutlierStrategy",
    "RateSegment",
    "ScoreClassification",
    "SequentialResult",
    "classify_metric",
    "combine_evalues",
    "kayenta_judge",
    "mann_whitney_ci",
    "score_metrics",
    "sequential_histogram_test",
    "sequential_rate_test",
]
