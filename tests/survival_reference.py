"""Plain reference implementations of the survival model's dense vectorised code (the specification).

``lp_ranges_reference`` is the per-subtype loop that ``mastoprog.survival._predictor.lp_ranges``
replaced (all subtypes in one pass); ``tests/test_survival_reference.py`` holds the two equal.
"""

from __future__ import annotations

import numpy as np

from mastoprog.survival._predictor import _real_valued


def lp_ranges_reference(X, beta, center, weights, factors):
    """(mid, lo, hi) linear predictors per subtype, one subtype and one feature group at a time."""
    stacked = np.ndim(beta) == 2
    B = np.atleast_2d(beta)
    known = ~np.isnan(X)
    n, S, D = X.shape[0], center.shape[0], B.shape[0]
    factors = list(factors)
    if weights is None:
        weights = np.ones_like(center)
    cont = [j for j, f in enumerate(factors) if _real_valued(f)]
    sar = [factors.index(f) for f in ("sar_1", "sar_2plus") if f in factors]
    groups = [sar] if len(sar) == 2 else []
    grouped = {j for g in groups for j in g} | set(cont)
    groups += [[j] for j in range(len(factors)) if j not in grouped]
    mid, lo, hi = np.zeros((D, n, S)), np.zeros((D, n, S)), np.zeros((D, n, S))
    for k in range(S):
        Bk = B * weights[k]
        if cont:
            c = ((np.nan_to_num(X[:, cont]) - center[k, cont]) @ Bk[:, cont].T).T
            mid[:, :, k] += c
            lo[:, :, k] += c
            hi[:, :, k] += c
        for g in groups:
            opts = np.vstack([np.zeros((1, len(g))), np.eye(len(g)) if len(g) > 1 else np.ones((1, 1))])
            xg = X[:, g]
            consistent = np.all(~known[:, None, g] | (xg[:, None, :] == opts[None, :, :]), axis=2)
            contrib_opt = (opts - center[k, g]) @ Bk[:, g].T
            cands = np.where(consistent[:, :, None], contrib_opt[None, :, :], np.nan)
            lo[:, :, k] += np.nanmin(cands, axis=1).T
            hi[:, :, k] += np.nanmax(cands, axis=1).T
            filled = np.where(known[:, g], xg, center[k, g])
            mid[:, :, k] += ((filled - center[k, g]) @ Bk[:, g].T).T
    if stacked:
        return mid, lo, hi
    return mid[0], lo[0], hi[0]
