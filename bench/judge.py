"""Canary-judge benchmark: the same simulated request streams judged by four methods.

Run: ``uv run python bench/judge.py [--trials N] [--seed S]`` (progress on stderr,
Markdown table on stdout).

Stream model: requests arrive as a Poisson process at ``R`` req/s and are routed to the
canary independently with the current canary weight (5 % for 10 min, 25 % for 10 min,
50 % for 10 min); each request fails (5xx) with probability ``q`` and has a log-normal
latency recorded in a Prometheus-style histogram. Everything is sampled per 5 s scrape.

Methods (all see exactly the same streams):

* **flagger**: every 60 s, canary success rate over the last 1 min must be >= 99 % and
  canary p99 (histogram_quantile over 1 min) <= 400 ms; roll back after 5 consecutive
  failed checks. **flagger (5 in total)**: the same checks, rolling back once 5 checks
  have failed in total, which is how Flagger documents ``threshold``.
* **argo**: every 60 s, the same conditions over a 5 min window; each metric fails the
  analysis when its failed measurements exceed ``failureLimit`` = 3.
* **kayenta**: fixed horizon (30 min), then one judgement on per-minute samples
  (canary vs baseline error rate and p99) with the Mann-Whitney classifier
  (98 % CI, direction increase), equal group weights, roll back if score < 75.
* **sequential** (ours): after every 5 s scrape, the mean of the error-rate e-value and
  the latency-histogram e-value (one segment per traffic step); roll back when it
  reaches 1/alpha = 100. Run with ``min_ratio`` 1.0 (any increase is H1, like Kayenta)
  and with the library default 1.1 (increases under 10 % are part of H0).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import lognorm

from rollway.judge.kayenta import Direction, MetricConfig, kayenta_judge
from rollway.judge.sequential import rate_log_evalue

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DT = 5.0  # seconds per scrape
STEP_MINUTES = (10, 10, 10)
WEIGHTS = (0.05, 0.25, 0.50)
BOUNDS = np.array([0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5])
MEDIAN, SIGMA = 0.1, 0.5  # baseline latency: log-normal, p99 ~ 320 ms
BASE_ERR = 0.005
ALPHA = 0.01
MIN_RATIO = 1.1
P99_MAX = 0.4  # flagger / argo latency threshold (s): baseline p99 + 25 %
Z99 = 2.3263478740408408


@dataclass(frozen=True)
class Scenario:
    """One simulated canary."""

    name: str
    rate: float = 50.0
    err_ratio: float = 1.0
    p99_factor: float = 1.0
    burst_canary: bool = False
    burst_both: bool = False
    onset_s: float = 0.0
    null: bool = False

    def canary_sigma(self) -> float:
        """Widen the tail so p99 moves by ``p99_factor`` while the median stays put."""
        return SIGMA + math.log(self.p99_factor) / Z99


SCENARIOS = (
    Scenario("A/A", null=True),
    Scenario("errors x2", err_ratio=2.0),
    Scenario("errors x1.3", err_ratio=1.3),
    Scenario("p99 +20%", p99_factor=1.2),
    Scenario("p99 +50%", p99_factor=1.5),
    Scenario("30 s 5xx burst, canary only", burst_canary=True, onset_s=300.0),
    Scenario("30 s 5xx burst, both arms", burst_both=True, onset_s=300.0, null=True),
    Scenario("low traffic 1 req/s, A/A", rate=1.0, null=True),
    Scenario("low traffic 1 req/s, errors x2", rate=1.0, err_ratio=2.0),
    Scenario("high traffic 500 req/s, A/A", rate=500.0, null=True),
    Scenario("high traffic 500 req/s, errors x2", rate=500.0, err_ratio=2.0),
    Scenario("high traffic 500 req/s, p99 +20%", rate=500.0, p99_factor=1.2),
)
METHODS = (
    "flagger",
    "flagger (5 in total)",
    "argo",
    "kayenta",
    "sequential",
    "sequential, min ratio 1.1",
)


@dataclass
class Streams:
    """Per-scrape counts, shape (trials, steps[, buckets])."""

    n_c: IntArray
    n_b: IntArray
    e_c: IntArray
    e_b: IntArray
    h_c: IntArray  # per-bucket counts, len(BOUNDS) + 1 buckets
    h_b: IntArray
    weight: FloatArray  # per step
    segment: IntArray  # per step


def bucket_probs(sigma: float) -> FloatArray:
    """Probability of each histogram bucket (last one is +Inf) for the log-normal."""
    cdf = lognorm.cdf(BOUNDS, sigma, scale=MEDIAN)
    probs: FloatArray = np.diff(np.r_[0.0, cdf, 1.0])
    return probs


def simulate(sc: Scenario, trials: int, rng: np.random.Generator) -> Streams:
    """Sample one set of streams for a scenario."""
    steps_per = [int(m * 60 / DT) for m in STEP_MINUTES]
    weight = np.concatenate([np.full(n, w) for n, w in zip(steps_per, WEIGHTS, strict=True)])
    segment = np.concatenate([np.full(n, i) for i, n in enumerate(steps_per)]).astype(np.int64)
    lam = sc.rate * DT
    n_c = rng.poisson(lam * weight, (trials, weight.size))
    n_b = rng.poisson(lam * (1.0 - weight), (trials, weight.size))
    q_c = np.full(weight.size, BASE_ERR * sc.err_ratio)
    q_b = np.full(weight.size, BASE_ERR)
    burst = slice(int(sc.onset_s / DT), int((sc.onset_s + 30.0) / DT))
    if sc.burst_canary or sc.burst_both:
        q_c[burst] = 0.5
    if sc.burst_both:
        q_b[burst] = 0.5
    e_c = rng.binomial(n_c, q_c)
    e_b = rng.binomial(n_b, q_b)
    h_c = rng.multinomial(n_c, bucket_probs(sc.canary_sigma()))
    h_b = rng.multinomial(n_b, bucket_probs(SIGMA))
    return Streams(n_c, n_b, e_c, e_b, h_c, h_b, weight, segment)


def window_sum(x: npt.NDArray[np.int64], end: int, width: int) -> npt.NDArray[np.int64]:
    """Sum over scrapes ``[end - width, end)`` along axis 1."""
    out: npt.NDArray[np.int64] = x[:, max(end - width, 0) : end].sum(axis=1)
    return out


def p99_from_buckets(counts: npt.NDArray[np.int64]) -> FloatArray:
    """Vectorised Prometheus histogram_quantile(0.99) over the last axis (NaN if empty)."""
    cum = np.cumsum(counts, axis=-1).astype(np.float64)
    total = cum[..., -1]
    rank = 0.99 * total
    idx = np.argmax(cum >= rank[..., None], axis=-1)
    upper = np.r_[BOUNDS, BOUNDS[-1]]  # +Inf bucket reports the last finite bound
    lower = np.r_[0.0, BOUNDS]
    lo_c = np.where(
        idx > 0, np.take_along_axis(cum, np.maximum(idx - 1, 0)[..., None], axis=-1)[..., 0], 0.0
    )
    hi_c = np.take_along_axis(cum, idx[..., None], axis=-1)[..., 0]
    width = np.maximum(hi_c - lo_c, 1e-12)
    frac = np.clip((rank - lo_c) / width, 0.0, 1.0)
    q: FloatArray = lower[idx] + (upper[idx] - lower[idx]) * frac
    q = np.where(idx == len(BOUNDS), BOUNDS[-1], q)
    return np.where(total > 0, q, np.nan)


def threshold_checks(s: Streams, window_steps: int) -> tuple[FloatArray, FloatArray, IntArray]:
    """Per-minute check results: (errors_failed, latency_failed, check_step) for the canary."""
    ends = np.arange(int(60 / DT), s.n_c.shape[1] + 1, int(60 / DT))
    err_fail = np.zeros((s.n_c.shape[0], ends.size))
    lat_fail = np.zeros_like(err_fail)
    for i, end in enumerate(ends):
        req = window_sum(s.n_c, end, window_steps)
        err = window_sum(s.e_c, end, window_steps)
        success = np.where(req > 0, 1.0 - err / np.maximum(req, 1), 1.0)
        err_fail[:, i] = success < 0.99
        p99 = p99_from_buckets(window_sum(s.h_c, end, window_steps))
        lat_fail[:, i] = np.nan_to_num(p99, nan=0.0) > P99_MAX
    return err_fail, lat_fail, ends


def first_time(hit: npt.NDArray[np.bool_], times: FloatArray) -> FloatArray:
    """Time of the first True along axis 1 (NaN if none)."""
    any_hit = hit.any(axis=1)
    first = np.argmax(hit, axis=1)
    return np.where(any_hit, times[first], np.nan)


def run_flagger(s: Streams) -> FloatArray:
    """Flagger-style: 1 min checks, rollback after 5 consecutive failures."""
    err_fail, lat_fail, ends = threshold_checks(s, int(60 / DT))
    failed = (err_fail + lat_fail) > 0
    consec = np.zeros(failed.shape[0])
    hit = np.zeros_like(failed)
    for i in range(failed.shape[1]):
        consec = np.where(failed[:, i], consec + 1, 0)
        hit[:, i] = consec >= 5
    return first_time(hit, np.asarray(ends * DT, dtype=np.float64))


def run_flagger_count(s: Streams) -> FloatArray:
    """Flagger as documented: rollback once 5 checks have failed in total."""
    err_fail, lat_fail, ends = threshold_checks(s, int(60 / DT))
    hit = np.cumsum((err_fail + lat_fail) > 0, axis=1) >= 5
    return first_time(hit, np.asarray(ends * DT, dtype=np.float64))


def run_argo(s: Streams) -> FloatArray:
    """Argo-style: 1 min interval, 5 min query window, failureLimit 3 per metric."""
    err_fail, lat_fail, ends = threshold_checks(s, int(300 / DT))
    hit = (np.cumsum(err_fail, axis=1) > 3) | (np.cumsum(lat_fail, axis=1) > 3)
    return first_time(hit, np.asarray(ends * DT, dtype=np.float64))


def run_kayenta(s: Streams) -> FloatArray:
    """Kayenta-style: one judgement at the end on per-minute samples."""
    per_min = int(60 / DT)
    trials, steps = s.n_c.shape
    mins = steps // per_min

    def minutes(x: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        shaped = x[:, : mins * per_min].reshape(trials, mins, per_min, *x.shape[2:])
        out: npt.NDArray[np.int64] = shaped.sum(axis=2)
        return out

    nc, nb, ec, eb = minutes(s.n_c), minutes(s.n_b), minutes(s.e_c), minutes(s.e_b)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate_c, rate_b = ec / nc, eb / nb  # NaN when no requests: removed by the judge
    p99_c, p99_b = p99_from_buckets(minutes(s.h_c)), p99_from_buckets(minutes(s.h_b))
    err_cfg = MetricConfig("error_rate", groups=("errors",), direction=Direction.INCREASE)
    lat_cfg = MetricConfig("p99", groups=("latency",), direction=Direction.INCREASE)
    horizon = steps * DT
    out = np.full(trials, np.nan)
    for t in range(trials):
        res = kayenta_judge([(err_cfg, rate_b[t], rate_c[t]), (lat_cfg, p99_b[t], p99_c[t])])
        if res.score < 75.0:
            out[t] = horizon
    return out


def sequential_log_e(s: Streams, min_ratio: float) -> tuple[FloatArray, FloatArray]:
    """Running log e-values (errors, latency), shape (trials, steps)."""
    trials, steps = s.n_c.shape
    le_err = np.zeros((trials, steps))
    le_lat = np.zeros((trials, steps))
    off_err = np.zeros(trials)
    off_lat = np.zeros(trials)
    for g in np.unique(s.segment):
        idx = np.flatnonzero(s.segment == g)
        rho = float(s.weight[idx[0]])
        k = np.cumsum(s.e_c[:, idx], axis=1).astype(np.float64)
        m = np.cumsum(s.e_b[:, idx], axis=1).astype(np.float64)
        seg_err = rate_log_evalue(k, m, rho, min_ratio=min_ratio)
        le_err[:, idx] = off_err[:, None] + seg_err
        off_err += seg_err[:, -1]
        # exceedances of each finite bound, cumulative within the segment
        hc = np.cumsum(s.h_c[:, idx], axis=1)
        hb = np.cumsum(s.h_b[:, idx], axis=1)
        ce = np.cumsum(hc[..., ::-1], axis=-1)[..., ::-1][..., 1:]
        be = np.cumsum(hb[..., ::-1], axis=-1)[..., ::-1][..., 1:]
        per_bound = rate_log_evalue(
            ce.astype(np.float64), be.astype(np.float64), rho, min_ratio=min_ratio
        )
        seg_lat = np.logaddexp.reduce(per_bound, axis=-1) - math.log(per_bound.shape[-1])
        le_lat[:, idx] = off_lat[:, None] + seg_lat
        off_lat += seg_lat[:, -1]
    return le_err, le_lat


def run_sequential(s: Streams, min_ratio: float) -> FloatArray:
    """Ours: mean of the two e-values checked after every scrape."""
    le_err, le_lat = sequential_log_e(s, min_ratio)
    combined = np.logaddexp(le_err, le_lat) - math.log(2.0)
    times = np.asarray((np.arange(s.n_c.shape[1]) + 1) * DT, dtype=np.float64)
    return first_time(combined >= -math.log(ALPHA), times)


RUNNERS: dict[str, Callable[[Streams], FloatArray]] = {
    "flagger": run_flagger,
    "flagger (5 in total)": run_flagger_count,
    "argo": run_argo,
    "kayenta": run_kayenta,
    "sequential": lambda s: run_sequential(s, 1.0),
    "sequential, min ratio 1.1": lambda s: run_sequential(s, MIN_RATIO),
}


def fmt_time(x: float) -> str:
    """Seconds as a short string."""
    if math.isnan(x):
        return "-"
    return f"{x:.0f} s" if x < 120 else f"{x / 60:.1f} min"


def summarise(ttd: FloatArray, onset: float) -> tuple[float, float, float, float]:
    """(P(rollback), its binomial standard error, median, p90 time-to-detect after onset)."""
    hit = ~np.isnan(ttd)
    p = float(hit.mean())
    se = math.sqrt(p * (1 - p) / ttd.size)
    if not hit.any():
        return p, se, math.nan, math.nan
    after = ttd[hit] - onset
    return p, se, float(np.median(after)), float(np.percentile(after, 90))


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    rows: list[tuple[Scenario, str, tuple[float, float, float, float]]] = []
    started = time.monotonic()
    for sc in SCENARIOS:
        streams = simulate(sc, args.trials, rng)
        for method in METHODS:
            t0 = time.monotonic()
            stats = summarise(RUNNERS[method](streams), sc.onset_s)
            rows.append((sc, method, stats))
            print(
                f"[{time.monotonic() - started:6.1f}s] {sc.name:34s} {method:26s} "
                f"P={stats[0]:.3f} ({time.monotonic() - t0:.1f}s)",
                file=sys.stderr,
            )

    print(
        f"Trials per scenario: {args.trials}, seed {args.seed}; R = 50 req/s unless noted, "
        f"baseline 5xx {BASE_ERR:.1%}, latency log-normal median {MEDIAN * 1000:.0f} ms "
        f"(p99 ~{MEDIAN * math.exp(Z99 * SIGMA) * 1000:.0f} ms); canary weight 5/25/50 % "
        f"for 10 min each; alpha = {ALPHA}.\n"
    )
    print("| scenario | method | P(rollback) | median time to detect | p90 time to detect |")
    print("|---|---|---|---|---|")
    for sc, method, (p, se, med, p90) in rows:
        label = "false rollback" if sc.null else "detected"
        print(
            f"| {sc.name} | {method} | {p:.3f} ± {se:.3f} ({label}) | {fmt_time(med)} "
            f"| {fmt_time(p90)} |"
        )
    print(
        "\nTimes are from the onset of the regression (t = 0, or the burst start at "
        "5 min), among runs that rolled back; ± is one binomial standard error."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
