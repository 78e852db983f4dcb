"""The judges against canned Prometheus answers: segments, verdicts, explanations."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollway.metrics.runner import baseline_variables, query_variables, run_analysis
from rollway.metrics.sequential import (
    ERRORS_NAME,
    LATENCY_NAME,
    CounterReader,
    Window,
    run_sequential,
    windows,
)
from rollway.metrics.spec import SequentialSpec
from rollway.metrics.templates import COUNT_SOURCES, HISTOGRAM_SOURCES, TEMPLATES, render
from rollway.models import AnalysisInput, AnalysisSegment
from tests.support.metrics.judge_inputs import GUARD, make_input, seq_analysis
from tests.support.metrics.prometheus_fake import FakeProm, at, piecewise

BOUNDS = ["0.05", "0.1", "0.2", "0.5", "+Inf"]


def arm_queries(inp: AnalysisInput, source: str = "haproxy") -> dict[str, str]:
    cv = query_variables(inp)
    bv = baseline_variables(cv, "stable", "")
    c = COUNT_SOURCES[source]
    return {
        "c_err": render(c.errors, cv),
        "c_tot": render(c.total, cv),
        "b_err": render(c.errors, bv),
        "b_tot": render(c.total, bv),
        "c_hist": render(HISTOGRAM_SOURCES["http"].buckets, cv),
        "b_hist": render(HISTOGRAM_SOURCES["http"].buckets, bv),
        "guard": render(TEMPLATES["haproxy-success-rate"].query, cv),
        "guard_n": render(TEMPLATES["haproxy-success-rate"].samples or "", cv),
    }


def traffic(
    inp: AnalysisInput,
    steps: list[tuple[float, int]],
    rps: float,
    canary_err: float,
    base_err: float,
    guard: float = 0.99,
) -> FakeProm:
    """HAProxy counters for requests split by each step's weight, from second s on."""
    q = arm_queries(inp)
    c_rates = [(s, rps * w / 100) for s, w in steps]
    b_rates = [(s, rps * (100 - w) / 100) for s, w in steps]
    prom = FakeProm()
    prom.values[q["c_tot"]] = piecewise(*c_rates)
    prom.values[q["c_err"]] = piecewise(*[(s, r * canary_err) for s, r in c_rates])
    prom.values[q["b_tot"]] = piecewise((-3600, rps), *b_rates)
    prom.values[q["b_err"]] = piecewise(
        (-3600, rps * base_err), *[(s, r * base_err) for s, r in b_rates]
    )
    prom.now_values[q["guard"]] = guard
    prom.now_values[q["guard_n"]] = 1000
    return prom


def segs(*steps: tuple[float, int]) -> list[AnalysisSegment]:
    return [AnalysisSegment(weight=w, started_at=at(s)) for s, w in steps]


# --- windows -----------------------------------------------------------------------


def test_windows_follow_the_workflows_steps() -> None:
    wins, exact = windows(segs((0, 10), (60, 30)), 30, at(90), None, timedelta(minutes=30))
    assert exact
    assert wins == [Window(10, at(0), at(60)), Window(30, at(60), at(90))]


def test_without_steps_one_window_from_the_canary_start_or_the_lookback() -> None:
    wins, exact = windows([], 30, at(90), at(10), timedelta(minutes=30))
    assert not exact and wins == [Window(30, at(10), at(90))]
    wins, _ = windows([], 30, at(90), None, timedelta(seconds=60))
    assert wins == [Window(30, at(30), at(90))]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 50), min_size=1, max_size=6),
    st.lists(st.integers(1, 99), min_size=1, max_size=6),
)
def test_window_counts_add_up_to_the_counters_growth(
    rates: list[float], weights: list[int]
) -> None:
    n = min(len(rates), len(weights))
    starts = [10.0 * i for i in range(n)]
    prom = FakeProm(values={"q": piecewise(*zip(starts, rates[:n], strict=True))})
    wins, _ = windows(
        segs(*zip(starts, weights[:n], strict=True)), 0, at(10 * n), None, timedelta(hours=1)
    )
    reader = CounterReader(prom)
    total = sum(reader.increase("q", w) for w in wins)
    assert math.isclose(total, sum(r * 10 for r in rates[:n]), rel_tol=1e-9, abs_tol=1e-9)


