"""What every score shares: reading a factor from the findings, the generic scoring loop, notes.

A factor record (``_tables.Factor``) says which column it reads and how: a numeric comparison
(``age > 60``), a yes/no finding (``splenomegaly == 1``), ALP above the lab's upper limit
(``alp > alp_uln``), membership of ``who_subtype`` in a set (``in advanced``), any of several genes
(``asxl1|runx1|nras any``), or the number of mutated S/A/R genes (``sar_count``). :func:`factor_tri`
turns any record into a three-valued criterion and :func:`score_factors` adds the points (and the
log hazard ratios, where the record has one) of every record in one loop, as the IPSS-M calculator
does (``risk.ts``). Missing findings give best / worst cases, never a guess.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .._logic import Tri, any_of, compare, from_boolean, in_categories
from ._tables import SAR_GENES, Factor, Groups, ScoreTable, score_table

# --------------------------------------------------------------------------- findings


class Sar(NamedTuple):
    """The number of mutated S/A/R genes, as a range, and each gene after what the count implies."""

    lo: np.ndarray  # fewest mutated S/A/R genes consistent with the findings
    hi: np.ndarray  # most
    genes: dict[str, Tri]


def sar_range(frame: pd.DataFrame) -> Sar:
    """Range of the S/A/R count from the three gene columns and/or ``sar_count``.

    ``ensure_findings`` already rejects genes and ``sar_count`` that disagree, so a known
    ``sar_count`` is the count; it also settles unknown genes when it equals the known positives
    (the rest are wild type) or the known positives plus every unknown gene (all mutated).
    """
    genes = {g: from_boolean(frame[g]) for g in SAR_GENES}
    # int8 is plenty for 0-3 genes and a quarter of the memory traffic of int64
    pos = np.sum([t.lo.view(np.int8) for t in genes.values()], axis=0, dtype=np.int64)
    unk = np.sum([(t.lo != t.hi).view(np.int8) for t in genes.values()], axis=0, dtype=np.int64)
    count = frame["sar_count"].to_numpy(dtype=float)
    given = ~np.isnan(count)
    c = np.where(given, count, 0).astype(np.int64)
    none_left = given & (c == pos)
    all_left = given & (c == pos + unk)
    settled = {g: Tri(t.lo | (~t.known & all_left), t.hi & ~(~t.known & none_left)) for g, t in genes.items()}
    return Sar(np.where(given, c, pos), np.where(given, c, pos + unk), settled)


class Alp(NamedTuple):
    """ALP above the upper limit of normal, and which limit was used."""

    flag: Tri
    uln: np.ndarray  # the ULN used, U/L (NaN when none applies)
    defaulted: np.ndarray  # ALP known, alp_uln absent, adult default used
    child_no_uln: np.ndarray  # ALP known, alp_uln absent, a child: left unknown


def alp_above_uln(frame: pd.DataFrame) -> Alp:
    """``alp > alp_uln``; an adult without ``alp_uln`` gets the documented default ULN."""
    defaults = score_table("mastoprog").defaults
    alp = frame["alp"].to_numpy(dtype=float)
    given = frame["alp_uln"].to_numpy(dtype=float)
    age = frame["age"].to_numpy(dtype=float)
    missing = np.isnan(given)
    with np.errstate(invalid="ignore"):
        child = age < defaults["adult_age"]  # unknown age: adult (the scores are for adults)
    uln = np.where(missing, np.where(child, np.nan, defaults["alp_uln"]), given)
    has_alp = ~np.isnan(alp)
    return Alp(compare(alp, ">", uln), uln, has_alp & missing & ~child, has_alp & missing & child)


@dataclass
class Context:
    """Findings a score reads more than once, computed once per call."""

    frame: pd.DataFrame
    sets: Mapping[str, Tri] = field(default_factory=dict)  # who_subtype in a named set
    genes: Mapping[str, Tri] = field(default_factory=dict)  # genes read with a stated assumption
    _sar: Sar | None = None
    _alp: Alp | None = None

    @property
    def sar(self) -> Sar:
        """S/A/R range (computed on first use)."""
        if self._sar is None:
            self._sar = sar_range(self.frame)
        return self._sar

    @property
    def alp(self) -> Alp:
        """ALP > ULN (computed on first use)."""
        if self._alp is None:
            self._alp = alp_above_uln(self.frame)
        return self._alp


def _gene(ctx: Context, gene: str) -> Tri:
    if gene in ctx.genes:
        return ctx.genes[gene]
    return ctx.sar.genes[gene] if gene in ctx.sar.genes else from_boolean(ctx.frame[gene])


def factor_tri(f: Factor, ctx: Context) -> Tri:
    """The three-valued criterion a factor record describes (see the module docstring)."""
    if f.comparison == "in":
        return ctx.sets[str(f.threshold)] if str(f.threshold) in ctx.sets else \
            in_categories(ctx.frame[f.column], set(str(f.threshold).split("|")))
    if f.comparison == "any":
        return any_of(*(_gene(ctx, g) for g in f.column.split("|")))
    if f.threshold == "alp_uln":
        return ctx.alp.flag
    col = ctx.frame[f.column]
    if col.dtype == "boolean":
        return from_boolean(col, want=bool(float(f.threshold)))
    return compare(col.to_numpy(dtype=float), f.comparison, float(f.threshold))


# --------------------------------------------------------------------------- points


def range_over_counts(values: Mapping[int, float], sar: Sar,
                      dtype: Any = float) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) of ``values[c]`` over the counts c in [sar.lo, sar.hi], by a (lo, hi) lookup table."""
    k = len(SAR_GENES) + 1
    v = np.array([values[c] for c in range(k)], dtype=float)
    table_min = np.full((k, k), np.nan)
    table_max = np.full((k, k), np.nan)
    for a in range(k):
        for b in range(a, k):
            table_min[a, b], table_max[a, b] = v[a:b + 1].min(), v[a:b + 1].max()
    code = sar.lo * k + sar.hi
    return table_min.ravel()[code].astype(dtype), table_max.ravel()[code].astype(dtype)


