"""Calibration at a horizon: grouped, smoothed, slope, O/E, ICI/E50/E90."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import MetricInputError, Problem
from ._checks import _check_predicted, _check_times, check_outcome, normal_quantile
from ._cox import cox_fit
from ._nonparametric import cohort_kaplan_meier, kaplan_meier, shares_cohort_results

ArrayLike = Any

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
class CalibrationSlope:
    """Calibration slope at a horizon with its Wald interval (NaN when it cannot be fitted).

    ``note`` says why it is NaN (fewer than two deaths by the horizon, or identical predictions).
    """

    estimate: float
    ci_low: float
    ci_high: float
    t: float
    note: str = ""

    def __float__(self) -> float:
        return self.estimate


def _log_cumhaz(s: np.ndarray) -> np.ndarray:
    """log(-log S), S clipped away from 0 and 1: the linear predictor implied by S(t)."""
    return np.log(-np.log(np.clip(s, 1e-12, 1.0 - 1e-12)))


def _slope_fit(tt: np.ndarray, e: np.ndarray, s: np.ndarray, h: float, z: float) -> CalibrationSlope:
    """The one calibration-slope fit (clean arrays): Cox regression of the outcome, censored at
    ``h``, on log(-log S(h))."""
    ec = e & (tt <= h)
    x = _log_cumhaz(s)
    if ec.sum() < 2 or np.ptp(x) <= 0:
        why = "fewer than two deaths by the horizon" if ec.sum() < 2 else "identical predictions"
        nan = float("nan")
        return CalibrationSlope(nan, nan, nan, h, f"no slope: {why}")
    fit = cox_fit(np.minimum(tt, h), ec, x[:, None])
    slope = float(fit.beta[0])
    se = float(np.sqrt(fit.cov[0, 0]))
    return CalibrationSlope(slope, slope - z * se, slope + z * se, h)


def calibration_slope(time: ArrayLike, event: ArrayLike, predicted_survival_at_t: ArrayLike, t: float,
                      conf_level: float = 0.95) -> CalibrationSlope:
    """Calibration slope at horizon ``t``: the Cox coefficient of log(-log S_pred(t)), follow-up
    censored at ``t`` (1 = ideal; < 1 = predictions too extreme, > 1 = too moderate).

    The one implementation used by :func:`calibration_at`, the bootstrap optimism and the
    simulation studies.

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Follow-up (months) and event indicator.
    predicted_survival_at_t : array-like of float in [0, 1], shape (n,)
        Predicted probability of surviving beyond ``t``.
    t : float
        Horizon (months) inside the follow-up.
    conf_level : float
        Level of the Wald interval.

    Returns
    -------
    CalibrationSlope

    References
    ----------
    Crowson CS, Atkinson EJ, Therneau TM. Assessing calibration of prognostic risk scores.
    Stat Methods Med Res 2016;25:1692-706. doi:10.1177/0962280213497434.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=2000)
    >>> t_event = rng.exponential(20.0 * np.exp(-x))
    >>> s12 = np.exp(-12.0 / 20.0 * np.exp(x))
    >>> res = calibration_slope(np.minimum(t_event, 30.0), t_event <= 30.0, s12, 12.0)
    >>> bool(res.ci_low < 1.0 < res.ci_high)
    True
    """
    tt, e = check_outcome(time, event)
    h = _check_times([t], tt, "t")[0]
    s = _check_predicted(predicted_survival_at_t, tt.size, "predicted_survival_at_t", lo=0.0, hi=1.0)
    return _slope_fit(tt, e, s, h, normal_quantile(conf_level))


@dataclass(frozen=True)
class ObservedExpected:
    """Calibration-in-the-large at a horizon: observed risk 1 - KM(t) over the mean predicted risk.

    ``se_log`` is the standard error of ln(O/E) (Greenwood SE of the Kaplan-Meier estimate over
    the observed risk; predictions held fixed); ``ci_low``/``ci_high`` the log-scale interval.
    """

    estimate: float
    ci_low: float
    ci_high: float
    observed: float
    expected: float
    se_log: float
    t: float

    def __float__(self) -> float:
        return self.estimate


def _oe_fit(km: Any, risk: np.ndarray, h: float, z: float) -> ObservedExpected:
    observed = 1.0 - float(km.at(h))
    expected = float(risk.mean())
    oe = observed / expected if expected > 0 else float("nan")
    se_log = float(km.se_at(h)) / observed if observed > 0 else float("nan")
    return ObservedExpected(float(oe), float(oe * np.exp(-z * se_log)), float(oe * np.exp(z * se_log)),
                            observed, expected, se_log, h)


def observed_expected(time: ArrayLike, event: ArrayLike, predicted_survival_at_t: ArrayLike, t: float,
                      conf_level: float = 0.95) -> ObservedExpected:
    """Observed/expected ratio of deaths by horizon ``t`` with its log-scale interval.

    O = 1 - KM(t) (Kaplan-Meier of the cohort), E = mean predicted risk 1 - S_pred(t);
    SE(ln O/E) = SE(KM(t)) / O (Greenwood), the predictions held fixed. Without censoring before
    ``t`` this is the binomial SE sqrt((1 - phi) / (n phi)) of Riley et al. (2021), phi the
    observed risk.

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Follow-up (months) and event indicator.
    predicted_survival_at_t : array-like of float in [0, 1], shape (n,)
        Predicted probability of surviving beyond ``t``.
    t : float
        Horizon (months) inside the follow-up.
    conf_level : float
        Level of the interval.

    Returns
    -------
    ObservedExpected

    References
    ----------
    Riley RD et al. Minimum sample size for external validation of a clinical prediction model
    with a binary outcome. Stat Med 2021;40:4230-51. doi:10.1002/sim.9025.

    Examples
    --------
    >>> res = observed_expected([2, 4, 6, 8], [1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5], 7.0)
    >>> round(res.observed, 3), round(res.estimate, 3)
    (0.625, 1.25)
    """
    tt, e = check_outcome(time, event)
    h = _check_times([t], tt, "t")[0]
    s = _check_predicted(predicted_survival_at_t, tt.size, "predicted_survival_at_t", lo=0.0, hi=1.0)
    return _oe_fit(cohort_kaplan_meier(tt, e), 1.0 - s, h, normal_quantile(conf_level))


@dataclass(frozen=True)
class CalibrationIntercept:
    """Calibration intercept at a horizon (calibration-in-the-large on the log(-log S) scale).

    ``estimate`` is the shift a of log(-log S_pred(t)) (slope fixed at 1) that makes the mean
    predicted risk equal the Kaplan-Meier risk: 0 = calibrated in the large, > 0 = risk
    underestimated. Delta-method Wald interval from the Greenwood SE; ``note`` says why it is NaN.
    """

    estimate: float
    ci_low: float
    ci_high: float
    t: float
    note: str = ""

    def __float__(self) -> float:
        return self.estimate


def _intercept_fit(observed: float, se_observed: float, s: np.ndarray, h: float, z: float
                   ) -> CalibrationIntercept:
    """Solve mean(1 - S^exp(a)) = observed by Newton's method (monotone in a)."""
    nan = float("nan")
    if not 0.0 < observed < 1.0:
        return CalibrationIntercept(nan, nan, nan, h, "no intercept: observed risk 0 or 1")
    log_s = np.log(np.clip(s, 1e-12, 1.0 - 1e-12))
    a = 0.0
    for _ in range(100):  # Newton steps (about 5 in practice), each vectorised over patients
        s_a = np.exp(log_s * np.exp(a))
        gap = float(np.mean(1.0 - s_a)) - observed
        slope = float(np.mean(-s_a * log_s)) * np.exp(a)
        step = float(np.clip(gap / slope, -2.0, 2.0)) if slope > 0 else 0.0
        a -= step
        if abs(step) < 1e-12:
            break
    se = se_observed / slope if slope > 0 else nan
    return CalibrationIntercept(a, a - z * se, a + z * se, h)


