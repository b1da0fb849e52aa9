"""The survival model's dense vectorised code equals its plain reference (``survival_reference.py``)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from survival_reference import lp_ranges_reference

from mastoprog.risk import MASTOPROG_FACTORS
from mastoprog.survival import PREDICTOR_FACTORS
from mastoprog.survival._predictor import lp_ranges

FACTOR_SETS = (PREDICTOR_FACTORS, MASTOPROG_FACTORS, ("hemoglobin", "sar_1", "sar_2plus", "splenomegaly"))


def _features(rng: np.random.Generator, n: int, factors: tuple[str, ...]) -> np.ndarray:
    X = rng.integers(0, 2, (n, len(factors))).astype(float)
    X[rng.random((n, len(factors))) < 0.3] = np.nan  # unknown binary findings
    for j, f in enumerate(factors):
        if f in ("age_decades", "hemoglobin"):  # continuous terms: always known
            X[:, j] = rng.normal(0.0, 1.0, n)
    if "sar_1" in factors:  # as risk_features gives them: exclusive, both known or both unknown
        i, k = factors.index("sar_1"), factors.index("sar_2plus")
        count = rng.choice([0.0, 1.0, 2.0, np.nan], n)
        X[:, i] = np.where(np.isnan(count), np.nan, count == 1)
        X[:, k] = np.where(np.isnan(count), np.nan, count == 2)
    return X


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 40), draws=st.sampled_from([0, 1, 7]),
       which=st.sampled_from(range(len(FACTOR_SETS))), weighted=st.booleans())
def test_lp_ranges_equals_the_per_subtype_loop(seed, n, draws, which, weighted):
    rng = np.random.default_rng(seed)
    factors = FACTOR_SETS[which]
    F, S = len(factors), 6
    X = _features(rng, n, factors)
    beta = rng.normal(0.0, 0.7, (draws, F) if draws else F)
    center = rng.uniform(0.0, 1.0, (S, F))  # reference means of the features
    if "sar_1" in factors:  # means of exclusive indicators: P(one) + P(two or more) <= 1
        i, k = factors.index("sar_1"), factors.index("sar_2plus")
        center[:, k] *= 1.0 - center[:, i]
    weights = rng.uniform(0.0, 2.0, (S, F)) if weighted else None
    fast = lp_ranges(X, beta, center, weights, factors)
    plain = lp_ranges_reference(X, beta, center, weights, factors)
    for got, want in zip(fast, plain, strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    mid, lo, hi = fast  # the central value lies in the range over the unknown findings
    assert np.all(lo <= mid + 1e-12) and np.all(mid <= hi + 1e-12)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 400), st.integers(1, 6), st.integers(1, 8), st.booleans(), st.integers(0, 10_000))
def test_gathered_products_equal_the_plain_product(n: int, n_paths: int, n_lp: int, with_nan: bool,
                                                   seed: int) -> None:
    """``_curves._product_gathered`` (each distinct background x linear-predictor pair once) equals
    background times excess survival per patient to the last bit, a NaN linear predictor included."""
    from mastoprog.survival._curves import _product_gathered, excess_survival

    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 120.0, 7)
    bg_u = rng.uniform(0.3, 1.0, (n_paths, t.size))
    bg_index = rng.integers(0, n_paths, n)
    lp = rng.choice(rng.normal(0.0, 0.8, n_lp), n)
    if with_nan:
        lp[rng.random(n) < 0.2] = np.nan
    got = _product_gathered(bg_u, bg_index, lp, 3.5, 1.2, t)
    plain = excess_survival(lp, 3.5, 1.2, t) * bg_u[bg_index]
    np.testing.assert_array_equal(got, plain)
