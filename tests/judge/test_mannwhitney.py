"""Mann-Whitney / Wilcoxon rank-sum CI against R's published numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rollway.judge.mannwhitney import mann_whitney_ci
from tests.support.kayenta_mw_data import (
    LARGE_CONTROL,
    LARGE_EXPERIMENT,
    TIE_CONTROL,
    TIE_EXPERIMENT,
)

# R's own ?wilcox.test example (Hollander & Wolfe 1973, p. 69f): permeability constants.
HW_X = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46]
HW_Y = [1.15, 0.88, 0.90, 0.74, 1.21]


def test_r_documented_example_large_sample_approximation() -> None:
    # ?wilcox.test: wilcox.test(x, y, alternative = "greater", exact = FALSE,
    # correct = FALSE) prints "W = 35, p-value = 0.1103" (H&W large-sample approximation).
    r = mann_whitney_ci(HW_X, HW_Y, alternative="greater", correct=False)
    assert r.statistic == 35.0
    assert round(r.p_value, 4) == 0.1103


@pytest.mark.parametrize(
    ("alternative", "conf_level", "p_value", "lower", "upper"),
    [
        # Printed by R 4.2.2: wilcox.test(x, y, alternative=..., conf.int=TRUE,
        # conf.level=..., exact=FALSE, correct=TRUE) on the ?wilcox.test data above.
        ("two.sided", 0.95, 0.24462360512698336, -0.15001483719908448, 0.75994276532229388),
        ("two.sided", 0.98, 0.24462360512698336, -0.31999721322183022, 0.98994618206203366),
        ("greater", 0.95, 0.12231180256349168, -0.080007758860747707, math.inf),
        ("greater", 0.98, 0.12231180256349168, -0.16994788952286516, math.inf),
    ],
)
def test_r_example_with_conf_int(
    alternative: str, conf_level: float, p_value: float, lower: float, upper: float
) -> None:
    r = mann_whitney_ci(HW_X, HW_Y, conf_level=conf_level, alternative=alternative)  # type: ignore[arg-type]
    assert r.statistic == 35.0
    assert r.p_value == pytest.approx(p_value, abs=1e-12)
    assert r.conf_int[0] == pytest.approx(lower, abs=1e-9)
    assert r.conf_int[1] == pytest.approx(upper, abs=1e-9)
    # R: "difference in location 0.30250833904157232" (estimate, no continuity correction)
    assert r.estimate == pytest.approx(0.30250833904157232, abs=1e-9)


def test_kayenta_tie_out_with_r() -> None:
    # kayenta-mannwhitney MannWhitneySuite "Tie out with R Version": R's
    # wilcox.test(experiment, control, conf.int=TRUE) at the default 0.95 level gave
    # rCiLow=-0.500002521696696, rCiHigh=-3.486287505871302E-5, rEst=-0.4999393907180323.
    r = mann_whitney_ci(TIE_EXPERIMENT, TIE_CONTROL, conf_level=0.95)
    assert r.conf_int[0] == pytest.approx(-0.500002521696696, abs=1e-6)
    assert r.conf_int[1] == pytest.approx(-3.486287505871302e-5, abs=1e-6)
    assert r.estimate == pytest.approx(-0.4999393907180323, abs=1e-6)


def test_kayenta_tie_out_with_r_large_98() -> None:
    # MannWhitneySuite "Tie out with R Version (Large)", confidenceLevel = 0.98:
    # rCiLow=-0.4999173250549087, rCiHigh=-6.912685789769486E-6, rEst=-3.45044082729315E-5.
    r = mann_whitney_ci(LARGE_EXPERIMENT, LARGE_CONTROL, conf_level=0.98)
    assert r.conf_int[0] == pytest.approx(-0.4999173250549087, abs=1e-6)
    assert r.conf_int[1] == pytest.approx(-6.912685789769486e-6, abs=1e-6)
    assert r.estimate == pytest.approx(-3.45044082729315e-5, abs=1e-6)


def test_all_tied_raises() -> None:
    with pytest.raises(ValueError):
        mann_whitney_ci([1.0, 1.0, 1.0], [1.0, 1.0])


def test_empty_raises() -> None:
    with pytest.raises(ValueError):
        mann_whitney_ci([], [1.0, 2.0])


def test_nonfinite_values_are_dropped() -> None:
    a = mann_whitney_ci([*HW_X, math.nan, math.inf], HW_Y)
    b = mann_whitney_ci(HW_X, HW_Y)
    assert a == b


@settings(max_examples=40, deadline=None)
@given(
    x=st.lists(st.integers(0, 30), min_size=3, max_size=25),
    y=st.lists(st.integers(0, 30), min_size=3, max_size=25),
    shift=st.integers(-20, 20),
)
def test_shift_equivariance(x: list[int], y: list[int], shift: int) -> None:
    """Adding c to x shifts the estimate and CI by c (up to the root tolerance)."""
    assume(len(set(x) | set(y)) >= 2)
    base = mann_whitney_ci(x, y)
    moved = mann_whitney_ci(np.asarray(x, float) + shift, y)
    assert moved.estimate == pytest.approx(base.estimate + shift, abs=2e-4)
    assert moved.conf_int[0] == pytest.approx(base.conf_int[0] + shift, abs=2e-4)
    assert moved.conf_int[1] == pytest.approx(base.conf_int[1] + shift, abs=2e-4)
    assert base.conf_int[0] <= base.estimate + 2e-4
    assert base.estimate <= base.conf_int[1] + 2e-4