def calibration_intercept(time: ArrayLike, event: ArrayLike, predicted_survival_at_t: ArrayLike,
                          t: float, conf_level: float = 0.95) -> CalibrationIntercept:
    """Calibration intercept at horizon ``t``: the a solving mean(1 - S_pred(t)^exp(a)) = 1 - KM(t).

    The survival analogue of the logistic calibration intercept with the slope fixed at 1
    (offset = the linear predictor log(-log S_pred(t)) of :func:`calibration_slope`): 0 means
    the mean predicted risk equals the observed (Kaplan-Meier) risk by ``t``; a > 0 means the
    model underestimates risk (multiply every predicted cumulative hazard by exp(a) to fix it).

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Follow-up (months) and event indicator.
    predicted_survival_at_t : array-like of float in [0, 1], shape (n,)
        Predicted probability of surviving beyond ``t``.
    t : float
        Horizon (months) inside the follow-up.
    conf_level : float
        Level of the delta-method Wald interval (Greenwood SE of KM(t); predictions fixed).

    Returns
    -------
    CalibrationIntercept

    References
    ----------
    Crowson CS, Atkinson EJ, Therneau TM. Assessing calibration of prognostic risk scores.
    Stat Methods Med Res 2016;25:1692-706. doi:10.1177/0962280213497434.
    Riley RD et al. Evaluation of clinical prediction models (part 1). BMJ 2024;384:e074819.
    doi:10.1136/bmj-2023-074819.

    Examples
    --------
    >>> res = calibration_intercept([2, 4, 6, 8], [1, 0, 1, 0], [0.5, 0.5, 0.5, 0.5], 7.0)
    >>> import math; round(res.estimate, 6) == round(math.log(math.log(1 - 0.625) / math.log(0.5)), 6)
    True
    """
    tt, e = check_outcome(time, event)
    h = _check_times([t], tt, "t")[0]
    s = _check_predicted(predicted_survival_at_t, tt.size, "predicted_survival_at_t", lo=0.0, hi=1.0)
    km = cohort_kaplan_meier(tt, e)
    return _intercept_fit(1.0 - float(km.at(h)), float(km.se_at(h)), s, h, normal_quantile(conf_level))


