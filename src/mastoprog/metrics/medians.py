"""Median survival from curves and Kaplan-Meier median recovery by group."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import MetricInputError, Problem
from ._checks import _as_1d, check_outcome
from ._nonparametric import kaplan_meier

ArrayLike = Any

# --------------------------------------------------------------------------- medians


def curve_median(times: np.ndarray, surv: np.ndarray) -> float:
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
        the order of ``time``; the layout of ``SurvivalModel.predict_survival_function``.

    Returns
    -------
    DataFrame
        One row per group: ``group``, ``n``, ``n_events``, ``km_median``, ``km_median_low``,
        ``km_median_high`` (``inf`` when not reached), ``predicted_median``, ``difference``
        (predicted - KM), ``covered`` (predicted median inside the KM interval).
    """
    tt, e = check_outcome(time, event)
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
    return median_table(tt, e, labels, grid, means, conf_level)


def median_table(tt: np.ndarray, e: np.ndarray, labels: pd.Series, grid: np.ndarray,
                  means: dict[Any, np.ndarray], conf_level: float) -> pd.DataFrame:
    """KM median (with CI) vs the median of each group's mean predicted curve."""
    rows = []
    for label, curve in means.items():  # loop over groups, not patients
        m = (labels == label).to_numpy()
        km = kaplan_meier(tt[m], e[m], conf_level=conf_level)
        med, lo, hi = km.quantile(0.5)
        pred = curve_median(grid, curve)
        rows.append((label, int(m.sum()), int(e[m].sum()), med, lo, hi, pred,
                     pred - med if np.isfinite(med) else float("nan"),
                     bool(lo <= pred <= hi)))
    return pd.DataFrame(rows, columns=["group", "n", "n_events", "km_median", "km_median_low",
                                       "km_median_high", "predicted_median", "difference", "covered"])
