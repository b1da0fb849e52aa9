"""Crude probabilities of death from the disease and from other causes (R's ``relsurv::cmp.rel``).

In the competing-risks view of relative survival, a patient's hazard is the population hazard
plus the excess (disease) hazard. With the Kaplan-Meier all-cause survival ``S``, the at-risk count
``Y``, deaths ``dN`` and the Ederer II expected-hazard increment ``dLambda_P = sum_i Y_i
dLambda_P,i / Y`` (each patient's general-population cumulative hazard over the interval, averaged
over those at risk), the crude probabilities are

    F_E(t) = sum_{t_j <= t} S(t_j-) (dN_j / Y_j - dLambda_P,j)    (death from the disease)
    F_P(t) = sum_{t_j <= t} S(t_j-) dLambda_P,j                   (death from other causes)

with relsurv's variances (``cmpfast.c``), ``sigma_k = dN_k / Y_k^2``:

    var F_E(t) = sum_{t_k <= t} sigma_k (S(t_k) - (F_E(t) - F_E(t_k)))^2
    var F_P(t) = sum_{t_k <= t} sigma_k (F_P(t) - F_P(t_k))^2

(relsurv sums over k for every t, O(T^2); expanding the squares gives cumulative sums, O(T)). The
population part is exact between follow-up times (the risk set is fixed there), so no daily grid is
needed. Intervals are relsurv's plain ``F +- z sqrt(var)``, clipped to [0, 1].

References
----------
Pavlič K, Pohar Perme M. Using pseudo-observations for estimation in relative survival.
Biostatistics 2019;20:384-99. doi:10.1093/biostatistics/kxy008
Pohar Perme M, Pavlič K. Nonparametric relative survival analysis with the R package relsurv.
J Stat Softw 2018;87(8):1-27. doi:10.18637/jss.v087.i08
Cronin KA, Feuer EJ. Cumulative cause-specific mortality for cancer patients in the presence of
other causes: a crude analogue of relative survival. Stat Med 2000;19:1729-40.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..lifetables import LifeTable
from ..metrics import normal_quantile
from ._cohort import RelativeCohort, cohorts_by_group, event_grid, rows_at, with_group
from ._risk_sums import risk_set_sums

__all__ = ["CrudeMortalityResult", "crude_mortality", "crude_mortality_curves"]


@dataclass(frozen=True)
class CrudeMortalityResult:
    """Crude probabilities of death by cause, with variances and intervals.

    Attributes
    ----------
    table : DataFrame
        One row per (time, cause): ``time`` (months), ``cause`` (``"disease"`` or ``"other"``),
        ``estimate`` (probability of having died of that cause by ``time``; the disease part may dip
        a little below 0 early, when the cohort dies less than its population), ``variance``,
        ``std_error``, ``lower``, ``upper`` (in [0, 1]),
        ``n_at_risk``; first a ``group`` column when ``group_col`` was given.
    conf_level : float
    n_patients, n_events : int
    life_table : dict
        :meth:`LifeTable.describe` of the background table.
    notes : tuple of str
    """

    table: pd.DataFrame
    conf_level: float
    n_patients: int
    n_events: int
    life_table: dict[str, Any]
    notes: tuple[str, ...]


def crude_mortality_curves(cohort: RelativeCohort, grid: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``F_E``, ``F_P``, their variances and the all-cause survival at every grid time (module docstring)."""
    _, both = risk_set_sums(cohort, np.concatenate([grid["time"], grid["previous"]]),
                            np.tile(grid["first"], 2), weights=False)
    l_end, l_start = np.split(both, 2)
    at_risk = grid["n_at_risk"].astype(float)
    observed = grid["deaths"] / at_risk
    population = (l_end - l_start) / at_risk
    surv = np.cumprod(1.0 - observed)
    before = np.concatenate([[1.0], surv[:-1]])
    f_e = np.cumsum(before * (observed - population))
    f_p = np.cumsum(before * population)
    sigma = grid["deaths"] / (at_risk * at_risk)
    return {"disease": f_e, "other": f_p, "survival": surv,
            "var_disease": _quadratic(sigma, surv + f_e, f_e),
            "var_other": _quadratic(sigma, f_p, f_p)}


