"""Net survival of a cohort: Pohar Perme's estimator and Ederer II, as R's ``relsurv::rs.surv``.

Net survival is the survival a cohort would have if the disease were the only cause of death. With
``lambda_P,i`` the general-population hazard of patient i (same age, sex, calendar year; a
:class:`~mastoprog.LifeTable`), ``S_P,i`` its survival, ``Y_i`` and ``N_i`` the at-risk and death
processes, both estimators are product limits ``S_E(t) = prod_{t_j <= t} (1 - dLambda_E(t_j))`` over
the grid of follow-up times (relsurv's default ``type = "kaplan-meier"``) with

* **Pohar Perme** (consistent for net survival under non-informative censoring; weights 1 / S_P,i):
  ``dLambda_E = sum_i dN_i / S_P,i  /  sum_i Y_i / S_P,i  -  int sum_i Y_i dLambda_P,i / S_P,i  /
  sum_i Y_i / S_P,i``; variance increments ``sum_i dN_i / S_P,i^2 / (sum_i Y_i / S_P,i)^2``.
* **Ederer II** (relative survival, the classical life-table method; unweighted):
  ``dLambda_E = (sum_i dN_i - sum_i Y_i dLambda_P,i) / sum_i Y_i``; increments ``dN / Y^2``.

The population integral of Pohar Perme's estimator is computed exactly: on an interval where the
risk set is fixed, ``sum_i Y_i lambda_P,i / S_P,i`` is the derivative of ``W = sum_i Y_i / S_P,i``, so
the integral is ``log W(t_j) - log W(t_{j-1})``. relsurv 2.2-9 approximates it in one-day steps
with running averages over each interval (``precision = 1``): on relsurv's own ``rdata`` the two
differ by up to 0.001; ``integration="relsurv"`` repeats relsurv's scheme (vectorised) for
figures that match R's to about 3e-5.

``std_error_log`` is relsurv's ``std.err`` (the standard error of the cumulative excess hazard, i.e.
of log net survival); the interval is relsurv's default ``conf.type = "log"``,
``S exp(+- z std_error_log)``; ``std_error`` is the delta-method ``S * std_error_log``.

References
----------
Pohar Perme M, Stare J, Estève J. On estimation in relative survival. Biometrics 2012;68:113-20.
doi:10.1111/j.1541-0420.2011.01640.x
Ederer F, Heise H. Instructions to IBM 650 programmers in processing survival computations.
Methodological note No. 10, End Results Evaluation Section, National Cancer Institute, 1959.
Pohar Perme M, Pavlič K. Nonparametric relative survival analysis with the R package relsurv.
J Stat Softw 2018;87(8):1-27. doi:10.18637/jss.v087.i08
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import MetricInputError, Problem
from ..lifetables import LifeTable
from ..metrics import normal_quantile
from ._cohort import RelativeCohort, cohorts_by_group, event_grid, with_group
from ._risk_sums import risk_set_sums, weighted_hazard_sums

__all__ = ["NET_SURVIVAL_METHODS", "NetSurvivalResult", "net_survival"]

#: relsurv's year on its day scale (its ratetables cut ages at k * 365.241 days): days per month.
DAYS_PER_MONTH = 365.241 / 12
#: The estimators, by relsurv's ``method`` names.
NET_SURVIVAL_METHODS = ("pohar-perme", "ederer2")


@dataclass(frozen=True)
class NetSurvivalResult:
    """Net survival curve with its interval, and what it was computed from.

    Attributes
    ----------
    table : DataFrame
        One row per time: ``time`` (months), ``estimate`` (net survival, >= 0; it may exceed 1 when
        the cohort outlives its population), ``std_error`` (of the estimate), ``std_error_log``
        (relsurv's ``std.err``: of the cumulative excess hazard), ``lower``, ``upper`` (>= 0),
        ``n_at_risk`` (followed at ``time``), ``n_events`` (deaths since the previous row); first a
        ``group`` column when ``group_col`` was given.
    method : str
        ``"pohar-perme"`` or ``"ederer2"``.
    conf_level : float
        Level of ``lower``/``upper``.
    n_patients, n_events : int
        Cohort size and observed deaths.
    life_table : dict
        The background table (:meth:`LifeTable.describe`: name, citation, calendar and age range).
    notes : tuple of str
        Conventions and anything done to the input, as text.
    """

    table: pd.DataFrame
    method: str
    conf_level: float
    n_patients: int
    n_events: int
    life_table: dict[str, Any]
    notes: tuple[str, ...]


def net_survival(
    data: pd.DataFrame,
    *,
    duration_col: str = "time",
    event_col: str = "event",
    age_col: str = "age",
    sex_col: str = "sex",
    year_col: str = "diagnosis_year",
    life_table: LifeTable | None = None,
    method: str = "pohar-perme",
    times: Any = None,
    conf_level: float = 0.95,
    integration: str = "exact",
    group_col: str | None = None,
) -> NetSurvivalResult:
    """Net survival of a cohort against its general population (relsurv ``rs.surv``).

    Parameters
    ----------
    data : DataFrame
        One row per patient.
    duration_col : str
        Follow-up from diagnosis, months (>= 0).
    event_col : str
        1 = death (any cause) observed, 0 = censored.
    age_col : str
        Age at diagnosis, years (the life table uses whole years).
    sex_col : str
        ``"F"``/``"M"``.
    year_col : str
        Calendar year of diagnosis.
    life_table : LifeTable, optional
        Background mortality: default :meth:`LifeTable.hmd_us`; a country's own with
        :meth:`LifeTable.from_frame`.
    method : {"pohar-perme", "ederer2"}
        Pohar Perme (net survival) or Ederer II (relative survival).
    times : array_like, optional
        Months at which to report (each in [0, last follow-up]); default every follow-up time.
    conf_level : float
        Level of the interval (default 0.95).
    integration : {"exact", "relsurv"}
        Pohar Perme only: the population part integrated exactly (default), or as relsurv 2.2-9 does
        (one-day steps, ``precision = 1``, with running averages over each interval; a day is
        365.241 / 12 days per month), to reproduce R's figures to about 3e-5.
    group_col : str, optional
        One curve per value of this column (relsurv's ``Surv(time, cens) ~ group``); the table then
        starts with a ``group`` column. Each group is reported up to its own last follow-up.

    Returns
    -------
    NetSurvivalResult

    Raises
    ------
    MetricInputError
        Naming every invalid value (row, column, value, expected range and unit), an unknown
        ``method`` or a requested time outside the follow-up.

    References
    ----------
    Pohar Perme M, Stare J, Estève J. Biometrics 2012;68:113-20. doi:10.1111/j.1541-0420.2011.01640.x
    Ederer F, Heise H. NCI End Results Evaluation Section, methodological note 10, 1959.

    Examples
    --------
    >>> import pandas as pd
    >>> cohort = pd.DataFrame({"time": [6.0, 14.0, 30.0, 30.0, 45.0], "event": [1, 0, 1, 0, 0],
    ...                        "age": [62, 70, 55, 81, 66], "sex": ["F", "M", "M", "F", "F"],
    ...                        "diagnosis_year": [2005, 2008, 2010, 2003, 2012]})
    >>> res = net_survival(cohort, times=[12, 36])
    >>> res.table[["time", "estimate", "n_at_risk"]].round(3)
       time  estimate  n_at_risk
    0  12.0     0.823          4
    1  36.0     0.600          1
    """
    if method not in NET_SURVIVAL_METHODS:
        raise MetricInputError([Problem(None, "method", method, f"one of {list(NET_SURVIVAL_METHODS)}")])
    if integration not in ("exact", "relsurv"):
        raise MetricInputError([Problem(None, "integration", integration, "'exact' or 'relsurv'")])
    z = normal_quantile(conf_level)
    tables: list[pd.DataFrame] = []
    notes: list[str] = []
    n_patients, n_events, described = 0, 0, {}
    for label, cohort, wanted, cohort_notes in cohorts_by_group(
            data, group_col, times, life_table=life_table, duration_col=duration_col, event_col=event_col,
            age_col=age_col, sex_col=sex_col, year_col=year_col):
        table, curve_notes = _estimate(cohort, wanted, method, integration == "relsurv", z)
        tables.append(with_group(table, label))
        notes += [*cohort_notes, *(n if label is None else f"group {label!r}: {n}" for n in curve_notes)]
        n_patients, n_events = n_patients + cohort.duration.size, n_events + int(cohort.event.sum())
        described = cohort.describe()
    return NetSurvivalResult(
        table=pd.concat(tables, ignore_index=True), method=method, conf_level=float(conf_level),
        n_patients=int(n_patients), n_events=n_events, life_table=described,
        notes=(f"{method}: product-limit estimate over every follow-up time (relsurv rs.surv, "
               "type='kaplan-meier'); interval on the log scale (conf.type='log')"
               + ("; population part integrated in one-day steps as relsurv" if integration == "relsurv"
                  and method == "pohar-perme" else ""),
               *notes),
    )


def _estimate(cohort: RelativeCohort, wanted: np.ndarray | None, method: str, daily: bool,
              z: float) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The curve of one cohort (at ``wanted`` times, or at every follow-up time)."""
    grid = event_grid(cohort, None)  # the curve lives on the follow-up times, whatever is reported
    if method == "pohar-perme":
        hazard, variance = _pohar_perme_increments(cohort, grid, daily)
    else:
        hazard, variance = _ederer2_increments(cohort, grid)
    table, notes = _curve(grid, hazard, variance, z)
    if wanted is not None:
        table = _between(cohort, grid, table, wanted, method, z)
    return table, notes


def _pohar_perme_increments(cohort: RelativeCohort, grid: dict[str, np.ndarray],
                            daily: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Excess-hazard increments and variance increments of Pohar Perme's estimator at each grid time."""
    both, _ = risk_set_sums(cohort, np.concatenate([grid["time"], grid["previous"]]),
                            np.tile(grid["first"], 2))  # one pass over the month cells for both
    w_end, w_start = np.split(both, 2)
    died = grid["death"]
    weight = np.exp(cohort.cumulative_hazard(cohort.duration[died], died))  # 1 / S_P,i at death
    rows, size = grid["death_row"], grid["time"].size
    dead = np.bincount(rows, weights=weight, minlength=size)
    dead_sq = np.bincount(rows, weights=weight * weight, minlength=size)
    population = _relsurv_daily(cohort, grid) if daily else np.log(w_end) - np.log(w_start)
    return dead / w_end - population, dead_sq / (w_end * w_end)


def _relsurv_daily(cohort: RelativeCohort, grid: dict[str, np.ndarray]) -> np.ndarray:
    """relsurv's population integral (``netfastpinter2.c``, ``precision = 1`` day) at each grid time.

    Each interval ``(t_{j-1}, t_j]`` is cut into one-day steps from its start (the last one shorter);
    step m adds ``f_m (sum_{l<=m} N1_l / sum_{l<=m} W1_l + sum_{l<=m} N2_l / sum_{l<=m} W2_l) / 2``,
    the sums running over the interval's steps so far (:func:`weighted_hazard_sums`).
    """
    step = 1.0 / DAYS_PER_MONTH
    t, previous = grid["time"], grid["previous"]
    n_steps = np.ceil((t - previous) / step - 1e-9).astype(np.int64).clip(min=0)
    interval = np.repeat(np.arange(t.size), n_steps)
    begins = np.cumsum(n_steps) - n_steps
    s = previous[interval] + (np.arange(interval.size) - begins[interval]) * step
    width = np.minimum(step, t[interval] - s)
    n1, w1, n2, w2 = weighted_hazard_sums(cohort, s, grid["first"][interval], width)

    def running(x: np.ndarray) -> np.ndarray:  # cumulative sums restarted at each interval
        total = np.cumsum(x)
        return total - np.concatenate([[0.0], total])[begins][interval]

    terms = width * (running(n1) / running(w1) + running(n2) / running(w2)) / 2.0
    return np.bincount(interval, weights=terms, minlength=t.size)


def _ederer2_increments(cohort: RelativeCohort, grid: dict[str, np.ndarray]) -> tuple[np.ndarray,
                                                                                     np.ndarray]:
    """Excess-hazard increments and variance increments of Ederer II at each grid time."""
    _, both = risk_set_sums(cohort, np.concatenate([grid["time"], grid["previous"]]),
                            np.tile(grid["first"], 2), weights=False)
    l_end, l_start = np.split(both, 2)
    at_risk = grid["n_at_risk"].astype(float)
    return (grid["deaths"] - (l_end - l_start)) / at_risk, grid["deaths"] / (at_risk * at_risk)


def _curve(grid: dict[str, np.ndarray], hazard: np.ndarray, variance: np.ndarray,
           z: float) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Product limit and its log-scale interval at every follow-up time."""
    factor = 1.0 - hazard
    notes: tuple[str, ...] = ()
    gone = np.flatnonzero(factor <= 0)
    if gone.size:  # an excess hazard >= 1 in one step: the curve reaches 0 and stays there
        factor[gone[0]:] = 0.0
        notes = (f"net survival reached 0 at {grid['time'][gone[0]]:g} months (an excess hazard >= 1 "
                 "in one step); it is 0 from there on",)
    estimate = np.cumprod(factor)
    return _table(grid["time"], estimate, np.sqrt(np.cumsum(variance)), z, grid["n_at_risk"],
                  grid["deaths"]), notes


def _table(time: np.ndarray, estimate: np.ndarray, se_log: np.ndarray, z: float, at_risk: np.ndarray,
           events: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "time": time, "estimate": estimate, "std_error": estimate * se_log, "std_error_log": se_log,
        "lower": estimate * np.exp(-z * se_log), "upper": estimate * np.exp(z * se_log),
        "n_at_risk": at_risk, "n_events": events})


def _between(cohort: RelativeCohort, grid: dict[str, np.ndarray], curve: pd.DataFrame, times: np.ndarray,
             method: str, z: float) -> pd.DataFrame:
    """The curve at requested times: the last follow-up time's value times the population part since.

    No death falls strictly between follow-up times, so at ``t`` in ``[t_j, t_{j+1})`` the estimate is
    ``S(t_j) (1 + expected part over (t_j, t])`` for the patients followed at ``t`` (those of
    ``t_{j+1}``) and its variance that of ``t_j``. Reporting times never change the curve itself.
    """
    row = np.searchsorted(grid["time"], times, side="right") - 1  # -1: before the first follow-up time
    base_time = np.where(row >= 0, grid["time"][np.maximum(row, 0)], 0.0)
    first = np.searchsorted(cohort.duration, times, side="left")
    if method == "pohar-perme":
        w_now, _ = risk_set_sums(cohort, times, first)
        w_base, _ = risk_set_sums(cohort, base_time, first)
        expected = np.log(w_now) - np.log(w_base)
    else:
        _, l_now = risk_set_sums(cohort, times, first, weights=False)
        _, l_base = risk_set_sums(cohort, base_time, first, weights=False)
        expected = (l_now - l_base) / (cohort.duration.size - first)
    known = row >= 0
    base = np.where(known, curve["estimate"].to_numpy()[np.maximum(row, 0)], 1.0)
    se_log = np.where(known, curve["std_error_log"].to_numpy()[np.maximum(row, 0)], 0.0)
    deaths = np.concatenate([[0], np.cumsum(grid["deaths"])])[row + 1]
    return _table(times, np.maximum(base * (1.0 + expected), 0.0), se_log, z,
                  cohort.duration.size - first, np.diff(deaths, prepend=0))
