"""IPCW Brier score and the integrated Brier score."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import MetricInputError, Problem
from ._checks import _check_predicted, _check_times, _per_horizon, check_outcome, normal_quantile
from ._nonparametric import KaplanMeier, censoring_left, censoring_survival

ArrayLike = Any

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


def ipcw_terms(t: np.ndarray, e: np.ndarray, s_at: np.ndarray, h: float, g_left: np.ndarray, g_h: float
               ) -> np.ndarray:
    """The one IPCW Brier formula, per patient: S(h)^2 / G(T-) for deaths by h, (1 - S(h))^2 / G(h)
    for patients beyond h, 0 for those censored by h (``g_left`` is G(T_i-) per patient)."""
    case = e & (t <= h)
    ctrl = t > h
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(case, np.square(s_at) / g_left, 0.0)
        terms = terms + np.where(ctrl, np.square(1.0 - s_at) / g_h, 0.0)
    return terms


def _brier_terms(t: np.ndarray, e: np.ndarray, s_at: np.ndarray, h: float, cens) -> np.ndarray:
    return ipcw_terms(t, e, s_at, h, cens.at(t, left=True), float(cens.at(h)))


def brier_terms(time: np.ndarray, event: np.ndarray, predicted_survival_at_t: np.ndarray, t: float,
                censoring: KaplanMeier) -> np.ndarray:
    """Per-patient IPCW Brier terms at ``t`` (their mean is :func:`brier_score`).

    Clean numpy arrays (no checks); ``censoring`` is the censoring Kaplan-Meier of the cohort
    whose weights are used (:func:`censoring_survival`), so terms of a subset of patients
    (e.g. the out-of-bag patients of a bootstrap) keep the whole cohort's weights.

    Examples
    --------
    >>> import numpy as np
    >>> from mastoprog.metrics import censoring_survival
    >>> t, e = np.array([2.0, 4.0, 6.0]), np.array([True, False, True])
    >>> brier_terms(t, e, np.array([0.5, 0.5, 0.5]), 3.0, censoring_survival(t, e)).round(3).tolist()
    [0.25, 0.25, 0.25]
    """
    return _brier_terms(time, event, predicted_survival_at_t, t, censoring)


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
    tt, e = check_outcome(time, event)
    h = _check_times([t], tt, "t")[0]
    s = _check_predicted(predicted_survival_at_t, tt.size, "predicted_survival_at_t", lo=0.0, hi=1.0)
    terms = ipcw_terms(tt, e, s, h, censoring_left(tt, e), float(censoring_survival(tt, e).at(h)))
    est = float(terms.mean())
    se = float(terms.std(ddof=1) / np.sqrt(tt.size)) if tt.size > 1 else float("nan")
    low, high = wald_interval(est, se, conf_level, 0.0, 1.0)
    return BrierScore(est, se, low, high, h, conf_level)


def wald_interval(estimate: float, se: float, conf_level: float, low: float, high: float
                  ) -> tuple[float, float]:
    """Wald interval ``estimate -/+ z se`` kept inside the parameter's range ``[low, high]``.

    A Brier score cannot be negative: with few patients the unclipped Wald interval can reach
    below 0 (e.g. -0.157 on 3 patients), which says nothing; clipped, it ends at the bound.

    Examples
    --------
    >>> tuple(round(v, 4) for v in wald_interval(0.01, 0.02, 0.95, 0.0, 1.0))
    (0.0, 0.0492)
    """
    z = normal_quantile(conf_level)
    return max(low, estimate - z * se), min(high, estimate + z * se)


def integrated_brier_score(time: ArrayLike, event: ArrayLike, predicted_survival: ArrayLike,
                           times: Sequence[float]) -> float:
    """Integrated Brier score over ``times``: trapezoidal integral of BS(t) / (t_last - t_first).

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Follow-up (months) and event indicator.
    predicted_survival : DataFrame or array, shape (len(times), n)
        Predicted survival probabilities: **rows are the horizons in** ``times``, **columns are
        patients** (the layout of ``SurvivalModel.predict_survival_function``). A DataFrame's index is
        checked against ``times``.
    times : sequence of float
        At least two increasing horizons (months) inside the follow-up range. A fine grid gives
        the integral; scikit-survival's ``integrated_brier_score`` uses the same rule.

    References
    ----------
    Graf et al. 1999 (see :func:`brier_score`).
    """
    tt, e = check_outcome(time, event)
    ts = _check_times(times, tt)
    if ts.size < 2:
        raise MetricInputError([Problem(None, "times", list(ts), "at least two horizons")])
    if isinstance(predicted_survival, pd.DataFrame) and not np.allclose(
            np.asarray(predicted_survival.index, dtype=float), ts):
        raise MetricInputError([Problem(None, "predicted_survival", "index != times",
                                        "rows indexed by the horizons in 'times' (months)")])
    p = _per_horizon(predicted_survival, tt.size, ts, "predicted_survival", probability=True)
    return float(integrated_brier_terms(tt, e, p, ts).mean())


def integrated_brier_terms(tt: np.ndarray, e: np.ndarray, p: np.ndarray, ts: np.ndarray,
                           censoring: KaplanMeier | None = None) -> np.ndarray:
    """Per-patient integrated Brier terms; their mean is the IBS (trapezoid over ``ts``), their
    standard deviation / sqrt(n) its SE with the censoring weights treated as fixed.

    ``p`` is (len(ts), n). ``censoring`` (the Kaplan-Meier of the censoring times of the *whole*
    cohort, :func:`censoring_survival`) lets a caller score a large cohort chunk by chunk: the
    terms of a chunk then equal those computed on the whole cohort. Vectorised over horizons.

    Examples
    --------
    >>> import numpy as np
    >>> terms = integrated_brier_terms(np.array([2.0, 4.0, 6.0]), np.array([True, False, True]),
    ...                                np.full((2, 3), 0.5), np.array([1.0, 3.0]))
    >>> terms.round(3).tolist()
    [0.25, 0.25, 0.25]
    """
    cens = censoring_survival(tt, e) if censoring is None else censoring
    g_event = cens.at(tt, left=True)
    g_h = cens.at(ts)
    case = e[None, :] & (tt[None, :] <= ts[:, None])
    ctrl = tt[None, :] > ts[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(case, np.square(p) / g_event[None, :], 0.0)
        terms += np.where(ctrl, np.square(1.0 - p) / g_h[:, None], 0.0)
    return np.trapezoid(terms, ts, axis=0) / (ts[-1] - ts[0])