def int_array(values: np.ndarray, known: np.ndarray) -> pd.arrays.IntegerArray:
    """Nullable integers (values under the mask are never read, so no need to zero them)."""
    return pd.arrays.IntegerArray(values.astype(np.int64, copy=False), ~known)


class Points:
    """Best and worst case of points and of the linear predictor, with per-factor columns."""

    def __init__(self, n: int):
        self.pmin = np.zeros(n, dtype=np.int64)
        self.pmax = np.zeros(n, dtype=np.int64)
        self.lmin = np.zeros(n)
        self.lmax = np.zeros(n)
        self.cols: dict[str, Any] = {}
        self.lp_cols: dict[str, np.ndarray] = {}
        self.known: list[np.ndarray] = []

    def add(self, name: str, lo: np.ndarray, hi: np.ndarray) -> None:
        """Points of one factor, lowest and highest."""
        self.pmin += lo
        self.pmax += hi
        self.cols[f"pts_{name}"] = int_array(lo, lo == hi)

    def add_lp(self, name: str, lo: np.ndarray, hi: np.ndarray) -> None:
        """Log hazard ratio of one factor, lowest and highest (every factor is harmful)."""
        self.lmin += lo
        self.lmax += hi
        self.lp_cols[f"lp_{name}"] = np.where(lo == hi, lo, np.nan)
        self.known.append(lo == hi)

    def core(self) -> dict[str, Any]:
        """``points``, ``points_min``, ``points_max``."""
        return {"points": int_array(self.pmin, self.pmin == self.pmax),
                "points_min": self.pmin.copy(), "points_max": self.pmax.copy()}


def _flag_factor(pts: Points, f: Factor, tri: Tri, with_lp: bool) -> None:
    lo, hi = f.points * tri.lo.view(np.int8), f.points * tri.hi.view(np.int8)
    pts.add(f.name, *((hi, lo) if f.points < 0 else (lo, hi)))
    if with_lp:
        b = math.log(f.hr)  # >= 0 (checked at load): lo case = lowest LP
        pts.add_lp(f.name, b * tri.lo, b * tri.hi)


def _count_factors(pts: Points, factors: list[Factor], sar: Sar, with_lp: bool) -> None:
    per_count = {c: sum(f.points for f in factors if f.holds_for_count(c)) for c in range(len(SAR_GENES) + 1)}
    pts.add("sar", *range_over_counts(per_count, sar, dtype=np.int64))
    if with_lp:
        lp = {c: sum(math.log(f.hr) for f in factors if f.holds_for_count(c))
              for c in range(len(SAR_GENES) + 1)}
        pts.add_lp("sar", *range_over_counts(lp, sar))


