"""Three-valued logic over cohorts and the one comparison-operator table (bottom layer).

A finding that may be unknown is a :class:`Tri`: two boolean arrays, ``lo`` (surely true) and ``hi``
(possibly true). Known true is ``(1, 1)``, known false ``(0, 0)``, unknown ``(0, 1)``. Classification
(criteria, B/C findings, the candidate sets) and the risk scores (factors, best/worst cases) both
use this module, so the two cannot drift apart. ``lo <= hi`` always holds.

Comparisons read the operator from a data file (``">"``, ``">="``, ``"<"``, ``"<="``, ``"=="``)
through :data:`OPS`, the package's only operator table.

Examples
--------
>>> import numpy as np
>>> hb = compare(np.array([9.0, 11.0, np.nan]), "<", 10)
>>> hb.lo.tolist(), hb.hi.tolist()
([True, False, False], [True, False, True])
>>> state(any_of(hb, compare(np.array([50.0, 50.0, 50.0]), "<", 100))).tolist()
[1, 1, 1]
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

__all__ = ["MONOTONE_OPS", "OPS", "Tri", "all_of", "any_of", "compare", "count", "count_compare",
           "from_boolean", "in_categories", "state"]

#: Comparison operators by the symbol the data files use (the package's one table).
OPS: Mapping[str, np.ufunc] = MappingProxyType({
    ">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal, "==": np.equal,
})
#: Operators monotone in their left operand (a count interval is decided by its two ends).
MONOTONE_OPS = frozenset({">", ">=", "<", "<="})


class Tri(NamedTuple):
    """A yes/no criterion over a cohort with unknowns.

    Attributes
    ----------
    lo : ndarray of bool
        Surely true (true in every fill of the unknown findings).
    hi : ndarray of bool
        Possibly true (true in at least one fill).
    """

    lo: np.ndarray
    hi: np.ndarray

    @property
    def known(self) -> np.ndarray:
        """True where the findings decide the criterion."""
        return self.lo == self.hi

    @property
    def possibly_false(self) -> np.ndarray:
        """False in at least one fill (``~lo``)."""
        return ~self.lo

    def negate(self) -> Tri:
        """The criterion's negation (surely true where this is surely false)."""
        return Tri(~self.hi, ~self.lo)

    def as_float(self) -> np.ndarray:
        """1.0 / 0.0 when known, NaN when not."""
        return np.where(self.known, self.lo.astype(float), np.nan)

    def as_boolean(self) -> pd.arrays.BooleanArray:
        """A pandas nullable boolean array (<NA> = undecided)."""
        return pd.arrays.BooleanArray(self.lo.copy(), ~self.known)


def compare(values: np.ndarray, op: str, threshold: float | np.ndarray) -> Tri:
    """``values <op> threshold`` with NaN (in either operand) unknown.

    Parameters
    ----------
    values : ndarray of float
        One value per patient, NaN = unknown.
    op : {">", ">=", "<", "<=", "=="}
        The comparison, as written in the data file.
    threshold : float or ndarray of float
        A constant, or one threshold per patient (NaN = unknown).

    Returns
    -------
    Tri

    Examples
    --------
    >>> compare(np.array([20.0, 25.0]), ">", 20).lo.tolist()
    [False, True]
    """
    known = ~np.isnan(values)
    if isinstance(threshold, np.ndarray):
        known &= ~np.isnan(threshold)
    with np.errstate(invalid="ignore"):
        hit = OPS[op](values, threshold) & known
    return Tri(hit, hit | ~known)


def from_boolean(values: pd.Series | pd.arrays.BooleanArray, want: bool = True) -> Tri:
    """``values == want`` for a nullable boolean column (<NA> = unknown).

    Examples
    --------
    >>> t = from_boolean(pd.array([True, False, None], dtype="boolean"))
    >>> t.lo.tolist(), t.hi.tolist()
    ([True, False, False], [True, False, True])
    """
    arr = values.array if isinstance(values, pd.Series) else values
    na = np.asarray(arr.isna(), dtype=bool)
    hit = (arr.to_numpy(dtype=bool, na_value=not want) == want) & ~na
    return Tri(hit, hit | na)


def in_categories(values: pd.Series, members: frozenset[str] | set[str]) -> Tri:
    """Is a categorical value one of ``members``? Unknown where the value is missing.

    Examples
    --------
    >>> s = pd.Series(pd.Categorical(["ASM", "ISM", None]))
    >>> state(in_categories(s, {"ASM", "MCL"})).tolist()
    [1, 0, 2]
    """
    cat = values.array
    codes = np.asarray(cat.codes)
    hit = np.isin(codes, [i for i, c in enumerate(cat.categories) if c in members])
    na = codes < 0
    return Tri(hit & ~na, hit | na)


def any_of(*terms: Tri) -> Tri:
    """Three-valued OR (Kleene)."""
    return Tri(np.logical_or.reduce([t.lo for t in terms]), np.logical_or.reduce([t.hi for t in terms]))


def all_of(*terms: Tri) -> Tri:
    """Three-valued AND (Kleene)."""
    return Tri(np.logical_and.reduce([t.lo for t in terms]), np.logical_and.reduce([t.hi for t in terms]))


def count(*terms: Tri) -> tuple[np.ndarray, np.ndarray]:
    """(surely met, possibly met) counts of criteria that read different findings.

    Every count in between is reachable because the criteria are independent.

    Examples
    --------
    >>> lo, hi = count(compare(np.array([1.0]), ">", 0), compare(np.array([np.nan]), ">", 0))
    >>> int(lo[0]), int(hi[0])
    (1, 2)
    """
    lo = np.asarray(np.sum([t.lo for t in terms], axis=0, dtype=np.int8))
    hi = np.asarray(np.sum([t.hi for t in terms], axis=0, dtype=np.int8))
    return lo, hi


def count_compare(lo: Any, hi: Any, op: str, k: float) -> Tri:
    """``count <op> k`` for a count known to take every value in ``[lo, hi]``.

    Exact for the monotone operators (``>``, ``>=``, ``<``, ``<=``): the comparison holds for the
    whole interval when it holds at both ends, and for some value when it holds at one end.

    Examples
    --------
    >>> t = count_compare(np.array([0, 2]), np.array([1, 3]), ">=", 2)
    >>> t.lo.tolist(), t.hi.tolist()
    ([False, True], [False, True])
    """
    if op not in MONOTONE_OPS:
        raise ValueError(f"count_compare needs a monotone operator {sorted(MONOTONE_OPS)}, got {op!r}")
    at_lo, at_hi = OPS[op](lo, k), OPS[op](hi, k)
    return Tri(at_lo & at_hi, at_lo | at_hi)


def state(tri: Tri) -> np.ndarray:
    """0 surely false, 1 surely true, 2 unknown (int8)."""
    return np.where(tri.known, tri.lo, 2).astype(np.int8)
