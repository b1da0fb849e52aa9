"""Validation metrics for survival predictions: discrimination, calibration, overall accuracy.

Arrays or pandas objects in, tidy numbers out. Every metric is vectorised (sorting and
``searchsorted``; no Python loop over patients) and cross-checked in the tests against an
independent implementation (lifelines, scikit-survival, R's ``survival``).

.. warning:: **Direction of predictions.** mastoprog follows *lifelines*: a **higher** ``predicted``
   value means **longer** survival (e.g. a predicted survival probability or a predicted median).
   scikit-survival uses the *opposite* (higher = higher risk). To pass a risk score (a hazard ratio
   or a linear predictor of a Cox model), pass its negative.

Time units are whatever the inputs use; mastoprog's models use months throughout.

Conventions for tied times: a death at *t* and a censoring at *t* form a comparable pair (the
censored patient is assumed to outlive *t*); two deaths at the same time do not. Inverse
probability of censoring weights (IPCW) use the Kaplan-Meier estimate of the censoring
distribution G fitted on the same data, evaluated as G(T_i-) for a death at T_i and G(t) for a
patient still at risk at horizon t (Gerds & Schumacher 2006). scikit-survival evaluates G(T_i)
instead; the two agree whenever no censoring shares a death's time.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ._bootstrap import OptimismResult, SurvivalEstimator, bootstrap_optimism
from ._simulation import SimulationResult, simulation_study
from ._survstats import censoring_survival, dominance_sums, kaplan_meier
from ._validate import ValidationResult, validate
from .exceptions import MetricInputError, Problem

__all__ = [
    "BrierScore",
    "Calibration",
    "Concordance",
    "MetricInputError",
    "OptimismResult",
    "SimulationResult",
    "SurvivalEstimator",
    "TimeDependentAUC",
    "ValidationResult",
    "bootstrap_optimism",
    "brier_score",
    "calibration_at",
    "concordance_index",
    "integrated_brier_score",
    "median_recovery",
    "simulation_study",
    "time_dependent_auc",
    "validate",
]

ArrayLike = Any


# --------------------------------------------------------------------------- input checking


def _py(value: Any) -> Any:
    """numpy scalars as plain Python values, so messages read ``-1.0`` not ``np.float64(-1.0)``."""
    return value.item() if isinstance(value, np.generic) else value


def _labels(obj: ArrayLike, n: int) -> np.ndarray:
    if isinstance(obj, pd.Series | pd.DataFrame):
        return np.asarray(obj.index)
    return np.arange(n)


def _as_1d(obj: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(obj.to_numpy() if isinstance(obj, pd.Series) else obj)
    if arr.ndim != 1:
        raise MetricInputError([Problem(None, name, f"array of shape {arr.shape}",
                                        "a one-dimensional array (one value per patient)")])
    return arr


def _check_outcome(time: ArrayLike, event: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate follow-up times (>= 0, finite) and event indicators (0/1 or bool)."""
    t_raw = _as_1d(time, "time")
    e_raw = _as_1d(event, "event")
    rows = _labels(time, t_raw.size)
    problems: list[Problem] = []
    if t_raw.size != e_raw.size:
        raise MetricInputError([Problem(None, "event", f"{e_raw.size} values",
                                        f"one per patient, like 'time' ({t_raw.size} values)")])
    try:
        t = t_raw.astype(float)
    except (TypeError, ValueError):
        t = pd.to_numeric(pd.Series(t_raw), errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(t) | (t < 0)
    for i in np.flatnonzero(bad)[:20]:
        problems.append(Problem(_py(rows[i]), "time", _py(t_raw[i]),
                                "a finite follow-up time >= 0 (months)"))
    n_bad = int(bad.sum())
    e_num = pd.to_numeric(pd.Series(e_raw, dtype=object), errors="coerce").to_numpy(dtype=float)
    bad_e = ~np.isin(e_num, (0.0, 1.0))
    for i in np.flatnonzero(bad_e)[:20]:
        problems.append(Problem(_py(rows[i]), "event", _py(e_raw[i]),
                                "1 (event observed) or 0 (censored), or True/False"))
    n_bad += int(bad_e.sum())
    if problems:
        raise MetricInputError(problems, n_bad)
    if t.size == 0:
        raise MetricInputError([Problem(None, "time", "no patients", "at least one patient")])
    return t, e_num.astype(bool)


def _check_predicted(pred: ArrayLike, n: int, name: str, *, lo: float | None = None,
                     hi: float | None = None) -> np.ndarray:
    raw = _as_1d(pred, name)
    if raw.size != n:
        raise MetricInputError([Problem(None, name, f"{raw.size} values",
                                        f"one per patient, like 'time' ({n} values)")])
    p = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(p)
    expected = "a finite number"
    if lo is not None:
        bad |= p < lo
        bad |= p > hi
        expected = f"a probability between {lo:g} and {hi:g}"
    if bad.any():
        rows = _labels(pred, n)
        problems = [Problem(_py(rows[i]), name, _py(raw[i]), expected) for i in np.flatnonzero(bad)[:20]]
        raise MetricInputError(problems, int(bad.sum()))
    return p


def _check_horizon(t: float, name: str = "t") -> float:
    tt = float(t)
    if not np.isfinite(tt) or tt <= 0:
        raise MetricInputError([Problem(None, name, t, "a horizon > 0 (months)")])
    return tt


def _z(conf_level: float) -> float:
    from scipy.stats import norm

    if not 0 < conf_level < 1:
        raise MetricInputError([Problem(None, "conf_level", conf_level, "a number in (0, 1)")])
    return float(norm.ppf(0.5 + conf_level / 2.0))


# --------------------------------------------------------------------------- concordance


@dataclass(frozen=True)
class Concordance:
    """A concordance index with its infinitesimal-jackknife standard error.

    ``float(result)`` gives the estimate. Counts are IPC-weighted for Uno's C.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    conf_level: float
    method: str
    tau: float | None
    n_comparable: float
    n_concordant: float
    n_discordant: float
    n_tied_predicted: float

    def __float__(self) -> float:
        return self.estimate


def _concordance_parts(time: np.ndarray, event: np.ndarray, pred: np.ndarray, w_event: np.ndarray):
    """Per-patient weighted pair counts (vectorised, O(n log^2 n)).

    Returns ``(num, den, a, b, counts)``: the weighted concordance numerator and denominator, the
    per-patient numerator/denominator contributions (each pair counted for both members), and
    (concordant, discordant, tied) totals.
    """
    n = time.size
    order = np.lexsort((~event, time))  # time ascending, deaths before censorings at ties
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    rank = np.unique(pred, return_inverse=True)[1].astype(np.int64)
    sorted_time = time[order]
    ev_idx = np.flatnonzero(event & (w_event > 0))
    ev_times_sorted = np.sort(time[event])
    te = time[ev_idx]
    # last sorted position of the deaths tied with death i: everything after it is comparable
    g = (np.searchsorted(sorted_time, te, side="left")
         + np.searchsorted(ev_times_sorted, te, side="right")
         - np.searchsorted(ev_times_sorted, te, side="left") - 1)
    w = w_event[ev_idx]
    # i as the earlier member: comparable j have pos > g_i (reverse positions to use prefixes)
    lt1, eq1, tot1 = dominance_sums(n - 1 - pos, rank, np.ones(n), n - 1 - g, rank[ev_idx])
    conc1 = tot1 - lt1 - eq1  # later patient predicted to live longer: concordant
    # k as the later member: deaths i with g_i < pos_k, weighted by w_i
    lt2, eq2, tot2 = dominance_sums(g, rank[ev_idx], w, pos, rank)
    a = lt2 + 0.5 * eq2
    b = tot2.copy()
    a[ev_idx] += w * (conc1 + 0.5 * eq1)
    b[ev_idx] += w * tot1
    num = float(np.sum(w * (conc1 + 0.5 * eq1)))
    den = float(np.sum(w * tot1))
    counts = (float(np.sum(w * conc1)), float(np.sum(w * lt1)), float(np.sum(w * eq1)))
    return num, den, a, b, counts


def concordance_index(time: ArrayLike, event: ArrayLike, predicted: ArrayLike,
                      method: str = "harrell", tau: float | None = None,
                      conf_level: float = 0.95) -> Concordance:
    """Harrell's or Uno's concordance index (C-statistic) of survival predictions.

    .. warning:: **Higher** ``predicted`` **= longer survival** (lifelines' convention: pass a
       predicted median or a survival probability as is). scikit-survival and R's
       ``concordance(..., reverse=TRUE)`` use the opposite: pass ``-risk`` for a risk score.

    A pair (i, j) is comparable when patient i died first (T_i < T_j, or T_i == T_j with j
    censored) and, if ``tau`` is given, T_i < tau. It is concordant when ``predicted[i] <
    predicted[j]``; ties in ``predicted`` count one half; pairs of tied deaths are not comparable.

    Parameters
    ----------
    time : array-like of float, shape (n,)
        Follow-up time (months), >= 0.
    event : array-like of {0, 1} or bool, shape (n,)
        1 if the death/event was observed at ``time``, 0 if censored.
    predicted : array-like of float, shape (n,)
        Prediction; higher means longer survival.
    method : {"harrell", "uno"}
        ``"harrell"``: every comparable pair weighs 1 (Harrell et al. 1982). ``"uno"``: pairs are
        weighted by G(T_i-)^-2, the inverse squared Kaplan-Meier probability of remaining uncensored,
        which makes the estimate consistent for the population C truncated at ``tau`` whatever the
        censoring (Uno et al. 2011).
    tau : float, optional
        Truncation time (months): only deaths before ``tau`` anchor comparable pairs. Recommended
        for Uno's C (choose tau where the censoring survival is still well above 0).
    conf_level : float
        Level of the Wald interval.

    Returns
    -------
    Concordance
        ``estimate``, ``se`` (infinitesimal jackknife: the square root of the sum over patients of
        their squared influence ``(a_k - C b_k) / D``, as R's ``survival::concordance``; for Uno's C
        the estimated weights are treated as fixed), Wald ``ci_low``/``ci_high`` clipped to [0, 1],
        and the (weighted) numbers of comparable, concordant, discordant and tied pairs.

    Raises
    ------
    MetricInputError
        Negative/non-finite times, events other than 0/1, non-finite predictions, unequal lengths,
        or no comparable pair.

    References
    ----------
    Harrell FE et al. Evaluating the yield of medical tests. JAMA 1982;247:2543-6.
    doi:10.1001/jama.1982.03320430047030.
    Uno H et al. On the C-statistics for evaluating overall adequacy of risk prediction procedures
    with censored survival data. Stat Med 2011;30:1105-17. doi:10.1002/sim.4154.

    Examples
    --------
    >>> from mastoprog import concordance_index
    >>> round(concordance_index([5, 10, 15], [1, 1, 0], [4.0, 12.0, 20.0]).estimate, 3)
    1.0
    """
    t, e = _check_outcome(time, event)
    p = _check_predicted(predicted, t.size, "predicted")
    if method not in ("harrell", "uno"):
        raise MetricInputError([Problem(None, "method", method, "one of {'harrell', 'uno'}")])
    z = _z(conf_level)
    w = np.ones(t.size)
    if tau is not None:
        tau = _check_horizon(tau, "tau")
        w[t >= tau] = 0.0
    if method == "uno":
        g = censoring_survival(t, e).at(t, left=True)
        with np.errstate(divide="ignore"):
            w = np.where(e, w / np.square(g), 0.0)
    w = np.where(e, w, 0.0)
    num, den, a, b, (nc, nd, nt) = _concordance_parts(t, e, p, w)
    if den <= 0:
        raise MetricInputError([Problem(None, "time/event", "no comparable pair",
                                        "at least one death before another patient's follow-up "
                                        "ends" + (" and before tau" if tau is not None else ""))])
    c = num / den
    se = float(np.sqrt(np.sum(np.square((a - c * b) / den))))
    return Concordance(c, se, max(0.0, c - z * se), min(1.0, c + z * se), conf_level, method,
                       tau, den, nc, nd, nt)


# --------------------------------------------------------------------------- time-dependent AUC


@dataclass(frozen=True)
class TimeDependentAUC:
    """Cumulative/dynamic AUC per horizon (``table``, with bootstrap ``se``/``ci_low``/``ci_high``)
    and its KM-weighted mean over the horizons (``mean_auc``, percentile interval ``mean_auc_ci``)."""

    table: pd.DataFrame
    mean_auc: float
    mean_auc_ci: tuple[float, float] = (float("nan"), float("nan"))


def _per_horizon(predicted: ArrayLike, n: int, times: np.ndarray, name: str, *,
                 probability: bool) -> np.ndarray:
    """Predictions as a (n_times, n) array: a 1-D score is reused at every horizon.

    2-D input follows :meth:`SurvivalModel.predict_survival`: rows are horizons, columns patients.
    """
    arr = predicted.to_numpy() if isinstance(predicted, pd.DataFrame | pd.Series) else np.asarray(
        predicted)
    lo, hi = (0.0, 1.0) if probability else (None, None)
    if arr.ndim == 1:
        p = _check_predicted(predicted, n, name, lo=lo, hi=hi)
        return np.broadcast_to(p, (times.size, n))
    if arr.shape != (times.size, n):
        raise MetricInputError([Problem(None, name, f"array of shape {arr.shape}",
                                        f"shape (n_times, n_patients) = ({times.size}, {n}): rows "
                                        "are horizons, columns patients (as predict_survival)")])
    return np.vstack([_check_predicted(row, n, name, lo=lo, hi=hi) for row in arr])


def _check_times(times: ArrayLike, t: np.ndarray, name: str = "times") -> np.ndarray:
    raw = np.atleast_1d(np.asarray(times, dtype=object))
    try:
        if any(isinstance(v, bool | np.bool_ | str | bytes) for v in raw.ravel()):
            raise TypeError
        ts = raw.astype(float)
    except (TypeError, ValueError):
        # Text or booleans are not horizons: say so instead of numpy's "could not convert".
        raise MetricInputError([Problem(None, name, times, "horizons in months (numbers > 0)")]) \
            from None
    problems = [Problem(None, name, v, "horizons > 0 (months), strictly increasing, below the "
                        f"largest follow-up time ({t.max():g})")
                for v in ts if not (np.isfinite(v) and 0 < v < t.max())]
    if problems or ts.size == 0 or np.any(np.diff(ts) <= 0):
        raise MetricInputError(problems or [Problem(None, name, list(ts),
                                                    "a non-empty, strictly increasing sequence")])
    return ts


def _weighted_auc_boot(t: np.ndarray, e: np.ndarray, p: np.ndarray, ts: np.ndarray,
                       counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUC(t) per horizon and the KM-weighted mean AUC for each row of bootstrap ``counts``.

    A resample is represented by how often each patient was drawn (a row of ``counts``, shape
    (B, n)), so the censoring Kaplan-Meier, the IPC weights and the case/control sums of every
    resample are computed at once with cumulative sums (no loop over resamples or patients).
    Returns ``(auc, mean_auc)`` of shapes (B, len(ts)) and (B,).
    """
    order = np.argsort(t, kind="stable")
    ts_sorted = t[order]
    uniq, first = np.unique(ts_sorted, return_index=True)
    inv = np.searchsorted(uniq, t)
    c_sorted = counts[:, order]
    ev_sorted = e[order]
    dev = np.add.reduceat(c_sorted * ev_sorted, first, axis=1)   # deaths per distinct time
    cen = np.add.reduceat(c_sorted * ~ev_sorted, first, axis=1)  # censorings per distinct time
    at_risk = np.cumsum((dev + cen)[:, ::-1], axis=1)[:, ::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        # censoring KM: deaths leave the risk set before censorings at the same time
        g = np.cumprod(1.0 - np.where(cen > 0, cen / (at_risk - dev), 0.0), axis=1)
        km = np.cumprod(1.0 - np.where(dev > 0, dev / at_risk, 0.0), axis=1)
    g_left = np.concatenate([np.ones((counts.shape[0], 1)), g[:, :-1]], axis=1)[:, inv]  # G(T_i-)
    b = counts.shape[0]
    auc = np.empty((b, ts.size))
    for k, h in enumerate(ts):  # loop over horizons only
        case = e & (t <= h)
        ctrl = np.flatnonzero(t > h)
        ctrl_order = ctrl[np.argsort(p[k][ctrl], kind="stable")]
        sc = p[k][ctrl_order]
        cum = np.concatenate([np.zeros((b, 1)), np.cumsum(counts[:, ctrl_order], axis=1)], axis=1)
        n_ctrl = cum[:, -1]
        pc = p[k][case]
        right = np.searchsorted(sc, pc, side="right")
        left = np.searchsorted(sc, pc, side="left")
        above = n_ctrl[:, None] - cum[:, right]
        ties = cum[:, right] - cum[:, left]
        with np.errstate(divide="ignore", invalid="ignore"):
            wc = counts[:, case] / g_left[:, case]
            auc[:, k] = np.sum(wc * (above + 0.5 * ties), axis=1) / (np.sum(wc, axis=1) * n_ctrl)
    idx = np.searchsorted(uniq, ts, side="right") - 1
    s = np.where(idx >= 0, km[:, np.clip(idx, 0, None)], 1.0)
    d = -np.diff(np.concatenate([np.ones((b, 1)), s], axis=1), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_auc = np.sum(auc * d, axis=1) / (1.0 - s[:, -1])
    return auc, mean_auc


def time_dependent_auc(time: ArrayLike, event: ArrayLike, predicted: ArrayLike,
                       times: Sequence[float], *, conf_level: float = 0.95, n_bootstrap: int = 200,
                       random_state: int | np.random.Generator | np.random.RandomState | None = 0
                       ) -> TimeDependentAUC:
    """Cumulative/dynamic time-dependent AUC with IPCW (Uno et al. 2007; Hung & Chiang 2010),
    with bootstrap confidence intervals.

    At horizon t, cases are patients who died by t (T_i <= t, weighted 1/G(T_i-)) and controls
    are patients still at risk after t (T_j > t). AUC(t) is the weighted probability that a case
    has a **lower** ``predicted`` value than a control (higher = longer survival, lifelines'
    convention); ties count one half. Equivalent to scikit-survival's
    ``cumulative_dynamic_auc`` with ``estimate = -predicted``.

    **Uncertainty: nonparametric bootstrap** (``n_bootstrap`` resamples of patients, drawn with
    replacement). In every resample the censoring distribution G is re-estimated, so the interval
    includes the variability of the IPC weights (an influence-function variance that treats the
    weights as fixed would not). The interval is the percentile interval; ``se`` is the standard
    deviation of the bootstrap estimates. The predictions are held fixed (the model is not
    refitted): this is the uncertainty of AUC(t) for *this* model on patients like these. The
    resamples are evaluated at once from the draw counts (vectorised; memory about
    ``8 * min(n_bootstrap, 64) * n`` bytes at a time).

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Follow-up (months) and event indicator.
    predicted : array-like, shape (n,) or (len(times), n)
        One score per patient, or one per horizon and patient (rows: horizons, columns: patients,
        e.g. ``model.predict_survival(cohort, times).to_numpy()``).
    times : sequence of float
        Increasing horizons (months) inside the follow-up range.
    conf_level : float
        Level of the percentile intervals.
    n_bootstrap : int
        Bootstrap resamples (0: no interval; ``ci_low``/``ci_high``/``se`` are NaN).
    random_state : None, int, numpy Generator or RandomState
        Seeds the resampling. The default 0 makes repeated calls give the same interval; None
        draws fresh entropy.

    Returns
    -------
    TimeDependentAUC
        ``table`` with columns ``time``, ``auc``, ``se``, ``ci_low``, ``ci_high``, ``n_cases``,
        ``n_controls``, ``n_bootstrap`` (resamples with a defined AUC); ``mean_auc`` (the mean
        weighted by the KM decrements over the horizons, scikit-survival's definition) with
        ``mean_auc_ci``.

    References
    ----------
    Uno H, Cai T, Tian L, Wei LJ. Evaluating prediction rules for t-year survivors with censored
    regression models. JASA 2007;102:527-37. doi:10.1198/016214507000000149.
    Hung H, Chiang CT. Estimation methods for time-dependent AUC models with survival data.
    Can J Stat 2010;38:8-26. doi:10.1002/cjs.10046.
    Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall, 1993 (ch. 13).
    """
    t, e = _check_outcome(time, event)
    ts = _check_times(times, t)
    p = _per_horizon(predicted, t.size, ts, "predicted", probability=False)
    if int(n_bootstrap) < 0:
        raise MetricInputError([Problem(None, "n_bootstrap", n_bootstrap, "an integer >= 0")])
    z = _z(conf_level)  # validates conf_level
    del z
    for h in ts:
        if not np.any(e & (t <= h)):
            raise MetricInputError([Problem(None, "times", h, "a horizon after the first death")])
    auc0, mean0 = _weighted_auc_boot(t, e, p, ts, np.ones((1, t.size)))
    n_b = int(n_bootstrap)
    se = lo = hi = np.full(ts.size, np.nan)
    n_ok = np.zeros(ts.size, dtype=int)
    mean_ci = (float("nan"), float("nan"))
    if n_b > 0:
        if isinstance(random_state, np.random.RandomState):  # scikit-learn's legacy generator
            random_state = int(random_state.randint(0, 2**31 - 1))
        rng = np.random.default_rng(random_state)
        chunks_auc, chunks_mean = [], []
        for start in range(0, n_b, 64):  # bounded memory: 64 resamples x n at a time
            size = min(64, n_b - start)
            counts = rng.multinomial(t.size, np.full(t.size, 1.0 / t.size), size=size).astype(float)
            a, m = _weighted_auc_boot(t, e, p, ts, counts)
            chunks_auc.append(a)
            chunks_mean.append(m)
        boot = np.vstack(chunks_auc)
        boot_mean = np.concatenate(chunks_mean)
        alpha = (1.0 - conf_level) / 2.0
        # a resample without cases or controls at a horizon has no AUC there: left out, counted
        n_ok = np.isfinite(boot).sum(axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column -> NaN, on purpose
            se = np.nanstd(boot, axis=0, ddof=1)
            lo, hi = np.nanquantile(boot, [alpha, 1.0 - alpha], axis=0)
            mlo, mhi = np.nanquantile(boot_mean, [alpha, 1.0 - alpha])
        mean_ci = (float(mlo), float(mhi))
    table = pd.DataFrame({"time": ts, "auc": auc0[0], "se": se, "ci_low": lo, "ci_high": hi,
                          "n_cases": [int(np.sum(e & (t <= h))) for h in ts],
                          "n_controls": [int(np.sum(t > h)) for h in ts], "n_bootstrap": n_ok})
    return TimeDependentAUC(table, float(mean0[0]), mean_ci)


# --------------------------------------------------------------------------- Brier score


@dataclass(frozen=True)
class BrierScore:
    """IPCW Brier score at one horizon with a normal-approximation interval."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    t: float
    conf_level: float

    def __float__(self) -> float:
        return self.estimate


def _brier_terms(t: np.ndarray, e: np.ndarray, s_at: np.ndarray, h: float, cens) -> np.ndarray:
    g_event = cens.at(t, left=True)
    g_h = float(cens.at(h))
    case = e & (t <= h)
    ctrl = t > h
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(case, np.square(s_at) / g_event, 0.0)
        terms = terms + np.where(ctrl, np.square(1.0 - s_at) / g_h, 0.0)
    return terms


def brier_score(time: ArrayLike, event: ArrayLike, predicted_survival_at_t: ArrayLike, t: float,
                conf_level: float = 0.95) -> BrierScore:
    """Inverse-probability-of-censoring-weighted Brier score at horizon ``t`` (Graf et al. 1999).

    BS(t) = mean over patients of S_i(t)^2 I(T_i <= t, died) / G(T_i-) + (1 - S_i(t))^2
    I(T_i > t) / G(t), with G the Kaplan-Meier estimate of the censoring distribution. Patients
    censored by t contribute 0 (their weight is carried by the others). 0 is perfect; 0.25 is what
    predicting 50 % for everybody scores.

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Follow-up (months) and event indicator.
    predicted_survival_at_t : array-like of float in [0, 1], shape (n,)
        Each patient's predicted probability of surviving beyond ``t``.
    t : float
        Horizon (months), inside the follow-up range.

    Returns
    -------
    BrierScore
        ``estimate`` and ``se`` (standard deviation of the per-patient terms / sqrt(n), weights
        treated as fixed), Wald interval.

    References
    ----------
    Graf E, Schmoor C, Sauerbrei W, Schumacher M. Assessment and comparison of prognostic
    classification schemes for survival data. Stat Med 1999;18:2529-45.
    doi:10.1002/(SICI)1097-0258(19990915/30)18:17/18<2529::AID-SIM274>3.0.CO;2-5.
    """
    tt, e = _check_outcome(time, event)
    h = _check_times([t], tt, "t")[0]
    s = _check_predicted(predicted_survival_at_t, tt.size, "predicted_survival_at_t", lo=0.0, hi=1.0)
    terms = _brier_terms(tt, e, s, h, censoring_survival(tt, e))
    est = float(terms.mean())
    se = float(terms.std(ddof=1) / np.sqrt(tt.size)) if tt.size > 1 else float("nan")
    z = _z(conf_level)
    return BrierScore(est, se, est - z * se, est + z * se, h, conf_level)


def integrated_brier_score(time: ArrayLike, event: ArrayLike, predicted_survival: ArrayLike,
                           times: Sequence[float]) -> float:
    """Integrated Brier score over ``times``: trapezoidal integral of BS(t) / (t_last - t_first).

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Follow-up (months) and event indicator.
    predicted_survival : DataFrame or array, shape (len(times), n)
        Predicted survival probabilities: **rows are the horizons in** ``times``, **columns are
        patients** (the layout of ``SurvivalModel.predict_survival``). A DataFrame's index is
        checked against ``times``.
    times : sequence of float
        At least two increasing horizons (months) inside the follow-up range. A fine grid gives
        the integral; scikit-survival's ``integrated_brier_score`` uses the same rule.

    References
    ----------
    Graf et al. 1999 (see :func:`brier_score`).
    """
    tt, e = _check_outcome(time, event)
    ts = _check_times(times, tt)
    if ts.size < 2:
        raise MetricInputError([Problem(None, "times", list(ts), "at least two horizons")])
    if isinstance(predicted_survival, pd.DataFrame) and not np.allclose(
            np.asarray(predicted_survival.index, dtype=float), ts):
        raise MetricInputError([Problem(None, "predicted_survival", "index != times",
                                        "rows indexed by the horizons in 'times' (months)")])
    p = _per_horizon(predicted_survival, tt.size, ts, "predicted_survival", probability=True)
    return float(_integrated_brier_terms(tt, e, p, ts).mean())


def _integrated_brier_terms(tt: np.ndarray, e: np.ndarray, p: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Per-patient integrated Brier terms; their mean is the IBS (trapezoid over ``ts``), their
    standard deviation / sqrt(n) its SE with the censoring weights treated as fixed."""
    cens = censoring_survival(tt, e)
    terms = np.vstack([_brier_terms(tt, e, p[k], h, cens) for k, h in enumerate(ts)])
    return np.trapezoid(terms, ts, axis=0) / (ts[-1] - ts[0])


# --------------------------------------------------------------------------- calibration


def _rcs_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Restricted cubic spline basis (Harrell, Regression Modeling Strategies, 2.4.5)."""
    k = knots.size
    scale = (knots[-1] - knots[0]) ** 2
    cols = [x]
    for j in range(k - 2):
        term = (np.clip(x - knots[j], 0, None) ** 3
                - np.clip(x - knots[-2], 0, None) ** 3 * (knots[-1] - knots[j]) / (knots[-1] - knots[-2])
                + np.clip(x - knots[-1], 0, None) ** 3 * (knots[-2] - knots[j]) / (knots[-1] - knots[-2]))
        cols.append(term / scale)
    return np.column_stack(cols)


_KNOT_QUANTILES = {3: (0.10, 0.50, 0.90), 4: (0.05, 0.35, 0.65, 0.95), 5: (0.05, 0.275, 0.5, 0.725, 0.95)}


@dataclass(frozen=True)
class Calibration:
    """Calibration of predicted survival at one horizon ``t`` (risk = 1 - survival).

    Attributes
    ----------
    groups : DataFrame
        One row per quantile group of predicted risk: ``group``, ``n``, ``predicted_survival``
        (mean), ``observed_survival`` (Kaplan-Meier at t) with ``observed_low``/``observed_high``
        (log-log Greenwood band), ``n_events`` (deaths by t).
    curve : DataFrame
        Smoothed curve: ``predicted_risk`` -> ``observed_risk`` (one row per patient, sorted).
    observed_risk, expected_risk : float
        Calibration-in-the-large: 1 - KM(t) vs the mean predicted risk.
    observed_low, observed_high : float
        Interval of the observed risk: 1 minus the Kaplan-Meier log-log band at t.
    oe_ratio, oe_low, oe_high : float
        Observed/expected ratio with a CI from the KM standard error (log scale).
    slope, slope_low, slope_high : float
        Calibration slope: Cox coefficient of log(-log S_pred(t)) with follow-up censored at t
        (1 = ideal; < 1 = predictions too extreme). **Caveat:** the slope is exactly 1 for correct
        predictions only under proportional hazards on that scale; mastoprog's curves are
        background x excess survival, whose hazards are not proportional, so a *correct* model
        scores slightly above 1 (about 1.03 for lim2009 on its own cohorts).
    ici, e50, e90, emax : float
        Mean, median, 90th percentile and maximum of |observed - predicted risk| over patients,
        observed risk read off the smoothed curve (Austin, Harrell & van Klaveren 2020).
    """

    t: float
    groups: pd.DataFrame
    curve: pd.DataFrame
    observed_risk: float
    expected_risk: float
    oe_ratio: float
    oe_low: float
    oe_high: float
    slope: float
    slope_low: float
    slope_high: float
    ici: float
    e50: float
    e90: float
    emax: float
    method: str = field(default="cox-rcs")
    observed_low: float = float("nan")
    observed_high: float = float("nan")

    def summary(self) -> pd.DataFrame:
        """Tidy one-row-per-metric table: metric, estimate, ci_low, ci_high, t."""
        rows = [
            ("observed_risk", self.observed_risk, self.observed_low, self.observed_high),
            ("expected_risk", self.expected_risk, np.nan, np.nan),
            ("oe_ratio", self.oe_ratio, self.oe_low, self.oe_high),
            ("calibration_slope", self.slope, self.slope_low, self.slope_high),
            ("ici", self.ici, np.nan, np.nan),
            ("e50", self.e50, np.nan, np.nan),
            ("e90", self.e90, np.nan, np.nan),
            ("emax", self.emax, np.nan, np.nan),
        ]
        out = pd.DataFrame(rows, columns=["metric", "estimate", "ci_low", "ci_high"])
        out["t"] = self.t
        return out


def calibration_at(time: ArrayLike, event: ArrayLike, predicted_survival_at_t: ArrayLike, t: float,
                   n_groups: int = 10, knots: int = 3, conf_level: float = 0.95) -> Calibration:
    """Calibration of predicted survival probabilities at horizon ``t``.

    Grouped: patients are cut into ``n_groups`` quantile groups of predicted risk; in each group
    the mean prediction is set against the Kaplan-Meier estimate at t (with its log-log interval).

    Smoothed (no binning; Austin, Harrell & van Klaveren 2020): follow-up is censored at t and a
    Cox model is fitted on a restricted cubic spline (``knots`` knots at Harrell's default
    quantiles) of x = log(-log S_pred(t)); the observed risk of each patient is
    1 - S0(t)^exp(f(x)) from that fit. ICI, E50, E90 and Emax summarise |observed - predicted|.
    This is the paper's Cox/RCS variant; the hazard-regression variant needs ``polspline``.

    The calibration slope is the coefficient of x alone in the same Cox model (Wald interval). It
    is exactly 1 for correct predictions only when hazards are proportional on that scale over
    [0, t]. **Caveat:** in a relative-survival model (background + excess hazard, as mastoprog's)
    the two hazards are not proportional, so a *correct* model scores slightly above 1 (about
    1.03 in simulations of the lim2009 model on its own cohorts); judge the slope against that. And
    calibration-in-the-large compares 1 - KM(t) with the mean predicted risk (O/E with a log-scale
    interval from the Greenwood SE; Riley et al. 2024).

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Follow-up (months) and event indicator.
    predicted_survival_at_t : array-like of float in [0, 1], shape (n,)
        Predicted probability of surviving beyond ``t``.
    t : float
        Horizon (months).
    n_groups : int
        Number of quantile groups (fewer when predictions have fewer distinct values).
    knots : {3, 4, 5}
        Spline knots of the smoothed curve.

    References
    ----------
    Austin PC, Harrell FE, van Klaveren D. Graphical calibration curves and the integrated
    calibration index (ICI) for survival models. Stat Med 2020;39:2714-42. doi:10.1002/sim.8570.
    Riley RD et al. Evaluation of clinical prediction models (part 1). BMJ 2024;384:e074819.
    doi:10.1136/bmj-2023-074819.
    """
    tt, e = _check_outcome(time, event)
    h = _check_times([t], tt, "t")[0]
    s = _check_predicted(predicted_survival_at_t, tt.size, "predicted_survival_at_t", lo=0.0, hi=1.0)
    if knots not in _KNOT_QUANTILES:
        raise MetricInputError([Problem(None, "knots", knots, "3, 4 or 5")])
    if int(n_groups) < 1:
        raise MetricInputError([Problem(None, "n_groups", n_groups, "an integer >= 1")])
    z = _z(conf_level)
    from ._cox import cox_fit

    risk = 1.0 - s
    # groups: quantiles of predicted risk; duplicate edges (few distinct predictions) merge groups
    rank = pd.Series(risk).rank(method="first").to_numpy()
    grp = np.minimum((rank - 1) * int(n_groups) // tt.size, int(n_groups) - 1).astype(int)
    rows = []
    for gval in np.unique(grp):  # loop over groups (<= n_groups), not patients
        m = grp == gval
        km = kaplan_meier(tt[m], e[m], conf_level=conf_level)
        lo, hi = km.ci_at(h)
        rows.append((int(gval) + 1, int(m.sum()), float(s[m].mean()), float(km.at(h)),
                     float(lo), float(hi), int(np.sum(e[m] & (tt[m] <= h)))))
    groups = pd.DataFrame(rows, columns=["group", "n", "predicted_survival", "observed_survival",
                                         "observed_low", "observed_high", "n_events"])

    km_all = kaplan_meier(tt, e, conf_level=conf_level)
    s_obs = float(km_all.at(h))
    km_lo, km_hi = km_all.ci_at(h)
    observed = 1.0 - s_obs
    expected = float(risk.mean())
    se_obs = float(km_all.se_at(h))
    oe = observed / expected if expected > 0 else float("nan")
    se_log_oe = se_obs / observed if observed > 0 else float("nan")
    oe_low, oe_high = oe * np.exp(-z * se_log_oe), oe * np.exp(z * se_log_oe)

    # censor at the horizon: calibration at t concerns deaths by t only
    tc = np.minimum(tt, h)
    ec = e & (tt <= h)
    sc = np.clip(s, 1e-12, 1.0 - 1e-12)
    x = np.log(-np.log(sc))
    if ec.sum() < 2 or np.ptp(x) <= 0:
        slope = slope_low = slope_high = float("nan")
        obs_risk = np.full(tt.size, observed)
    else:
        fit1 = cox_fit(tc, ec, x[:, None])
        slope = float(fit1.beta[0])
        se_slope = float(np.sqrt(fit1.cov[0, 0]))
        slope_low, slope_high = slope - z * se_slope, slope + z * se_slope
        kq = np.quantile(x, _KNOT_QUANTILES[knots])
        if np.unique(kq).size < knots:
            basis = x[:, None]  # too few distinct predictions for a spline: linear in x
        else:
            basis = _rcs_basis(x, kq)
        fit = cox_fit(tc, ec, basis)
        obs_risk = 1.0 - fit.survival_at(basis, h)
    diff = np.abs(obs_risk - risk)
    order = np.argsort(risk, kind="stable")
    curve = pd.DataFrame({"predicted_risk": risk[order], "observed_risk": obs_risk[order]})
    return Calibration(h, groups, curve, observed, expected, float(oe), float(oe_low), float(oe_high),
                       slope, float(slope_low), float(slope_high), float(diff.mean()),
                       float(np.median(diff)), float(np.quantile(diff, 0.9)), float(diff.max()),
                       observed_low=1.0 - float(km_hi), observed_high=1.0 - float(km_lo))


# --------------------------------------------------------------------------- medians


def _curve_median(times: np.ndarray, surv: np.ndarray) -> float:
    """First time a (non-increasing) predicted curve reaches 0.5, linearly interpolated on the grid."""
    below = np.flatnonzero(surv <= 0.5)
    if below.size == 0:
        return float("inf")
    k = below[0]
    if k == 0:
        return float(times[0])
    s0, s1 = surv[k - 1], surv[k]
    frac = (s0 - 0.5) / (s0 - s1) if s0 > s1 else 1.0
    return float(times[k - 1] + frac * (times[k] - times[k - 1]))


def median_recovery(time: ArrayLike, event: ArrayLike, groups: ArrayLike,
                    predicted_survival: pd.DataFrame, conf_level: float = 0.95) -> pd.DataFrame:
    """Predicted vs Kaplan-Meier median survival by group (e.g. WHO subtype or risk group).

    The predicted median of a group is where the group's *average* predicted curve (the
    population-averaged, "marginal" survival, the quantity a group KM estimates) reaches 0.5,
    linearly interpolated between the grid's horizons. The KM median's interval is the
    Brookmeyer-Crowley construction from the log-log Greenwood band.

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Follow-up (months) and event indicator.
    groups : array-like, shape (n,)
        Group label per patient (NaN rows are left out).
    predicted_survival : DataFrame, shape (n_times, n)
        Rows: increasing horizons in months (a fine grid, e.g. every month), columns: patients in
        the order of ``time``; the layout of ``SurvivalModel.predict_survival``.

    Returns
    -------
    DataFrame
        One row per group: ``group``, ``n``, ``n_events``, ``km_median``, ``km_median_low``,
        ``km_median_high`` (``inf`` when not reached), ``predicted_median``, ``difference``
        (predicted - KM), ``covered`` (predicted median inside the KM interval).
    """
    tt, e = _check_outcome(time, event)
    g = _as_1d(groups, "groups")
    if g.size != tt.size:
        raise MetricInputError([Problem(None, "groups", f"{g.size} values",
                                        f"one per patient ({tt.size})")])
    if not isinstance(predicted_survival, pd.DataFrame):
        raise MetricInputError([Problem(None, "predicted_survival", type(predicted_survival).__name__,
                                        "a DataFrame with horizons (months) as index, patients as "
                                        "columns")])
    grid = np.asarray(predicted_survival.index, dtype=float)
    if predicted_survival.shape[1] != tt.size or np.any(np.diff(grid) <= 0):
        raise MetricInputError([Problem(None, "predicted_survival", f"shape {predicted_survival.shape}",
                                        f"increasing horizons as rows and {tt.size} patient columns")])
    surv = predicted_survival.to_numpy(dtype=float)
    labels = pd.Series(g)
    means = {label: surv[:, (labels == label).to_numpy()].mean(axis=1)
             for label in pd.unique(labels.dropna())}
    return _median_table(tt, e, labels, grid, means, conf_level)


def _median_table(tt: np.ndarray, e: np.ndarray, labels: pd.Series, grid: np.ndarray,
                  means: dict[Any, np.ndarray], conf_level: float) -> pd.DataFrame:
    """KM median (with CI) vs the median of each group's mean predicted curve."""
    rows = []
    for label, curve in means.items():  # loop over groups, not patients
        m = (labels == label).to_numpy()
        km = kaplan_meier(tt[m], e[m], conf_level=conf_level)
        med, lo, hi = km.quantile(0.5)
        pred = _curve_median(grid, curve)
        rows.append((label, int(m.sum()), int(e[m].sum()), med, lo, hi, pred,
                     pred - med if np.isfinite(med) else float("nan"),
                     bool(lo <= pred <= hi)))
    return pd.DataFrame(rows, columns=["group", "n", "n_events", "km_median", "km_median_low",
                                       "km_median_high", "predicted_median", "difference", "covered"])
