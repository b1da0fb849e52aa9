"""Missing covariates in a fit: multiple imputation and Rubin's rules.

Two ways to draw the missing terms, both on their own scale (a published factor as a category, so
it is never rounded from a linear draw; a continuous finding by linear regression):

* :func:`smcfcs` (the default of ``SurvivalModel.fit(missing="impute")``): substantive-model-
  compatible chained equations (Bartlett et al. 2015). Each missing value is drawn from its
  covariate model times the row's excess-hazard likelihood under the fit's own model (exactly for
  a category, by rejection sampling for a continuous term), so the imputations agree with the
  analysis model, delayed entry and the life-table background included;
* :func:`impute_terms` (``imputation="chained"``): the approximate chained equations of White &
  Royston, with the event indicator and the Nelson-Aalen cumulative hazard at the exit time as
  predictors; approximately proper (the imputation model is refitted on a bootstrap sample for
  every draw, as mice's ``*.boot`` methods). Biased toward the null when missingness depends
  strongly on the outcome (``benchmarks/bench_fit_missing.py``): kept for comparison.

References
----------
Bartlett JW, Seaman SR, White IR, Carpenter JR. Multiple imputation of covariates by fully
conditional specification: accommodating the substantive model. Stat Methods Med Res
2015;24:462-87. doi:10.1177/0962280214521348
White IR, Royston P. Imputing missing covariate values for the Cox model. Stat Med
2009;28:1982-98. doi:10.1002/sim.3618
van Buuren S, Groothuis-Oudshoorn K. mice: multivariate imputation by chained equations in R.
J Stat Softw 2011;45(3):1-67. doi:10.18637/jss.v045.i03
Rubin DB. Multiple Imputation for Nonresponse in Surveys. Wiley 1987 (the pooling rules).
Barnard J, Rubin DB. Small-sample degrees of freedom with multiple imputation. Biometrika
1999;86:948-55 (not used: the large-sample df below).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._excess_data import ExcessData

__all__ = ["ImputationGroup", "Pooled", "impute_terms", "nelson_aalen", "rubin", "smcfcs"]


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


@dataclass(frozen=True, eq=False)
class ImputationGroup:
    """Design columns imputed together: one categorical finding (its 0/1 indicator columns, e.g.
    ``sar_1`` and ``sar_2plus`` of ``sar_count``) or one continuous term.

    Attributes
    ----------
    columns : tuple of int
        The design columns of the group.
    categorical : bool
        Indicator columns of one finding (at most one of them is 1 per row).
    source : ndarray, optional
        Continuous terms only: the values on the scale they are imputed on (n,), NaN where unknown
        (e.g. the raw finding of a spline term); default the design column itself.
    transform : callable, optional
        ``source values (n,) -> design columns (n, len(columns))`` (e.g. the B-spline basis);
        default the identity.
    """

    columns: tuple[int, ...]
    categorical: bool
    source: np.ndarray | None = None
    transform: Callable[[np.ndarray], np.ndarray] | None = None

    def cells(self, values: np.ndarray) -> np.ndarray:
        """Design columns (n, len(columns)) of continuous ``values`` (n,)."""
        return values[:, None] if self.transform is None else self.transform(values)


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
    return _multinomial_fit(A, y, K, ridge)[0]


def _multinomial_fit(A: np.ndarray, y: np.ndarray, K: int,
                     ridge: float = 1e-4) -> tuple[np.ndarray, np.ndarray]:
    """``(B, information)`` of a multinomial logit: (q, K-1) coefficients (class 0 the reference)
    and the penalised observed information of ``B.ravel(order="F")``."""
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
    return B, H


# ---------------------------------------------------------------------- substantive-model-compatible FCS


def smcfcs(
    X: np.ndarray,
    groups: list[ImputationGroup],
    outcome: ExcessData,
    strata: np.ndarray,
    covariates: np.ndarray,
    m: int,
    random_state: int | np.random.SeedSequence | np.random.Generator,
    iterations: int = 10,
    ridge: float = 0.0,
    max_tries: int = 1000,
) -> tuple[list[np.ndarray], int]:
    """``m`` completed copies of ``X`` by substantive-model-compatible FCS (SMC-FCS).

    The substantive model is the excess-hazard Weibull model of the fit (:mod:`._excess_fitter`):
    per subtype a Weibull excess hazard, the design ``X`` acting on it, the life-table hazard as a
    known offset and delayed entry as left truncation. Each of ``m`` independent chains runs
    ``iterations`` rounds; in each round, for each incomplete group in turn:

    1. the **covariate model** (the group given the other design columns and ``covariates``, not
       the outcome) is fitted to the current completed data and its parameters drawn from their
       approximate posterior (multinomial logit: normal around the estimate with the inverse
       information; linear: scaled inverse chi-square residual variance, then normal
       coefficients);
    2. the **substantive model** is refitted (Newton-Raphson from the previous estimate) and its
       parameters drawn from ``N(estimate, inverse information)``;
    3. each missing value is drawn from ``p(x | covariates) f(T, E | x)``: **exactly** for a
       categorical group (the covariate-model probabilities times each category's excess-hazard
       likelihood, normalised), by **rejection sampling** for a continuous one (proposal from
       the covariate model, accepted with probability ``f(T, E | x) / sup_x f(T, E | x)``; the
       supremum over the linear predictor is closed-form, below). Vectorised over rows; a row
       not accepted in ``max_tries`` proposals keeps its last proposal (counted, rare).

    The likelihood of a row given its linear predictor ``eta`` is, with ``a`` the excess hazard
    and ``b`` the excess cumulative hazard over ``[entry, T]`` at ``eta = 0`` and ``y = exp(eta)``,
    ``f(y) = (h_bg + a y)^E exp(-b y)`` (the background survival does not depend on ``x``). Its
    supremum is 1 for ``E = 0``; for ``E = 1`` it is ``(a / b) exp(b h_bg / a - 1)`` at
    ``y = 1 / b - h_bg / a`` when that is positive, else ``h_bg``.

    Parameters
    ----------
    X : ndarray
        (n, p) design with NaN where a term is unknown.
    groups : list of ImputationGroup
        Partition of the incomplete columns.
    outcome : ExcessData
        Times, events, entries and background hazards (:class:`ExcessData`, the fitter's own).
    strata : ndarray
        (n, k) subtype indicators: each subtype its own Weibull scale and shape.
    covariates : ndarray
        (n, c) complete covariates of the covariate models besides the other design columns
        (age, sex, subtype indicators less one); never the outcome.
    m : int
        Number of imputations (independent chains).
    random_state : int, SeedSequence or Generator
    iterations : int
        Rounds per chain (smcfcs' ``numit``, default 10).
    ridge : float
        Ridge on the log-HRs of the substantive model (as the analysis; 0 = maximum likelihood).
    max_tries : int
        Proposals per row in the rejection sampler.

    Returns
    -------
    tuple
        ``(designs, failures)``: ``m`` completed designs (observed cells unchanged) and the number
        of row draws that kept an unaccepted proposal (all chains and rounds).

    References
    ----------
    Bartlett JW, Seaman SR, White IR, Carpenter JR. Multiple imputation of covariates by fully
    conditional specification: accommodating the substantive model. Stat Methods Med Res
    2015;24:462-87. doi:10.1177/0962280214521348 (the algorithm; R package ``smcfcs``).
    Esteve J et al. Stat Med 1990;9:529-38 (the excess-hazard likelihood).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> n = 400
    >>> x = (rng.random(n) < 0.5).astype(float)
    >>> T = rng.exponential(60 / np.exp(0.7 * x))
    >>> out = ExcessData.from_hazard(np.minimum(T, 48), (T < 48).astype(float), np.zeros(n),
    ...                              np.full(n, 1e-4), np.minimum(T, 48) * 1e-4)
    >>> X = np.where(rng.random(n) < 0.3, np.nan, x)[:, None]
    >>> done, _ = smcfcs(X, [ImputationGroup((0,), True)], out, np.ones((n, 1)), np.zeros((n, 0)), 2, 1,
    ...                  iterations=3)
    >>> seen = ~np.isnan(X)
    >>> len(done), bool(np.isin(done[0], [0.0, 1.0]).all()), bool((done[1][seen] == X[seen]).all())
    (2, True, True)
    """
    d = outcome
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(
        np.random.default_rng(random_state).integers(0, 2**63 - 1)).spawn(m)]
    failures = [0]
    out = []
    for rng in rngs:
        sm = _Substantive(d, np.asarray(strata, float), ridge)
        out.append(_smcfcs_chain(X, groups, sm, covariates, rng, iterations, max_tries, failures))
    return out, failures[0]


class _Substantive:
    """The excess-hazard model refitted on each completed design and drawn from its posterior."""

    def __init__(self, d: Any, strata: np.ndarray, ridge: float) -> None:
        self.d, self.strata, self.ridge = d, strata, float(ridge)
        self.theta: np.ndarray | None = None
        self.centre: np.ndarray | None = None

    def draw(self, Xc: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``theta*`` = (beta, log lambda, log rho) drawn from ``N(estimate, inverse information)``."""
        from ._excess_fitter import Penalty, _start_log_lambda, excess_loglik, maximise  # lifelines

        if self.centre is None:  # fixed for the chain: only reparametrises the subtype scales
            self.centre = Xc.mean(axis=0)
        p, k = Xc.shape[1], self.strata.shape[1]
        blocks = (Xc - self.centre, self.strata, self.strata)
        if self.theta is None:
            self.theta = np.concatenate([np.zeros(p), _start_log_lambda(self.d, self.strata), np.zeros(k)])
        pen = Penalty(np.arange(p), np.ones(p), np.zeros(p), self.ridge)
        self.theta, _, info = maximise(lambda th: excess_loglik(th, blocks, self.d), self.theta, pen)
        return self.theta + _normal_draw(info, rng)

    def parts(self, theta: np.ndarray, Xc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(eta, log a, b)`` per row: linear predictor, log excess hazard at ``T`` and excess
        cumulative hazard over ``[entry, T]`` at ``eta = 0``."""
        assert self.centre is not None
        p, k = Xc.shape[1], self.strata.shape[1]
        beta, tl, tr = np.split(theta, [p, p + k])
        a, rho = self.strata @ tl, np.exp(self.strata @ tr)
        u = np.log(self.d.T) - a
        log_a = np.log(rho) - a + (rho - 1.0) * u
        late = self.d.entry > 0
        with np.errstate(over="ignore"):
            u0 = np.log(np.where(late, self.d.entry, 1.0)) - a
            b = np.exp(rho * u) - np.where(late, np.exp(rho * u0), 0.0)
        return (Xc - self.centre) @ beta, log_a, b

    def loglik(self, eta: np.ndarray, log_a: np.ndarray, b: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Row log-likelihood (up to terms free of ``x``) at linear predictors ``eta`` of ``rows``."""
        with np.errstate(over="ignore"):
            hazard = np.logaddexp(self.d.bg_log_h[rows], log_a[rows] + eta)
            return self.d.E[rows] * hazard - b[rows] * np.exp(eta)

    def log_sup(self, log_a: np.ndarray, b: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """``log sup_eta f`` per row (closed form, see :func:`smcfcs`)."""
        bg = np.exp(self.d.bg_log_h[rows])
        a, bb = np.exp(log_a[rows]), np.maximum(b[rows], 1e-300)
        interior = a > bb * bg
        ratio = np.where(interior, bb * bg / a, 0.0)
        event = np.where(interior, np.log(a) - np.log(bb) - 1.0 + ratio, np.log(bg))
        return np.where(self.d.E[rows] > 0, event, 0.0)


def _normal_draw(info: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A draw from ``N(0, info^-1)``; for a singular ``info``, from ``N(0, pinv(info))``.

    A parameter the data do not identify (a subtype whose excess hazard the likelihood drives to
    zero: its scale runs off, its information is 0) is kept at its estimate instead of ending the
    imputation with numpy's "not positive definite" (seen on a 528-patient advanced-SM extract
    with 47 SM-ALN patients). A clearly indefinite ``info`` (not a maximum) is an error.
    """
    sym = (info + info.T) / 2
    if not np.all(np.isfinite(sym)):  # numpy's Cholesky would return NaN here, not raise
        from ._excess_fitter import ConvergenceFailure  # lifelines: only on this rare path

        raise ConvergenceFailure("imputation: the substantive model's information matrix is not finite; "
                                 "pass a subtype with almost no excess deaths in zero_excess= or use ridge=")
    try:
        c = np.linalg.cholesky(sym)
    except np.linalg.LinAlgError:
        return _semidefinite_draw(sym, rng)
    return np.linalg.solve(c.T, rng.standard_normal(len(info)))


def _semidefinite_draw(sym: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from ._excess_fitter import ConvergenceFailure  # lifelines: only on this rare path

    values, vectors = np.linalg.eigh(sym)
    top = max(float(values.max(initial=0.0)), 1e-300)
    if values.min() < -1e-8 * top:
        raise ConvergenceFailure(
            "imputation: the substantive model's information matrix is not positive semi-definite "
            f"(smallest eigenvalue {values.min():.3g}); pass a subtype with almost no excess deaths "
            "in zero_excess= or use ridge=")
    kept = values > 1e-10 * top  # identified directions; the others stay at the estimate
    z = rng.standard_normal(len(values))
    return vectors[:, kept] @ (z[kept] / np.sqrt(values[kept]))


def _smcfcs_chain(X, groups, sm: _Substantive, covariates, rng, iterations, max_tries,
                  failures) -> np.ndarray:
    Xc = X.copy()
    holes = np.isnan(X)
    values = {}
    for j, g in enumerate(groups):
        cols = list(g.columns)
        miss = holes[:, cols].any(axis=1)
        donors = np.flatnonzero(~miss)
        pick = rng.choice(donors, miss.sum())
        if g.categorical:
            Xc[np.ix_(miss, cols)] = X[np.ix_(pick, cols)]
        else:
            src = (X[:, cols[0]] if g.source is None else np.asarray(g.source, float)).copy()
            src[miss] = src[pick]
            values[j] = src
            Xc[:, cols] = g.cells(src)
    for _ in range(iterations):
        for j, g in enumerate(groups):
            if g.categorical:
                _smc_categorical(Xc, holes, g, sm, covariates, rng)
            else:
                failures[0] += _smc_continuous(Xc, holes, g, values[j], sm, covariates, rng, max_tries)
    return Xc


def _covariate_design(Xc: np.ndarray, cols: Any, covariates: np.ndarray) -> np.ndarray:
    Z = np.column_stack([np.delete(Xc, cols, axis=1), covariates])
    sd = Z.std(axis=0)
    Z = (Z[:, sd > 0] - Z[:, sd > 0].mean(axis=0)) / sd[sd > 0]
    return np.column_stack([np.ones(len(Z)), Z])


def _smc_categorical(Xc, holes, g: ImputationGroup, sm: _Substantive, covariates, rng) -> None:
    cols = np.array(g.columns, dtype=np.intp)
    miss = np.flatnonzero(holes[:, cols].any(axis=1))
    A = _covariate_design(Xc, cols, covariates)
    Y = Xc[:, cols]
    code = np.where(Y.any(axis=1), Y.argmax(axis=1) + 1, 0)
    K = len(cols) + 1
    B, info = _multinomial_fit(A, code, K)
    B = B + _normal_draw(info, rng).reshape(B.shape, order="F")
    log_p = np.log(np.clip(_softmax(A[miss] @ B), 1e-300, None))
    theta = sm.draw(Xc, rng)
    eta, log_a, b = sm.parts(theta, Xc)
    beta_g = theta[cols]
    centre_g = sm.centre[cols] if sm.centre is not None else np.zeros(len(cols))
    eta_rest = eta[miss] - (Xc[np.ix_(miss, cols)] - centre_g) @ beta_g
    levels = np.vstack([np.zeros(len(cols)), np.eye(len(cols))])  # category c -> its indicators
    for c in range(K):
        log_p[:, c] += sm.loglik(eta_rest + (levels[c] - centre_g) @ beta_g, log_a, b, miss)
    prob = np.exp(log_p - log_p.max(axis=1, keepdims=True))
    prob /= prob.sum(axis=1, keepdims=True)
    drawn = np.minimum((np.cumsum(prob, axis=1) < rng.random(len(miss))[:, None]).sum(axis=1), K - 1)
    Xc[np.ix_(miss, cols)] = levels[drawn]


def _smc_continuous(Xc, holes, g: ImputationGroup, src, sm: _Substantive, covariates, rng,
                    max_tries: int) -> int:
    """Rejection sampling of a continuous group; returns the rows left with an unaccepted proposal."""
    cols = list(g.columns)
    miss = np.flatnonzero(holes[:, cols].any(axis=1))
    A = _covariate_design(Xc, cols, covariates)
    mean, sd = _linear_posterior_draw(A, src, rng)
    theta = sm.draw(Xc, rng)
    eta, log_a, b = sm.parts(theta, Xc)
    beta_g = theta[cols]
    centre_g = sm.centre[cols] if sm.centre is not None else np.zeros(len(cols))
    eta_rest = eta - (Xc[:, cols] - centre_g) @ beta_g
    log_sup = sm.log_sup(log_a, b, np.arange(len(src)))
    need = miss
    for _ in range(max_tries):
        proposal = mean[need] + sd * rng.standard_normal(need.size)
        eta_new = eta_rest[need] + (g.cells(proposal) - centre_g) @ beta_g
        ok = np.log(rng.random(need.size)) < sm.loglik(eta_new, log_a, b, need) - log_sup[need]
        src[need] = proposal  # accepted rows keep it; the others are redrawn (or keep the last)
        need = need[~ok]
        if need.size == 0:
            break
    Xc[:, cols] = g.cells(src)
    return int(need.size)


def _linear_posterior_draw(A: np.ndarray, y: np.ndarray, rng) -> tuple[np.ndarray, float]:
    """Fitted values and residual sd of a linear regression with parameters drawn from their
    posterior (flat prior): ``sigma^2 = RSS / chi2_{n-q}``, ``beta ~ N(hat, sigma^2 (A'A)^-1)``."""
    n, q = A.shape
    AtA = A.T @ A + 1e-9 * np.eye(q)
    coef = np.linalg.solve(AtA, A.T @ y)
    rss = float(np.sum((y - A @ coef) ** 2))
    sigma2 = rss / rng.chisquare(max(n - q, 1))
    coef = coef + _normal_draw(AtA / sigma2, rng)
    return A @ coef, float(np.sqrt(sigma2))


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
