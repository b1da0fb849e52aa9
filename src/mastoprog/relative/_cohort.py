"""A user's cohort for relative survival: checked columns and each patient's background path.

Every estimator of this package starts here: :func:`prepare_cohort` reads the follow-up (months),
the event indicator, age (years), sex and calendar year of diagnosis from the caller's columns,
collects every invalid value before raising one :class:`~mastoprog.exceptions.MetricInputError`,
and turns (age, sex, year) into the life table's path handles (:meth:`LifeTable.path_start`), so
that the background hazard is read from :class:`~mastoprog.LifeTable` and never recomputed here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import MetricInputError, Problem
from ..lifetables import LifeTable

#: At most this many invalid values are listed per column (the message gives the total).
_SHOWN = 10


@dataclass(frozen=True)
class RelativeCohort:
    """Validated arrays of a cohort, sorted by follow-up time (shortest first).

    Attributes
    ----------
    duration : ndarray
        Follow-up, months since diagnosis (ascending).
    event : ndarray (float, 0/1)
        1 = death observed at ``duration``.
    start : ndarray (int64)
        Background path handles (:meth:`LifeTable.path_start`) of the same patients.
    life_table : LifeTable
        The background table.
    notes : tuple of str
        What was done to the input (e.g. calendar years outside the table's range).
    """

    duration: np.ndarray
    event: np.ndarray
    start: np.ndarray
    life_table: LifeTable
    notes: tuple[str, ...]

    def cumulative_hazard(self, t: np.ndarray, which: np.ndarray | None = None) -> np.ndarray:
        """Background cumulative hazard at ``t`` months of every patient (or of positions ``which``)."""
        start = self.start if which is None else self.start[which]
        return self.life_table.path_cumulative_hazard(start, t)

    def describe(self) -> dict[str, Any]:
        """Provenance of the background table (name, citation, calendar and age range, rule)."""
        return self.life_table.describe()


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _check_column(frame: pd.DataFrame, col: str, convert: Callable[[pd.Series], np.ndarray],
                  valid: Callable[[np.ndarray], np.ndarray], expected: str,
                  problems: list[Problem]) -> tuple[np.ndarray, int]:
    """``convert(column)`` and the number of invalid values; appends the first few to ``problems``."""
    raw = frame[col]
    values = convert(raw)
    with np.errstate(invalid="ignore"):
        bad = ~valid(values)
    for i in np.flatnonzero(bad)[:_SHOWN]:
        problems.append(Problem(_py(frame.index[i]), col, _py(raw.iloc[i]), expected))
    return values, int(bad.sum())


def _numeric(raw: pd.Series) -> np.ndarray:
    return pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)


def _sex(raw: pd.Series) -> np.ndarray:
    text = raw.astype(str).str.strip().str.upper()
    return np.where(text.isin(["F", "FEMALE"]), 0, np.where(text.isin(["M", "MALE"]), 1, -1))


def _check_columns(frame: pd.DataFrame, cols: dict[str, str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise MetricInputError([Problem(None, None, type(frame).__name__,
                                        "a pandas DataFrame with one row per patient")])
    missing = [Problem(None, c, "no such column", f"the {role} column (columns: {list(frame.columns)})")
               for role, c in cols.items() if c not in frame.columns]
    if missing:
        raise MetricInputError(missing)
    if len(frame) == 0:
        raise MetricInputError([Problem(None, cols["duration"], "no patients", "at least one patient")])


def prepare_cohort(data: pd.DataFrame, *, duration_col: str, event_col: str, age_col: str, sex_col: str,
                   year_col: str, life_table: LifeTable | None) -> RelativeCohort:
    """Check a cohort's columns and attach each patient's background path.

    Parameters
    ----------
    data : DataFrame
        One row per patient.
    duration_col, event_col, age_col, sex_col, year_col : str
        Follow-up (months, >= 0), event (1 = death, 0 = censored), age at diagnosis (years, 0-130),
        sex (``F``/``M``, also ``female``/``male``, any case) and calendar year of diagnosis.
    life_table : LifeTable, optional
        Background mortality (default :meth:`LifeTable.hmd_us`).

    Returns
    -------
    RelativeCohort

    Raises
    ------
    MetricInputError
        Listing every invalid value (row label, column, value, expected range and unit).

    Examples
    --------
    >>> df = pd.DataFrame({"t": [12.0, 3.5], "d": [0, 1], "age": [61, 70], "sex": ["F", "m"],
    ...                    "year": [2001, 1999]})
    >>> c = prepare_cohort(df, duration_col="t", event_col="d", age_col="age", sex_col="sex",
    ...                    year_col="year", life_table=None)
    >>> c.duration.tolist(), c.event.tolist()
    ([3.5, 12.0], [1.0, 0.0])
    """
    _check_columns(data, {"duration": duration_col, "event": event_col, "age": age_col, "sex": sex_col,
                          "calendar year": year_col})
    problems: list[Problem] = []
    checks = [
        (duration_col, _numeric, lambda v: np.isfinite(v) & (v >= 0),
         "a finite follow-up time >= 0 (months)"),
        (event_col, _numeric, lambda v: np.isin(v, (0.0, 1.0)), "1 (death observed) or 0 (censored)"),
        (age_col, _numeric, lambda v: np.isfinite(v) & (v >= 0) & (v <= 130),
         "an age at diagnosis between 0 and 130 (years)"),
        (sex_col, _sex, lambda v: v >= 0, "'F' or 'M' (female / male)"),
        (year_col, _numeric, lambda v: np.isfinite(v) & (v >= 1800) & (v <= 2200),
         "a calendar year of diagnosis between 1800 and 2200 (years)"),
    ]
    values, n_bad = [], 0
    for col, convert, valid, expected in checks:
        v, bad = _check_column(data, col, convert, valid, expected, problems)
        values.append(v)
        n_bad += bad
    if problems:
        raise MetricInputError(problems, n_bad)
    duration, event, age, sex, year = values
    lt = LifeTable.hmd_us() if life_table is None else life_table
    order = np.argsort(duration, kind="stable")
    start = lt.path_start(age[order], sex[order].astype(np.int64), np.floor(year[order]).astype(np.int64))
    return RelativeCohort(duration[order], event[order], start, lt, _year_notes(year, lt))


def _year_notes(year: np.ndarray, lt: LifeTable) -> tuple[str, ...]:
    notes = []
    before, after = int((year < lt.first_year).sum()), int((year >= lt.last_year + 1).sum())
    if before:
        notes.append(f"{before} patient(s) diagnosed before {lt.first_year}, the life table's first "
                     f"year: that year's rates were used")
    if after:
        notes.append(f"{after} patient(s) diagnosed after {lt.last_year}, the life table's last year: "
                     f"that year's rates were used (no projection of mortality trends)")
    return tuple(notes)


def check_times(times: Any, cohort: RelativeCohort, name: str = "times") -> np.ndarray:
    """Requested times (months) as a sorted array without repeats, each in [0, last follow-up].

    Raises
    ------
    MetricInputError
        For text, a missing value, a negative time or one after the last follow-up.
    """
    raw = np.atleast_1d(np.asarray(times, dtype=object)).ravel()
    last = float(cohort.duration[-1])
    expected = f"times in months between 0 and the last follow-up time ({last:g} months)"
    values = pd.to_numeric(pd.Series(raw, dtype=object), errors="coerce").to_numpy(dtype=float)
    is_text = np.array([isinstance(v, bool | np.bool_ | str | bytes) for v in raw], dtype=bool)
    with np.errstate(invalid="ignore"):
        bad = is_text | ~np.isfinite(values) | (values < 0) | (values > last)
    if bad.any() or raw.size == 0:
        shown = [Problem(None, name, _py(raw[i]), expected) for i in np.flatnonzero(bad)[:_SHOWN]]
        raise MetricInputError(shown or [Problem(None, name, "no times", expected)], int(bad.sum()) or 1)
    return np.unique(values)


def event_grid(cohort: RelativeCohort, times: np.ndarray | None) -> dict[str, np.ndarray]:
    """The estimators' time grid: every follow-up time (and the requested ``times``), with its risk sets.

    Returns
    -------
    dict
        ``time`` (grid, months), ``previous`` (the grid shifted by one, starting at 0), ``first``
        (position of the first patient still followed at each time, follow-up order), ``n_at_risk``,
        ``deaths`` at each time, ``death_row`` (grid row of each observed death) and ``death``
        (positions of the patients who died, follow-up order).
    """
    y = cohort.duration
    grid = np.unique(y) if times is None else np.union1d(y, times)
    first = np.searchsorted(y, grid, side="left")
    death = np.flatnonzero(cohort.event > 0)
    death_row = np.searchsorted(grid, y[death])
    return {
        "time": grid,
        "previous": np.concatenate([[0.0], grid[:-1]]),
        "first": first,
        "n_at_risk": (y.size - first).astype(np.int64),
        "deaths": np.bincount(death_row, minlength=grid.size).astype(np.int64),
        "death_row": death_row,
        "death": death,
    }


def rows_at(grid: np.ndarray, times: np.ndarray | None) -> np.ndarray:
    """Grid rows to report: every row, or those of the requested ``times``."""
    return np.arange(grid.size) if times is None else np.searchsorted(grid, times)


GroupCohort = tuple[Any, RelativeCohort, np.ndarray | None, tuple[str, ...]]


def cohorts_by_group(data: pd.DataFrame, group_col: str | None, times: Any, *, life_table: LifeTable | None,
                     **columns: str) -> Iterator[GroupCohort]:
    """The whole cohort, or one cohort per value of ``group_col`` (relsurv's ``Surv(...) ~ group``).

    Every value is checked on the whole table first (one error listing every problem), and the
    requested ``times`` against its last follow-up; a group is then reported only at the times up to
    its own last follow-up (a note says which were left out).

    Yields
    ------
    label, cohort, times, notes
        ``label`` is None without ``group_col``; ``times`` the group's requested times (or None).
    """
    whole = prepare_cohort(data, life_table=life_table, **columns)
    wanted = None if times is None else check_times(times, whole)
    if group_col is None:
        yield None, whole, wanted, whole.notes
        return
    if group_col not in data.columns:
        raise MetricInputError([Problem(None, group_col, "no such column",
                                        f"the group column (columns: {list(data.columns)})")])
    missing = data[group_col].isna().to_numpy()
    if missing.any():
        raise MetricInputError([Problem(_py(data.index[i]), group_col, None, "a group label (not empty)")
                                for i in np.flatnonzero(missing)[:_SHOWN]], int(missing.sum()))
    for label, part in data.groupby(group_col, sort=True):
        cohort = prepare_cohort(part, life_table=whole.life_table, **columns)
        mine = None if wanted is None else wanted[wanted <= cohort.duration[-1]]
        notes = tuple(f"group {label!r}: {n}" for n in cohort.notes)
        if wanted is not None and mine is not None and mine.size < wanted.size:
            notes += (f"group {label!r}: not reported after its last follow-up "
                      f"({cohort.duration[-1]:g} months)",)
        yield _py(label), cohort, mine, notes


def with_group(table: pd.DataFrame, label: Any) -> pd.DataFrame:
    """``table`` with a first column ``group`` (unchanged when ``label`` is None)."""
    return table if label is None else table.assign(group=label)[["group", *table.columns]]
