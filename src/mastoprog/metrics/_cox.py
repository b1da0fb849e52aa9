"""A small Cox proportional-hazards fit (Breslow ties) used by the calibration metrics.

Private: the calibration slope and the smoothed calibration curve regress the observed outcome on
one or a few transforms of the predicted risk. A 60-line Newton-Raphson keeps those fits fast inside
bootstraps and simulation studies and free of third-party warnings; tests compare it with lifelines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._nonparametric import per_cohort

__all__ = ["CoxFit", "cox_fit", "descending_time_order"]


@dataclass(frozen=True)
class CoxFit:
    """Coefficients, their covariance, and the Breslow baseline cumulative hazard."""

    beta: np.ndarray
    cov: np.ndarray
    base_times: np.ndarray
    base_cumhaz: np.ndarray
    converged: bool

    def survival_at(self, x: np.ndarray, t: float) -> np.ndarray:
        """S(t | x) = exp(-H0(t) exp(x beta)) for each row of ``x``."""
        idx = np.searchsorted(self.base_times, t, side="right") - 1
        h0 = self.base_cumhaz[idx] if idx >= 0 else 0.0
        return np.exp(-h0 * np.exp(np.asarray(x, dtype=float) @ self.beta))


def descending_time_order(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows by descending time (ties in row order) and, per sorted row, the index of the last row
    sharing its time: the risk set of a death is every sorted row up to that index. Shared per
    cohort inside :func:`~._nonparametric.shared_cohort_results`: the calibration slope and the
    smoothed calibration curve at a horizon fit the same censored outcome."""
    def compute() -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(-time, kind="stable")
        ts = time[order]
        ends = np.flatnonzero(np.r_[ts[1:] != ts[:-1], True])  # last sorted row of each tied time
        return order, np.repeat(ends, np.diff(np.r_[-1, ends]))
    return per_cohort("descending time order", time, event, compute)


@dataclass(frozen=True)
class _RiskSets:
    """What the Newton-Raphson iterations reuse: centred covariates in descending time order (as
    (n, p) and as contiguous (p, n) rows, whose running sums are several times faster), the
    sorted positions of the deaths, the last row of each death's risk set, and the deaths'
    covariates as (p, n_deaths) rows."""

    xs: np.ndarray
    columns: np.ndarray
    dead: np.ndarray
    last_dead: np.ndarray
    x_dead: np.ndarray


def _total(values: np.ndarray, p: int) -> float:
    """Sum over deaths as ``np.sum(a, axis=0)`` of an (n_deaths, p[, p]) array adds: pairwise when
    p = 1 (the axis is contiguous), else one by one in order (a running sum's last value)."""
    return float(np.sum(values)) if p == 1 else float(np.cumsum(values)[-1])


def _likelihood_parts(beta: np.ndarray, sets: _RiskSets) -> tuple[float, np.ndarray, np.ndarray]:
    """Breslow log partial likelihood, its gradient and information at ``beta``.

    Risk-set sums S0, S1, S2 by running sums along contiguous rows, one row per covariate (pair):
    several times faster than along the first axis of (n, p, p) arrays. The sums over deaths add
    the same numbers in the same order as ``np.sum(..., axis=0)`` of those arrays did
    (:func:`_total`), so the fit is bit-identical to that layout's.
    """
    p = sets.columns.shape[0]
    eta = sets.xs @ beta
    shift = eta.max()
    r = np.exp(eta - shift)
    s0 = np.cumsum(r)[sets.last_dead]
    weighted = r * sets.columns
    xbar = np.empty((p, sets.dead.size))
    grad = np.empty(p)
    info = np.empty((p, p))
    for a in range(p):  # loop over covariates (1-4), not patients
        xbar[a] = np.cumsum(weighted[a])[sets.last_dead] / s0
        grad[a] = _total(sets.x_dead[a] - xbar[a], p)
    for a in range(p):
        for b in range(p):  # both triangles: (r x_a) x_b and (r x_b) x_a round differently
            s2 = np.cumsum(weighted[a] * sets.columns[b])[sets.last_dead]
            info[a, b] = _total(s2 / s0 - xbar[a] * xbar[b], p)
    loglik = np.sum(eta[sets.dead] - shift - np.log(s0))
    return float(loglik), grad, info


def cox_fit(time: np.ndarray, event: np.ndarray, x: np.ndarray, max_iter: int = 50,
            tol: float = 1e-9) -> CoxFit:
    """Maximise the Breslow partial likelihood by Newton-Raphson with step halving.

    ``x`` is (n, p); covariates are centred internally for numerical stability (the baseline
    hazard is returned for the uncentred covariates).
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    p = x.shape[1]
    centre = x.mean(axis=0)
    xc = x - centre
    order, last = descending_time_order(time, event)
    ts, ev, xs = time[order], event[order], xc[order]
    # risk-set sums are needed at the deaths only (often a small share, e.g. censored at a horizon)
    dead = np.flatnonzero(ev)
    columns = np.ascontiguousarray(xs.T)
    sums = _RiskSets(xs, columns, dead, last[dead], np.ascontiguousarray(columns[:, dead]))

    def parts(beta: np.ndarray):
        return _likelihood_parts(beta, sums)

    beta = np.zeros(p)
    loglik, grad, info = parts(beta)
    converged = False
    for _ in range(max_iter):
        try:
            step = np.linalg.solve(info, grad)
        except np.linalg.LinAlgError:
            break
        new = beta + step
        new_ll, new_grad, new_info = parts(new)
        halvings = 0
        while new_ll < loglik - 1e-12 and halvings < 30:
            step /= 2.0
            new = beta + step
            new_ll, new_grad, new_info = parts(new)
            halvings += 1
        done = abs(new_ll - loglik) < tol * (1.0 + abs(loglik))
        beta, loglik, grad, info = new, new_ll, new_grad, new_info
        if done:
            converged = True
            break
    try:
        cov = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        cov = np.full((p, p), np.nan)
    # Breslow baseline for the uncentred covariates: H0(t) = sum_{t_i <= t} d_i / S0(t_i)
    r = np.exp((x @ beta)[order])  # row by row the same products as x[order] @ beta, one 1-D gather
    s0 = np.cumsum(r)[last]
    uniq_desc_first = np.r_[True, ts[1:] != ts[:-1]]
    times_desc = ts[uniq_desc_first]
    d_by_time = np.add.reduceat(ev.astype(float), np.flatnonzero(uniq_desc_first))
    s0_by_time = s0[uniq_desc_first]
    inc = (d_by_time / s0_by_time)[::-1]
    base_times = times_desc[::-1]
    return CoxFit(beta, cov, base_times, np.cumsum(inc), converged)