def test_a_counter_reset_counts_from_zero() -> None:
    values = {at(0): 500.0, at(10): 20.0}
    prom = FakeProm(values={"q": lambda t: values.get(t)})
    assert CounterReader(prom).increase("q", Window(10, at(0), at(10))) == 20.0


# --- sequential verdicts -------------------------------------------------------------


def test_a_2x_error_rate_is_a_regression_with_its_e_value_and_reason() -> None:
    inp = make_input(seq_analysis(latency=None), segments=segs((0, 10), (60, 50)))
    prom = traffic(inp, [(0, 10), (60, 50)], rps=100, canary_err=0.08, base_err=0.04)
    result = run_analysis(inp, prom, at(180))
    assert result.status == "fail" and result.judge == "sequential"
    m = next(m for m in result.metrics if m.name == ERRORS_NAME)
    assert m.status == "fail" and m.method == "sequential"
    assert m.statistic is not None and m.statistic >= 100 and m.threshold == 100
    assert m.value == pytest.approx(0.08) and m.baseline == pytest.approx(0.04)
    assert m.samples == pytest.approx(10 * 60 + 50 * 120)
    assert (
        "regression" in m.message and "e=" in m.message and "8.00% vs baseline 4.00%" in m.message
    )
    assert result.e_value == m.statistic
    assert ERRORS_NAME in result.message


def test_the_same_error_rate_passes_and_says_why() -> None:
    inp = make_input(seq_analysis(latency=None), segments=segs((0, 10), (60, 50)))
    prom = traffic(inp, [(0, 10), (60, 50)], rps=100, canary_err=0.04, base_err=0.04)
    result = run_analysis(inp, prom, at(180))
    assert result.status == "pass", result.message
    m = next(m for m in result.metrics if m.name == ERRORS_NAME)
    assert m.statistic is not None and m.statistic < 1.0
    assert "within the margin" in m.message
    assert result.message.startswith("sequential: evidence the canary is within 1.5x stable")


def test_no_errors_anywhere_with_enough_requests_passes() -> None:
    inp = make_input(seq_analysis(latency=None), segments=segs((0, 20)))
    prom = traffic(inp, [(0, 20)], rps=50, canary_err=0.0, base_err=0.0)
    m = next(m for m in run_analysis(inp, prom, at(60)).metrics if m.name == ERRORS_NAME)
    assert m.status == "inconclusive", "600 error-free requests do not show a rate < 0.1 %"
    m = next(m for m in run_analysis(inp, prom, at(900)).metrics if m.name == ERRORS_NAME)
    assert m.status == "pass" and "or 0.1%" in m.message, m.message


def test_too_few_canary_requests_is_inconclusive_never_a_pass() -> None:
    inp = make_input(seq_analysis(latency=None, min_requests=500), segments=segs((0, 10)))
    prom = traffic(inp, [(0, 10)], rps=10, canary_err=0.0, base_err=0.0)
    result = run_analysis(inp, prom, at(60))
    assert result.status == "inconclusive"
    assert "min_requests 500" in result.message


def test_no_data_at_all_is_inconclusive() -> None:
    inp = make_input(seq_analysis(), segments=segs((0, 10)))
    result = run_analysis(inp, FakeProm(), at(60))
    assert result.status == "inconclusive"
    assert {m.name for m in result.metrics} >= {ERRORS_NAME, LATENCY_NAME, "success-rate"}
    assert all(m.status == "inconclusive" for m in result.metrics)


