"""Anytime-valid sequential canary tests (Rollway's default judge).

Both tests return an e-value ``E`` whose running value may be checked after every scrape:
under "no regression" ``P(E_t >= 1/alpha for some t) <= alpha`` (Ville's inequality), so
continuous monitoring does not inflate the false-rollback rate.

**Error counts** (Lindon, Sanden & Shirikian, KDD 2022). Canary and baseline events are
Poisson processes with intensities ``rho * theta * lambda(t)`` and ``(1 - rho) * lambda(t)``
for any (time-varying, unknown) ``lambda``. Conditional on the event times each event is a
canary event with probability ``p(theta) = rho theta / (rho theta + 1 - rho)``, so the
cumulative canary count ``k`` among ``n = k + m`` events is binomial and ``lambda`` drops
out. ``H0: theta <= min_ratio`` (``p <= p0 = p(min_ratio)``) against a Beta(a, b) mixture
over ``p``::

    E = B(a + k, b + m) / B(a, b) / sup_{p <= p0} p^k (1 - p)^m

The numerator is the Beta-binomial marginal likelihood, the denominator the largest
likelihood in the null (``p0`` when ``k/n > p0``, the MLE otherwise, giving ``E <= 1`` -
only "canary worse" can reject). Dividing by the null supremum makes ``E`` no larger than
the likelihood-ratio martingale against the true null ``p``, so it is valid for the whole
composite one-sided null. The prior is centred on ``p0`` with log-odds standard deviation
``prior_scale`` (``a + b = 1 / (prior_scale^2 p0 (1 - p0))``).

**Latency histograms** (Lindon & Malek, NeurIPS 2022, multinomial counts). Each request
falls into a histogram bucket; under ``H0`` (same latency distribution) its arm is canary
with probability ``rho`` whatever its bucket, so for every bucket bound ``t`` the requests
slower than ``t`` form a 2-cell multinomial (canary / baseline) with null ``(rho, 1 - rho)``,
tested with the same Beta (2-cell Dirichlet) mixture against ``tail ratio <= min_ratio``.
"Canary slower" means more canary mass above some bound (stochastic dominance), i.e. a
canary share of exceedances above ``rho``; a faster canary gives ``E <= 1``. The per-bound
e-processes are martingales for the same filtration, so their weighted average is one
too: tails are compared at every bound, not only the mean.

**Traffic steps.** Each segment (a constant ``rho``) gets its own e-process from its own
counts, started at 1 when the segment starts; conditional on everything before, it is a
test supermartingale, so the product over consecutive segments is one as well (the
"multiply sequential e-values" rule). Inputs are cumulative counts since the analysis
(resp. the segment) began, so callers can stay stateless.

**Passing needs evidence too.** With a ``margin`` each test also runs the mirror-image
e-process against ``H0': ratio >= margin`` (the sup taken over ``p >= p(margin)``), averaged
with the canary's own rate against an absolute ``floor``; ``Decision.NOT_WORSE`` (the only
decision that lets a step pass) needs it to reach ``1/beta``, so a canary at or beyond
``max(margin x baseline, floor)`` is ever passed with probability at most ``beta``.
Inverting the tests over the ratio gives anytime-valid confidence bounds (``upper``,
``lower``) for the explanations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from scipy.special import betaln, logsumexp, xlog1py, xlogy

FloatArray = npt.NDArray[np.float64]
ArrayOrFloat = FloatArray | float


class Decision(StrEnum):
    """What the caller should do after this check."""

    REGRESSION = "regression"
    """``E >= 1/alpha``: roll back."""
    NOT_WORSE = "not_worse"
    """Evidence that the canary is within the tolerated ``margin`` (pass e-value >= 1/beta)."""
    CONTINUE = "continue"
    """No evidence either way yet; keep the canary running (not a pass)."""
    INCONCLUSIVE = "inconclusive"
    """Too few events to say anything yet."""


@dataclass(frozen=True)
class SequentialResult:
    """Outcome of one sequential check."""

    decision: Decision
    e_value: float
    log_e_value: float
    alpha: float
    estimate: float
    """Effect estimate: canary/baseline rate ratio (tail ratio for latency); NaN if unknown."""
    events: float
    """Events the decision is based on (errors, or slow requests at the reported bound)."""
    explanation: str
    pass_log_e: float = 0.0
    """Log e-value of "the canary is at or beyond the margin" (0 when no margin is tested)."""
    beta: float | None = None
    """Pass at ``pass e-value >= 1/beta``: P(ever passing a canary at the margin) <= beta."""
    upper: float = math.inf
    """Anytime-valid (1 - beta) upper confidence bound on the ratio (inf: none yet)."""
    lower: float = 0.0
    """Anytime-valid (1 - alpha) lower confidence bound on the ratio."""

    @property
    def pass_e_value(self) -> float:
        """E-value against "the canary is at or beyond the margin"."""
        return math.exp(min(self.pass_log_e, 700.0))


@dataclass(frozen=True)
class RateSegment:
    """Cumulative event counts during one traffic step (constant canary share ``rho``)."""

    rho: float
    """Canary share of traffic (or of exposure) during this segment, in (0, 1)."""
    canary_events: float
    baseline_events: float
    canary_exposure: float | None = None
    """Optional request counts; used to report rates and for ``min_abs_increase``."""
    baseline_exposure: float | None = None


@dataclass(frozen=True)
class HistogramSegment:
    """Cumulative latency histograms during one traffic step.

    Counts are aligned with the test's ``bounds``: Prometheus-style cumulative
    ``le`` buckets (last bound ``+Inf``) by default, or per-bucket counts.
    """

    rho: float
    canary_counts: Sequence[float]
    baseline_counts: Sequence[float]


def null_share(rho: ArrayOrFloat, ratio: ArrayOrFloat) -> FloatArray:
    """Probability that an event is a canary event when the canary's rate is ``ratio`` x."""
    r = np.asarray(rho, dtype=np.float64)
    t = np.asarray(ratio, dtype=np.float64)
    share: FloatArray = r * t / (r * t + 1.0 - r)
    return share