def _smoothed_observed_risk(tt: np.ndarray, e: np.ndarray, s: np.ndarray, h: float, knots: int
                            ) -> np.ndarray:
    """Observed risk by h per patient from the Cox restricted-cubic-spline calibration model of
    log(-log S(h)) (follow-up censored at h: calibration at h concerns deaths by h only)."""
    x = _log_cumhaz(s)
    kq = np.quantile(x, _KNOT_QUANTILES[knots])
    # too few distinct predictions for a spline: linear in x
    basis = x[:, None] if np.unique(kq).size < knots else _rcs_basis(x, kq)
    fit = cox_fit(np.minimum(tt, h), e & (tt <= h), basis)
    return 1.0 - fit.survival_at(basis, h)


def _ici_stats(tt: np.ndarray, e: np.ndarray, s: np.ndarray, h: float, knots: int) -> np.ndarray:
    """(ICI, E50, E90, calibration slope) on one sample; NaN where they cannot be fitted."""
    slope = _slope_fit(tt, e, s, h, 1.96).estimate
    if not np.isfinite(slope):
        return np.array([np.nan, np.nan, np.nan, np.nan])
    diff = np.abs(_smoothed_observed_risk(tt, e, s, h, knots) - (1.0 - s))
    return np.array([diff.mean(), np.median(diff), np.quantile(diff, 0.9), slope])


