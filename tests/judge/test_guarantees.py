"""The judge's guarantee both ways, by seeded simulation of whole canaries.

* A/A (canary = stable): P(ever rolling back) <= alpha, checked after every scrape.
* A canary at the tolerated margin (1.5x): P(ever passing) <= beta (5 %).
* And it does pass a good canary once the evidence is in (it is not a judge that never
  passes).

Each run simulates every trial's scrapes (5 s apart, steps 5/25/50 %) with numpy and
evaluates the same vectorised e-values `sequential_rate_test` / `sequential_histogram_test`
use; `test_vectorised_paths_agree_with_the_tests` checks they decide alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pytest

from rollway.judge import Decision, HistogramSegment, RateSegment
from rollway.judge.sequential import (
    exceedances,
    floor_pass_log_evalue,
    histogram_log_evalues,
    log_mean_exp,
    rate_log_evalue,
    rate_pass_log_evalue,
    sequential_histogram_test,
    sequential_rate_test,
)

Arr = npt.NDArray[np.float64]
ALPHA, BETA, MIN_RATIO, MARGIN = 0.01, 0.05, 1.1, 1.5
ERROR_FLOOR, LATENCY_FLOOR = 0.001, 0.05
STEPS = (5, 25, 50)
STEP_S, SCRAPE_S = 600, 5
TRIALS = 1500
BOUNDS = [0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, math.inf]


def upper_limit(p: float, n: int = TRIALS) -> float:
    """What an observed rate may reach by chance when the true rate is p (3 SE)."""
    return p + 3 * math.sqrt(p * (1 - p) / n)


@dataclass
class Outcome:
    failed: Arr  # bool per trial: ever rolled back
    passed: Arr  # bool per trial: ever passed


def simulate_errors(rps: float, q: float, ratio: float, seed: int) -> Outcome:
    rng = np.random.default_rng(seed)
    failed = np.zeros(TRIALS, bool)
    passed = np.zeros(TRIALS, bool)
    fail_before = np.zeros(TRIALS)
    pass_before = np.zeros(TRIALS)
    own_k = np.zeros(TRIALS)
    own_n = np.zeros(TRIALS)
    for w in STEPS:
        rho = w / 100
        k = np.zeros(TRIALS)
        m = np.zeros(TRIALS)
        for _ in range(STEP_S // SCRAPE_S):
            nc = rng.poisson(rps * SCRAPE_S * rho, TRIALS)
            nb = rng.poisson(rps * SCRAPE_S * (1 - rho), TRIALS)
            kc = rng.binomial(nc, q * ratio)
            k += kc
            m += rng.binomial(nb, q)
            own_k += kc
            own_n += nc
            fail = fail_before + rate_log_evalue(k, m, rho, min_ratio=MIN_RATIO)
            ratio_pass = pass_before + rate_pass_log_evalue(k, m, rho, margin=MARGIN)
            own = floor_pass_log_evalue(own_k, own_n, ERROR_FLOOR)
            failed |= fail >= -math.log(ALPHA)
            passed |= (log_mean_exp(ratio_pass, own) >= -math.log(BETA)) & ~failed
        fail_before += rate_log_evalue(k, m, rho, min_ratio=MIN_RATIO)
        pass_before += rate_pass_log_evalue(k, m, rho, margin=MARGIN)
    return Outcome(failed, passed)


def lognormal_buckets(median: float, sigma: float) -> Arr:
    """P(latency <= bound) for every bound (cumulative, last = 1)."""
    from scipy.stats import lognorm

    cdf: Arr = lognorm.cdf(np.asarray(BOUNDS), s=sigma, scale=median)
    return cdf


def exceed(per_bucket: Arr) -> Arr:
    """Requests slower than each finite bound, per trial (rows)."""
    out: Arr = per_bucket.sum(1, keepdims=True) - np.cumsum(per_bucket, 1)[:, :-1]
    return out


def simulate_latency(rps: float, canary_cdf: Arr, base_cdf: Arr, seed: int) -> Outcome:
    rng = np.random.default_rng(seed)
    pc = np.diff(np.concatenate([[0.0], canary_cdf]))
    pb = np.diff(np.concatenate([[0.0], base_cdf]))
    nf = len(BOUNDS) - 1
    failed = np.zeros(TRIALS, bool)
    passed = np.zeros(TRIALS, bool)
    fail_before = np.zeros(TRIALS)
    pass_before = np.zeros((TRIALS, nf))
    own_exceed = np.zeros((TRIALS, nf))
    own_total = np.zeros(TRIALS)
    for w in STEPS:
        rho = w / 100
        c = np.zeros((TRIALS, len(BOUNDS)))
        b = np.zeros((TRIALS, len(BOUNDS)))
        for _ in range(STEP_S // SCRAPE_S):
            cc = rng.multinomial(rng.poisson(rps * SCRAPE_S * rho, TRIALS), pc)
            c += cc
            b += rng.multinomial(rng.poisson(rps * SCRAPE_S * (1 - rho), TRIALS), pb)
            own_exceed += exceed(cc.astype(np.float64))
            own_total += cc.sum(1)
            ce, be = exceed(c), exceed(b)
            fail = fail_before + histogram_log_evalues(ce, be, rho, min_ratio=MIN_RATIO)
            ratio_pass = pass_before + rate_pass_log_evalue(ce, be, rho, margin=MARGIN)
            own = floor_pass_log_evalue(own_exceed, own_total[:, None], LATENCY_FLOOR)
            per_bound = log_mean_exp(ratio_pass, own)
            failed |= fail >= -math.log(ALPHA)
            passed |= (per_bound.min(1) >= -math.log(BETA)) & ~failed
        ce, be = exceed(c), exceed(b)
        fail_before += histogram_log_evalues(ce, be, rho, min_ratio=MIN_RATIO)
        pass_before += rate_pass_log_evalue(ce, be, rho, margin=MARGIN)
    return Outcome(failed, passed)


BASE = lognormal_buckets(0.1, 0.5)


def at_margin_at_one_bound() -> Arr:
    """A canary whose share slower than one bound (~p94) is 1.5x stable's, same elsewhere."""
    survival = 1 - BASE
    j = int(np.argmin(np.abs(survival - 0.06)))
    cdf = BASE.copy()
    cdf[j] = 1 - MARGIN * survival[j]
    assert cdf[j - 1] <= cdf[j] <= cdf[j + 1], "still a distribution"
    return cdf