def beta_prior(p0: ArrayOrFloat, prior_scale: float) -> tuple[FloatArray, FloatArray]:
    """Beta(a, b) with mean ``p0`` and log-odds standard deviation about ``prior_scale``."""
    p = np.asarray(p0, dtype=np.float64)
    c = 1.0 / (prior_scale**2 * p * (1.0 - p))
    return c * p, c * (1.0 - p)


def beta_log_evalue(
    k: ArrayOrFloat,
    m: ArrayOrFloat,
    p_null: ArrayOrFloat,
    *,
    prior_scale: float = 1.0,
    below: bool = False,
) -> FloatArray:
    """Log e-value of ``k`` successes and ``m`` failures against a one-sided binomial null.

    ``below=False``: ``H0: p <= p_null`` (evidence that ``p`` is larger); ``below=True``:
    ``H0: p >= p_null`` (evidence that ``p`` is smaller). A Beta prior centred on
    ``p_null`` (log-odds sd ``prior_scale``) over the sup of the null likelihood.
    """
    k = np.asarray(k, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    p0 = np.asarray(p_null, dtype=np.float64)
    a, b = beta_prior(p0, prior_scale)
    n = k + m
    phat = np.divide(k, n, out=np.zeros(np.broadcast(k, n).shape), where=n > 0)
    p_star = np.maximum(phat, p0) if below else np.minimum(phat, p0)
    if below:  # n == 0: the sup is anywhere; use p0 (log-likelihood 0 either way)
        p_star = np.where(n > 0, p_star, p0)
    log_null = xlogy(k, p_star) + xlog1py(m, -p_star)
    out: FloatArray = betaln(a + k, b + m) - betaln(a, b) - log_null
    return out


def rate_log_evalue(
    canary: ArrayOrFloat,
    baseline: ArrayOrFloat,
    rho: ArrayOrFloat,
    *,
    min_ratio: ArrayOrFloat = 1.0,
    prior_scale: float = 1.0,
) -> FloatArray:
    """Log e-value of one segment (vectorised; arrays broadcast).

    ``log E = log B(a+k, b+m) - log B(a, b) - max_{p <= p0} [k log p + m log(1-p)]``.
    """
    return beta_log_evalue(canary, baseline, null_share(rho, min_ratio), prior_scale=prior_scale)


def rate_pass_log_evalue(
    canary: ArrayOrFloat,
    baseline: ArrayOrFloat,
    rho: ArrayOrFloat,
    *,
    margin: ArrayOrFloat,
    prior_scale: float = 1.0,
) -> FloatArray:
    """Log e-value of one segment against ``H0: ratio >= margin`` (evidence "not worse")."""
    return beta_log_evalue(
        canary, baseline, null_share(rho, margin), prior_scale=prior_scale, below=True
    )


def floor_pass_log_evalue(
    events: ArrayOrFloat, exposure: ArrayOrFloat, floor: float, *, prior_scale: float = 1.0
) -> FloatArray:
    """Log e-value against ``H0: canary rate >= floor`` from the canary's own counts."""
    e = np.asarray(events, dtype=np.float64)
    n = np.maximum(np.asarray(exposure, dtype=np.float64), e)
    return beta_log_evalue(e, n - e, floor, prior_scale=prior_scale, below=True)


def log_mean_exp(*logs: FloatArray | float) -> FloatArray:
    """Log of the mean of e-values given by their logs (elementwise)."""
    stacked = np.stack(np.broadcast_arrays(*[np.asarray(x, dtype=np.float64) for x in logs]))
    out: FloatArray = logsumexp(stacked, axis=0) - math.log(len(logs))
    return out


def _bound(log_e_at: Callable[[float], float], level: float, upper: bool) -> float:
    """Confidence bound by inverting a test over ratios: the margin where evidence = level.

    ``upper``: the smallest ratio ``r`` with ``log_e_at(r) >= level`` (pass evidence grows
    with ``r``); else the largest ``r`` with ``log_e_at(r) >= level`` (fail evidence
    shrinks with ``r``). Bisection on log-ratio in [1e-3, 1e3]; inf / 0 when out of range.
    """
    lo, hi = math.log(1e-3), math.log(1e3)
    if upper:
        if log_e_at(math.exp(hi)) < level:
            return math.inf
        if log_e_at(math.exp(lo)) >= level:
            return math.exp(lo)
    else:
        if log_e_at(math.exp(lo)) < level:
            return 0.0
        if log_e_at(math.exp(hi)) >= level:
            return math.exp(hi)
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if (log_e_at(math.exp(mid)) >= level) == upper:
            hi = mid
        else:
            lo = mid
    return math.exp(hi if upper else lo)


def fmt_ratio(x: float) -> str:
    """A ratio for explanations: always finite text."""
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "> 1000" if x > 0 else "0"
    return f"{x:.3g}"


def _check_common(alpha: float, min_ratio: float, prior_scale: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be in (0, 1)")
    if min_ratio < 1.0:
        raise ValueError("min_ratio must be >= 1 (the null must contain 'no change')")
    if prior_scale <= 0.0:
        raise ValueError("prior_scale must be positive")


def _check_rho(rho: float) -> None:
    if not 0.0 < rho < 1.0:
        raise ValueError(f"rho must be in (0, 1), got {rho}")


def _fmt_e(e: float) -> str:
    return f"{e:.3g}" if e < 1e6 else f"{e:.2e}"


def _decide(log_e: float, alpha: float, events: float, min_events: float) -> Decision:
    if log_e >= -math.log(alpha):
        return Decision.REGRESSION
    if events < min_events:
        return Decision.INCONCLUSIVE
    return Decision.CONTINUE


def _evidence(log_e: float, alpha: float) -> str:
    e = math.exp(min(log_e, 700.0))
    rel = ">=" if log_e >= -math.log(alpha) else "<"
    return f"e={_fmt_e(e)} {rel} 1/alpha={_fmt_e(1.0 / alpha)}"


def sequential_rate_test(
    segments: Sequence[RateSegment],
    *,
    alpha: float = 0.01,
    min_ratio: float = 1.1,
    min_abs_increase: float = 0.0,
    prior_scale: float = 1.0,
    min_events: float = 5.0,
    label: str = "error rate",
    margin: float | None = None,
    beta: float = 0.05,
    floor: float = 0.0,
) -> SequentialResult:
    """Anytime-valid one-sided test that the canary's event rate exceeds baseline's.

    ``H0``: canary rate <= ``min_ratio`` x baseline rate (and, if ``min_abs_increase`` > 0,
    <= baseline + ``min_abs_increase`` in the units of ``events / exposure``; this needs
    exposures and converts to a ratio using the pooled baseline rate, a plug-in that keeps
    the ``min_ratio`` guarantee exact but is only approximate at the absolute margin).
    Reject when the product over segments of the segment e-values reaches ``1/alpha``.

    With a ``margin`` the test also gathers evidence the other way: ``H0': canary rate >=
    max(margin x baseline rate, floor)``; its e-value (the mean of the ratio e-process and,
    with ``floor`` > 0 and exposures, the canary's own rate against ``floor``) reaching
    ``1/beta`` is ``Decision.NOT_WORSE``. P(ever NOT_WORSE for a canary at or beyond the
    margin) <= ``beta``; without that evidence the decision is never a pass.
    """
    _check_common(alpha, min_ratio, prior_scale)
    _check_pass(margin, beta, floor, min_ratio)
    if not segments:
        raise ValueError("at least one segment is required")
    for s in segments:
        _check_rho(s.rho)
        if s.canary_events < 0 or s.baseline_events < 0:
            raise ValueError("event counts must be non-negative")
    have_exposure = all(
        s.canary_exposure is not None and s.baseline_exposure is not None for s in segments
    )
    base_events = sum(s.baseline_events for s in segments)
    base_exposure = sum(s.baseline_exposure or 0.0 for s in segments)
    canary_events = sum(s.canary_events for s in segments)
    canary_exposure = sum(s.canary_exposure or 0.0 for s in segments)

    null_ratio = min_ratio
    if min_abs_increase > 0.0:
        if not have_exposure:
            raise ValueError("min_abs_increase needs canary_exposure and baseline_exposure")
        if base_events > 0 and base_exposure > 0:
            null_ratio = max(min_ratio, 1.0 + min_abs_increase * base_exposure / base_events)
        else:
            null_ratio = math.inf
    if math.isinf(null_ratio):
        log_e = 0.0
    else:
        log_e = float(
            sum(
                rate_log_evalue(
                    s.canary_events,
                    s.baseline_events,
                    s.rho,
                    min_ratio=null_ratio,
                    prior_scale=prior_scale,
                )
                for s in segments
            )
        )

    events = canary_events + base_events
    if have_exposure:
        num = sum(
            s.canary_events
            * (s.baseline_exposure or 0.0)
            / max((s.canary_exposure or 0.0) + (s.baseline_exposure or 0.0), 1e-300)
            for s in segments
        )
        den = sum(
            s.baseline_events
            * (s.canary_exposure or 0.0)
            / max((s.canary_exposure or 0.0) + (s.baseline_exposure or 0.0), 1e-300)
            for s in segments
        )
    else:  # Mantel-Haenszel rate ratio with exposures rho and 1 - rho
        num = sum(s.canary_events * (1.0 - s.rho) for s in segments)
        den = sum(s.baseline_events * s.rho for s in segments)
    estimate = num / den if den > 0 else (math.inf if num > 0 else math.nan)

    if have_exposure and canary_exposure > 0 and base_exposure > 0:
        what = (
            f"canary {label} {100 * canary_events / canary_exposure:.2f}% vs baseline "
            f"{100 * base_events / base_exposure:.2f}%"
        )
    else:
        what = f"canary events {canary_events:g} vs baseline {base_events:g}"

    def fail_at(r: float) -> float:
        return float(
            sum(
                rate_log_evalue(
                    s.canary_events, s.baseline_events, s.rho, min_ratio=r, prior_scale=prior_scale
                )
                for s in segments
            )
        )

    lower = _bound(fail_at, -math.log(alpha), upper=False)
    pass_log, upper = 0.0, math.inf
    if margin is not None:

        def pass_at(r: float) -> float:
            return float(
                sum(
                    rate_pass_log_evalue(
                        s.canary_events, s.baseline_events, s.rho, margin=r, prior_scale=prior_scale
                    )
                    for s in segments
                )
            )

        pass_log = pass_at(margin)
        upper = _bound(pass_at, -math.log(beta), upper=True)
        if floor > 0.0 and have_exposure:
            own = float(
                floor_pass_log_evalue(
                    canary_events, canary_exposure, floor, prior_scale=prior_scale
                )
            )
            pass_log = float(log_mean_exp(pass_log, own))
    decision = _decide(log_e, alpha, events, min_events)
    if margin is not None and decision != Decision.REGRESSION and pass_log >= -math.log(beta):
        decision = Decision.NOT_WORSE
    tail = f"ratio {fmt_ratio(estimate)}, {_evidence(log_e, alpha)}"
    if null_ratio != 1.0:
        tail += f", H0 ratio <= {null_ratio:.3g}"
    if margin is not None:
        tail += ", " + _pass_evidence(pass_log, beta, upper, margin, floor)
    if decision == Decision.INCONCLUSIVE:
        tail += f", only {events:g} events"
    return SequentialResult(
        decision,
        math.exp(min(log_e, 700.0)),
        log_e,
        alpha,
        estimate,
        events,
        f"{what} ({tail})",
        pass_log,
        beta if margin is not None else None,
        upper,
        lower,
    )


def _check_pass(margin: float | None, beta: float, floor: float, min_ratio: float) -> None:
    if margin is None:
        return
    if margin < min_ratio:
        raise ValueError(f"margin ({margin}) must be >= min_ratio ({min_ratio})")
    if not 0.0 < beta < 1.0:
        raise ValueError("beta must be in (0, 1)")
    if not 0.0 <= floor < 1.0:
        raise ValueError("floor must be in [0, 1)")


def _pass_evidence(pass_log: float, beta: float, upper: float, margin: float, floor: float) -> str:
    e = math.exp(min(pass_log, 700.0))
    rel = ">=" if pass_log >= -math.log(beta) else "<"
    bound = f"upper bound {fmt_ratio(upper)}"
    room = f"margin {margin:g}" + (f" or {100 * floor:.3g}%" if floor > 0 else "")
    return f"{bound} vs {room}, pass e={_fmt_e(e)} {rel} 1/beta={_fmt_e(1.0 / beta)}"


def histogram_log_evalues(
    canary_exceed: ArrayOrFloat,
    baseline_exceed: ArrayOrFloat,
    rho: ArrayOrFloat,
    *,
    min_ratio: float = 1.1,
    prior_scale: float = 1.0,
    weights: FloatArray | None = None,
) -> FloatArray:
    """Log of the weighted average over bounds (last axis) of the per-bound e-values."""
    log_e = rate_log_evalue(
        canary_exceed,
        baseline_exceed,
        np.asarray(rho, dtype=np.float64)[..., None],
        min_ratio=min_ratio,
        prior_scale=prior_scale,
    )
    n_bounds = log_e.shape[-1]
    w = np.full(n_bounds, 1.0 / n_bounds) if weights is None else weights / np.sum(weights)
    out: FloatArray = logsumexp(log_e + np.log(w), axis=-1)
    return out


def exceedances(
    counts: Sequence[float] | FloatArray, bounds: Sequence[float], cumulative: bool = True
) -> tuple[FloatArray, float]:
    """Requests slower than each finite bound, and the total request count."""
    c = np.asarray(counts, dtype=np.float64)
    if c.shape[-1] != len(bounds):
        raise ValueError("counts must align with bounds")
    cum = c if cumulative else np.cumsum(c, axis=-1)
    finite = np.isfinite(np.asarray(bounds, dtype=np.float64))
    if cumulative and finite[-1]:
        raise ValueError("cumulative histograms need a final +Inf bucket")
    total = float(cum[-1])
    return total - cum[finite], total


def histogram_quantile(q: float, bounds: Sequence[float], cumulative_counts: FloatArray) -> float:
    """Prometheus-style quantile estimate (linear interpolation inside the bucket)."""
    b = np.asarray(bounds, dtype=np.float64)
    c = np.asarray(cumulative_counts, dtype=np.float64)
    total = float(c[-1])
    if total <= 0:
        return math.nan
    rank = q * total
    i = int(np.searchsorted(c, rank, side="left"))
    if i >= len(b) - 1 and not np.isfinite(b[-1]):
        return float(b[-2])
    lo_b = 0.0 if i == 0 else float(b[i - 1])
    lo_c = 0.0 if i == 0 else float(c[i - 1])
    width = float(c[i]) - lo_c
    if width <= 0:
        return float(b[i])
    return lo_b + (float(b[i]) - lo_b) * (rank - lo_c) / width


def sequential_histogram_test(
    bounds: Sequence[float],
    segments: Sequence[HistogramSegment],
    *,
    alpha: float = 0.01,
    min_ratio: float = 1.1,
    prior_scale: float = 1.0,
    cumulative: bool = True,
    weights: Sequence[float] | None = None,
    min_events: float = 5.0,
    unit: str = "s",
    margin: float | None = None,
    beta: float = 0.05,
    floor: float = 0.05,
) -> SequentialResult:
    """Anytime-valid one-sided test that the canary's latency histogram is shifted up.

    For every finite bound ``t`` the share of requests slower than ``t`` that went to the
    canary is compared with ``rho`` (``H0``: canary tail probability <= ``min_ratio`` x
    baseline's, at every bound); the e-value is the ``weights``-average over bounds
    (uniform by default), multiplied over segments.

    With a ``margin``: ``Decision.NOT_WORSE`` needs, at *every* finite bound, evidence
    (e >= ``1/beta``) that the canary's share of requests slower than it is below
    ``max(margin x baseline's, floor)`` (the mean of the ratio e-process and the canary's
    own share against ``floor``); the bound with the least evidence is reported.
    """
    _check_common(alpha, min_ratio, prior_scale)
    _check_pass(margin, beta, floor, min_ratio)
    if not segments:
        raise ValueError("at least one segment is required")
    b = np.asarray(bounds, dtype=np.float64)
    if b.ndim != 1 or b.size < 2 or np.any(np.diff(b) <= 0):
        raise ValueError("bounds must be strictly increasing with at least two entries")
    finite = b[np.isfinite(b)]
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    if w is not None and (w.shape != finite.shape or np.any(w < 0) or w.sum() <= 0):
        raise ValueError("weights must be non-negative, one per finite bound")

    log_e = 0.0
    per_bound = np.zeros(finite.size)  # product over segments, per bound (for the report)
    ce_tot = np.zeros(finite.size)
    be_tot = np.zeros(finite.size)
    c_total = b_total = 0.0
    c_cum = np.zeros(b.size)
    b_cum = np.zeros(b.size)
    num = np.zeros(finite.size)
    den = np.zeros(finite.size)
    pass_ratio = np.zeros(finite.size)
    for s in segments:
        _check_rho(s.rho)
        ce, ct = exceedances(s.canary_counts, bounds, cumulative)
        be, bt = exceedances(s.baseline_counts, bounds, cumulative)
        if np.any(ce < -1e-9) or np.any(be < -1e-9):
            raise ValueError("cumulative counts must be non-decreasing")
        ce, be = np.maximum(ce, 0.0), np.maximum(be, 0.0)
        log_e += float(
            histogram_log_evalues(
                ce, be, s.rho, min_ratio=min_ratio, prior_scale=prior_scale, weights=w
            )
        )
        per_bound += rate_log_evalue(ce, be, s.rho, min_ratio=min_ratio, prior_scale=prior_scale)
        if margin is not None:
            pass_ratio += rate_pass_log_evalue(
                ce, be, s.rho, margin=margin, prior_scale=prior_scale
            )
        ce_tot += ce
        be_tot += be
        c_total += ct
        b_total += bt
        num += ce * (1.0 - s.rho)
        den += be * s.rho
        cc = np.asarray(s.canary_counts, dtype=np.float64)
        bc = np.asarray(s.baseline_counts, dtype=np.float64)
        c_cum += cc if cumulative else np.cumsum(cc)
        b_cum += bc if cumulative else np.cumsum(bc)

    has_events = (ce_tot + be_tot) > 0
    decision = _decide(log_e, alpha, float(c_total + b_total), min_events)
    pass_log, upper = 0.0, math.inf
    j = int(np.argmax(np.where(has_events, per_bound, -np.inf))) if has_events.any() else 0
    if margin is not None:
        per_pass = pass_ratio
        if floor > 0.0:
            own = floor_pass_log_evalue(ce_tot, c_total, floor, prior_scale=prior_scale)
            per_pass = log_mean_exp(pass_ratio, own)
        jp = int(np.argmin(per_pass))
        pass_log = float(per_pass[jp])
        if decision != Decision.REGRESSION:
            j = jp  # lead with the bound that holds the pass back (or let it through)
            if pass_log >= -math.log(beta):
                decision = Decision.NOT_WORSE

        def pass_at(r: float) -> float:
            return float(
                sum(
                    rate_pass_log_evalue(
                        exceedances(s.canary_counts, bounds, cumulative)[0][jp],
                        exceedances(s.baseline_counts, bounds, cumulative)[0][jp],
                        s.rho,
                        margin=r,
                        prior_scale=prior_scale,
                    )
                    for s in segments
                )
            )

        upper = _bound(pass_at, -math.log(beta), upper=True)

    def fail_at(r: float) -> float:
        return float(
            sum(
                rate_log_evalue(
                    exceedances(s.canary_counts, bounds, cumulative)[0][j],
                    exceedances(s.baseline_counts, bounds, cumulative)[0][j],
                    s.rho,
                    min_ratio=r,
                    prior_scale=prior_scale,
                )
                for s in segments
            )
        )

    lower = _bound(fail_at, -math.log(alpha), upper=False)
    ratios = np.divide(num, den, out=np.full(finite.size, math.nan), where=den > 0)
    estimate = float(ratios[j])
    events = float(ce_tot[j] + be_tot[j])
    if c_total > 0 and b_total > 0:
        what = (
            f"P(latency > {finite[j]:g}{unit}) canary {100 * ce_tot[j] / c_total:.2f}% vs "
            f"baseline {100 * be_tot[j] / b_total:.2f}%; p99 canary "
            f"{histogram_quantile(0.99, bounds, c_cum):.3g}{unit} vs baseline "
            f"{histogram_quantile(0.99, bounds, b_cum):.3g}{unit}"
        )
    else:
        what = f"canary requests {c_total:g} vs baseline {b_total:g}"
    shown = fmt_ratio(estimate) if not math.isnan(estimate) else "n/a (no slow baseline request)"
    tail = f"tail ratio {shown}, {_evidence(log_e, alpha)}"
    if margin is not None:
        tail += ", " + _pass_evidence(pass_log, beta, upper, margin, floor)
    if decision == Decision.INCONCLUSIVE:
        tail += f", only {c_total + b_total:g} requests"
    return SequentialResult(
        decision,
        math.exp(min(log_e, 700.0)),
        log_e,
        alpha,
        estimate,
        events,
        f"{what} ({tail})",
        pass_log,
        beta if margin is not None else None,
        upper,
        lower,
    )


def combine_evalues(results: Sequence[SequentialResult], alpha: float = 0.01) -> SequentialResult:
    """Average e-values of tests run on the same stream (valid without independence).

    The mean of e-processes adapted to one filtration is an e-process, so one overall
    ``alpha`` covers all the metrics (unlike taking the maximum).
    """
    if not results:
        raise ValueError("nothing to combine")
    logs = np.array([r.log_e_value for r in results])
    log_e = float(logsumexp(logs) - math.log(len(results)))
    events = float(sum(r.events for r in results))
    if log_e >= -math.log(alpha):
        decision = Decision.REGRESSION
        lead = results[int(np.argmax(logs))]
    elif all(r.decision == Decision.NOT_WORSE for r in results):
        decision = Decision.NOT_WORSE
        lead = min(results, key=lambda r: r.pass_log_e)
    elif all(r.decision == Decision.INCONCLUSIVE for r in results):
        decision = Decision.INCONCLUSIVE
        lead = results[int(np.argmax(logs))]
    else:
        decision = Decision.CONTINUE
        lead = min(
            (r for r in results if r.decision != Decision.NOT_WORSE),
            key=lambda r: (r.beta is None, r.pass_log_e),
        )
    text = f"combined {_evidence(log_e, alpha)}; deciding: {lead.explanation}"
    pass_log = min(r.pass_log_e for r in results)
    betas = {r.beta for r in results}
    return SequentialResult(
        decision,
        math.exp(min(log_e, 700.0)),
        log_e,
        alpha,
        lead.estimate,
        events,
        text,
        pass_log,
        lead.beta if len(betas) == 1 else None,
        lead.upper,
        lead.lower,
    )
