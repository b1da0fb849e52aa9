"""Missing covariates in a fit: multiple imputation by chained equations and Rubin's rules.

The imputation model holds every finding a term is computed from, the other covariates (age, sex,
subtype) and the outcome as White & Royston recommend for survival models: the event indicator and
the Nelson-Aalen cumulative hazard at the exit time (with delayed entry, the risk sets start at
entry). Each of the ``m`` data sets is drawn with scikit-learn's ``IterativeImputer``
(``sample_posterior=True``: a draw from the posterior predictive of a Bayesian ridge regression, so
the imputations carry the uncertainty of the imputation model), binary findings are rounded to
0/1 and counts to whole numbers inside their observed range.

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
import pandas as pd

from .._resources import load_table

__all__ = ["Pooled", "impute_findings", "nelson_aalen", "rubin"]


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


def _kinds(columns: list[str]) -> dict[str, str]:
    schema = load_table("findings_schema.csv").set_index("column")["kind"]
    return {c: str(schema.get(c, "float")) for c in columns}


def impute_findings(
    frame: pd.DataFrame,
    columns: list[str],
    auxiliary: pd.DataFrame,
    m: int,
    random_state: int | np.random.SeedSequence | np.random.Generator,
) -> list[pd.DataFrame]:
    """``m`` completed copies of ``frame`` with the missing ``columns`` drawn by chained equations.

    Parameters
    ----------
    frame : DataFrame
        Findings (canonical dtypes); only ``columns`` are imputed.
    columns : list of str
        Findings with missing values to impute (each observed at least twice).
    auxiliary : DataFrame
        Complete predictors of the imputation model, same rows: covariates, the event indicator and
        the Nelson-Aalen cumulative hazard (White & Royston 2009).
    m : int
        Number of imputations.
    random_state : int, SeedSequence or Generator
        Seeds the ``m`` imputations (independent child seeds).

    Returns
    -------
    list of DataFrame
        Copies of ``frame``; booleans rounded to 0/1, counts to whole numbers, every value clipped
        to the observed range of its column.

    References
    ----------
    White IR, Royston P. Stat Med 2009;28:1982-98. doi:10.1002/sim.3618
    """
    # Imported here to keep `import mastoprog` light (scikit-learn is heavy).
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer

    values = np.column_stack([pd.to_numeric(frame[c].astype("Float64"), errors="coerce")
                              .to_numpy(float, na_value=np.nan) for c in columns])
    aux = auxiliary.to_numpy(float)
    lo, hi = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
    kinds = _kinds(columns)
    seeds = np.random.default_rng(random_state).integers(0, 2**31 - 1, size=m)
    out = []
    for seed in seeds:
        imp = IterativeImputer(sample_posterior=True, max_iter=10, random_state=int(seed),
                               skip_complete=True)
        filled = imp.fit_transform(np.column_stack([values, aux]))[:, : len(columns)]
        filled = np.clip(filled, lo, hi)
        copy = frame.copy()
        for j, c in enumerate(columns):
            v = np.round(filled[:, j]) if kinds[c] in {"bool", "count"} else filled[:, j]
            copy[c] = np.where(np.isnan(values[:, j]), v, values[:, j])
        out.append(copy)
    return out


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
    diag_t = np.diag(total)
    fmi = np.where(diag_t > 0, (1 + 1 / m) * np.diag(between) / np.where(diag_t > 0, diag_t, 1), 0.0)
    with np.errstate(divide="ignore"):
        df = np.where(fmi > 0, (m - 1) / np.where(fmi > 0, fmi, 1) ** 2, np.inf)
    return Pooled(q.mean(axis=0), total, within, between, fmi, df, m)
