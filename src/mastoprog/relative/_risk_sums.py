"""Sums over a risk set of each patient's inverse background survival and cumulative hazard.

The relative-survival estimators need, at many times ``s`` and for risk sets ``{i: y_i >= t}``,

    W(s, t) = sum_i exp(Lambda_i(s))        (Pohar Perme weights 1 / S_P,i(s))
    L(s, t) = sum_i Lambda_i(s)             (Ederer II and crude probabilities)

Done directly this is an (n patients x n times) computation. Here it is exact and near linear:

* patients are sorted by follow-up, so every risk set is a *suffix* of that order;
* the life table's hazard is constant on every whole month since diagnosis (it changes only at whole
  years, :mod:`mastoprog.lifetables`), so on month cell ``[g, g + 1)``, ``Lambda_i(g + u) =
  Lambda_i(g) + lambda_i u`` and ``exp(Lambda_i(g + u)) = exp(Lambda_i(g)) sum_k (lambda_i u)^k / k!``;
* so per month cell, reverse cumulative sums of ``exp(Lambda_i(g)) lambda_i^k`` answer every query
  in that cell with a few multiply-adds. The Taylor series is cut where its remainder is below
  1e-15 relative (``(max hazard per month)^(K+1) / (K+1)!``; K is about 8 for HMD tables).

Work: one pass per month cell that holds a query, over the patients still followed then
(sum of follow-up in months times K operations).
"""

from __future__ import annotations

import math

import numpy as np

from ._cohort import RelativeCohort

#: Relative truncation error allowed in the Taylor series of exp(lambda u) on a month (u <= 1).
_TAYLOR_TOL = 1e-15


def taylor_terms(max_rate_per_month: float) -> int:
    """Number of terms after the constant one so that the remainder is below ``_TAYLOR_TOL``.

    Examples
    --------
    >>> taylor_terms(0.05), taylor_terms(1.0)
    (8, 17)
    """
    x = max(float(max_rate_per_month), 1e-12)
    k, bound = 0, x * math.exp(x)  # Lagrange bound of the remainder after the terms 0 .. k
    while bound > _TAYLOR_TOL and k < 60:
        k += 1
        bound *= x / (k + 1)
    return k


def risk_set_sums(cohort: RelativeCohort, s: np.ndarray, first: np.ndarray,
                  weights: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``W`` and ``L`` (module docstring) at times ``s`` over the patients ``first, first + 1, ...``.

    Parameters
    ----------
    cohort : RelativeCohort
        Patients sorted by follow-up.
    s : ndarray
        Months since diagnosis (>= 0).
    first : ndarray (int)
        Position (in follow-up order) of the first patient of each risk set; every patient from
        there on must still be followed at ``s`` (``duration >= s``).
    weights : bool
        Compute ``W`` (False: zeros, only ``L`` is needed).

    Returns
    -------
    W, L : ndarray
        Same shape as ``s``.
    """
    s = np.asarray(s, dtype=float)
    first = np.asarray(first, dtype=np.int64)
    cell = np.maximum(np.ceil(s) - 1.0, 0.0)  # s in (g, g + 1] uses cell g; s = 0 uses cell 0
    W, L = np.zeros(s.shape), np.zeros(s.shape)
    n = cohort.duration.size
    K = taylor_terms(float(cohort.life_table.mx.max()) / 12.0) if weights else -1
    factorials = np.cumprod(np.r_[1.0, np.arange(1.0, K + 1)]) if weights else np.ones(0)
    order = np.argsort(cell, kind="stable")
    cells, bounds = np.unique(cell[order], return_index=True)
    for g, q in zip(cells, np.split(order, bounds[1:]), strict=True):  # one pass per month cell
        lo = int(first[q].min())
        if lo >= n:
            continue
        start = cohort.start[lo:]
        at = np.full(start.shape, g)
        H = cohort.life_table.path_cumulative_hazard(start, at)
        lam = cohort.life_table.path_hazard(start, at)
        # rows: Lambda, lambda, then exp(Lambda) lambda^k for k = 0 .. K (Taylor terms of W)
        rows = np.empty((K + 3, start.size))
        rows[0], rows[1] = H, lam
        if weights:
            np.exp(H, out=rows[2])
            for k in range(1, K + 1):
                np.multiply(rows[k + 1], lam, out=rows[k + 2])
        sums = _suffix_at(rows, first[q] - lo)
        u = s[q] - g
        L[q] = sums[0] + u * sums[1]
        if weights:
            coef = u[None, :] ** np.arange(K + 1)[:, None] / factorials[:, None]
            W[q] = np.einsum("ij,ij->j", coef, sums[2:])
    return W, L


def _suffix_at(rows: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """``rows[:, p:].sum(axis=1)`` for every p in ``pos`` (each < rows.shape[1]), in one pass.

    The columns are cut at the distinct positions, each piece summed once (``np.add.reduceat``),
    and the piece sums added from the end.
    """
    cuts, inverse = np.unique(pos, return_inverse=True)
    pieces = np.add.reduceat(rows, cuts, axis=1)
    return np.cumsum(pieces[:, ::-1], axis=1)[:, ::-1][:, inverse]
