"""Restricted-mean years of life lost (R's ``relsurv::years``, measures ``"yl2013"`` and ``"yl2017"``).

Two of the three measures of ``relsurv::years`` (version 2.2-9), both up to a horizon ``tau``:

* ``"yl2013"`` — years lost **due to the disease** (Andersen 2013): the area under the crude
  probability of death from the disease, ``int_0^tau F_E(u) du`` (:mod:`.crude`).
* ``"yl2017"`` — years lost **compared with the matched population** (Andersen 2017):
  ``int_0^tau (1 - S_KM(u)) du - mean_i int_0^tau (1 - S_P,i(u)) du``, every patient's population
  curve followed to ``tau`` whatever their own follow-up (Ederer I expected survival).

``"yl2017"`` comes with a standard error and an interval: its population part is an expected
curve (the life table, given the patients' ages, sexes and years), so its uncertainty is that of
the area above the Kaplan-Meier curve, whose Greenwood-type variance is R's ``survival``
(``print.survfit(..., rmean = tau)``): ``sum_j A_j^2 d_j / (Y_j (Y_j - d_j))``, ``A_j`` the area
under the Kaplan-Meier curve from death time ``t_j`` to ``tau`` (Klein & Moeschberger 2003, 4.5).
The interval is normal, cut to the values the measure can take (the observed part lies in
``[0, tau]``).

relsurv's default measure, ``"yd"`` (years difference), is not a third measure here: without
delayed entry it estimates what ``"yl2017"`` does (the area between the observed and the expected
cumulative mortality). On relsurv's ``rdata`` its estimate is within 0.006 years of ours at 1-10
years (relsurv sums the population part on its day grid) and its standard error with
``var.estimator = "greenwood"`` equals ours to 1e-8 relative. Not implemented: delayed entry
(relsurv's ``Surv(start, stop, status)`` form of ``yd``), and a standard error for ``"yl2013"``
(relsurv gives it none without its bootstrap, which draws random figures no test can hold it to).

The integrals are exact for the life table's piecewise-constant hazard: ``F_E`` is linear between
consecutive points of the grid of follow-up times and whole months, and ``exp(-Lambda_P,i)`` is
integrated in closed form year by year. relsurv sums on a 30-day grid instead (``precision = 30``;
``yl2013`` with a right-hand sum and ``S(t)`` in place of ``S(t-)``, ``yl2017`` with a left-hand sum
of the population part), which moves its figures by a few thousandths of a year.

References
----------
Andersen PK. Decomposition of number of life years lost according to causes of death.
Stat Med 2013;32:5278-85. doi:10.1002/sim.5903
Andersen PK. Life years lost among patients with a given disease. Stat Med 2017;36:3573-82.
doi:10.1002/sim.7357
Klein JP, Moeschberger ML. Survival Analysis: Techniques for Censored and Truncated Data, 2nd ed.
Springer 2003, section 4.5 (the restricted mean and its variance).
Pavlič K, Pohar Perme M. Using pseudo-observations for estimation in relative survival.
Biostatistics 2019;20:384-99. doi:10.1093/biostatistics/kxy008
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import MetricInputError, Problem
from ..lifetables import LifeTable
from ..metrics import normal_quantile
from ._cohort import RelativeCohort, check_times, event_grid, prepare_cohort
from .crude import crude_mortality_curves

__all__ = ["YEARS_LOST_MEASURES", "YearsLostResult", "years_lost"]

#: The measures, by relsurv's names.
YEARS_LOST_MEASURES = ("yl2013", "yl2017")


@dataclass(frozen=True)
class YearsLostResult:
    """Years of life lost up to each horizon.

    Attributes
    ----------
    table : DataFrame
        ``time`` (horizon, months), ``years_lost`` (years); for ``"yl2013"`` also ``crude_disease``
        (``F_E`` at the horizon); for ``"yl2017"`` also ``std_error``, ``lower`` and ``upper``
        (years; the interval at ``conf_level``), ``observed_years_lost`` (area above the
        Kaplan-Meier curve, years) and ``population_years_lost`` (the same for the matched population).
    measure : str
    conf_level : float
    n_patients, n_events : int
    life_table : dict
    notes : tuple of str
    """

    table: pd.DataFrame
    measure: str
    conf_level: float
    n_patients: int
    n_events: int
    life_table: dict[str, Any]
    notes: tuple[str, ...]


def years_lost(
    data: pd.DataFrame,
    *,
    duration_col: str = "time",
    event_col: str = "event",
    age_col: str = "age",
    sex_col: str = "sex",
    year_col: str = "diagnosis_year",
    life_table: LifeTable | None = None,
    measure: str = "yl2013",
    times: Any = None,
    conf_level: float = 0.95,
) -> YearsLostResult:
    """Restricted-mean years lost to the disease or against the population (relsurv ``years``).

    Parameters
    ----------
    data : DataFrame
        One row per patient.
    duration_col, event_col, age_col, sex_col, year_col : str
        Follow-up (months), event (1 = death of any cause), age at diagnosis (years), sex
        (``"F"``/``"M"``), calendar year of diagnosis.
    life_table : LifeTable, optional
        Background mortality (default :meth:`LifeTable.hmd_us`).
    measure : {"yl2013", "yl2017"}
        Years lost due to the disease (Andersen 2013) or compared with the population (Andersen 2017).
    times : array_like, optional
        Horizons, months (default every whole year of follow-up and the last follow-up time).
    conf_level : float
        Level of the ``"yl2017"`` interval, in (0, 1).

    Returns
    -------
    YearsLostResult

    Raises
    ------
    MetricInputError
        For invalid values, an unknown ``measure`` or a horizon after the last follow-up.

    References
    ----------
    Andersen PK. Stat Med 2013;32:5278-85. doi:10.1002/sim.5903
    Andersen PK. Stat Med 2017;36:3573-82. doi:10.1002/sim.7357
    Klein JP, Moeschberger ML. Survival Analysis, 2nd ed. Springer 2003, section 4.5.

    Examples
    --------
    >>> import pandas as pd
    >>> cohort = pd.DataFrame({"time": [6.0, 14.0, 30.0, 30.0, 45.0], "event": [1, 0, 1, 0, 0],
    ...                        "age": [62, 70, 55, 81, 66], "sex": ["F", "M", "M", "F", "F"],
    ...                        "diagnosis_year": [2005, 2008, 2010, 2003, 2012]})
    >>> years_lost(cohort, times=[36]).table.round(3)
       time  years_lost  crude_disease
    0  36.0       0.538          0.409
    >>> years_lost(cohort, times=[36], measure="yl2017").table[["years_lost", "std_error"]].round(3)
       years_lost  std_error
    0       0.535      0.431
    """
    if measure not in YEARS_LOST_MEASURES:
        raise MetricInputError([Problem(None, "measure", measure, f"one of {list(YEARS_LOST_MEASURES)} "
                                        "(relsurv's 'yd' without delayed entry is 'yl2017')")])
    z = normal_quantile(conf_level)
    cohort = prepare_cohort(data, duration_col=duration_col, event_col=event_col, age_col=age_col,
                            sex_col=sex_col, year_col=year_col, life_table=life_table)
    last = float(cohort.duration[-1])
    horizons = (np.union1d(np.arange(12.0, last, 12.0), [last]) if times is None
                else check_times(times, cohort))
    months = np.union1d(np.arange(0.0, np.floor(last) + 1.0), horizons)
    grid = event_grid(cohort, months[months <= last])
    if measure == "yl2013":
        table = _lost_to_disease(cohort, grid, horizons)
        notes = ("yl2013: area under the crude probability of death from the disease (Andersen 2013)",
                 "yl2013: no standard error (relsurv gives this measure one only by bootstrap)")
    else:
        table = _lost_against_population(cohort, grid, horizons, z)
        notes = ("yl2017: area above the Kaplan-Meier curve minus the same for the matched population, "
                 "each patient's population curve followed to the horizon (Andersen 2017)",
                 "yl2017: standard error of the Kaplan-Meier area (Greenwood-type, as R's survival "
                 "prints for the restricted mean); the population part is expected, without sampling "
                 f"error; {conf_level:.0%} normal interval cut to the measure's range")
    return YearsLostResult(table, measure, float(conf_level), int(cohort.duration.size),
                           int(cohort.event.sum()), cohort.describe(), (*notes, *cohort.notes))


def _lost_to_disease(cohort: RelativeCohort, grid: dict[str, np.ndarray],
                     horizons: np.ndarray) -> pd.DataFrame:
    curves = crude_mortality_curves(cohort, grid)
    f_e, t = curves["disease"], grid["time"]
    before = np.concatenate([[1.0], curves["survival"][:-1]])
    jump = before * grid["deaths"] / grid["n_at_risk"]  # the step of F_E at a death time
    left = np.concatenate([[0.0], f_e[:-1]])
    area = np.cumsum((t - grid["previous"]) * (left + f_e - jump) / 2.0)  # F_E linear in between
    rows = np.searchsorted(t, horizons)
    return pd.DataFrame({"time": horizons, "years_lost": area[rows] / 12.0, "crude_disease": f_e[rows]})


def _lost_against_population(cohort: RelativeCohort, grid: dict[str, np.ndarray],
                             horizons: np.ndarray, z: float) -> pd.DataFrame:
    t, deaths, at_risk = grid["time"], grid["deaths"], grid["n_at_risk"]
    surv = np.cumprod(1.0 - deaths / at_risk)
    before = np.concatenate([[1.0], surv[:-1]])
    width = t - grid["previous"]
    observed = np.cumsum(width * (1.0 - before))
    rows = np.searchsorted(t, horizons)
    obs = observed[rows]
    pop = _population_lost(cohort, horizons)
    se = _restricted_mean_se(np.cumsum(width * before), deaths, at_risk, rows)
    lost = obs - pop
    return pd.DataFrame({"time": horizons, "years_lost": lost / 12.0, "std_error": se / 12.0,
                         "lower": np.maximum(lost - z * se, -pop) / 12.0,
                         "upper": np.minimum(lost + z * se, horizons - pop) / 12.0,
                         "observed_years_lost": obs / 12.0, "population_years_lost": pop / 12.0})


def _restricted_mean_se(restricted_mean: np.ndarray, deaths: np.ndarray, at_risk: np.ndarray,
                        rows: np.ndarray) -> np.ndarray:
    """Standard error of ``int_0^tau S_KM`` at each horizon row (months), R's ``survival::survmean``.

    ``restricted_mean[j]`` is ``int_0^{t_j} S_KM``; the variance is
    ``sum_{t_j <= tau} (restricted_mean[tau] - restricted_mean[j])^2 d_j / (Y_j (Y_j - d_j))``, the
    term 0 where everyone at risk dies (as survival does). One pass per horizon, not per patient.
    """
    survivors = at_risk - deaths
    weight = np.divide(deaths, at_risk * survivors, out=np.zeros(deaths.shape), where=survivors > 0)
    se = np.empty(rows.size)
    for i, row in enumerate(rows):
        area_after = restricted_mean[row] - restricted_mean[: row + 1]
        se[i] = np.sqrt(np.sum(area_after**2 * weight[: row + 1]))
    return se


def _population_lost(cohort: RelativeCohort, horizons: np.ndarray) -> np.ndarray:
    """``mean_i int_0^h (1 - S_P,i(u)) du`` (months) at each horizon ``h``.

    The hazard is constant on each year since diagnosis, so ``int exp(-Lambda_i)`` over a year (or the
    start of one) is ``exp(-Lambda_i(12 k)) (1 - exp(-lambda_i w)) / lambda_i``: one pass over the
    patients per year of follow-up and one per horizon.
    """
    lt, start = cohort.life_table, cohort.start
    n_years = int(np.ceil(horizons[-1] / 12.0))
    alive = np.zeros(n_years + 1)  # mean_i int_0^{12 k} S_P,i, k = 0 .. n_years

    def year_start(k: int) -> tuple[np.ndarray, np.ndarray]:
        whole = np.full(start.shape, k)
        return np.exp(-lt.path_whole_years(start, whole)), lt.path_hazard(start, 12.0 * whole)

    for k in range(n_years):
        surv, lam = year_start(k)
        alive[k + 1] = alive[k] + float(np.mean(surv * _integral(lam, 12.0)))
    out = np.empty(horizons.size)
    for i, h in enumerate(horizons):
        k = min(int(h // 12.0), n_years)
        rest = h - 12.0 * k
        partial = 0.0
        if rest > 0:
            surv, lam = year_start(k)
            partial = float(np.mean(surv * _integral(lam, rest)))
        out[i] = h - (alive[k] + partial)
    return out


def _integral(rate: np.ndarray, width: float) -> np.ndarray:
    """``int_0^width exp(-rate u) du``, ``width`` where the rate is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rate > 0, -np.expm1(-rate * width) / rate, width)