def _quadratic(sigma: np.ndarray, a: np.ndarray, f: np.ndarray) -> np.ndarray:
    """``sum_{k <= j} sigma_k (a_k - f_j)^2`` for every j, by cumulative sums.

    A sum of squares, so >= 0: the expanded form can round a few ulps below 0, hence the floor.
    """
    c0, c1, c2 = np.cumsum(sigma), np.cumsum(sigma * a), np.cumsum(sigma * a * a)
    return np.maximum(c2 - 2.0 * f * c1 + f * f * c0, 0.0)


def crude_mortality(
    data: pd.DataFrame,
    *,
    duration_col: str = "time",
    event_col: str = "event",
    age_col: str = "age",
    sex_col: str = "sex",
    year_col: str = "diagnosis_year",
    life_table: LifeTable | None = None,
    times: Any = None,
    conf_level: float = 0.95,
    group_col: str | None = None,
) -> CrudeMortalityResult:
    """Crude probabilities of death from the disease and from other causes (relsurv ``cmp.rel``).

    Parameters
    ----------
    data : DataFrame
        One row per patient.
    duration_col, event_col, age_col, sex_col, year_col : str
        Follow-up (months), event (1 = death of any cause), age at diagnosis (years), sex
        (``"F"``/``"M"``), calendar year of diagnosis.
    life_table : LifeTable, optional
        Background mortality (default :meth:`LifeTable.hmd_us`).
    times : array_like, optional
        Months at which to report (default every follow-up time).
    conf_level : float
        Level of the intervals (default 0.95).
    group_col : str, optional
        Estimates per value of this column (relsurv's ``Surv(time, cens) ~ group``); the table then
        starts with a ``group`` column.

    Returns
    -------
    CrudeMortalityResult

    Raises
    ------
    MetricInputError
        Naming every invalid value (row, column, value, expected range and unit).

    References
    ----------
    Pavlič K, Pohar Perme M. Biostatistics 2019;20:384-99. doi:10.1093/biostatistics/kxy008

    Examples
    --------
    >>> import pandas as pd
    >>> cohort = pd.DataFrame({"time": [6.0, 14.0, 30.0, 30.0, 45.0], "event": [1, 0, 1, 0, 0],
    ...                        "age": [62, 70, 55, 81, 66], "sex": ["F", "M", "M", "F", "F"],
    ...                        "diagnosis_year": [2005, 2008, 2010, 2003, 2012]})
    >>> res = crude_mortality(cohort, times=[36])
    >>> res.table[["time", "cause", "estimate"]].round(3)
       time    cause  estimate
    0  36.0  disease     0.409
    1  36.0    other     0.058
    """
    z = normal_quantile(conf_level)
    tables: list[pd.DataFrame] = []
    notes: list[str] = []
    n_patients, n_events, described = 0, 0, {}
    for label, cohort, wanted, cohort_notes in cohorts_by_group(
            data, group_col, times, life_table=life_table, duration_col=duration_col, event_col=event_col,
            age_col=age_col, sex_col=sex_col, year_col=year_col):
        tables.append(with_group(_crude_table(cohort, wanted, z), label))
        notes += cohort_notes
        n_patients, n_events = n_patients + cohort.duration.size, n_events + int(cohort.event.sum())
        described = cohort.describe()
    return CrudeMortalityResult(
        pd.concat(tables, ignore_index=True), float(conf_level), int(n_patients), n_events, described,
        ("Ederer II population hazard, Kaplan-Meier all-cause survival (relsurv cmp.rel); "
         "intervals F +- z se clipped to [0, 1]", *notes))


def _crude_table(cohort: RelativeCohort, wanted: np.ndarray | None, z: float) -> pd.DataFrame:
    """Both causes of one cohort, one row per (time, cause)."""
    grid = event_grid(cohort, wanted)
    curves = crude_mortality_curves(cohort, grid)
    rows = rows_at(grid["time"], wanted)
    parts = []
    for cause in ("disease", "other"):
        estimate, variance = curves[cause][rows], curves[f"var_{cause}"][rows]
        se = np.sqrt(variance)
        parts.append(pd.DataFrame({
            "time": grid["time"][rows], "cause": cause, "estimate": estimate, "variance": variance,
            "std_error": se, "lower": np.clip(estimate - z * se, 0.0, 1.0),
            "upper": np.clip(estimate + z * se, 0.0, 1.0), "n_at_risk": grid["n_at_risk"][rows]}))
    table = pd.concat(parts, ignore_index=True).sort_values(["time", "cause"], kind="stable")
    return table.reset_index(drop=True)