@pytest.mark.parametrize("rps", [50, 500])
def test_errors_a_over_a_rolls_back_at_most_alpha(rps: int) -> None:
    out = simulate_errors(rps, q=0.005, ratio=1.0, seed=rps)
    assert out.failed.mean() <= upper_limit(ALPHA)


@pytest.mark.parametrize(("rps", "q"), [(50, 0.02), (500, 0.005)])
def test_errors_at_the_margin_are_passed_at_most_beta(rps: int, q: float) -> None:
    out = simulate_errors(rps, q=q, ratio=MARGIN, seed=7 + rps)
    assert out.passed.mean() <= upper_limit(BETA)


def test_errors_a_good_canary_does_pass_once_the_evidence_is_in() -> None:
    out = simulate_errors(500, q=0.005, ratio=1.0, seed=11)
    assert out.passed.mean() >= 0.9


def test_latency_a_over_a_rolls_back_at_most_alpha_and_passes() -> None:
    out = simulate_latency(50, BASE, BASE, seed=3)
    assert out.failed.mean() <= upper_limit(ALPHA)
    assert out.passed.mean() >= 0.9


def test_latency_a_tail_at_the_margin_is_passed_at_most_beta() -> None:
    out = simulate_latency(500, at_margin_at_one_bound(), BASE, seed=5)
    assert out.passed.mean() <= upper_limit(BETA)


def test_vectorised_paths_agree_with_the_tests() -> None:
    rng = np.random.default_rng(1)
    for _ in range(30):
        segs = []
        for w in STEPS:
            k, m = rng.poisson([w * 2, (100 - w) * 2]).tolist()
            segs.append(RateSegment(w / 100, k, m, 1e5, 1e5))
        r = sequential_rate_test(
            segs, alpha=ALPHA, min_ratio=MIN_RATIO, margin=MARGIN, beta=BETA, floor=ERROR_FLOOR
        )
        fail = sum(
            float(rate_log_evalue(s.canary_events, s.baseline_events, s.rho, min_ratio=MIN_RATIO))
            for s in segs
        )
        ratio_pass = sum(
            float(rate_pass_log_evalue(s.canary_events, s.baseline_events, s.rho, margin=MARGIN))
            for s in segs
        )
        own = float(floor_pass_log_evalue(sum(s.canary_events for s in segs), 3e5, ERROR_FLOOR))
        assert r.log_e_value == pytest.approx(fail)
        assert r.pass_log_e == pytest.approx(float(log_mean_exp(ratio_pass, own)))

        hs = []
        for w in STEPS:
            c = np.cumsum(rng.multinomial(200 * w, np.diff(np.concatenate([[0.0], BASE]))))
            b = np.cumsum(rng.multinomial(200 * (100 - w), np.diff(np.concatenate([[0.0], BASE]))))
            hs.append(HistogramSegment(w / 100, c.tolist(), b.tolist()))
        h = sequential_histogram_test(
            BOUNDS, hs, alpha=ALPHA, min_ratio=MIN_RATIO, margin=MARGIN, beta=BETA
        )
        ce = sum(exceedances(s.canary_counts, BOUNDS)[0] for s in hs)
        total = sum(exceedances(s.canary_counts, BOUNDS)[1] for s in hs)
        ratio_b = sum(
            rate_pass_log_evalue(
                exceedances(s.canary_counts, BOUNDS)[0],
                exceedances(s.baseline_counts, BOUNDS)[0],
                s.rho,
                margin=MARGIN,
            )
            for s in hs
        )
        per_bound = log_mean_exp(ratio_b, floor_pass_log_evalue(ce, total, LATENCY_FLOOR))
        assert h.pass_log_e == pytest.approx(float(per_bound.min()))
        expect = Decision.NOT_WORSE if per_bound.min() >= -math.log(BETA) else None
        if expect is not None and h.decision != Decision.REGRESSION:
            assert h.decision == expect
