"""Missing covariates in a fit: multiple imputation by chained equations and Rubin's rules.

The terms of the fit are imputed on their own scale (a published factor as a category, so it is
never rounded from a linear draw; a continuous finding by linear regression), each from all the
other terms, the covariates (age, sex, subtype) and the outcome as White & Royston recommend for
survival models: the event indicator and the Nelson-Aalen cumulative hazard at the exit time (with
delayed entry, the risk sets start at entry). The draws are approximately proper (the imputation
model is refitted on a bootstrap sample for every draw), as mice's ``*.boot`` methods.

References
----------
White IR, Royston P. Imputing missing covariate values for the Cox model. Stat Med
2009;28:1982-98. doi:10.1002/sim.3618
van Buuren S, Groothuis-Oudshoorn K. mice: multivariate imputation by chained equations in R.
J Stat Softw 2011;45(3):1-67. doi:10.18637/jss.v045.i03
Rubin DB. Multiple Imputation for Nonresponse in Surveys. Wiley 1987 (the pooling rules).
Barnard J, Rubin DB. Small-sample degrees of freedom with multiple imputation. Biometrika
1999;86:948-55 (not used: the large-sample df below).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ImputationGroup", "Pooled", "impute_terms", "nelson_aalen", "rubin"]


def nelson_aalen(T: np.ndarray, E: np.ndarray, entry: np.ndarray | None = None) -> np.ndarray:
    """Nelson-Aalen cumulative hazard of the whole cohort at each row's own exit time.

    Parameters
    ----------
    T : ndarray
        Exit times (months).
    E : ndarray
        1 = death, 0 = censored.
    entry : ndarray, optional
        Months from diagnosis to entry (left truncation): a row is at risk on ``(entry, T]``.

    Returns
    -------
    ndarray
        ``H(T_i)`` per row (deaths at the same time counted together).

    References
    ----------
    Aalen O. Nonparametric inference for a family of counting processes. Ann Stat 1978;6:701-26.
    """
    T = np.asarray(T, float)
    E = np.asarray(E, float)
    t0 = np.zeros_like(T) if entry is None else np.asarray(entry, float)
    times = np.unique(T[E > 0])
    deaths = np.bincount(np.searchsorted(times, T[E > 0]), minlength=len(times)).astype(float)
    # At risk at t: exit time >= t and entry < t.
    exits, entries = np.sort(T), np.sort(t0)
    at_risk = (len(T) - np.searchsorted(exits, times, side="left")) - (
        len(t0) - np.searchsorted(entries, times, side="left"))
    cum = np.cumsum(deaths / np.maximum(at_risk, 1))
    idx = np.searchsorted(times, T, side="right") - 1
    return np.where(idx >= 0, cum[np.maximum(idx, 0)], 0.0)


@dataclass(frozen=True)
class ImputationGroup:
    """Design columns imputed together: one categorical finding (its 0/1 indicator columns, e.g.
    ``sar_1`` and ``sar_2plus`` of ``sar_count``) or one continuous column."""

    columns: tuple[int, ...]
    categorical: bool


def impute_terms(
    X: np.ndarray,
    groups: list[ImputationGroup],
    auxiliary: np.ndarray,
    m: int,
    random_state: int | np.random.SeedSequence | np.random.Generator,
    iterations: int = 5,
) -> list[np.ndarray]:
    """``m`` completed copies of the design ``X`` by chained equations (approximately proper).

    Each incomplete group is drawn in turn from a model fitted on a bootstrap sample of the rows
    where it is observed (so the draws carry the uncertainty of the imputation model): a
    multinomial logistic regression for a categorical group (mice ``logreg.boot`` / ``polyreg``),
    a linear regression plus normal noise for a continuous column (mice ``norm.boot``). Predictors:
    the other design columns and ``auxiliary`` (which should hold the event indicator and the
    Nelson-Aalen cumulative hazard, White & Royston 2009). Starting values are random draws from
    the observed values.

    Parameters
    ----------
    X : ndarray
        (n, p) design with NaN where a term is unknown.
    groups : list of ImputationGroup
        Partition of the incomplete columns.
    auxiliary : ndarray
        (n, a) complete predictors.
    m : int
        Number of imputations.
    random_state : int, SeedSequence or Generator
    iterations : int
        Rounds of the chained equations.

    Returns
    -------
    list of ndarray
        ``m`` completed designs (observed cells unchanged).

    References
    ----------
    White IR, Royston P. Stat Med 2009;28:1982-98. doi:10.1002/sim.3618
    van Buuren S, Groothuis-Oudshoorn K. J Stat Softw 2011;45(3) (the mice methods named above).
    """
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(
        np.random.default_rng(random_state).integers(0, 2**63 - 1)).spawn(m)]
    return [_one_imputation(X, groups, auxiliary, rng, iterations) for rng in rngs]


def _one_imputation(X, groups, aux, rng, iterations) -> np.ndarray:
    Xc = X.copy()
    holes = np.isnan(X)
    for g in groups:
        cols = list(g.columns)
        miss = holes[:, cols].any(axis=1)
        donors = np.flatnonzero(~miss)
        Xc[np.ix_(miss, cols)] = X[np.ix_(rng.choice(donors, miss.sum()), cols)]
    for _ in range(iterations):
        for g in groups:
            _draw_group(Xc, holes, g, aux, rng)
    return Xc


def _draw_group(Xc, holes, g: ImputationGroup, aux, rng) -> None:
    cols = list(g.columns)
    miss = holes[:, cols].any(axis=1)
    others = np.delete(Xc, cols, axis=1)
    Z = np.column_stack([others, aux])
    Z = (Z - Z.mean(axis=0)) / np.where(Z.std(axis=0) > 0, Z.std(axis=0), 1.0)
    obs = np.flatnonzero(~miss)
    boot = rng.choice(obs, obs.size)
    if g.categorical:
        Y = Xc[:, cols]
        code = np.where(Y.any(axis=1), Y.argmax(axis=1) + 1, 0)
        drawn = _draw_category(Z[boot], code[boot], Z[miss], rng)
        Xc[np.ix_(miss, cols)] = (drawn[:, None] == np.arange(1, len(cols) + 1)[None, :]).astype(float)
    else:
        A = np.column_stack([np.ones(boot.size), Z[boot]])
        coef, *_ = np.linalg.lstsq(A, Xc[boot, cols[0]], rcond=None)
        sd = np.std(Xc[boot, cols[0]] - A @ coef)
        pred = np.column_stack([np.ones(miss.sum()), Z[miss]]) @ coef
        Xc[miss, cols[0]] = pred + rng.normal(0, sd, miss.sum())


def _draw_category(Z: np.ndarray, y: np.ndarray, Znew: np.ndarray, rng) -> np.ndarray:
    """Categories drawn from a multinomial logistic regression fitted to ``(Z, y)``."""
    classes = np.unique(y)
    if classes.size == 1:
        return np.full(len(Znew), classes[0])
    A = np.column_stack([np.ones(len(Z)), Z])
    B = _multinomial_newton(A, np.searchsorted(classes, y), classes.size)
    p = _softmax(np.column_stack([np.ones(len(Znew)), Znew]) @ B)
    u = rng.random(len(Znew))[:, None]
    return classes[np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), classes.size - 1)]


def _softmax(eta: np.ndarray) -> np.ndarray:
    """Class probabilities from (n, K-1) linear predictors against the first class."""
    full = np.column_stack([np.zeros(len(eta)), eta])
    full -= full.max(axis=1, keepdims=True)
    e = np.exp(full)
    return e / e.sum(axis=1, keepdims=True)


def _multinomial_newton(A: np.ndarray, y: np.ndarray, K: int, ridge: float = 1e-4) -> np.ndarray:
    """(q, K-1) coefficients of a multinomial logit by Newton-Raphson (tiny ridge: separation)."""
    q = A.shape[1]
    Y = (y[:, None] == np.arange(1, K)[None, :]).astype(float)
    B = np.zeros((q, K - 1))
    for _ in range(25):
        P = _softmax(A @ B)[:, 1:]
        g = (A.T @ (Y - P)).ravel(order="F") - ridge * B.ravel(order="F")
        H = np.empty(((K - 1) * q, (K - 1) * q))
        for a in range(K - 1):
            for b in range(K - 1):
                w = P[:, a] * ((a == b) - P[:, b])
                H[a * q:(a + 1) * q, b * q:(b + 1) * q] = A.T @ (A * w[:, None])
        H += ridge * np.eye(len(H))
        step = np.linalg.solve(H, g)
        B = B + step.reshape((q, K - 1), order="F")
        if np.max(np.abs(step)) < 1e-8:
            break
    return B


@dataclass(frozen=True)
class Pooled:
    """Rubin's rules over ``m`` completed-data fits (p parameters).

    Attributes
    ----------
    estimate : ndarray
        Mean of the m estimates (p,).
    variance : ndarray
        Total variance ``W + (1 + 1/m) B`` (p, p).
    within, between : ndarray
        Mean within-imputation variance W and between-imputation variance B (p, p).
    fmi : ndarray
        Fraction of missing information per parameter, ``(1 + 1/m) B / T`` (large-sample form).
    df : ndarray
        Rubin's degrees of freedom ``(m - 1) / fmi**2`` per parameter (inf without missingness).
    m : int
    """

    estimate: np.ndarray
    variance: np.ndarray
    within: np.ndarray
    between: np.ndarray
    fmi: np.ndarray
    df: np.ndarray
    m: int


def rubin(estimates: np.ndarray, variances: np.ndarray) -> Pooled:
    """Pool ``m`` estimates (m, p) and their covariance matrices (m, p, p) by Rubin's rules.

    Parameters
    ----------
    estimates : ndarray
        One row of parameter estimates per imputed data set.
    variances : ndarray
        Their covariance matrices.

    Returns
    -------
    Pooled

    References
    ----------
    Rubin DB. Multiple Imputation for Nonresponse in Surveys. Wiley 1987, ch. 3.

    Examples
    --------
    >>> p = rubin(np.array([[1.0], [3.0]]), np.array([[[1.0]], [[1.0]]]))
    >>> float(p.estimate[0]), float(p.variance[0, 0])
    (2.0, 4.0)
    """
    q = np.asarray(estimates, float)
    m = q.shape[0]
    within = np.mean(np.asarray(variances, float), axis=0)
    between = np.cov(q, rowvar=False, ddof=1).reshape(within.shape) if m > 1 else np.zeros_like(within)
    total = within + (1 + 1 / m) * between
    total = (total + total.T) / 2  # exactly symmetric (lifelines' matrices carry rounding)
    diag_t = np.diag(total)
    fmi = np.where(diag_t > 0, (1 + 1 / m) * np.diag(between) / np.where(diag_t > 0, diag_t, 1), 0.0)
    with np.errstate(divide="ignore"):
        df = np.where(fmi > 0, (m - 1) / np.where(fmi > 0, fmi, 1) ** 2, np.inf)
    return Pooled(q.mean(axis=0), total, within, between, fmi, df, m)
