"""One analysis of a canary: render the queries, ask the provider, judge, explain.

`run_analysis` is what the `analyze` activity runs; it takes any `MetricsProvider`, so
tests drive it with canned values. Judges (`analysis.judge`):

* `threshold`: every `metrics` check against its bounds (`judge_value`).
* `sequential`: the anytime-valid canary-vs-baseline test (`rollway.metrics.sequential`);
  the `metrics` checks are absolute guards that must pass too.
* `kayenta`: Mann-Whitney per metric and a score (`rollway.metrics.kayenta`), plus guards.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rollway.metrics.analysis import combine, judge_value
from rollway.metrics.kayenta import run_kayenta, window_start
from rollway.metrics.prometheus import MetricQueryError, MetricsProvider
from rollway.metrics.results import AnalysisInput, AnalysisResult, MetricResult
from rollway.metrics.sequential import run_sequential, windows
from rollway.metrics.spec import BaselineMode, MetricCheck
from rollway.metrics.templates import COUNT_SOURCES, TEMPLATES, fill, render
from rollway.platform.labels import backend_name, build_label, server_name


def query_variables(inp: AnalysisInput) -> dict[str, str]:
    """Values for a query's `${…}` placeholders (the canary's, plus the pipeline's own)."""
    platform = inp.environment.platform
    namespace = getattr(platform, "namespace", None) or inp.target.environment
    return inp.analysis.variables | {
        "service": inp.target.service,
        "environment": inp.target.environment,
        "version": build_label(inp.canary_version, inp.canary_instance),
        "stable": build_label(inp.stable_version or "", inp.stable_instance),
        "interval": f"{max(1, round(inp.window_s))}s",
        "proxy": backend_name(inp.target),
        "server": inp.canary_instance or server_name(inp.canary_version),
        "stable_server": inp.stable_instance or server_name(inp.stable_version or ""),
        "workload": f"{inp.target.service}-canary",
        "stable_workload": inp.target.service,
        "namespace": str(namespace),
    }


def stable_variables(variables: dict[str, str]) -> dict[str, str]:
    """The same variables, pointed at the stable version (for relative bounds)."""
    return variables | {
        "version": variables["stable"],
        "server": variables["stable_server"],
        "workload": variables["stable_workload"],
    }


def baseline_variables(
    variables: dict[str, str], mode: BaselineMode, baseline_version: str
) -> dict[str, str]:
    """Variables of the arm the canary is compared with: the stable, or a dedicated baseline."""
    if mode == "stable":
        return stable_variables(variables)
    version = fill(baseline_version, variables)
    return variables | {
        "version": version,
        "server": server_name(version),
        "workload": f"{variables['service']}-baseline",
    }


def check_metric(
    prom: MetricsProvider, check: MetricCheck, variables: dict[str, str], has_stable: bool
) -> MetricResult:
    """One threshold check; a failed query is an `error` result, not an exception."""
    t = TEMPLATES[check.template] if check.template else None
    text = t.query if t else check.query or ""
    try:
        query = render(text, variables)
        samples_q = render(t.samples, variables) if t and t.samples else None
    except ValueError as e:
        return MetricResult(name=check.name, status="error", message=str(e))
    try:
        value = prom.value(query)
        samples = prom.value(samples_q) if samples_q else None
        baseline = None
        if check.relative and has_stable:
            baseline = prom.value(render(text, stable_variables(variables)))
    except MetricQueryError as e:
        return MetricResult(name=check.name, status="error", query=query, message=str(e))
    proportion = t is not None and t.unit == "ratio" and samples_q is not None
    return judge_value(check, value, samples, query, baseline, proportion)


NO_TRAFFIC = (
    "no traffic on stable or canary in the last {window}: the platform may be down "
    "(proxy, load balancer or metrics pipeline); holding the canary, alert a human"
)


def _traffic_counters(inp: AnalysisInput) -> tuple[list[str], bool]:
    """Request-count queries to look at, and whether they are cumulative counters."""
    spec = inp.analysis
    seq = spec.sequential if spec.judge == "sequential" else None
    if seq is not None:
        source = seq.errors_query or (COUNT_SOURCES[seq.errors] if seq.errors else None)
        if source is not None:
            return [source.total], True
    samples = [
        t.samples
        for c in spec.metrics
        if c.template and (t := TEMPLATES[c.template]).samples is not None
    ]
    return sorted(set(s for s in samples if s)), False


