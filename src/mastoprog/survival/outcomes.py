"""What a patient asks, from a fitted relative-survival model: causes of death, "already survived",
loss of life expectancy.

Everything here is built on :class:`~mastoprog.SurvivalModel`'s public predictions (one call of
:meth:`~mastoprog.SurvivalModel.predict`: overall survival ``S``, its band and the
matched population's survival ``S_pop``); no formula of the model is repeated. Overall survival is
``S = S_pop x S_excess``, so the total cumulative hazard splits exactly into the background part
``-log S_pop`` and the excess part ``-log S + log S_pop``.

Crude probabilities of death (Cronin & Feuer 2000)::

    died of mastocytosis by t    = integral_0^t S(u) h_excess(u) du
    died of other causes by t    = integral_0^t S(u) h_pop(u) du
    alive at t                   = S(t)

computed on a fine grid: the deaths ``S(u_i) - S(u_{i+1})`` of each interval are split between the
two causes in the ratio of their cumulative hazards over the interval. So at every time the three
add up to 1 exactly, and deaths from other causes never exceed the matched population's probability
of death ``1 - S_pop(t)`` (because ``S <= S_pop``). A patient without excess hazard (CM) has no
deaths from mastocytosis.

Bands, draw by draw: the model's parameter draws each give a curve (per draw, the smallest and the
largest over what is missing: :class:`~mastoprog.survival.SurvivalDraws`), each with the matched
population that goes with it. Every quantity is computed on each draw's curves exactly as on the
central curve, so each draw's alive + died of mastocytosis + died of other causes = 1, its deaths from
other causes never exceed its population's probability of death, and CM has none from
mastocytosis; the band is the ``(1 - level) / 2`` percentile over the draws of the smaller of the
two values and the ``(1 + level) / 2`` percentile of the larger (the band of ``S`` itself is made
so), widened to hold the estimate (:data:`BAND_NOTE`).

References
----------
Cronin KA, Feuer EJ. Cumulative cause-specific mortality for cancer patients in the presence of other
causes: a crude analogue of relative survival. Stat Med 2000;19:1729-40.
doi:10.1002/1097-0258(20000715)19:13<1729::AID-SIM484>3.0.CO;2-9
Andersson TM-L, Dickman PW, Eloranta S, Lambe M, Lambert PC. Estimating the loss in expectation of
life due to cancer using flexible parametric survival models. Stat Med 2013;32:5286-300.
doi:10.1002/sim.5943
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ._prediction import SurvivalDraws

__all__ = [
    "BAND_NOTE",
    "DEFAULT_HORIZONS_MONTHS",
    "SurvivalCurves",
    "conditional_survival",
    "crude_outcomes",
    "icon_counts",
    "life_expectancy_loss",
    "predict_curves",
    "predict_outcomes",
    "time_grid",
]

#: The horizons a clinician asks about: 1, 2, 5 and 10 years (months).
DEFAULT_HORIZONS_MONTHS: tuple[float, ...] = (12.0, 24.0, 60.0, 120.0)

#: How every band of this module is made (shown beside the numbers).
BAND_NOTE = (
    "band: the quantity computed on each of the model's parameter draws (on each draw's lowest and "
    "highest curve over missing findings), from the 2.5th to the 97.5th percentile over the draws "
    "(at the band's level), widened to hold the estimate"
)

# Months: quarter-month steps over the first two years (MCL medians are a few months), then monthly.
_FINE_STEP, _FINE_UNTIL, _COARSE_STEP = 0.25, 24.0, 1.0


@dataclass(frozen=True)
class SurvivalCurves:
    """One call's curves on a time grid, for every patient (arrays: rows = months, columns = patients).

    Attributes
    ----------
    months : ndarray (T,)
        Months since diagnosis, starting at 0, increasing.
    survival, lower, upper : ndarray (T, n)
        Overall survival and its pointwise band (probabilities).
    population : ndarray (T, n)
        Matched general-population survival (same age, sex, calendar year).
    patients : list
        Patient labels (``patient_id`` or row labels).
    envelope : ndarray of bool (n,)
        Patients whose subtype or risk features are a range (missing findings): their band also
        covers that range.
    notes : tuple of str
        The model's notes about these patients.
    level : float
        Band level (e.g. 0.95).
    draws : SurvivalDraws or None
        Every parameter draw's curves on ``months`` (the bands of the derived quantities are
        computed from them); None: the bands use ``lower``/``upper`` as a single draw.
    median : DataFrame or None
        Median survival (months) with its band, per patient (from the same model call).
    """

    months: np.ndarray
    survival: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    population: np.ndarray
    patients: list[Any]
    envelope: np.ndarray
    notes: tuple[str, ...]
    level: float
    draws: SurvivalDraws | None = None
    median: pd.DataFrame | None = None

    def at(self, times: ArrayLike) -> dict[str, np.ndarray]:
        """The four curves at ``times`` (months; linear interpolation on the grid).

        Parameters
        ----------
        times : sequence of float
            Months since diagnosis, within the grid.

        Returns
        -------
        dict
            ``survival``, ``lower``, ``upper``, ``population``: arrays (len(times), n).
        """
        t = _check_times(times, self.months[-1])
        return {
            name: _interp(self.months, getattr(self, name), t)
            for name in ("survival", "lower", "upper", "population")
        }


def _interp(grid: np.ndarray, values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Linear interpolation along axis 0 (the months) of ``values`` (T, ...) at ``t``: exact at grid
    points (weights 0 and 1), any trailing shape (patients, or draws x patients)."""
    j = np.clip(np.searchsorted(grid, t, side="right") - 1, 0, grid.size - 2)
    frac = (t - grid[j]) / (grid[j + 1] - grid[j])
    frac = frac.reshape(frac.shape + (1,) * (values.ndim - 1))
    return values[j] * (1.0 - frac) + values[j + 1] * frac