def calibration_uncertainty(time: ArrayLike, event: ArrayLike, predicted_survival_at_t: ArrayLike,
                            t: float, *, n_bootstrap: int = 200, conf_level: float = 0.95,
                            knots: int = 3, random_state: Any = 0) -> pd.DataFrame:
    """ICI, E50, E90 and the calibration slope at ``t`` with percentile bootstrap intervals.

    Each resample of patients (drawn with replacement; predictions held fixed) refits the smoothed
    Cox restricted-cubic-spline calibration curve and the slope, as Austin, Harrell & van
    Klaveren (2020) and R ``pmcalibration`` do.

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Follow-up (months) and event indicator.
    predicted_survival_at_t : array-like of float in [0, 1], shape (n,)
        Predicted probability of surviving beyond ``t``.
    t : float
        Horizon (months) inside the follow-up.
    n_bootstrap : int
        Resamples (>= 2).
    conf_level : float
        Level of the percentile intervals.
    knots : {3, 4, 5}
        Spline knots of the smoothed curve.
    random_state : None, int, SeedSequence or numpy Generator
        Seeds the resampling.

    Returns
    -------
    DataFrame
        One row per metric (``ici``, ``e50``, ``e90``, ``calibration_slope``): ``estimate``,
        ``se`` (SD of the bootstrap estimates), ``ci_low``, ``ci_high``, ``n_bootstrap`` (resamples
        in which it could be fitted).

    References
    ----------
    Austin PC, Harrell FE, van Klaveren D. Graphical calibration curves and the integrated
    calibration index (ICI) for survival models. Stat Med 2020;39:2714-42. doi:10.1002/sim.8570.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=400)
    >>> t_event = rng.exponential(20.0 * np.exp(-x))
    >>> s12 = np.exp(-12.0 / 20.0 * np.exp(x))
    >>> tab = calibration_uncertainty(np.minimum(t_event, 30.0), t_event <= 30.0, s12, 12.0,
    ...                               n_bootstrap=20)
    >>> tab["metric"].tolist()
    ['ici', 'e50', 'e90', 'calibration_slope']
    >>> bool((tab["ci_low"] <= tab["estimate"]).all() and (tab["estimate"] <= tab["ci_high"]).all())
    True
    """
    tt, e = check_outcome(time, event)
    h = _check_times([t], tt, "t")[0]
    s = _check_predicted(predicted_survival_at_t, tt.size, "predicted_survival_at_t", lo=0.0, hi=1.0)
    if knots not in _KNOT_QUANTILES:
        raise MetricInputError([Problem(None, "knots", knots, "3, 4 or 5")])
    if int(n_bootstrap) < 2:
        raise MetricInputError([Problem(None, "n_bootstrap", n_bootstrap, "an integer >= 2")])
    normal_quantile(conf_level)  # validates conf_level
    rng = np.random.default_rng(random_state)
    point = _ici_stats(tt, e, s, h, knots)
    boot = np.empty((int(n_bootstrap), 4))
    for b in range(int(n_bootstrap)):  # loop over resamples; each is vectorised over patients
        idx = rng.integers(0, tt.size, size=tt.size)
        boot[b] = _ici_stats(tt[idx], e[idx], s[idx], h, knots)
    alpha = (1.0 - conf_level) / 2.0
    ok = np.isfinite(boot)
    rows = []
    for k, name in enumerate(("ici", "e50", "e90", "calibration_slope")):
        col = boot[ok[:, k], k]
        lo, hi = (np.quantile(col, [alpha, 1.0 - alpha]) if col.size >= 2 else (np.nan, np.nan))
        rows.append((name, float(point[k]), float(col.std(ddof=1)) if col.size >= 2 else np.nan,
                     float(lo), float(hi), int(col.size)))
    return pd.DataFrame(rows, columns=["metric", "estimate", "se", "ci_low", "ci_high", "n_bootstrap"])


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
    intercept, intercept_low, intercept_high : float
        Calibration intercept (:func:`calibration_intercept`: the shift of log(-log S_pred(t)),
        slope fixed at 1, matching the Kaplan-Meier risk; 0 = calibrated in the large).
    oe_ratio, oe_low, oe_high : float
        Observed/expected ratio with a CI from the KM standard error (log scale).
    slope, slope_low, slope_high : float
        Calibration slope: Cox coefficient of log(-log S_pred(t)) with follow-up censored at t
        (1 = ideal; < 1 = predictions too extreme). **Caveat:** the slope is exactly 1 for correct
        predictions only under proportional hazards on that scale; mastoprog's curves are
        background x excess survival, whose hazards are not proportional, so a *correct* model
        scores slightly above 1 (about 1.03 for lim2009 on its own cohorts).
    ici, e50, e90, emax : float
        Mean, median, 90th percentile and maximum of ``|observed - predicted risk|`` over patients,
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
    intercept: float = float("nan")
    intercept_low: float = float("nan")
    intercept_high: float = float("nan")

    def summary(self) -> pd.DataFrame:
        """Tidy one-row-per-metric table: metric, estimate, ci_low, ci_high, t."""
        rows = [
            ("observed_risk", self.observed_risk, self.observed_low, self.observed_high),
            ("expected_risk", self.expected_risk, np.nan, np.nan),
            ("oe_ratio", self.oe_ratio, self.oe_low, self.oe_high),
            ("calibration_intercept", self.intercept, self.intercept_low, self.intercept_high),
            ("calibration_slope", self.slope, self.slope_low, self.slope_high),
            ("ici", self.ici, np.nan, np.nan),
            ("e50", self.e50, np.nan, np.nan),
            ("e90", self.e90, np.nan, np.nan),
            ("emax", self.emax, np.nan, np.nan),
        ]
        out = pd.DataFrame(rows, columns=["metric", "estimate", "ci_low", "ci_high"])
        out["t"] = self.t
        return out