def no_traffic(inp: AnalysisInput, prom: MetricsProvider, now: datetime) -> bool:
    """True when neither arm served a request in the last interval (both counted as zero).

    Only said when there is a request counter to look at and both the canary's and the
    stable's read zero (or have no series): unlike "no data yet" for one arm, that means
    the front door is not serving at all.
    """
    if not inp.stable_version:
        return False
    queries, cumulative = _traffic_counters(inp)
    if not queries:
        return False
    variables = query_variables(inp)
    spec = inp.analysis
    mode: BaselineMode = "stable"
    version = "${stable}"
    if spec.judge == "sequential" and spec.sequential is not None:
        mode, version = spec.sequential.baseline, spec.sequential.baseline_version
    arms = [variables, baseline_variables(variables, mode, version)]
    window = timedelta(seconds=max(inp.window_s, 1.0))
    try:
        for q in queries:
            for arm in arms:
                text = render(q, arm)
                if cumulative:
                    end, start = prom.value(text, at=now), prom.value(text, at=now - window)
                    if end is not None and (end - (start or 0.0) > 0 or end < (start or 0.0)):
                        return False
                elif (prom.value(text) or 0.0) > 0:
                    return False
    except (MetricQueryError, ValueError):
        return False  # a failed query is reported as an `error` metric already
    return True


def run_analysis(inp: AnalysisInput, prom: MetricsProvider, now: datetime) -> AnalysisResult:
    """Measure and judge once; flag an analysis that sees no traffic on either arm."""
    result = _judge(inp, prom, now)
    if result.status != "fail" and no_traffic(inp, prom, now):
        window = f"{max(1, round(inp.window_s))}s"
        result.status, result.no_traffic = "inconclusive", True
        result.message = f"{NO_TRAFFIC.format(window=window)}; {result.message}"
    return result


def _judge(inp: AnalysisInput, prom: MetricsProvider, now: datetime) -> AnalysisResult:
    """Measure and judge once, with `inp.analysis.judge`; every verdict carries its reason."""
    spec = inp.analysis
    variables = query_variables(inp)
    guards = [check_metric(prom, c, variables, bool(inp.stable_version)) for c in spec.metrics]
    if spec.judge == "threshold":
        return combine(guards, inp.weight)
    if not inp.stable_version:
        judged = [
            MetricResult(
                name=spec.judge,
                status="inconclusive",
                method=spec.judge,
                message="no stable version to compare the canary with",
            )
        ]
        result = combine(judged + guards, inp.weight)
        result.judge = spec.judge
        return result
    e_value: float | None = None
    score: float | None = None
    summary = ""
    try:
        if spec.judge == "sequential":
            assert spec.sequential is not None
            seq = spec.sequential
            wins, exact = windows(
                inp.segments, inp.weight, now, inp.canary_started_at, seq.lookback
            )
            base = baseline_variables(variables, seq.baseline, seq.baseline_version)
            outcome = run_sequential(prom, seq, variables, base, wins, exact)
            judged = outcome.metrics
            if outcome.combined is not None:
                e_value = outcome.combined.e_value
                summary = (
                    f"evidence the canary is within {seq.margin:g}x stable (pass e >= "
                    f"{1 / seq.beta:g}), no regression e={e_value:.3g} < {1 / seq.alpha:g}"
                )
        else:
            assert spec.kayenta is not None
            ks = spec.kayenta
            first = inp.segments[0].started_at if inp.segments else inp.canary_started_at
            start = window_start(now, ks, first)
            base = baseline_variables(variables, ks.baseline, ks.baseline_version)
            judged, score = run_kayenta(prom, ks, variables, base, start, now)
            if score is not None:
                summary = f"no regression, score {score:g} (pass >= {ks.pass_threshold:g})"
    except (MetricQueryError, ValueError) as e:
        judged = [MetricResult(name=spec.judge, status="error", method=spec.judge, message=str(e))]
    result = combine(judged + guards, inp.weight)
    result.judge, result.e_value, result.score = spec.judge, e_value, score
    if result.status == "pass" and summary:
        result.message = f"{spec.judge}: {summary}; {result.message}"
    return result