def test_a_failing_guard_fails_even_without_a_regression() -> None:
    inp = make_input(seq_analysis(latency=None), segments=segs((0, 50)))
    prom = traffic(inp, [(0, 50)], rps=100, canary_err=0.2, base_err=0.2, guard=0.8)
    result = run_analysis(inp, prom, at(120))
    assert result.status == "fail"
    assert next(m for m in result.metrics if m.name == "success-rate").status == "fail"
    assert next(m for m in result.metrics if m.name == ERRORS_NAME).status == "pass"


def test_without_step_times_it_still_catches_a_regression_using_the_observed_share() -> None:
    inp = make_input(seq_analysis(latency=None), weight=50)
    prom = traffic(inp, [(0, 10), (60, 50)], rps=100, canary_err=0.08, base_err=0.04)
    result = run_analysis(inp, prom, at(240))
    m = next(m for m in result.metrics if m.name == ERRORS_NAME)
    assert m.status == "fail" and "no step times from the workflow" in m.message


def test_without_step_times_an_equal_canary_is_not_blamed() -> None:
    inp = make_input(seq_analysis(latency=None), weight=50)
    prom = traffic(inp, [(0, 10), (60, 50)], rps=100, canary_err=0.04, base_err=0.04)
    assert run_analysis(inp, prom, at(240)).status == "pass"


def test_step_weights_become_rho() -> None:
    """The same counts judged with the wrong weights would look different: rho matters."""
    spec = SequentialSpec(latency=None)
    inp = make_input(seq_analysis(latency=None))
    q = arm_queries(inp)
    prom = traffic(inp, [(0, 10)], rps=100, canary_err=0.04, base_err=0.04)
    cv = query_variables(inp)
    bv = baseline_variables(cv, "stable", "")
    right = run_sequential(prom, spec, cv, bv, [Window(10, at(0), at(100))], True)
    wrong = run_sequential(prom, spec, cv, bv, [Window(2, at(0), at(100))], True)
    assert right.combined is not None and wrong.combined is not None
    assert right.combined.e_value < 1 < 100 <= wrong.combined.e_value
    assert q["c_err"] in {m.query for m in right.metrics}


def test_a_dedicated_baseline_is_queried_by_its_own_version() -> None:
    inp = make_input(seq_analysis(latency=None, baseline="dedicated"), segments=segs((0, 10)))
    prom = FakeProm()
    run_analysis(inp, prom, at(60))
    assert any('server="v4-baseline"' in q for q, _ in prom.calls)


def hist(bounds_rate: dict[str, float]) -> Any:
    def f(t: datetime) -> dict[str, float]:
        s = (t - at(0)).total_seconds()
        return {le: max(s, 0.0) * r for le, r in bounds_rate.items()} if s >= 0 else {}

    return f


def test_a_slower_canary_histogram_is_a_latency_regression() -> None:
    inp = make_input(seq_analysis(errors=None), segments=segs((0, 50)))
    q = arm_queries(inp)
    base = dict(zip(BOUNDS, [20, 40, 48, 49.9, 50], strict=True))
    slow = dict(zip(BOUNDS, [5, 20, 35, 49.6, 50], strict=True))
    prom = traffic(inp, [(0, 50)], rps=100, canary_err=0, base_err=0)
    prom.vectors[q["c_hist"]] = hist(slow)
    prom.vectors[q["b_hist"]] = hist(base)
    result = run_analysis(inp, prom, at(60))
    m = next(m for m in result.metrics if m.name == LATENCY_NAME)
    assert result.status == "fail" and m.status == "fail"
    assert m.value is not None and m.baseline is not None and m.value > m.baseline
    assert "P(latency >" in m.message and "p99 canary" in m.message


