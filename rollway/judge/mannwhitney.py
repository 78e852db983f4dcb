"""Wilcoxon rank-sum (Mann-Whitney) test with a Hodges-Lehmann shift estimate and CI.

Reproduces R's ``wilcox.test(x, y, conf.int=TRUE, exact=FALSE, correct=TRUE)``:

* the statistic is ``W = sum(rank(c(x - mu, y))[x]) - n_x (n_x + 1) / 2``;
* the p-value uses the normal approximation with the tie-corrected variance
  ``n_x n_y / 12 * ((N + 1) - sum(t^3 - t) / (N (N - 1)))`` and a continuity
  correction of ``sign(z) / 2`` (two-sided), ``1/2`` (greater) or ``-1/2`` (less);
* the confidence interval on the location shift ``d`` solves
  ``Z(d) = +/- qnorm(1 - alpha/2)`` where ``Z(d)`` is the same corrected statistic
  computed on ``x - d``, using Brent's root finder with R's tolerance (``1e-4``);
* the estimate solves ``Z(d) = 0`` *without* continuity correction (as R does).

Because ``Z(d)`` is a step function, R's answer depends on where Brent's method
lands inside the final step; :func:`_zeroin` follows the classic ``zeroin`` algorithm
that R's ``uniroot`` uses, so results agree with R to floating-point accuracy, not just
to ``tol_root``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr, ndtri
from scipy.stats import rankdata

Alternative = Literal["two.sided", "greater", "less"]
ArrayLike = Sequence[float] | npt.NDArray[np.floating]

_EPS = float(np.finfo(float).eps)


@dataclass(frozen=True)
class MannWhitneyResult:
    """Outcome of :func:`mann_whitney_ci` (``x`` minus ``y`` location shift)."""

    statistic: float
    """R's ``W``: rank sum of ``x`` minus ``n_x (n_x + 1) / 2``."""
    p_value: float
    conf_int: tuple[float, float]
    """Confidence interval on the shift ``x - y`` (infinite on the open side if one-sided)."""
    estimate: float
    """Hodges-Lehmann-type estimate of the shift (R's ``difference in location``)."""
    conf_level: float


def _as_clean_array(values: ArrayLike, name: str) -> npt.NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64).ravel()
    arr = arr[np.isfinite(arr)]  # R drops non-finite values
    if arr.size < 1:
        raise ValueError(f"not enough (finite) '{name}' observations")
    return arr


def _tie_term(ranks: npt.NDArray[np.float64]) -> float:
    _, counts = np.unique(ranks, return_counts=True)
    t = counts.astype(np.float64)
    return float(np.sum(t**3 - t))


def _zeroin(
    f: Callable[[float], float],
    ax: float,
    bx: float,
    fa: float,
    fb: float,
    tol: float,
    maxit: int = 1000,
) -> float:
    """Brent's root finder in the form used by R's ``uniroot`` (``R_zeroin2``)."""
    a, b = ax, bx
    c, fc = a, fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    for _ in range(maxit + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2.0 * _EPS * abs(b) + tol / 2.0
        new_step = (c - b) / 2.0
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0.0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2.0) and p < abs(prev_step * q / 2.0):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0.0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0.0 and fc > 0.0) or (fb < 0.0 and fc < 0.0):
            c, fc = a, fa
    return b


def _correction(z: float, correct: bool, alternative: Alternative) -> float:
    if not correct:
        return 0.0
    if alternative == "two.sided":
        return float(np.sign(z)) * 0.5
    return 0.5 if alternative == "greater" else -0.5


def mann_whitney_ci(
    x: ArrayLike,
    y: ArrayLike,
    *,
    conf_level: float = 0.98,
    mu: float = 0.0,
    alternative: Alternative = "two.sided",
    correct: bool = True,
    tol_root: float = 1e-4,
) -> MannWhitneyResult:
    """Wilcoxon rank-sum test of ``x`` against ``y`` with a CI on the shift ``x - y``.

    Equivalent to R's ``wilcox.test(x, y, mu=mu, alternative=alternative,
    conf.int=TRUE, conf.level=conf_level, exact=FALSE, correct=correct)``.
    Non-finite values are dropped. Raises ``ValueError`` when a sample is empty or
    when every observation is tied (no interval exists).
    """
    if not 0.0 < conf_level < 1.0:
        raise ValueError("conf_level must be in (0, 1)")
    xa = _as_clean_array(x, "x")
    ya = _as_clean_array(y, "y")
    nx, ny = float(xa.size), float(ya.size)
    n = nx + ny

    def sigma(ranks: npt.NDArray[np.float64]) -> float:
        ties = _tie_term(ranks) / (n * (n - 1.0)) if n > 1 else 0.0
        return math.sqrt((nx * ny / 12.0) * ((n + 1.0) - ties))

    ranks = rankdata(np.concatenate([xa - mu, ya]))
    statistic = float(np.sum(ranks[: xa.size]) - nx * (nx + 1.0) / 2.0)
    z = statistic - nx * ny / 2.0
    sd = sigma(ranks)
    if sd == 0.0:
        raise ValueError("cannot compute the test when all observations are tied")
    zc = (z - _correction(z, correct, alternative)) / sd
    if alternative == "two.sided":
        p_value = 2.0 * min(float(ndtr(zc)), float(ndtr(-zc)))
    elif alternative == "greater":
        p_value = float(ndtr(-zc))
    else:
        p_value = float(ndtr(zc))

    def w(d: float, use_correction: bool) -> float:
        dr = rankdata(np.concatenate([xa - d, ya]))
        dz = float(np.sum(dr[: xa.size]) - nx * (nx + 1.0) / 2.0 - nx * ny / 2.0)
        s = sigma(dr)
        if s == 0.0:
            raise ValueError("cannot compute confidence interval when all observations are tied")
        return (dz - _correction(dz, use_correction, alternative)) / s

    alpha = 1.0 - conf_level
    mumin = float(xa.min() - ya.max())
    mumax = float(xa.max() - ya.min())
    w_min, w_max = w(mumin, correct), w(mumax, correct)

    def root(zq: float) -> float:
        f_lower = w_min - zq
        if f_lower <= 0.0:
            return mumin
        f_upper = w_max - zq
        if f_upper >= 0.0:
            return mumax
        return _zeroin(lambda d: w(d, correct) - zq, mumin, mumax, f_lower, f_upper, tol_root)

    if alternative == "two.sided":
        conf_int = (root(-float(ndtri(alpha / 2.0))), root(float(ndtri(alpha / 2.0))))
    elif alternative == "greater":
        conf_int = (root(-float(ndtri(alpha))), math.inf)
    else:
        conf_int = (-math.inf, root(float(ndtri(alpha))))

    e_lower, e_upper = w(mumin, False), w(mumax, False)
    if e_lower * e_upper > 0.0:
        raise ValueError("cannot bracket the location estimate")
    estimate = _zeroin(lambda d: w(d, False), mumin, mumax, e_lower, e_upper, tol_root)
    return MannWhitneyResult(
        statistic=statistic,
        p_value=p_value,
        conf_int=conf_int,
        estimate=estimate,
        conf_level=conf_level,
    )
