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
from collections.abc import Iterator

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
    cell = np.maximum(np.ceil(s) - 1.0, 0.0)  # s in (g, g + 1] uses cell g; s = 0 uses cell 0
    W, L = np.zeros(s.shape), np.zeros(s.shape)
    K = taylor_terms(float(cohort.life_table.mx.max()) / 12.0) if weights else -1
    for g, q, sums in _cell_sums(cohort, cell, np.asarray(first, dtype=np.int64), K + 1):
        u = s[q] - g
        L[q] = sums[0] + u * sums[1]
        if weights:
            W[q] = _taylor(sums[2:], u)
    return W, L


def weighted_hazard_sums(cohort: RelativeCohort, s: np.ndarray, first: np.ndarray,
                         step: np.ndarray) -> tuple[np.ndarray, ...]:
    """Sums relsurv's daily Pohar Perme integration needs (``netfastpinter2.c``), over ``first, ...``.

    With ``lambda_i = lambda_i(s)`` (the hazard at the start of the step, right-continuous) and
    ``E_i = exp(Lambda_i(s))``: ``sum lambda_i E_i``, ``sum E_i`` and the same with ``E_i exp(lambda_i
    step)`` (the weights at the end of the step, the hazard held at its start value).

    Returns
    -------
    N1, W1, N2, W2 : ndarray
        Same shape as ``s``.
    """
    s = np.asarray(s, dtype=float)
    cell = np.floor(s)  # the hazard *at* s: an integer month s takes the next month's rate
    K = taylor_terms(float(cohort.life_table.mx.max()) / 12.0)
    out = [np.zeros(s.shape) for _ in range(4)]
    for g, q, sums in _cell_sums(cohort, cell, np.asarray(first, dtype=np.int64), K + 2):
        u = s[q] - g
        for k, at in enumerate((u, u + step[q])):  # d/du of sum b exp(lambda u) = sum b lambda exp(...)
            out[2 * k][q] = _taylor(sums[3:], at)
            out[2 * k + 1][q] = _taylor(sums[2:-1], at)
    return tuple(out)


def _cell_sums(cohort: RelativeCohort, cell: np.ndarray, first: np.ndarray,
               n_powers: int) -> Iterator[tuple[float, np.ndarray, np.ndarray]]:
    """Per month cell ``g`` holding queries ``q``: suffix sums from each query's ``first`` of the rows
    ``Lambda_i(g)``, ``lambda_i(g)`` and ``exp(Lambda_i(g)) lambda_i^k`` for ``k < n_powers``."""
    n = cohort.duration.size
    order = np.argsort(cell, kind="stable")
    cells, bounds = np.unique(cell[order], return_index=True)
    for g, q in zip(cells, np.split(order, bounds[1:]), strict=True):  # one pass per month cell
        lo = int(first[q].min())
        if lo >= n:
            continue
        start = cohort.start[lo:]
        at = np.full(start.shape, g)
        rows = np.empty((n_powers + 2, start.size))
        rows[0] = cohort.life_table.path_cumulative_hazard(start, at)
        rows[1] = cohort.life_table.path_hazard(start, at)
        if n_powers:
            np.exp(rows[0], out=rows[2])
            for k in range(1, n_powers):
                np.multiply(rows[k + 1], rows[1], out=rows[k + 2])
        yield float(g), q, _suffix_at(rows, first[q] - lo)


def _taylor(moments: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``sum_k u^k / k! moments[k]`` (rows k = 0 .. K, one column per query)."""
    k = np.arange(moments.shape[0])
    factorials = np.cumprod(np.r_[1.0, k[1:]])
    return np.einsum("ij,ij->j", u[None, :] ** k[:, None] / factorials[:, None], moments)


def _suffix_at(rows: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """``rows[:, p:].sum(axis=1)`` for every p in ``pos`` (each < rows.shape[1]), in one pass.

    The columns are cut at the distinct positions, each piece summed once (``np.add.reduceat``),
    and the piece sums added from the end.
    """
    cuts, inverse = np.unique(pos, return_inverse=True)
    pieces = np.add.reduceat(rows, cuts, axis=1)
    return np.cumsum(pieces[:, ::-1], axis=1)[:, ::-1][:, inverse]
