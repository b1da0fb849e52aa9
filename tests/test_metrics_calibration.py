"""Calibration-in-the-large at a horizon: O/E and the calibration intercept (metrics/calibration.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mastoprog.metrics import calibration_intercept, observed_expected


def _weibull(n: int, seed: int, lam: float = 40.0, rho: float = 1.2, beta: float = 0.8):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t_event = lam * (-np.log(rng.uniform(size=n)) * np.exp(-beta * x)) ** (1.0 / rho)
    cens = rng.uniform(5.0, 120.0, size=n)
    return np.minimum(t_event, cens), t_event <= cens, np.exp(-((24.0 / lam) ** rho) * np.exp(beta * x))


def test_observed_expected_is_binomial_without_censoring():
    # 4 deaths by t among 10, no censoring: O = 0.4, SE(ln O/E) = sqrt(0.6 / (10 * 0.4))
    time = np.array([1, 2, 3, 4, 10, 10, 10, 10, 10, 10], float)
    event = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    res = observed_expected(time, event, np.full(10, 0.5), 5.0)
    assert res.observed == pytest.approx(0.4) and res.estimate == pytest.approx(0.8)
    assert res.se_log == pytest.approx(math.sqrt(0.6 / 4.0), rel=1e-12)


def test_calibration_intercept_by_hand():
    # KM by 7 months: 1 - 0.75 * 0.5 = 0.625; constant S = 0.5 -> 0.5^exp(a) = 0.375
    res = calibration_intercept([2, 4, 6, 8], [1, 0, 1, 0], [0.5] * 4, 7.0)
    assert res.estimate == pytest.approx(math.log(math.log(0.375) / math.log(0.5)), abs=1e-10)
    assert res.ci_low < res.estimate < res.ci_high


def test_calibration_intercept_known_truth():
    """Correct Weibull predictions: the intercept covers 0 (n = 4000; the Wald interval's
    half-width is ~4 SE of the Monte Carlo noise here); predictions whose cumulative hazard is
    multiplied by exp(0.5) have an intercept exactly 0.5 lower (same equation, shifted)."""
    time, event, s24 = _weibull(4000, seed=3)
    right = calibration_intercept(time, event, s24, 24.0)
    assert right.ci_low < 0.0 < right.ci_high and abs(right.estimate) < 0.1
    shifted = calibration_intercept(time, event, s24 ** math.exp(0.5), 24.0)
    assert shifted.estimate == pytest.approx(right.estimate - 0.5, abs=1e-9)


def test_calibration_intercept_all_dead_is_nan_with_note():
    assert not math.isnan(calibration_intercept([1, 2, 3], [1, 1, 1], [0.5] * 3, 2.5).estimate)
    res = calibration_intercept([2, 3, 4], [1, 1, 1], [0.5] * 3, 1.0)  # nobody dead by 1 month
    assert math.isnan(res.estimate) and "observed risk 0" in res.note


@settings(max_examples=40, deadline=None)
@given(st.floats(-1.5, 1.5))
def test_calibration_intercept_recovers_any_shift(shift):
    """Invariant: if the observed risk equals the mean of 1 - S^exp(shift), the intercept is shift."""
    time = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    event = np.ones(10, bool)
    observed = 0.5  # 5 of 10 dead by 5.5 months, no censoring
    s = np.full(10, (1.0 - observed) ** math.exp(-shift))
    res = calibration_intercept(time, event, s, 5.5)
    assert res.estimate == pytest.approx(shift, abs=1e-8)
