"""Input checks shared by the metrics: outcome, predictions, horizons, confidence levels."""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import MetricInputError, Problem

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


def _all_missing(raw: np.ndarray) -> bool:
    """True when every value is empty (NaN/None): a file without the column, filled by the reader."""
    if raw.dtype.kind in "biu":  # numeric fast path: no object Series (0.3 s per million values)
        return False
    if raw.dtype.kind == "f":
        return raw.size > 0 and bool(np.isnan(raw).all())
    return raw.size > 0 and bool(pd.isna(pd.Series(raw, dtype=object)).all())


def _to_float(raw: np.ndarray) -> np.ndarray:
    """Values as float, anything not numeric as NaN (numeric arrays skip pandas' object parsing)."""
    if raw.dtype.kind in "biuf":
        return raw.astype(float)
    return pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce").to_numpy(dtype=float)


def check_outcome(time: ArrayLike, event: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate follow-up times (>= 0, finite) and event indicators (0/1 or bool).

    A column whose every value is empty is reported once as missing, not once per patient.

    Examples
    --------
    >>> t, e = check_outcome([3.0, 5.5], [1, 0])
    >>> e.tolist()
    [True, False]
    """
    t_raw = _as_1d(time, "time")
    e_raw = _as_1d(event, "event")
    rows = _labels(time, t_raw.size)
    problems: list[Problem] = []
    if t_raw.size != e_raw.size:
        raise MetricInputError([Problem(None, "event", f"{e_raw.size} values",
                                        f"one per patient, like 'time' ({t_raw.size} values)")])
    empty = [name for name, raw in (("time", t_raw), ("event", e_raw)) if _all_missing(raw)]
    if empty:
        raise MetricInputError([Problem(None, name, "missing column (every value empty)",
                                        "follow-up time (months) and event (0/1) for every patient")
                                for name in empty])
    try:
        t = t_raw.astype(float)
    except (TypeError, ValueError):
        t = pd.to_numeric(pd.Series(t_raw), errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(t) | (t < 0)
    for i in np.flatnonzero(bad)[:20]:
        problems.append(Problem(_py(rows[i]), "time", _py(t_raw[i]),
                                "a finite follow-up time >= 0 (months)"))
    n_bad = int(bad.sum())
    e_num = _to_float(e_raw)
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
    p = _to_float(raw)
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


def check_horizon(t: float, name: str = "t") -> float:
    """A horizon (months) as a float > 0, or a :class:`MetricInputError` naming ``name``."""
    tt = float(t)
    if not np.isfinite(tt) or tt <= 0:
        raise MetricInputError([Problem(None, name, t, "a horizon > 0 (months)")])
    return tt


def normal_quantile(conf_level: float) -> float:
    """Two-sided standard-normal quantile of a confidence level (1.96 for 0.95).

    Examples
    --------
    >>> round(normal_quantile(0.95), 4)
    1.96
    """
    if isinstance(conf_level, bool) or not isinstance(conf_level, int | float | np.floating) \
            or not 0 < conf_level < 1:
        raise MetricInputError([Problem(None, "conf_level", conf_level, "a number in (0, 1)")])
    return float(NormalDist().inv_cdf(0.5 + float(conf_level) / 2.0))


def _per_horizon(predicted: ArrayLike, n: int, times: np.ndarray, name: str, *,
                 probability: bool) -> np.ndarray:
    """Predictions as a (n_times, n) array: a 1-D score is reused at every horizon.

    2-D input follows :meth:`SurvivalModel.predict_survival_function`: rows are horizons, columns patients.
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
                                        "are horizons, columns patients (as predict_survival_function)")])
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