def _draw_pairs(curves: SurvivalCurves) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(lower curves, their population), (upper curves, theirs)]``, each (T, D, n): the draws, or
    the band's lower/upper curves as a single draw when the curves carry no draws."""
    d = curves.draws
    if d is None:
        return [(curves.lower[:, None], curves.population[:, None]),
                (curves.upper[:, None], curves.population[:, None])]
    return [(d.lower.transpose(1, 0, 2), d.population_lower[:, None]),
            (d.upper.transpose(1, 0, 2), d.population_upper[:, None])]


def _band(estimate: np.ndarray, on_lower: np.ndarray, on_upper: np.ndarray,
          level: float) -> tuple[np.ndarray, np.ndarray]:
    """Band over the draws (axis -2) of a quantity computed on each draw's lower and upper curves.

    ``estimate`` is (..., n); the per-draw values (..., D, n). The (1 - level) / 2 percentile of the
    smaller value per draw and the (1 + level) / 2 percentile of the larger, widened to hold the
    estimate (percentiles of draws need not: the estimate is the point parameters' value).
    """
    small, large = np.minimum(on_lower, on_upper), np.maximum(on_lower, on_upper)
    lo = np.percentile(small, 100 * (1 - level) / 2, axis=-2)
    hi = np.percentile(large, 100 * (1 + level) / 2, axis=-2)
    return np.minimum(lo, estimate), np.maximum(hi, estimate)


def _check_times(times: Any, last: float) -> np.ndarray:
    t = np.atleast_1d(np.asarray(times, dtype=float))
    if t.ndim != 1 or not np.all(np.isfinite(t)) or np.any(t < 0) or np.any(t > last):
        raise ValueError(f"times: expected months from 0 to {last:g}; got {list(np.atleast_1d(times))!r}")
    return t


def time_grid(horizon_months: float, extra: ArrayLike = ()) -> np.ndarray:
    """The grid the integrals are computed on: 0 to ``horizon_months``, finer in the first 2 years.

    Parameters
    ----------
    horizon_months : float
        Last month of the grid (> 0).
    extra : sequence of float
        Months that must be on the grid (the horizons asked for).

    Returns
    -------
    ndarray
        Sorted distinct months starting at 0.
    """
    horizon = float(horizon_months)
    if not np.isfinite(horizon) or horizon <= 0:
        raise ValueError(f"horizon_months: expected a number of months > 0; got {horizon_months!r}")
    fine = np.arange(0.0, min(horizon, _FINE_UNTIL), _FINE_STEP)
    coarse = np.arange(min(horizon, _FINE_UNTIL), horizon + _COARSE_STEP / 2, _COARSE_STEP)
    return np.unique(np.concatenate([fine, coarse, [horizon], np.asarray(extra, dtype=float)]))


