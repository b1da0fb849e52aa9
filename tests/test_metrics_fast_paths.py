"""The fast paths of the metrics (issue 12, "Scale") give the numbers of plain reference code.

Each vectorised shortcut is held to a straightforward implementation (pair loops, a textbook
Newton-Raphson) on random inputs with tied times, tied predictions and censoring, to 1e-12 (the
Cox fit to 1e-11: two Newton-Raphson runs that sum in different orders stop a few ulps apart).
Bit-identity with the code before the speed-up was checked at 1,000,000 patients by
``benchmarks/bench_metrics_scale.py --old-src``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mastoprog.metrics import concordance_indices
from mastoprog.metrics._cox import cox_fit, descending_time_order
from mastoprog.metrics._nonparametric import (
    _SORT_NEEDLES_ABOVE,
    censoring_left,
    censoring_survival,
    cohort_kaplan_meier,
    dominance_pairs,
    dominance_sums,
    kaplan_meier,
    score_ranks,
    search_sorted,
    stable_argsort_int,
    time_order,
)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), side=st.sampled_from(["left", "right"]))
def test_search_sorted_equals_numpy_searchsorted(seed: int, side: str) -> None:
    rng = np.random.default_rng(seed)
    haystack = np.sort(rng.integers(0, 50, rng.integers(0, 40)).astype(float))
    size = int(rng.choice([3, _SORT_NEEDLES_ABOVE + 1, 3 * _SORT_NEEDLES_ABOVE]))
    needles = rng.integers(-2, 53, size).astype(float)  # ties, and values outside the haystack
    assert np.array_equal(search_sorted(haystack, needles, side=side),
                          np.searchsorted(haystack, needles, side=side))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), top=st.sampled_from([2, 300, 70_000, 2**31, 2**40]))
def test_stable_argsort_int_equals_numpy_stable_argsort(seed: int, top: int) -> None:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, top, int(rng.integers(0, 3000)))  # ties at every width
    assert np.array_equal(stable_argsort_int(values), np.argsort(values, kind="stable"))
    scores = values / 7.0 - 3.0  # floats with ties, negative ones included
    assert np.array_equal(stable_argsort_int(score_ranks(scores)), np.argsort(scores, kind="stable"))


def _brute_dominance(pp, pv, pw, qp, qv):
    below = pp[None, :] < qp[:, None]
    lt = (below & (pv[None, :] < qv[:, None])) @ pw
    eq = (below & (pv[None, :] == qv[:, None])) @ pw
    rev = [np.sum(below & (qv[:, None] < pv[None, :]), axis=0),
           np.sum(below & (qv[:, None] == pv[None, :]), axis=0), np.sum(below, axis=0)]
    return (lt, eq, below @ pw), rev


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), wide=st.booleans(), unit=st.sampled_from([0, 1, 2]))
def test_dominance_pairs_equal_pair_counts(seed: int, wide: bool, unit: int) -> None:
    """Both directions, with tied positions and values; ``wide`` positions (> 2^16 blocks at the
    lowest levels) take two radix passes; ``unit`` weightings of all ones (0, 1 or both) the
    counting paths (with both, the points that cannot pair at a level are left out)."""
    rng = np.random.default_rng(seed)
    n_p, n_q = int(rng.integers(1, 60)), int(rng.integers(1, 60))
    top = 2**18 if wide else 30
    pp, qp = rng.integers(0, top, n_p), rng.integers(0, top, n_q)
    pv, qv = rng.integers(0, 8, n_p), rng.integers(0, 8, n_q)
    pw = rng.random((n_p, 2))
    pw[:, :unit] = 1.0
    (lt, eq, tot), rev = dominance_pairs(pp, pv, pw, qp, qv)
    (blt, beq, btot), brev = _brute_dominance(pp, pv, pw, qp, qv)
    for got, want in zip((lt, eq, tot), (blt, beq, btot), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for got, want in zip(rev, brev, strict=True):
        assert np.array_equal(got, want)  # whole numbers: exact
    assert all(np.array_equal(a, b) for a, b in zip(dominance_sums(pp, pv, pw, qp, qv), (lt, eq, tot),
                                                    strict=True))


def _brute_concordance(t, e, p, tau, method):
    """Pair loop: comparable (i died first, T_i < tau), weight 1 or G(T_i-)^-2; the IJ influence
    (a_k - C b_k) / D with each pair counted for both members (R survival::concordance)."""
    n = t.size
    g = censoring_survival(t, e).at(t, left=True)
    a, b = np.zeros(n), np.zeros(n)
    for i in range(n):
        if not e[i] or (tau is not None and t[i] >= tau):
            continue
        w = 1.0 if method == "harrell" else 1.0 / g[i] ** 2
        for j in range(n):
            if t[i] < t[j] or (t[i] == t[j] and not e[j]):
                k = 1.0 if p[i] < p[j] else 0.5 if p[i] == p[j] else 0.0
                a[i] += w * k
                a[j] += w * k
                b[i] += w
                b[j] += w
    num, den = a.sum() / 2.0, b.sum() / 2.0
    c = num / den
    return c, (a - c * b) / den, den


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), truncate=st.booleans())
def test_concordance_equals_pair_loop(seed: int, truncate: bool) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 40))
    t = rng.integers(1, 10, n).astype(float)  # tied times
    e = rng.random(n) < 0.6
    e[0], t[0] = True, 0.5  # at least one comparable pair
    p = rng.integers(0, 5, n).astype(float)  # tied predictions
    tau = 6.5 if truncate else None
    res = concordance_indices(t, e, p, ("harrell", "uno"), tau=tau)
    for method, got in res.items():
        c, influence, den = _brute_concordance(t, e, p, tau, method)
        np.testing.assert_allclose([got.estimate, got.n_comparable], [c, den], rtol=1e-12)
        np.testing.assert_allclose(got.influence, influence, rtol=1e-12, atol=1e-14)


def _reference_cox(time, event, x, iterations=60):
    """Textbook Breslow Newton-Raphson with explicit risk sets (O(n^2)): no running sums."""
    x = x - x.mean(axis=0)
    beta = np.zeros(x.shape[1])
    for _ in range(iterations):
        r = np.exp(x @ beta)
        grad, info = np.zeros_like(beta), np.zeros((beta.size, beta.size))
        for i in np.flatnonzero(event):
            at_risk = time >= time[i]
            s0 = r[at_risk].sum()
            xbar = r[at_risk] @ x[at_risk] / s0
            grad += x[i] - xbar
            info += (x[at_risk].T * r[at_risk]) @ x[at_risk] / s0 - np.outer(xbar, xbar)
        beta = beta + np.linalg.solve(info, grad)
    return beta, np.linalg.inv(info)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), p=st.integers(1, 3))
def test_cox_fit_equals_textbook_newton(seed: int, p: int) -> None:
    rng = np.random.default_rng(seed)
    n = 120
    x = rng.normal(size=(n, p))
    t = np.round(rng.exponential(10.0 * np.exp(-0.5 * x[:, 0])), 0)  # tied times
    e = rng.random(n) < 0.7
    fit = cox_fit(t, e, x, tol=1e-15)
    beta, cov = _reference_cox(t, e, x)
    np.testing.assert_allclose(fit.beta, beta, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(fit.cov, cov, rtol=1e-11, atol=1e-13)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_censoring_left_equals_searching_the_censoring_curve(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 50))
    t = rng.integers(0, 8, n).astype(float)
    e = rng.random(n) < 0.5
    assert np.array_equal(censoring_left(t, e), censoring_survival(t, e).at(t, left=True))
    assert np.array_equal(time_order(t, e), np.lexsort((~e, t)))
    # the cohort's Kaplan-Meier from the cached time index is kaplan_meier's, field by field
    cohort, plain = vars(cohort_kaplan_meier(t, e)), vars(kaplan_meier(t, e))
    assert all(np.array_equal(cohort[k], plain[k], equal_nan=True) for k in plain if k != "conf_type")


def test_per_cohort_results_follow_the_data_not_the_array() -> None:
    """Inside a shared_cohort_results block the results are keyed by content: an array changed in
    place is a new cohort, and what is handed out cannot be changed by the caller; nothing is
    kept once the block ends."""
    from mastoprog.metrics import shared_cohort_results

    t = np.array([2.0, 4.0, 6.0, 8.0])
    e = np.array([True, False, True, False])
    with shared_cohort_results():
        before = censoring_left(t, e).copy()
        km = cohort_kaplan_meier(t, e)
        assert km is cohort_kaplan_meier(t.copy(), e.copy())  # same content: computed once
        with shared_cohort_results():  # a nested block shares the outer one
            assert km is cohort_kaplan_meier(t, e)
        e[0] = False  # in place: another cohort
        assert np.array_equal(censoring_left(t, e), censoring_survival(t, e).at(t, left=True))
        assert not np.array_equal(censoring_left(t, e), before)
        assert not km.survival.flags.writeable
        assert not censoring_left(t, e).flags.writeable
    e[0] = True
    again = cohort_kaplan_meier(t, e)  # the block has ended: computed anew, still read-only
    assert again is not km and np.array_equal(again.survival, km.survival)
    assert not again.survival.flags.writeable


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_descending_time_order_equals_searching(seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 6, int(rng.integers(1, 40))).astype(float)
    e = rng.random(t.size) < 0.5
    order, last = descending_time_order(t, e)
    assert np.array_equal(order, np.argsort(-t, kind="stable"))
    assert np.array_equal(last, np.searchsorted(-t[order], -t[order], side="right") - 1)
