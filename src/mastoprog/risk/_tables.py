"""Coefficient tables: one record per published coefficient, read from ``data/risk_<score>.csv``.

As in the IPSS-M calculator (``betasRiskScore.ts``), every factor is one record (name, column,
comparison, threshold, points, hazard ratio with its interval, source, evidence level), and the
scores are computed from these records by one generic loop (``_common.score_factors``). Tables are
validated at load (comparisons known, ``hr_low <= hr <= hr_high``, group cut-points ascending from
0) and cached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from .._logic import OPS
from .._resources import load_table
from ..exceptions import ModelFileError

__all__ = ["Factor", "Groups", "ScoreTable", "read_factors", "read_groups", "score_table"]

#: Genes counted by the S/A/R factors (MARS; the mastoprog composite).
SAR_GENES: tuple[str, ...] = ("srsf2", "asxl1", "runx1")
_COMPARISONS = frozenset({*OPS, "in", "any"})


def bad_file(name: str, msg: str) -> ModelFileError:
    """The package error for a malformed data file."""
    return ModelFileError(f"data file {name!r}: {msg}")


@dataclass(frozen=True)
class Factor:
    """One coefficient record of a score table."""

    name: str
    column: str
    comparison: str
    threshold: Any
    unit: str
    points: int
    hr: float
    hr_low: float
    hr_high: float
    source: str
    evidence: str
    assumption: bool
    note: str

    @property
    def counts_genes(self) -> bool:
        """True for a factor on the number of mutated S/A/R genes (mutually exclusive levels)."""
        return self.column == "sar_count"

    def holds_for_count(self, count: int) -> bool:
        """Whether this count factor applies to ``count`` mutated genes."""
        return bool(OPS[self.comparison](count, float(self.threshold)))


@dataclass(frozen=True)
class Groups:
    """Risk groups by points: ``labels[i]`` from ``lower[i]`` points on."""

    labels: tuple[str, ...]
    lower: np.ndarray  # lower bound of each group in points (inclusive, ascending, first = 0)
    max_points: int

    def ranges(self) -> list[tuple[str, int, int]]:
        """(label, lowest, highest points) of each group."""
        upper = [*(int(v) - 1 for v in self.lower[1:]), self.max_points]
        return [(lab, int(lo), hi) for lab, lo, hi in zip(self.labels, self.lower, upper, strict=True)]

    def describe(self) -> str:
        """E.g. ``"low 0-1 / intermediate 2 / high 3-5"``."""
        return " / ".join(f"{lab} {lo}" if lo == hi else f"{lab} {lo}-{hi}" for lab, lo, hi in self.ranges())


def _num(rec: Mapping[str, Any], key: str) -> float:
    value = rec.get(key, np.nan)
    return float("nan") if value is None or pd.isna(value) else float(value)


def _factor(name: str, rec: Mapping[str, Any]) -> Factor:
    comp = rec.get("comparison")
    if comp not in _COMPARISONS:
        raise bad_file(name, f"factor {rec['factor']!r} has comparison {comp!r}; "
                             f"expected one of {sorted(_COMPARISONS)}")
    hr = [_num(rec, c) for c in ("hr", "hr_low", "hr_high")]
    if not np.isnan(hr[0]) and not (hr[1] <= hr[0] <= hr[2]):
        raise bad_file(name, f"factor {rec['factor']!r}: expected hr_low <= hr <= hr_high, got {hr}")
    points = _num(rec, "points")
    return Factor(
        name=rec["factor"], column=rec["column"], comparison=str(comp), threshold=rec["threshold"],
        unit="" if pd.isna(rec.get("unit")) else str(rec["unit"]),
        points=0 if np.isnan(points) else int(points), hr=hr[0], hr_low=hr[1], hr_high=hr[2],
        source=rec["source"], evidence=rec["evidence"],
        assumption=str(rec.get("assumption", rec["evidence"] == "assumption")).lower() == "true",
        note="" if pd.isna(rec.get("note")) else str(rec["note"]),
    )


def read_factors(name: str, table: pd.DataFrame, kind: str = "factor") -> list[Factor]:
    """The ``kind`` rows of ``table`` as validated :class:`Factor` records, in file order."""
    return [_factor(name, rec) for rec in table[table["kind"] == kind].to_dict("records")]


def max_points(factors: Mapping[str, Factor] | list[Factor]) -> int:
    """Most points possible: yes/no factors add up; the S/A/R count factors exclude each other."""
    records = list(factors.values()) if isinstance(factors, Mapping) else factors
    flags = sum(f.points for f in records if not f.counts_genes)
    counted = [f for f in records if f.counts_genes]
    best = max(sum(f.points for f in counted if f.holds_for_count(c)) for c in range(len(SAR_GENES) + 1))
    return flags + best


def read_groups(name: str, table: pd.DataFrame, most: int) -> Groups:
    """Group rows (``points >= k``, k ascending from 0, at most ``most``) as :class:`Groups`."""
    rows = table[table["kind"] == "group"]
    lower = rows["threshold"].astype(float).to_numpy()
    if (rows["comparison"] != ">=").any() or lower.size == 0 or lower[0] != 0 \
            or np.any(np.diff(lower) <= 0) or lower[-1] > most:
        raise bad_file(name, "group rows must be 'points >= k' with k ascending from 0 "
                             f"and at most {most}; got {lower.tolist()}")
    return Groups(tuple(rows["factor"]), lower, most)


def _subtype_sets(table: pd.DataFrame) -> dict[str, frozenset[str]]:
    sets: dict[str, set[str]] = {}
    for rec in table[table["kind"] == "applies_to"].to_dict("records"):
        sets.setdefault(rec["factor"], set()).update(str(rec["threshold"]).split("|"))
    return {k: frozenset(v) for k, v in sets.items()}


def _values(table: pd.DataFrame, kind: str) -> dict[str, float]:
    rows = table[table["kind"] == kind]
    if rows.empty:
        return {}
    return {str(f): float(v) for f, v in zip(rows["factor"], rows["value"], strict=True)}


def _notes(table: pd.DataFrame, kind: str) -> dict[str, str]:
    rows = table[table["kind"] == kind]
    if rows.empty:
        return {}
    return {str(f): f"{n} [{e}]"
            for f, n, e in zip(rows["factor"], rows["note"], rows["evidence"], strict=True)}


@dataclass(frozen=True)
class ScoreTable:
    """Everything one score's data file holds, validated."""

    file: str
    table: pd.DataFrame
    factors: dict[str, Factor]
    groups: Groups | None
    sets: dict[str, frozenset[str]]
    defaults: dict[str, float]
    notes: dict[str, str]  # unconfirmed / assumption rows: factor -> "note [evidence]"

    def factor(self, name: str) -> Factor:
        """The record of factor ``name``."""
        return self.factors[name]


#: The row kind that holds each score's scored factors.
_FACTOR_KIND = {"mastoprog": "factor", "mars": "factor", "maps": "points", "ipsm": "flag"}


@cache
def score_table(score: str) -> ScoreTable:
    """The validated coefficient table of ``score`` (``data/risk_<score>.csv``, cached)."""
    name = f"risk_{score}.csv"
    table = load_table(name)
    factors = read_factors(name, table, _FACTOR_KIND[score])
    has_groups = bool((table["kind"] == "group").any())
    return ScoreTable(
        file=name, table=table,
        factors={(f"{m}:{f.name}" if score == "ipsm" else f.name): f
                 for f, m in zip(factors, _models(table, _FACTOR_KIND[score]), strict=True)},
        groups=read_groups(name, table, max_points(factors)) if has_groups else None,
        sets=_subtype_sets(table), defaults=_values(table, "default"),
        notes={**_notes(table, "unconfirmed"), **_notes(table, "assumption")},
    )


def _models(table: pd.DataFrame, kind: str) -> list[str]:
    rows = table[table["kind"] == kind]
    return [str(m) for m in rows["model"]] if "model" in rows.columns else [""] * len(rows)