def score_factors(table: ScoreTable, ctx: Context, with_lp: bool = False) -> tuple[Points, dict[str, Tri]]:
    """The generic loop: points (and log HRs) of every factor record, in file order.

    The S/A/R count records are mutually exclusive levels of one factor, reported as ``pts_sar``
    where the first of them stands in the file.
    """
    pts = Points(len(ctx.frame))
    tris: dict[str, Tri] = {}
    counted = [f for f in table.factors.values() if f.counts_genes]
    for f in table.factors.values():
        if f.counts_genes:
            if f is counted[0]:
                _count_factors(pts, counted, ctx.sar, with_lp)
            continue
        tris[f.name] = factor_tri(f, ctx)
        _flag_factor(pts, f, tris[f.name], with_lp)
    return pts, tris


# --------------------------------------------------------------------------- groups and notes


def group_columns(groups: Groups, pmin: np.ndarray, pmax: np.ndarray,
                  allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(group label or 'indeterminate' or None, possible groups as tuples, index of the sure group).

    The sure group's index is -1 where the findings leave the group open (or it does not apply).
    """
    g = len(groups.labels)
    # points are small integers: a lookup table beats a binary search per row
    of_points = np.searchsorted(groups.lower, np.arange(groups.max_points + 1), side="right") - 1
    gmin, gmax = of_points[pmin], of_points[pmax]
    code = gmin * g + gmax
    label = np.empty(g * g + 1, dtype=object)
    possible = np.empty(g * g + 1, dtype=object)
    for a in range(g):
        for b in range(g):
            label[a * g + b] = groups.labels[a] if a == b else "indeterminate"
            possible[a * g + b] = tuple(groups.labels[a:b + 1])
    label[g * g], possible[g * g] = None, ()  # not applicable
    sure = np.where(gmin == gmax, gmin, -1)
    if allowed is not None:
        code = np.where(allowed, code, g * g)
        sure = np.where(allowed, sure, -1)
    return label[code], possible[code], sure


class Notes:
    """Per-row notes built without per-row Python: one bit per note, strings per distinct pattern."""

    def __init__(self, n: int):
        self.n = n
        self.texts: list[str] = []
        self.masks: list[np.ndarray] = []

    def add(self, mask: np.ndarray | bool, text: str) -> None:
        """Attach ``text`` to the rows of ``mask``."""
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), (self.n,))
        if mask.any():
            # "; " separates notes in the joined column, so it must not occur inside one
            self.texts.append(text.replace("; ", ", "))
            self.masks.append(mask)

    def unknown(self, items: Mapping[str, np.ndarray]) -> None:
        """One note per finding left unknown."""
        for name, mask in items.items():
            self.add(mask, f"{name} unknown (range covers both cases)")

    def outside(self, subtype: pd.Series, outside: np.ndarray, text: str) -> None:
        """One note per subtype label found outside a score's population (``text`` gets the label)."""
        cat = subtype.array
        codes = np.asarray(cat.codes)
        for i, label in enumerate(cat.categories):
            self.add((codes == i) & outside, text.format(label=label))

    def build(self) -> tuple[np.ndarray, np.ndarray, list[tuple[str, ...]]]:
        """(notes column of '; '-joined strings, code per row, tuple of notes per code)."""
        code = np.zeros(self.n, dtype=np.int64)
        for i, m in enumerate(self.masks):
            code |= m.astype(np.int64) << i
        if len(self.masks) > 16:
            uniq, inverse = np.unique(code, return_inverse=True)
        else:
            present = np.flatnonzero(np.bincount(code, minlength=1 << len(self.masks)))
            lookup = np.full(1 << len(self.masks), -1, dtype=np.int64)
            lookup[present] = np.arange(present.size)
            uniq, inverse = present, lookup[code]
        tuples = [tuple(t for i, t in enumerate(self.texts) if (int(u) >> i) & 1) for u in uniq]
        strings = np.array(["; ".join(t) for t in tuples], dtype=object)
        return strings[inverse], inverse, tuples


def alp_notes(notes: Notes, alp: Alp) -> None:
    """Say where the ULN was defaulted, or left unknown for a child."""
    defaults = score_table("mastoprog").defaults
    notes.add(alp.defaulted, f"alp_uln defaulted to {defaults['alp_uln']:g} U/L (typical adult upper limit, "
                             "an assumption: give the lab's alp_uln)")
    notes.add(alp.child_no_uln, f"age < {defaults['adult_age']:g} y without alp_uln: the adult default ULN "
                                "does not apply, so ALP > ULN is left unknown")


def constant_objects(n: int, value: Any) -> np.ndarray:
    """An object column holding ``value`` (e.g. a tuple) in every row."""
    one = np.empty(1, dtype=object)
    one[0] = value  # a tuple stays one element
    return one[np.zeros(n, dtype=np.intp)]