@shares_cohort_results
def calibration_at(time: ArrayLike, event: ArrayLike, predicted_survival_at_t: ArrayLike, t: float,
                   n_groups: int = 10, knots: int = 3, conf_level: float = 0.95) -> Calibration:
    """Calibration of predicted survival probabilities at horizon ``t``.

    Grouped: patients are cut into ``n_groups`` quantile groups of predicted risk; in each group
    the mean prediction is set against the Kaplan-Meier estimate at t (with its log-log interval).

    Smoothed (no binning; Austin, Harrell & van Klaveren 2020): follow-up is censored at t and a
    Cox model is fitted on a restricted cubic spline (``knots`` knots at Harrell's default
    quantiles) of x = log(-log S_pred(t)); the observed risk of each patient is
    1 - S0(t)^exp(f(x)) from that fit. ICI, E50, E90 and Emax summarise ``|observed - predicted|``.
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
    tt, e = check_outcome(time, event)
    h = _check_times([t], tt, "t")[0]
    s = _check_predicted(predicted_survival_at_t, tt.size, "predicted_survival_at_t", lo=0.0, hi=1.0)
    if knots not in _KNOT_QUANTILES:
        raise MetricInputError([Problem(None, "knots", knots, "3, 4 or 5")])
    if int(n_groups) < 1:
        raise MetricInputError([Problem(None, "n_groups", n_groups, "an integer >= 1")])
    z = normal_quantile(conf_level)
    risk = 1.0 - s
    # groups: quantiles of predicted risk; duplicate edges (few distinct predictions) merge groups
    # rank "first" (ties in order of appearance) from a stable argsort: pandas' rank is ~5x slower
    by_risk = np.argsort(risk, kind="stable")  # also the order of the smoothed curve below
    rank = np.empty(tt.size)
    rank[by_risk] = np.arange(1.0, tt.size + 1.0)
    grp = np.minimum((rank - 1) * int(n_groups) // tt.size, int(n_groups) - 1).astype(int)
    rows = []
    later = np.nextafter(h, np.inf)
    for gval in np.unique(grp):  # loop over groups (<= n_groups), not patients
        m = grp == gval
        t_m, died_by_h = tt[m], e[m] & (tt[m] <= h)
        # only the curve up to h is read: follow-up beyond h enters as one censoring time just
        # after h (the same risk sets up to h, so the same numbers, from far fewer distinct times)
        km = kaplan_meier(np.where(t_m > h, later, t_m), died_by_h, conf_level=conf_level)
        lo, hi = km.ci_at(h)
        rows.append((int(gval) + 1, int(m.sum()), float(s[m].mean()), float(km.at(h)),
                     float(lo), float(hi), int(np.sum(died_by_h))))
    groups = pd.DataFrame(rows, columns=["group", "n", "predicted_survival", "observed_survival",
                                         "observed_low", "observed_high", "n_events"])

    km_all = cohort_kaplan_meier(tt, e, conf_level=conf_level)
    s_obs = float(km_all.at(h))
    km_lo, km_hi = km_all.ci_at(h)
    observed = 1.0 - s_obs
    oe_fit = _oe_fit(km_all, risk, h, z)
    expected, oe, oe_low, oe_high = oe_fit.expected, oe_fit.estimate, oe_fit.ci_low, oe_fit.ci_high

    icpt = _intercept_fit(observed, float(km_all.se_at(h)), s, h, z)
    fitted_slope = _slope_fit(tt, e, s, h, z)
    slope, slope_low, slope_high = fitted_slope.estimate, fitted_slope.ci_low, fitted_slope.ci_high
    if not np.isfinite(slope):
        obs_risk = np.full(tt.size, observed)
    else:
        obs_risk = _smoothed_observed_risk(tt, e, s, h, knots)
    diff = np.abs(obs_risk - risk)
    curve = pd.DataFrame({"predicted_risk": risk[by_risk], "observed_risk": obs_risk[by_risk]})
    return Calibration(h, groups, curve, observed, expected, float(oe), float(oe_low), float(oe_high),
                       slope, float(slope_low), float(slope_high), float(diff.mean()),
                       float(np.median(diff)), float(np.quantile(diff, 0.9)), float(diff.max()),
                       observed_low=1.0 - float(km_hi), observed_high=1.0 - float(km_lo),
                       intercept=icpt.estimate, intercept_low=icpt.ci_low, intercept_high=icpt.ci_high)
