"""The analysis passes only on evidence, fails only beyond noise, and says when nothing is served.

Driven through `run_analysis` (what the `analyze` activity runs) with canned Prometheus
counters (`tests.metrics.fakes`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from rollway.metrics.runner import baseline_variables, query_variables, run_analysis
from rollway.metrics.sequential import ERRORS_NAME, LATENCY_NAME
from rollway.metrics.spec import AnalysisSpec
from rollway.metrics.templates import COUNT_SOURCES, HISTOGRAM_SOURCES, TEMPLATES, render
from rollway.models import AnalysisInput, AnalysisSegment
from rollway.platform.base import Target
from rollway.spec import EnvironmentSpec
from tests.support.metrics.prometheus_fake import T0, FakeProm, at

GUARD = {"name": "success-rate", "template": "haproxy-success-rate", "min": 0.9}
# Prometheus' default buckets up to 1 s (seconds), the demo's histogram.
BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, math.inf]


def make_input(analysis: dict[str, Any], weight: int = 50, **kw: Any) -> AnalysisInput:
    return AnalysisInput(
        target=Target(service="demo", environment="production"),
        environment=EnvironmentSpec(),
        canary_version="v5",
        stable_version="v4",
        weight=weight,
        analysis=AnalysisSpec.model_validate(analysis),
        window_s=5,
        segments=[AnalysisSegment(weight=weight, started_at=at(0))],
        **kw,
    )


def queries(inp: AnalysisInput) -> dict[str, str]:
    cv = query_variables(inp)
    bv = baseline_variables(cv, "stable", "")
    c = COUNT_SOURCES["haproxy"]
    h = HISTOGRAM_SOURCES["http"].buckets
    t = TEMPLATES["haproxy-success-rate"]
    return {
        "c_err": render(c.errors, cv),
        "c_tot": render(c.total, cv),
        "b_err": render(c.errors, bv),
        "b_tot": render(c.total, bv),
        "c_hist": render(h, cv),
        "b_hist": render(h, bv),
        "guard": render(t.query, cv),
        "guard_n": render(t.samples or "", cv),
        "guard_n_stable": render(t.samples or "", bv),
    }


def counter(rate: float, until: float = math.inf) -> Callable[[datetime], float | None]:
    """A counter growing at `rate`/s from t=0 until `until` (then flat)."""

    def f(t: datetime) -> float | None:
        s = (t - T0).total_seconds()
        return rate * min(max(s, 0.0), until)

    return f


def histogram(rate: float, share_below: list[float]) -> Callable[[datetime], dict[str, float]]:
    """Cumulative `le` buckets growing at `rate` requests/s, `share_below[i]` under BOUNDS[i]."""

    def f(t: datetime) -> dict[str, float]:
        n = rate * max((t - T0).total_seconds(), 0.0)
        return {
            ("+Inf" if math.isinf(b) else f"{b:g}"): n * s
            for b, s in zip(BOUNDS, share_below, strict=True)
        }

    return f


FAST = [0.2, 0.6, 0.9, 0.97, 0.995, 0.999, 1.0, 1.0, 1.0]  # p99 ~ 20-30 ms
SLOW = [0.0, 0.0, 0.0, 0.0, 0.0, 0.9, 0.99, 1.0, 1.0]  # +120 ms: p99 ~ 150-250 ms


def served(
    inp: AnalysisInput,
    rps: float,
    canary_err: float = 0.0,
    base_err: float = 0.0,
    canary_hist: list[float] = FAST,
    base_hist: list[float] = FAST,
    until: float = math.inf,
) -> FakeProm:
    q = queries(inp)
    rho = inp.weight / 100
    prom = FakeProm()
    prom.values[q["c_tot"]] = counter(rps * rho, until)
    prom.values[q["b_tot"]] = counter(rps * (1 - rho), until)
    prom.values[q["c_err"]] = counter(rps * rho * canary_err, until)
    prom.values[q["b_err"]] = counter(rps * (1 - rho) * base_err, until)
    prom.vectors[q["c_hist"]] = histogram(rps * rho, canary_hist)
    prom.vectors[q["b_hist"]] = histogram(rps * (1 - rho), base_hist)
    prom.now_values[q["guard"]] = 1 - canary_err
    prom.now_values[q["guard_n"]] = rps * rho * 5
    return prom


def seq(**kw: Any) -> dict[str, Any]:
    return {"judge": "sequential", "metrics": [GUARD], "sequential": kw}


# --- pass only on evidence ------------------------------------------------------------


def test_a_good_canary_is_inconclusive_until_the_evidence_is_in_then_passes() -> None:
    inp = make_input(seq())
    prom = served(inp, rps=150, canary_err=0.02, base_err=0.02)
    early = run_analysis(inp, prom, at(20))
    assert early.status == "inconclusive", early.message
    assert "no evidence yet either way" in early.message
    late = run_analysis(inp, prom, at(600))
    assert late.status == "pass", late.message
    for m in late.metrics:
        if m.method == "sequential":
            assert "within the margin" in m.message and "upper bound" in m.message


def test_a_canary_at_the_margin_is_never_passed_on_lack_of_evidence() -> None:
    """3 % vs 2 % (1.5x): the sequential judge used to pass it after min_requests."""
    inp = make_input(seq(min_ratio=1.5, margin=1.5))
    prom = served(inp, rps=150, canary_err=0.03, base_err=0.02)
    for t in (30, 120, 600, 1800):
        r = run_analysis(inp, prom, at(t))
        assert r.status != "pass", (t, r.message)


def test_a_latency_only_regression_is_rolled_back_by_the_default_judge() -> None:
    """+120 ms on a ~20 ms p99, no errors anywhere: the threshold demo judge promoted it."""
    inp = make_input(seq())
    prom = served(inp, rps=50, canary_hist=SLOW)
    r = run_analysis(inp, prom, at(30))
    assert r.status == "fail", r.message
    assert r.message.startswith(f"{LATENCY_NAME} fail"), r.message
    lat = next(m for m in r.metrics if m.name == LATENCY_NAME)
    assert lat.value is not None and lat.baseline is not None and lat.value > lat.baseline


def test_explanations_lead_with_the_deciding_metric_and_print_finite_numbers() -> None:
    inp = make_input(seq())
    # baseline never slower than 5 ms: a tail ratio has no denominator at most bounds
    flat = [1.0] * len(BOUNDS)
    prom = served(inp, rps=100, canary_err=0.08, base_err=0.01, canary_hist=flat, base_hist=flat)
    r = run_analysis(inp, prom, at(60))
    assert r.status == "fail"
    assert r.message.startswith(f"{ERRORS_NAME} fail"), r.message
    for m in r.metrics:
        assert not re.search(r"\bnan\b|\binf\b", m.message, re.I), m.message


# --- noise never decides alone ----------------------------------------------------------


def test_one_error_in_twenty_requests_does_not_fail_a_threshold_check() -> None:
    """A 2 % build against a 0 % stable: one error in a 20-request window is noise."""
    inp = make_input({"metrics": [{**GUARD, "min": 0.97, "min_samples": 10}]})
    q = queries(inp)
    prom = FakeProm(now_values={q["guard"]: 19 / 20, q["guard_n"]: 20})
    r = run_analysis(inp, prom, at(60))
    assert r.status == "inconclusive", r.message
    assert "within noise of 20 requests" in r.message
    prom = FakeProm(now_values={q["guard"]: 0.9, q["guard_n"]: 200})
    assert run_analysis(inp, prom, at(60)).status == "fail"


def test_a_handful_of_errors_does_not_roll_back_the_sequential_judge() -> None:
    inp = make_input(seq(), weight=10)
    q = queries(inp)
    prom = served(inp, rps=2)  # 0.2 canary req/s
    prom.values[q["c_err"]] = counter(0.01, until=200)  # 2 canary errors, 0 on stable
    r = run_analysis(inp, prom, at(200))
    assert r.status == "inconclusive", r.message


# --- no traffic anywhere: the platform may be down ------------------------------------


def test_no_traffic_on_either_arm_is_flagged_not_no_data_yet() -> None:
    inp = make_input(seq())
    prom = served(inp, rps=100, until=60)  # the proxy died at t=60
    r = run_analysis(inp, prom, at(120))
    assert r.status == "inconclusive" and r.no_traffic
    assert r.message.startswith("no traffic on stable or canary"), r.message
    assert "platform may be down" in r.message
    assert not run_analysis(inp, prom, at(50)).no_traffic


def test_threshold_judge_flags_no_traffic_from_both_arms_request_counts() -> None:
    inp = make_input({"metrics": [GUARD]})
    q = queries(inp)
    silent = FakeProm(now_values={q["guard_n"]: 0, q["guard_n_stable"]: 0})
    r = run_analysis(inp, silent, at(60))
    assert r.status == "inconclusive" and r.no_traffic, r.message
    stable_serves = FakeProm(now_values={q["guard_n"]: 0, q["guard_n_stable"]: 40})
    r = run_analysis(inp, stable_serves, at(60))
    assert r.status == "inconclusive" and not r.no_traffic


# --- max_soak ---------------------------------------------------------------------------


def test_max_soak_is_validated_with_a_clear_error() -> None:
    ok = AnalysisSpec.model_validate({"max_soak": "30m", "interval": "1m"})
    assert ok.max_soak == timedelta(minutes=30)
    with pytest.raises(ValidationError, match=r"max_soak .* must be at least initial_delay"):
        AnalysisSpec.model_validate({"max_soak": "30s", "interval": "1m"})
    with pytest.raises(ValidationError, match="over 30 days"):
        AnalysisSpec.model_validate({"max_soak": "40d"})


def test_margin_below_min_ratio_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"margin \(1.05\) must be >= min_ratio"):
        AnalysisSpec.model_validate(seq(margin=1.05))
