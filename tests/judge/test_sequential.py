"""Sequential (anytime-valid) rate and histogram tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.stats import lognorm

from rollway.judge import (
    Decision,
    HistogramSegment,
    RateSegment,
    combine_evalues,
    sequential_histogram_test,
    sequential_rate_test,
)
from rollway.judge.sequential import (
    histogram_log_evalues,
    null_share,
    rate_log_evalue,
)

UNIFORM = math.sqrt(2.0)  # prior_scale giving Beta(1, 1) when p0 = 1/2


def test_closed_form_uniform_prior() -> None:
    # rho = 1/2, uniform prior: E = k! m! / (n + 1)! / 2^-n.
    # 10 canary events, 0 baseline: 2^10 / 11 = 93.0909...
    assert math.exp(rate_log_evalue(10, 0, 0.5, prior_scale=UNIFORM)) == pytest.approx(1024 / 11)
    # 8 vs 2: 8! 2! / 11! = 1/495 -> 1024 / 495.
    assert math.exp(rate_log_evalue(8, 2, 0.5, prior_scale=UNIFORM)) == pytest.approx(1024 / 495)


@pytest.mark.parametrize(
    ("k", "m", "rho", "ratio"),
    [(7, 30, 0.1, 1.0), (20, 15, 0.25, 1.2), (3, 3, 0.5, 1.0), (40, 200, 0.05, 1.5)],
)
def test_matches_numerical_integration(k: int, m: int, rho: float, ratio: float) -> None:
    """Independent check of the closed form: integrate the Beta mixture numerically."""
    p0 = float(null_share(rho, ratio))
    c = 1.0 / (p0 * (1 - p0))
    a, b = c * p0, c * (1 - p0)
    opts = {"epsabs": 0.0, "epsrel": 1e-11, "limit": 500}
    norm = quad(lambda p: p ** (a - 1) * (1 - p) ** (b - 1), 0, 1, **opts)[0]
    num = quad(
        lambda p: p ** (a - 1 + k) * (1 - p) ** (b - 1 + m), 0, 1, points=[k / (k + m)], **opts
    )[0]
    p_star = min(k / (k + m), p0)
    expected = num / norm / (p_star**k * (1 - p_star) ** m)
    got = math.exp(rate_log_evalue(k, m, rho, min_ratio=ratio))
    assert got == pytest.approx(expected, rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(0, 500),
    m=st.integers(0, 500),
    rho=st.floats(0.01, 0.9),
    ratio=st.floats(1.0, 3.0),
    scale=st.floats(0.2, 3.0),
)
def test_one_sided(k: int, m: int, rho: float, ratio: float, scale: float) -> None:
    """A canary share at or below the null share can never be evidence of regression."""
    p0 = float(null_share(rho, ratio))
    log_e = float(rate_log_evalue(k, m, rho, min_ratio=ratio, prior_scale=scale))
    if k + m == 0 or k / (k + m) <= p0:
        assert log_e <= 1e-9
    # Larger minimum effect -> never more evidence.
    assert float(rate_log_evalue(k, m, rho, min_ratio=ratio * 1.2, prior_scale=scale)) <= (
        log_e + 1e-9
    )


def _aa_rejections(
    rng: np.random.Generator,
    trials: int,
    steps: int,
    rhos: list[float],
    rate: float,
    alpha: float,
    ratio_true: float = 1.0,
    min_ratio: float = 1.0,
) -> np.ndarray:
    """Monitor after every batch; return, per trial, whether E ever reached 1/alpha."""
    seg_len = steps // len(rhos)
    total = np.zeros(trials)
    ever = np.zeros(trials, dtype=bool)
    for rho in rhos:
        k = np.cumsum(rng.poisson(rho * ratio_true * rate, (trials, seg_len)), axis=1)
        m = np.cumsum(rng.poisson((1 - rho) * rate, (trials, seg_len)), axis=1)
        log_e = total[:, None] + rate_log_evalue(
            k.astype(float), m.astype(float), rho, min_ratio=min_ratio
        )
        ever |= (log_e >= -math.log(alpha)).any(axis=1)
        total = log_e[:, -1]
    return ever


def _upper(alpha: float, trials: int) -> float:
    return alpha * trials + 3.5 * math.sqrt(trials * alpha * (1 - alpha)) + 1


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rate=st.floats(0.05, 20.0),
    rhos=st.lists(st.sampled_from([0.05, 0.1, 0.25, 0.5]), min_size=1, max_size=3),
)
def test_aa_false_rejection_with_continuous_monitoring(
    seed: int, rate: float, rhos: list[float]
) -> None:
    alpha, trials = 0.05, 400
    ever = _aa_rejections(np.random.default_rng(seed), trials, 240, rhos, rate, alpha)
    assert ever.sum() <= _upper(alpha, trials)


def test_aa_false_rejection_at_one_percent() -> None:
    alpha, trials = 0.01, 3000
    ever = _aa_rejections(np.random.default_rng(7), trials, 600, [0.05, 0.25, 0.5], 3.0, alpha)
    assert ever.sum() <= _upper(alpha, trials)


def test_boundary_of_minimum_effect_is_not_rejected() -> None:
    # True ratio exactly at min_ratio (1.3) is still H0: rejection <= alpha.
    alpha, trials = 0.05, 1000
    ever = _aa_rejections(
        np.random.default_rng(11), trials, 300, [0.25], 5.0, alpha, ratio_true=1.3, min_ratio=1.3
    )
    assert ever.sum() <= _upper(alpha, trials)


def test_detects_two_fold_error_rate() -> None:
    alpha, trials = 0.01, 300
    ever = _aa_rejections(
        np.random.default_rng(5),
        trials,
        300,
        [0.05, 0.25, 0.5],
        2.0,
        alpha,
        ratio_true=2.0,
        min_ratio=1.1,
    )
    assert ever.mean() >= 0.95


def test_public_api_segments_and_explanation() -> None:
    # Canary errors at 2 % vs baseline ~0.95 % during a 5 % step, then a 25 % step.
    r = sequential_rate_test(
        [RateSegment(0.05, 20, 180, 1000, 19000), RateSegment(0.25, 120, 170, 6000, 18000)],
        alpha=0.01,
    )
    assert r.decision == Decision.REGRESSION
    assert r.e_value >= 100
    assert 2.0 < r.estimate < 3.5
    assert "canary error rate" in r.explanation and ">= 1/alpha=100" in r.explanation
    # Product of segments: log E is the sum of per-segment log E.
    parts = [
        sequential_rate_test([s], min_ratio=1.1).log_e_value
        for s in (RateSegment(0.05, 20, 180), RateSegment(0.25, 120, 170))
    ]
    assert r.log_e_value == pytest.approx(sum(parts))


def test_inconclusive_and_continue() -> None:
    assert sequential_rate_test([RateSegment(0.1, 0, 2)]).decision == Decision.INCONCLUSIVE
    r = sequential_rate_test([RateSegment(0.1, 10, 90)])
    assert r.decision == Decision.CONTINUE and r.e_value < 1


def test_absolute_margin_suppresses_tiny_differences() -> None:
    # 0.30% vs 0.20% errors over many requests: ratio 1.5 is "significant" but below a
    # +0.5 percentage-point margin.
    seg = RateSegment(0.5, 600, 400, 200_000, 200_000)
    assert sequential_rate_test([seg]).decision == Decision.REGRESSION
    assert sequential_rate_test([seg], min_abs_increase=0.005).decision == Decision.CONTINUE
    with pytest.raises(ValueError):
        sequential_rate_test([RateSegment(0.5, 6, 4)], min_abs_increase=0.005)


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError):
        sequential_rate_test([RateSegment(1.0, 1, 1)])
    with pytest.raises(ValueError):
        sequential_rate_test([RateSegment(0.5, 1, 1)], alpha=0)
    with pytest.raises(ValueError):
        sequential_rate_test([RateSegment(0.5, 1, 1)], min_ratio=0.9)
    with pytest.raises(ValueError):
        sequential_rate_test([])


BOUNDS = [0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, math.inf]
FINITE = np.array(BOUNDS[:-1])


def _bucket_probs(median: float, sigma: float) -> np.ndarray:
    cdf = lognorm.cdf(FINITE, sigma, scale=median)
    return np.diff(np.r_[0.0, cdf, 1.0])


def _stream_exceed(
    rng: np.random.Generator, trials: int, steps: int, n_per_step: float, probs: np.ndarray
) -> np.ndarray:
    counts = rng.multinomial(rng.poisson(n_per_step, (trials, steps)), probs)
    cum = np.cumsum(np.cumsum(counts, axis=1), axis=2)  # over time, then over buckets
    return cum[..., -1:] - cum[..., :-1]  # exceedances of each finite bound


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    rho=st.sampled_from([0.05, 0.25, 0.5]),
    rate=st.floats(2.0, 50.0),
)
def test_histogram_aa_false_rejection(seed: int, rho: float, rate: float) -> None:
    alpha, trials = 0.05, 300
    rng = np.random.default_rng(seed)
    probs = _bucket_probs(0.1, 0.6)
    ce = _stream_exceed(rng, trials, 120, rho * rate, probs)
    be = _stream_exceed(rng, trials, 120, (1 - rho) * rate, probs)
    log_e = histogram_log_evalues(ce, be, rho, min_ratio=1.0)
    assert (log_e >= -math.log(alpha)).any(axis=1).sum() <= _upper(alpha, trials)


def test_histogram_detects_slow_tail_and_ignores_fast_canary() -> None:
    rng = np.random.default_rng(3)
    trials, rho, rate = 200, 0.25, 60.0
    base = _stream_exceed(rng, trials, 120, (1 - rho) * rate, _bucket_probs(0.1, 0.6))
    # p99 +50 % with the same median (wider tail).
    slow = _stream_exceed(
        rng, trials, 120, rho * rate, _bucket_probs(0.1, 0.6 + math.log(1.5) / 2.326)
    )
    fast = _stream_exceed(rng, trials, 120, rho * rate, _bucket_probs(0.07, 0.6))
    hit = (histogram_log_evalues(slow, base, rho) >= math.log(100)).any(axis=1)
    fp = (histogram_log_evalues(fast, base, rho) >= math.log(100)).any(axis=1)
    assert hit.mean() >= 0.9
    assert fp.sum() == 0


def test_histogram_public_api() -> None:
    probs_b, probs_c = _bucket_probs(0.1, 0.6), _bucket_probs(0.13, 0.6)
    rng = np.random.default_rng(9)
    seg = HistogramSegment(
        0.2,
        np.cumsum(rng.multinomial(3000, probs_c)).tolist(),
        np.cumsum(rng.multinomial(12000, probs_b)).tolist(),
    )
    r = sequential_histogram_test(BOUNDS, [seg])
    assert r.decision == Decision.REGRESSION and r.estimate > 1.2
    assert "P(latency >" in r.explanation and "p99" in r.explanation
    # Per-bucket (non-cumulative) input gives the same answer.
    flat = HistogramSegment(
        0.2,
        np.diff(np.r_[0, seg.canary_counts]).tolist(),
        np.diff(np.r_[0, seg.baseline_counts]).tolist(),
    )
    r2 = sequential_histogram_test(BOUNDS, [flat], cumulative=False)
    assert r2.log_e_value == pytest.approx(r.log_e_value)
    # Same distribution, canary at its 20 % share of the traffic.
    same = HistogramSegment(0.2, [c / 4 for c in seg.baseline_counts], seg.baseline_counts)
    assert sequential_histogram_test(BOUNDS, [same]).decision == Decision.CONTINUE
    with pytest.raises(ValueError):
        sequential_histogram_test([0.1, 0.2], [HistogramSegment(0.2, [1, 2], [1, 2])])


def test_combine_evalues_is_mean() -> None:
    a = sequential_rate_test([RateSegment(0.5, 30, 10)])
    b = sequential_rate_test([RateSegment(0.5, 10, 10)])
    c = combine_evalues([a, b])
    assert c.e_value == pytest.approx((a.e_value + b.e_value) / 2)
    assert c.decision == (Decision.REGRESSION if c.e_value >= 100 else Decision.CONTINUE)
