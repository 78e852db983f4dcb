"""Every analysis as Prometheus metrics of the worker process (`prometheus_client`).

The collectors are registered once, on import, in the default registry; the worker
serves them when `ROLLWAY_WORKER_METRICS_PORT` is set (see `workers/main.py`).

* `rollway_analysis_metric_value{service,environment,version,metric}`: canary's value
* `rollway_analysis_metric_baseline{…}`: the baseline's (stable's) value
* `rollway_analysis_metric_statistic{…}`: e-value (sequential), mean ratio or score (kayenta)
* `rollway_analysis_e_value{service,environment,version}`: combined e-value (sequential)
* `rollway_analysis_score{service,environment,version}`: Kayenta score
* `rollway_analysis_metric_verdicts_total{…,status}`: verdicts per metric
* `rollway_analyses_total{service,environment,version,judge,status}`: analyses
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from rollway.metrics.results import AnalysisInput, AnalysisResult

_TARGET = ("service", "environment", "version")
_METRIC = (*_TARGET, "metric")

METRIC_VALUE = Gauge(
    "rollway_analysis_metric_value", "Canary value of an analysis metric.", _METRIC
)
METRIC_BASELINE = Gauge(
    "rollway_analysis_metric_baseline", "Baseline (stable) value of an analysis metric.", _METRIC
)
METRIC_STATISTIC = Gauge(
    "rollway_analysis_metric_statistic",
    "Test statistic of a metric: e-value (sequential), mean ratio or score (kayenta).",
    _METRIC,
)
E_VALUE = Gauge("rollway_analysis_e_value", "Combined e-value of the sequential judge.", _TARGET)
SCORE = Gauge("rollway_analysis_score", "Kayenta-style canary score (0-100).", _TARGET)
VERDICTS = Counter(
    "rollway_analysis_metric_verdicts",
    "Verdicts per analysis metric.",
    (*_METRIC, "status"),
)
ANALYSES = Counter(
    "rollway_analyses", "Canary analyses by judge and verdict.", (*_TARGET, "judge", "status")
)


def record(inp: AnalysisInput, result: AnalysisResult) -> None:
    """Export one analysis result (never raises into the activity)."""
    target = (inp.target.service, inp.target.environment, inp.canary_version)
    ANALYSES.labels(*target, result.judge, result.status).inc()
    if result.e_value is not None:
        E_VALUE.labels(*target).set(result.e_value)
    if result.score is not None:
        SCORE.labels(*target).set(result.score)
    for m in result.metrics:
        labels = (*target, m.name)
        VERDICTS.labels(*labels, m.status).inc()
        if m.value is not None:
            METRIC_VALUE.labels(*labels).set(m.value)
        if m.baseline is not None:
            METRIC_BASELINE.labels(*labels).set(m.baseline)
        if m.statistic is not None:
            METRIC_STATISTIC.labels(*labels).set(m.statistic)
