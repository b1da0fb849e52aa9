"""Concordance indices against their O(n^2) pairwise definitions (metrics/concordance.py).

The R and lifelines comparisons are in test_validation.py; these property tests pin the fast
counting (1-D for patients after the last anchoring death, 2-D dominance sums before it) to the
definitions, with ties in time and prediction and truncation at tau."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mastoprog.exceptions import MetricInputError
from mastoprog.metrics import censoring_survival, concordance_indices


def _brute(time, event, pred, tau, method):
    """Weighted C and infinitesimal-jackknife SE by the definitions (O(n^2) pairs)."""
    t, e, p = (np.asarray(v) for v in (time, event, pred))
    w = np.where(e & (t < tau), 1.0, 0.0)
    if method == "uno":
        g = censoring_survival(t, e).at(t, left=True)
        w = np.where(w > 0, w / g**2, 0.0)
    ti, tj = t[:, None], t[None, :]
    comp = (w[:, None] > 0) & ((ti < tj) | ((ti == tj) & ~e[None, :]))
    score = np.where(p[:, None] < p[None, :], 1.0, np.where(p[:, None] == p[None, :], 0.5, 0.0))
    num_pairs = comp * score * w[:, None]
    den_pairs = comp * w[:, None]
    c = num_pairs.sum() / den_pairs.sum()
    # each pair counted for both members (R survival::concordance's influence)
    a = num_pairs.sum(axis=1) + num_pairs.sum(axis=0)
    b = den_pairs.sum(axis=1) + den_pairs.sum(axis=0)
    influence = (a - c * b) / den_pairs.sum()
    return c, np.sqrt(np.sum(influence**2))


_rows = st.lists(st.tuples(st.integers(1, 8), st.booleans(), st.integers(0, 4)), min_size=2, max_size=25)


@settings(max_examples=80, deadline=None)
@given(_rows, st.sampled_from([3.5, 6.0, 100.0]))
def test_concordance_equals_pairwise_definition(rows, tau):
    time, event, pred = (np.array(c) for c in zip(*rows, strict=True))
    time, event, pred = time.astype(float), event.astype(bool), pred.astype(float)
    try:
        res = concordance_indices(time, event, pred, ("harrell", "uno"), tau=tau)
    except MetricInputError:
        assert _brute_den(time, event, tau) == 0
        return
    for method in ("harrell", "uno"):
        c, se = _brute(time, event, pred, tau, method)
        assert res[method].estimate == pytest.approx(c, abs=1e-12)
        assert res[method].se == pytest.approx(se, abs=1e-12)


def _brute_den(time, event, tau):
    ti, tj = time[:, None], time[None, :]
    anchored = event & (time < tau)
    return int((anchored[:, None] & ((ti < tj) | ((ti == tj) & ~event[None, :]))).sum())