def predict_curves(
    model: Any,
    findings: Any,
    horizon_months: float = 240.0,
    *,
    extra_times: ArrayLike = DEFAULT_HORIZONS_MONTHS,
    level: float = 0.95,
    year: float | None = None,
    edition: str | None = None,
) -> SurvivalCurves:
    """Overall survival, its band and the matched population on a fine grid, in one model call.

    Parameters
    ----------
    model : SurvivalModel
        A calibrated or fitted model (e.g. ``mastoprog.load_model("lim2009")``).
    findings : DataFrame, mapping or path
        As in :meth:`SurvivalModel.predict` (``age`` in years is required).
    horizon_months : float
        Last month of the grid (default 240 = 20 years).
    extra_times : sequence of float
        Months that must be grid points (default 12, 24, 60, 120).
    level : float
        Band level in (0, 1).
    year : float, optional
        Calendar year of diagnosis when the findings have no ``diagnosis_year``.
    edition : str, optional
        Classification edition (default: the model's).

    Returns
    -------
    SurvivalCurves

    Raises
    ------
    CalibrationError
        For a patient whose only possible subtype has no calibrated curve (MCS).
    FindingsError
        For invalid findings or a missing age.

    Examples
    --------
    >>> import mastoprog as mp
    >>> from mastoprog.survival.outcomes import predict_curves
    >>> c = predict_curves(mp.load_model("lim2009"), {"age": 60, "sex": "F", "who_subtype": "ASM"}, 60)
    >>> bool(c.survival[0, 0] == 1.0 and c.survival[-1, 0] < c.population[-1, 0])
    True
    """
    extra = np.atleast_1d(np.asarray(extra_times, dtype=float))
    grid = time_grid(horizon_months, extra[extra <= horizon_months])
    res = model.predict(findings, grid, interval=True, level=level, year=year, edition=edition, draws=True)
    envelope = res.notes["envelope"].to_numpy(dtype=bool)
    notes = tuple(str(n) for n in res.notes["notes"])
    return SurvivalCurves(
        months=grid,
        survival=res.survival.to_numpy(float),
        lower=res.lower.to_numpy(float),
        upper=res.upper.to_numpy(float),
        population=res.population.to_numpy(float),
        patients=list(res.survival.columns),
        envelope=envelope,
        notes=notes,
        level=float(level),
        draws=res.draws,
        median=res.median,
    )