def test_same_histograms_pass_and_combine_with_errors() -> None:
    inp = make_input(seq_analysis(), segments=segs((0, 50)))
    q = arm_queries(inp)
    base = dict(zip(BOUNDS, [20, 40, 48, 49.9, 50], strict=True))
    prom = traffic(inp, [(0, 50)], rps=100, canary_err=0.01, base_err=0.01)
    prom.vectors[q["c_hist"]] = hist(base)
    prom.vectors[q["b_hist"]] = hist(base)
    result = run_analysis(inp, prom, at(120))
    # 50 requests per arm show no regression, but no evidence of "not worse" either.
    assert result.status == "inconclusive", result.message
    assert result.e_value is not None and result.e_value < 1
    assert {m.name for m in result.metrics} == {ERRORS_NAME, LATENCY_NAME, "success-rate"}


def test_no_stable_version_is_inconclusive() -> None:
    inp = make_input(seq_analysis()).model_copy(update={"stable_version": None})
    assert run_analysis(inp, FakeProm(), at(60)).status == "inconclusive"


def test_threshold_judge_is_unchanged() -> None:
    inp = make_input({"metrics": [GUARD]})
    q = arm_queries(inp)
    prom = FakeProm(now_values={q["guard"]: 0.85, q["guard_n"]: 300})
    result = run_analysis(inp, prom, at(60))
    assert result.status == "fail" and result.judge == "threshold"
    assert result.metrics[0].message == "0.85 < min 0.9"


# --- kayenta -------------------------------------------------------------------------


def kayenta_input(**extra: Any) -> AnalysisInput:
    return make_input(
        {
            "judge": "kayenta",
            "metrics": [GUARD],
            "kayenta": {
                "metrics": [{"name": "errors", "template": "haproxy-error-rate"}],
                "step": "10s",
                "min_points": 5,
            }
            | extra,
        },
        segments=segs((0, 50)),
    )


def kayenta_queries(inp: AnalysisInput) -> tuple[str, str]:
    cv = query_variables(inp) | {"interval": "10s"}
    text = TEMPLATES["haproxy-error-rate"].query
    return render(text, cv), render(text, baseline_variables(cv, "stable", ""))


def test_kayenta_fails_a_clearly_worse_canary_with_its_score() -> None:
    inp = kayenta_input()
    c, b = kayenta_queries(inp)
    rng = np.random.default_rng(1)
    prom = traffic(inp, [(0, 50)], rps=100, canary_err=0, base_err=0)
    prom.ranges[c] = list(0.08 + rng.normal(0, 0.005, 20))
    prom.ranges[b] = list(0.04 + rng.normal(0, 0.005, 20))
    result = run_analysis(inp, prom, at(300))
    assert result.status == "fail" and result.judge == "kayenta" and result.score == 0
    errors = next(m for m in result.metrics if m.name == "errors")
    assert errors.status == "fail" and "High" in errors.message and "98% CI" in errors.message
    score = next(m for m in result.metrics if m.name == "kayenta-score")
    assert score.statistic == 0 and score.threshold == 75 and "Fail" in score.message


def test_kayenta_passes_an_equal_canary() -> None:
    inp = kayenta_input()
    c, b = kayenta_queries(inp)
    rng = np.random.default_rng(2)
    prom = traffic(inp, [(0, 50)], rps=100, canary_err=0, base_err=0)
    prom.ranges[c] = list(0.04 + rng.normal(0, 0.005, 20))
    prom.ranges[b] = list(0.04 + rng.normal(0, 0.005, 20))
    result = run_analysis(inp, prom, at(300))
    assert result.status == "pass", result.message
    assert result.score == 100


def test_kayenta_waits_for_its_samples() -> None:
    inp = kayenta_input()
    c, b = kayenta_queries(inp)
    prom = traffic(inp, [(0, 50)], rps=100, canary_err=0, base_err=0)
    prom.ranges[c], prom.ranges[b] = [0.1, 0.1], [0.0, 0.0]
    result = run_analysis(inp, prom, at(30))
    assert result.status == "inconclusive"
    assert "fewer than 5 samples per side" in result.message
