"""A small Cox proportional-hazards fit (Breslow ties) used by the calibration metrics.

Private: the calibration slope and the smoothed calibration curve regress the observed outcome on
one or a few transforms of the predicted risk. A 60-line Newton-Raphson keeps those fits fast inside
bootstraps and simulation studies and free of third-party warnings; tests compare it with lifelines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CoxFit", "cox_fit"]


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
    # Descending time: the risk set of time t is every row up to the last row with time == t.
    order = np.argsort(-time, kind="stable")
    ts, ev, xs = time[order], event[order], xc[order]
    # index of the last row (in descending order) sharing each row's time
    last = np.searchsorted(-ts, -ts, side="right") - 1

    # risk-set sums are needed at the deaths only (often a small share, e.g. censored at a horizon)
    dead = np.flatnonzero(ev)
    last_dead = last[dead]
    x_dead = xs[dead]

    # covariates as contiguous rows: a running sum along a row is several times faster than along
    # the first axis of an (n, p, p) array, and adds the same numbers in the same order
    columns = np.ascontiguousarray(xs.T)

    def parts(beta: np.ndarray):
        eta = xs @ beta
        shift = eta.max()
        r = np.exp(eta - shift)
        s0 = np.cumsum(r)[last_dead]
        weighted = r * columns
        s1 = np.empty((dead.size, p))
        s2 = np.empty((dead.size, p, p))
        for a in range(p):  # loop over covariates (1-4), not patients
            s1[:, a] = np.cumsum(weighted[a])[last_dead]
            for b in range(p):  # both triangles: (r x_a) x_b and (r x_b) x_a round differently
                s2[:, a, b] = np.cumsum(weighted[a] * columns[b])[last_dead]
        loglik = np.sum(eta[dead] - shift - np.log(s0))
        xbar = s1 / s0[:, None]
        grad = np.sum(x_dead - xbar, axis=0)
        v = s2 / s0[:, None, None] - xbar[:, :, None] * xbar[:, None, :]
        info = np.sum(v, axis=0)
        return loglik, grad, info

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
    r = np.exp(x[order] @ beta)
    s0 = np.cumsum(r)[last]
    uniq_desc_first = np.r_[True, ts[1:] != ts[:-1]]
    times_desc = ts[uniq_desc_first]
    d_by_time = np.add.reduceat(ev.astype(float), np.flatnonzero(uniq_desc_first))
    s0_by_time = s0[uniq_desc_first]
    inc = (d_by_time / s0_by_time)[::-1]
    base_times = times_desc[::-1]
    return CoxFit(beta, cov, base_times, np.cumsum(inc), converged)