def _crude_on_grid(survival: np.ndarray, population: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(alive, died of the disease, died of other causes) on the grid for curves (T, ...) and their
    matched population (broadcast against them)."""
    pop = np.broadcast_to(np.clip(population, 1e-300, 1.0), survival.shape)
    s = np.minimum(np.clip(survival, 0.0, 1.0), pop)  # S <= S_pop: the excess hazard is >= 0
    s = np.minimum.accumulate(s, axis=0)  # a survival curve never rises
    s[0] = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        total = -np.diff(np.log(s), axis=0)  # cumulative hazard over each interval (inf at S -> 0)
        background = -np.diff(np.log(pop), axis=0)
        excess = np.clip(total - background, 0.0, None)
        # rounding: an excess below 1e-12 of the background is none (CM: S equals S_pop)
        excess = np.where(excess <= 1e-12 * np.maximum(background, 1e-300), 0.0, excess)
        share_other = np.where(np.isfinite(excess), background / (background + excess), 0.0)
    share_other = np.nan_to_num(share_other, nan=1.0)
    deaths = -np.diff(s, axis=0)
    zero = np.zeros((1, *s.shape[1:]))
    other = np.vstack([zero, np.cumsum(deaths * share_other, axis=0)])
    disease = np.vstack([zero, np.cumsum(deaths * (1.0 - share_other), axis=0)])
    return s, disease, other


def crude_outcomes(curves: SurvivalCurves, times: ArrayLike = DEFAULT_HORIZONS_MONTHS) -> pd.DataFrame:
    """Alive, died of mastocytosis, died of other causes at ``times``: crude probabilities with bands.

    Parameters
    ----------
    curves : SurvivalCurves
        From :func:`predict_curves`; ``times`` must be grid points for exact sums.
    times : sequence of float
        Months since diagnosis (default 1, 2, 5, 10 years).

    Returns
    -------
    DataFrame
        One row per patient and time: ``patient``, ``months``, ``years``, ``alive``,
        ``died_mastocytosis``, ``died_other_causes`` (they sum to 1), each with ``_lower``/``_upper``
        (computed draw by draw, see :data:`BAND_NOTE`), ``population_alive`` (matched population)
        and ``envelope``.

    References
    ----------
    Cronin KA, Feuer EJ. Stat Med 2000;19:1729-40 (crude probability of death).
    """
    t = _check_times(times, curves.months[-1])
    idx = np.searchsorted(curves.months, t)
    on_grid = (idx < curves.months.size) & np.isclose(
        curves.months[np.minimum(idx, curves.months.size - 1)], t
    )
    if not np.all(on_grid):
        raise ValueError(
            f"times: {t[~on_grid].tolist()} are not on the curves' grid; pass them as "
            "predict_curves(extra_times=...)"
        )
    end = int(idx.max()) + 1  # the sums run from 0: the grid past the last time is not needed
    central = _crude_on_grid(curves.survival[:end], curves.population[:end])
    per_draw = [_crude_on_grid(c[:end], pop[:end]) for c, pop in _draw_pairs(curves)]
    # A patient whose central curve is the population's carries no excess hazard (CM), nor does
    # any of its draws: a draw below the central curve comes from the background (unknown sex).
    no_excess = np.all(np.abs(curves.survival[:end] - curves.population[:end]) <= 1e-12, axis=0)
    for _alive, disease, other in per_draw:
        other[..., no_excess] += disease[..., no_excess]
        disease[..., no_excess] = 0.0
    names = ("alive", "died_mastocytosis", "died_other_causes")
    rows: dict[str, Any] = {
        "patient": np.repeat(np.asarray(curves.patients, dtype=object), t.size),
        "months": np.tile(t, len(curves.patients)),
        "years": np.tile(t / 12.0, len(curves.patients)),
    }
    for k, name in enumerate(names):
        estimate = central[k][idx]  # (times, patients)
        lo, hi = _band(estimate, per_draw[0][k][idx], per_draw[1][k][idx], curves.level)
        rows[name] = estimate.T.ravel()
        rows[f"{name}_lower"] = np.clip(lo, 0, 1).T.ravel()
        rows[f"{name}_upper"] = np.clip(hi, 0, 1).T.ravel()
    rows["population_alive"] = curves.population[idx].T.ravel()
    rows["envelope"] = np.repeat(curves.envelope, t.size)
    return pd.DataFrame(rows)


def conditional_survival(
    curves: SurvivalCurves, survived_months: float, times: ArrayLike = DEFAULT_HORIZONS_MONTHS
) -> pd.DataFrame:
    """Survival given the patient is alive ``survived_months`` after diagnosis: S(t) / S(s).

    Parameters
    ----------
    curves : SurvivalCurves
        From :func:`predict_curves`.
    survived_months : float
        Months already survived since diagnosis (s >= 0).
    times : sequence of float
        Further months from now (``s + times`` must be within the grid).

    Returns
    -------
    DataFrame
        ``patient``, ``survived_months``, ``months_from_now``, ``conditional_survival`` with
        ``_lower``/``_upper`` (the ratio computed draw by draw, see :data:`BAND_NOTE`),
        ``population_conditional`` (the matched population's S_pop(s + t) / S_pop(s)).
    """
    s = float(survived_months)
    if not np.isfinite(s) or s < 0:
        raise ValueError(f"survived_months: expected months >= 0; got {survived_months!r}")
    ahead = np.atleast_1d(np.asarray(times, dtype=float))
    when = _check_times(np.concatenate([[s], s + ahead]), curves.months[-1])

    def ratio(values: np.ndarray) -> np.ndarray:
        v = _interp(curves.months, values, when)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.clip(np.where(v[:1] > 0, v[1:] / v[:1], 0.0), 0, 1)

    estimate = ratio(curves.survival)
    on_lower, on_upper = (ratio(c) for c, _pop in _draw_pairs(curves))
    lo, hi = _band(estimate, on_lower, on_upper, curves.level)
    n = len(curves.patients)
    return pd.DataFrame(
        {
            "patient": np.repeat(np.asarray(curves.patients, dtype=object), ahead.size),
            "survived_months": s,
            "months_from_now": np.tile(ahead, n),
            "conditional_survival": estimate.T.ravel(),
            "conditional_survival_lower": lo.T.ravel(),
            "conditional_survival_upper": hi.T.ravel(),
            "population_conditional": ratio(curves.population).T.ravel(),
        }
    )


def life_expectancy_loss(curves: SurvivalCurves, horizon_months: float | None = None) -> pd.DataFrame:
    """Loss of life expectancy against the matched population, restricted to a horizon.

    ``loss = integral_0^tau (S_pop(u) - S(u)) du``: the restricted mean survival time of the matched
    population minus the patient's (months), trapezoid rule on the curves' grid.

    Parameters
    ----------
    curves : SurvivalCurves
        From :func:`predict_curves`.
    horizon_months : float, optional
        The horizon tau (months; default: the grid's end).

    Returns
    -------
    DataFrame
        One row per patient: ``patient``, ``horizon_months``, ``rmst_months`` (patient),
        ``rmst_population_months``, ``loss_months`` with ``loss_lower``/``loss_upper`` (each draw's
        loss against its matched population, see :data:`BAND_NOTE`).

    References
    ----------
    Andersson TM-L et al. Stat Med 2013;32:5286-300 (loss in expectation of life).
    """
    tau = float(curves.months[-1] if horizon_months is None else horizon_months)
    keep = curves.months <= tau
    grid = curves.months[keep]
    if grid[-1] < tau:
        raise ValueError(f"horizon_months: expected at most {curves.months[-1]:g}; got {horizon_months!r}")

    def area(values: np.ndarray) -> np.ndarray:
        """Trapezoid rule over the months (axis 0) up to tau, any trailing shape."""
        v = values[keep]
        step = np.diff(grid).reshape(-1, *(1,) * (v.ndim - 1))
        return np.sum((v[1:] + v[:-1]) / 2 * step, axis=0)

    pop, mid = area(curves.population), area(curves.survival)
    # each draw's loss against the population that goes with its curve
    on_lower, on_upper = (area(p) - area(c) for c, p in _draw_pairs(curves))
    lo, hi = _band(pop - mid, on_lower, on_upper, curves.level)
    return pd.DataFrame(
        {
            "patient": curves.patients,
            "horizon_months": tau,
            "rmst_months": mid,
            "rmst_population_months": pop,
            "loss_months": pop - mid,
            "loss_lower": lo,
            "loss_upper": hi,
        }
    )


def predict_outcomes(
    model: Any,
    findings: Any,
    times: ArrayLike = DEFAULT_HORIZONS_MONTHS,
    **kwargs: Any,
) -> pd.DataFrame:
    """Causes of death at ``times`` for each patient: alive / died of mastocytosis / of other causes.

    Parameters
    ----------
    model : SurvivalModel
        E.g. ``mastoprog.load_model("lim2009")``.
    findings : DataFrame, mapping or path
        As in :meth:`SurvivalModel.predict`.
    times : sequence of float
        Months since diagnosis (default 12, 24, 60, 120).
    **kwargs
        ``level``, ``year``, ``edition`` as in :func:`predict_curves`.

    Returns
    -------
    DataFrame
        As :func:`crude_outcomes`.

    Examples
    --------
    >>> import mastoprog as mp
    >>> from mastoprog.survival.outcomes import predict_outcomes
    >>> out = predict_outcomes(mp.load_model("lim2009"), {"age": 58, "sex": "M", "who_subtype": "ASM"})
    >>> total = out["alive"] + out["died_mastocytosis"] + out["died_other_causes"]
    >>> bool(abs(total - 1).max() < 1e-12)
    True
    """
    t = np.atleast_1d(np.asarray(times, dtype=float))
    curves = predict_curves(model, findings, max(float(t.max()), 1.0), extra_times=t.tolist(), **kwargs)
    return crude_outcomes(curves, t)


def icon_counts(alive: float, disease: float, other: float) -> dict[str, int]:
    """Shares as whole patients out of 100 (largest remainder: they always add up to 100).

    Parameters
    ----------
    alive, disease, other : float
        Probabilities adding up to 1.

    Returns
    -------
    dict
        ``alive``, ``died_mastocytosis``, ``died_other_causes`` counts: the icon array of 100
        similar patients that the page, the PDF and the notebooks draw.

    Examples
    --------
    >>> icon_counts(0.555, 0.335, 0.11)
    {'alive': 56, 'died_mastocytosis': 33, 'died_other_causes': 11}
    """
    shares = np.clip(np.array([alive, disease, other], dtype=float), 0, 1) * 100
    counts = np.floor(shares).astype(int)
    order = np.argsort(-(shares - counts), kind="stable")
    counts[order[: 100 - counts.sum()]] += 1
    return dict(zip(("alive", "died_mastocytosis", "died_other_causes"), counts.tolist(), strict=True))
