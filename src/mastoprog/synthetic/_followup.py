"""Registry-like follow-up for simulated cohorts: delayed entry and covariates missing (not) at random.

Functions applied to a cohort from :func:`mastoprog.synthetic.simulate_cohort` (or any frame with
``time``, ``event`` and, for delayed entry, ``true_time``), so the fitting methods of
:meth:`mastoprog.SurvivalModel.fit` can be tested against a known truth.

References
----------
Rubin DB. Inference and missing data. Biometrika 1976;63:581-92 (MCAR / MAR / MNAR).
Klein JP, Moeschberger ML. Survival Analysis. 2nd ed. Springer 2003, section 1.16 (left
truncation: patients who die before entering a referral centre are never seen).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["delayed_entry", "missing_at_random", "missing_not_at_random"]


def delayed_entry(
    cohort: pd.DataFrame,
    max_months: float = 24.0,
    *,
    entry_col: str = "entry",
    random_state: int | np.random.Generator | np.random.SeedSequence = 0,
) -> pd.DataFrame:
    """The patients a referral centre sees: entry uniform on ``[0, max_months]`` after diagnosis.

    A patient whose (uncensored or censored) exit time is at or before their entry time is never
    seen; the others keep their ``time``/``event`` and gain ``entry_col``.

    Parameters
    ----------
    cohort : DataFrame
        With ``time`` (months from diagnosis) and ``event``.
    max_months : float
        Entry times are uniform on ``[0, max_months]`` months (default 2 years).
    entry_col : str
        Name of the new column (months from diagnosis to entry).
    random_state : int, Generator or SeedSequence

    Returns
    -------
    DataFrame
        The rows alive and under follow-up at entry, original index kept.

    Examples
    --------
    >>> df = pd.DataFrame({"time": [1.0, 30.0, 50.0], "event": [1, 1, 0]})
    >>> seen = delayed_entry(df, 24, random_state=1)
    >>> bool((seen["entry"] < seen["time"]).all()), 30.0 in seen["time"].tolist()
    (True, True)
    """
    rng = np.random.default_rng(random_state)
    entry = rng.uniform(0.0, float(max_months), len(cohort))
    seen = cohort["time"].to_numpy(float) > entry
    return cohort.assign(**{entry_col: entry})[seen]


def missing_at_random(
    cohort: pd.DataFrame,
    column: str,
    fraction: float,
    *,
    driver: str | Mapping[str, float] = "age",
    strength: float = 1.5,
    random_state: int | np.random.Generator | np.random.SeedSequence = 0,
) -> pd.DataFrame:
    """``column`` set missing with a probability that depends on *observed* data only (MAR).

    ``P(missing) = expit(a + strength * z)`` with ``z`` the standardised ``driver`` (a column, or a
    mapping ``{column: weight}`` of observed columns, e.g. ``{"age": 1, "event": 1}``) and ``a``
    solved so that the expected share missing is ``fraction``.

    Parameters
    ----------
    cohort : DataFrame
    column : str
        The finding to blank.
    fraction : float
        Expected share of rows missing (0-1).
    driver : str or mapping
        Observed column(s) the missingness depends on.
    strength : float
        Log-odds of missingness per standard deviation of the driver.
    random_state : int, Generator or SeedSequence

    Returns
    -------
    DataFrame
        A copy with ``column`` missing in the drawn rows (nullable dtype kept).
    """
    weights = {driver: 1.0} if isinstance(driver, str) else dict(driver)
    z = sum(w * _standardised(cohort[c]) for c, w in weights.items())
    return _blank(cohort, column, np.asarray(z, float), fraction, strength, random_state)


def missing_not_at_random(
    cohort: pd.DataFrame,
    column: str,
    fraction: float,
    *,
    strength: float = 1.5,
    random_state: int | np.random.Generator | np.random.SeedSequence = 0,
) -> pd.DataFrame:
    """``column`` set missing with a probability that depends on its own value (MNAR).

    Same as :func:`missing_at_random` with the driver the (true) value of ``column`` itself, so
    no observed data can explain the missingness.
    """
    return _blank(cohort, column, _standardised(cohort[column]), fraction, strength, random_state)


def _standardised(values: pd.Series) -> np.ndarray:
    x = pd.to_numeric(values.astype("Float64"), errors="coerce").to_numpy(float, na_value=np.nan)
    sd = np.nanstd(x)
    return np.nan_to_num((x - np.nanmean(x)) / (sd if sd > 0 else 1.0))


def _blank(cohort, column, z, fraction, strength, random_state) -> pd.DataFrame:
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction: expected a share in [0, 1); got {fraction!r}")
    from scipy.optimize import brentq  # scipy only when missingness is drawn (import mastoprog stays light)
    from scipy.special import expit

    rng = np.random.default_rng(random_state)
    if fraction == 0:
        return cohort.copy()
    a = brentq(lambda c: float(np.mean(expit(c + strength * z))) - fraction, -50, 50)
    gone = rng.random(len(cohort)) < expit(a + strength * z)
    out = cohort.copy()
    col = out[column]
    if not isinstance(col.dtype, pd.api.extensions.ExtensionDtype) and col.dtype.kind in "biu":
        col = col.astype("Float64")
    out[column] = col.mask(gone)
    return out
