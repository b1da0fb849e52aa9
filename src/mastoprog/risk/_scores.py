"""Risk scores: the mastoprog composite score and the published MARS, MAPS and IPSM scores.

``risk_score(data, score=...)`` returns points, a risk group, per-factor contributions and notes for
every patient; with missing findings it returns the best and worst case (``points_min`` /
``points_max``, the linear-predictor range and the set of ``possible_groups``) and names a single
``group`` only when the unknown findings cannot change it, as the IPSS-M calculator does.

Scores
------
``"mastoprog"``
    **This package's own composite, not MAPS and not MARS.** It scores the four factors the seed
    review names as prognostic (age, splenomegaly, alkaline phosphatase, number of mutated S/A/R
    genes): age > 60 y 1 point, splenomegaly 1, ALP > ULN 1, one S/A/R gene 1, two or more 2
    (0-5 points); groups low 0 / intermediate 1-2 / high 3-5 are our own, unvalidated cut-points.
    Its linear predictor (sum of log hazard ratios) feeds the survival model: age and ALP from the
    MAPS hybrid model, S/A/R from the MAPS adverse-mutation HR weighted as MARS weights genes, and
    an explicitly *assumed* splenomegaly effect. See ``mastoprog_coefficients()``.
``"mars"``
    Mutation-Adjusted Risk Score (Jawhar 2019), advanced SM only, with the published groups and
    median overall survival of the training and validation cohorts.
``"maps"``
    Mayo Alliance Prognostic System, hybrid points (Pardanani 2018); its risk groups are not
    confirmed, so none are returned.
``"ipsm"``
    IPSM factor flags (Sperr 2019) for non-advanced and advanced SM; points and groups are not
    confirmed, so none are returned.

Every constant (thresholds with their ``>`` / ``>=`` comparison, points, hazard ratios, group
cut-points, medians, defaults) lives in ``data/risk_<score>.csv`` with its source and evidence level.

References
----------
.. [1] Pardanani A et al. Blood Adv 2018;2:2964-72. doi:10.1182/bloodadvances.2018026245 (MAPS).
.. [2] Jawhar M et al. J Clin Oncol 2019;37:2846-56. doi:10.1200/JCO.19.00640 (MARS).
.. [3] Sperr WR et al. Lancet Haematol 2019;6:e638-49. doi:10.1016/S2352-3026(19)30166-8 (IPSM).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from .. import findings as _findings
from .._resources import load_table
from ..exceptions import ModelFileError, PlausibilityWarning
from ..findings import FindingsSource, ensure_findings

__all__ = [
    "MASTOPROG_FACTORS",
    "SCORES",
    "RiskResult",
    "mastoprog_coefficients",
    "risk_features",
    "risk_score",
]

#: Model features of the mastoprog score, in the order of ``risk_features`` columns.
MASTOPROG_FACTORS: tuple[str, ...] = ("age_gt_60", "splenomegaly", "alp_gt_uln", "sar_1", "sar_2plus")

#: Scores ``risk_score`` knows.
SCORES: tuple[str, ...] = ("mastoprog", "mars", "maps", "ipsm")

_SAR_GENES = ("srsf2", "asxl1", "runx1")
_MASTOPROG_COLUMNS = ("age", "splenomegaly", "alp", "alp_uln", *_SAR_GENES, "sar_count")
_MASTOPROG_SCORE_COLUMNS = (*_MASTOPROG_COLUMNS, "who_subtype")
_MARS_COLUMNS = ("age", "hemoglobin", "platelets", *_SAR_GENES, "sar_count", "who_subtype")
_MAPS_COLUMNS = ("age", "platelets", "alp", "alp_uln", *_SAR_GENES, "sar_count", "who_subtype")
_IPSM_COLUMNS = ("age", "alp", "tryptase", "hemoglobin", "platelets", "skin_lesions", "who_subtype")

_OPS = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal, "==": np.equal}


# --------------------------------------------------------------------------- three-valued flags


class _Tri(NamedTuple):
    """A yes/no finding over a cohort with unknowns: ``lo`` = surely true, ``hi`` = possibly true."""

    lo: np.ndarray
    hi: np.ndarray

    @property
    def known(self) -> np.ndarray:
        return self.lo == self.hi

    def as_float(self) -> np.ndarray:
        return np.where(self.known, self.lo.astype(float), np.nan)

    def as_boolean(self) -> pd.arrays.BooleanArray:
        return pd.arrays.BooleanArray(self.lo.copy(), ~self.known)


def _compare(values: np.ndarray, comparison: str, threshold: float | np.ndarray) -> _Tri:
    """``values <comparison> threshold`` with NaN (in either) = unknown."""
    known = ~np.isnan(values)
    if isinstance(threshold, np.ndarray):
        known &= ~np.isnan(threshold)
    with np.errstate(invalid="ignore"):
        hit = _OPS[comparison](values, threshold) & known
    return _Tri(hit, hit | ~known)


def _bool_tri(s: pd.Series | pd.arrays.BooleanArray, want: bool = True) -> _Tri:
    arr = s.array if isinstance(s, pd.Series) else s
    na = np.asarray(arr.isna(), dtype=bool)
    hit = (arr.to_numpy(dtype=bool, na_value=not want) == want) & ~na
    return _Tri(hit, hit | na)


def _subtype_tri(subtype: pd.Series, members: frozenset[str]) -> _Tri:
    """Is ``who_subtype`` one of ``members``? Unknown when not given."""
    cat = subtype.array
    in_set = np.isin(np.asarray(cat.codes), [i for i, c in enumerate(cat.categories) if c in members])
    na = np.asarray(cat.codes) < 0
    return _Tri(in_set & ~na, in_set | na)


# --------------------------------------------------------------------------- data files


def _bad_file(name: str, msg: str) -> ModelFileError:
    return ModelFileError(f"data file {name!r}: {msg}")


@dataclass(frozen=True)
class _Factor:
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


@dataclass(frozen=True)
class _Groups:
    labels: tuple[str, ...]
    lower: np.ndarray  # lower bound of each group in points (inclusive, ascending, first = 0)
    max_points: int

    def ranges(self) -> list[tuple[str, int, int]]:
        upper = [*(int(v) - 1 for v in self.lower[1:]), self.max_points]
        return [(lab, int(lo), hi) for lab, lo, hi in zip(self.labels, self.lower, upper, strict=True)]

    def describe(self) -> str:
        return " / ".join(f"{lab} {lo}" if lo == hi else f"{lab} {lo}-{hi}" for lab, lo, hi in self.ranges())


def _factors(name: str, table: pd.DataFrame, kind: str = "factor") -> list[_Factor]:
    rows = table[table["kind"] == kind]
    out = []
    for rec in rows.to_dict("records"):
        comp = rec.get("comparison")
        if comp not in {*_OPS, "in", "any"}:
            raise _bad_file(name, f"factor {rec['factor']!r} has comparison {comp!r}; "
                                  f"expected one of {sorted({*_OPS, 'in', 'any'})}")
        hr = [float(rec.get(c, np.nan)) for c in ("hr", "hr_low", "hr_high")]
        if not np.isnan(hr[0]) and not (hr[1] <= hr[0] <= hr[2]):
            raise _bad_file(name, f"factor {rec['factor']!r}: expected hr_low <= hr <= hr_high, got {hr}")
        out.append(_Factor(
            name=rec["factor"], column=rec["column"], comparison=comp, threshold=rec["threshold"],
            unit="" if pd.isna(rec.get("unit")) else str(rec["unit"]),
            points=0 if pd.isna(rec.get("points")) else int(rec["points"]),
            hr=hr[0], hr_low=hr[1], hr_high=hr[2], source=rec["source"], evidence=rec["evidence"],
            assumption=str(rec.get("assumption", rec["evidence"] == "assumption")).lower() == "true",
            note="" if pd.isna(rec.get("note")) else str(rec["note"]),
        ))
    return out


def _max_points(factors: Mapping[str, _Factor]) -> int:
    """Most points possible: yes/no factors add up; the S/A/R count factors exclude each other."""
    flags = sum(f.points for f in factors.values() if f.column != "sar_count")
    counted = [f for f in factors.values() if f.column == "sar_count"]
    best = max(sum(f.points for f in counted if _OPS[f.comparison](c, float(f.threshold)))
               for c in range(len(_SAR_GENES) + 1))
    return flags + best


def _groups(name: str, table: pd.DataFrame, max_points: int) -> _Groups:
    rows = table[table["kind"] == "group"]
    lower = rows["threshold"].astype(float).to_numpy()
    if (rows["comparison"] != ">=").any() or lower.size == 0 or lower[0] != 0 \
            or np.any(np.diff(lower) <= 0) or lower[-1] > max_points:
        raise _bad_file(name, "group rows must be 'points >= k' with k ascending from 0 "
                              f"and at most {max_points}; got {lower.tolist()}")
    return _Groups(tuple(rows["factor"]), lower, max_points)


def _subtype_sets(table: pd.DataFrame) -> dict[str, frozenset[str]]:
    sets: dict[str, set[str]] = {}
    for rec in table[table["kind"] == "applies_to"].to_dict("records"):
        sets.setdefault(rec["factor"], set()).update(str(rec["threshold"]).split("|"))
    return {k: frozenset(v) for k, v in sets.items()}


def _default(table: pd.DataFrame, factor: str) -> float:
    rows = table[(table["kind"] == "default") & (table["factor"] == factor)]
    return float(rows["value"].iloc[0])


@cache
def _mastoprog_spec() -> dict[str, Any]:
    name = "risk_mastoprog.csv"
    table = load_table(name)
    factors = {f.name: f for f in _factors(name, table)}
    if tuple(factors) != MASTOPROG_FACTORS:
        raise _bad_file(name, f"factor rows must be {list(MASTOPROG_FACTORS)} in order; got {list(factors)}")
    for f in factors.values():
        # best / worst cases (and the monotone point/LP ranges) assume every factor is harmful.
        if not (f.hr >= 1 and f.points >= 0):
            raise _bad_file(name, f"factor {f.name!r}: expected hr >= 1 and points >= 0")
    return {
        "factors": factors,
        "groups": _groups(name, table, _max_points(factors)),
        "alp_uln": _default(table, "alp_uln"),
        "adult_age": _default(table, "adult_age"),
        "sm": _subtype_sets(table)["sm"],
        "table": table,
    }


@cache
def _mars_spec() -> dict[str, Any]:
    name = "risk_mars.csv"
    table = load_table(name)
    factors = {f.name: f for f in _factors(name, table)}
    groups = _groups(name, table, _max_points(factors))
    med = table[table["kind"] == "median_os"]
    medians: dict[str, dict[str, float]] = {}
    for rec in med.to_dict("records"):
        if rec["factor"] not in groups.labels:
            raise _bad_file(name, f"median_os row for unknown group {rec['factor']!r}")
        value = float(rec["value"])
        if np.isnan(value) and "not reached" not in str(rec["note"]):
            # an empty median means "not reached" only when the row says so
            raise _bad_file(name, f"median_os row {rec['factor']!r} ({rec['cohort']}) has no value "
                                  "and no 'not reached' note")
        medians.setdefault(rec["cohort"], {})[rec["factor"]] = value
    return {"factors": factors, "groups": groups, "medians": medians,
            "advanced": _subtype_sets(table)["advanced"]}


@cache
def _maps_spec() -> dict[str, Any]:
    name = "risk_maps.csv"
    table = load_table(name)
    factors = {f.name: f for f in _factors(name, table, kind="points")}
    sets = _subtype_sets(table)
    unconfirmed = table[table["kind"] == "unconfirmed"]
    return {"factors": factors, "advanced": sets["advanced"], "non_advanced": sets["non-advanced"],
            "groups_note": f"{unconfirmed['note'].iloc[0]} [{unconfirmed['evidence'].iloc[0]}]",
            "hr": table[table["kind"] == "hr"].reset_index(drop=True)}


@cache
def _ipsm_spec() -> dict[str, Any]:
    name = "risk_ipsm.csv"
    table = load_table(name)
    flags = table[table["kind"] == "flag"]
    models = {m: _factors(name, flags[flags["model"] == m], kind="flag")
              for m in ("non-advanced", "advanced")}
    sets = _subtype_sets(table)
    unconfirmed = table[table["kind"] == "unconfirmed"]
    return {"models": models, "advanced": sets["advanced"], "non_advanced": sets["non-advanced"],
            "unconfirmed_note": f"{unconfirmed['note'].iloc[0]} [{unconfirmed['evidence'].iloc[0]}]"}


# --------------------------------------------------------------------------- shared findings logic


class _Sar(NamedTuple):
    lo: np.ndarray  # fewest mutated S/A/R genes consistent with the findings
    hi: np.ndarray  # most
    genes: dict[str, _Tri]  # each gene, after what sar_count implies for the unknown ones


def _sar(frame: pd.DataFrame) -> _Sar:
    """Range of the S/A/R count from the three gene columns and/or ``sar_count``.

    ``ensure_findings`` already rejects genes and ``sar_count`` that disagree, so a known
    ``sar_count`` is the count; it also settles unknown genes when it equals the known positives
    (the rest are wild type) or the known positives plus every unknown gene (all mutated).
    """
    genes = {g: _bool_tri(frame[g]) for g in _SAR_GENES}
    # int8 is plenty for 0-3 genes and a quarter of the memory traffic of int64
    pos = sum(t.lo.view(np.int8) for t in genes.values()).astype(np.int64)
    unk = sum((t.lo != t.hi).view(np.int8) for t in genes.values()).astype(np.int64)
    count = frame["sar_count"].to_numpy(dtype=float)
    given = ~np.isnan(count)
    c = np.where(given, count, 0).astype(np.int64)
    lo = np.where(given, c, pos)
    hi = np.where(given, c, pos + unk)
    none_left = given & (c == pos)
    all_left = given & (c == pos + unk)
    settled = {}
    for g, t in genes.items():
        unknown = ~t.known
        new_lo = t.lo | (unknown & all_left)
        new_hi = t.hi & ~(unknown & none_left)
        settled[g] = _Tri(new_lo, new_hi)
    return _Sar(lo, hi, settled)


def _count_points(factors: list[_Factor], sar: _Sar) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """Points (min, max) of the count-based factors over every count in [lo, hi] (counts 0-3)."""
    per_count = {}
    for c in range(len(_SAR_GENES) + 1):
        per_count[c] = sum(f.points for f in factors if _OPS[f.comparison](c, float(f.threshold)))
    return (*_range_over_counts(per_count, sar, dtype=np.int64), per_count)


def _range_over_counts(values: Mapping[int, float], sar: _Sar, dtype=float) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) of ``values[c]`` over the counts c in [sar.lo, sar.hi], by a (lo, hi) lookup table."""
    k = len(_SAR_GENES) + 1
    v = np.array([values[c] for c in range(k)], dtype=float)
    table_min = np.full((k, k), np.nan)
    table_max = np.full((k, k), np.nan)
    for a in range(k):
        for b in range(a, k):
            table_min[a, b], table_max[a, b] = v[a:b + 1].min(), v[a:b + 1].max()
    code = sar.lo * k + sar.hi
    return table_min.ravel()[code].astype(dtype), table_max.ravel()[code].astype(dtype)


class _Alp(NamedTuple):
    flag: _Tri
    uln: np.ndarray  # the ULN used, U/L (NaN when none applies)
    defaulted: np.ndarray  # ALP known, alp_uln absent, adult default used
    child_no_uln: np.ndarray  # ALP known, alp_uln absent, a child: left unknown


def _alp_gt_uln(frame: pd.DataFrame) -> _Alp:
    spec = _mastoprog_spec()
    alp = frame["alp"].to_numpy(dtype=float)
    given = frame["alp_uln"].to_numpy(dtype=float)
    age = frame["age"].to_numpy(dtype=float)
    missing = np.isnan(given)
    with np.errstate(invalid="ignore"):
        child = age < spec["adult_age"]  # unknown age: adult (the scores are for adults)
    uln = np.where(missing, np.where(child, np.nan, spec["alp_uln"]), given)
    has_alp = ~np.isnan(alp)
    return _Alp(_compare(alp, ">", uln), uln, has_alp & missing & ~child, has_alp & missing & child)


def _alp_notes(notes: _Notes, alp: _Alp) -> None:
    spec = _mastoprog_spec()
    notes.add(alp.defaulted, f"alp_uln defaulted to {spec['alp_uln']:g} U/L (typical adult upper limit, "
                             "an assumption: give the lab's alp_uln)")
    notes.add(alp.child_no_uln, f"age < {spec['adult_age']:g} y without alp_uln: the adult default ULN does "
                                "not apply, so ALP > ULN is left unknown")


def _raw_and_single(data: FindingsSource) -> tuple[pd.DataFrame, bool]:
    # Read once (a path is parsed once) and keep the raw frame for the non-canonical extra columns.
    return _findings._to_frame(data)


def _extra_column(raw: pd.DataFrame, name: str, like: str) -> tuple[Any, bool]:
    """A non-canonical column (``nras``, ``leukocytes``) parsed and checked like canonical ``like``.

    Returns (values, given). Matching is case-insensitive. The parsing rules, ranges and error
    messages are the findings layer's own (the column's spec is ``like``'s with the name changed).
    """
    matches = [c for c in raw.columns if str(c).strip().lower() == name]
    n = len(raw)
    spec = dataclasses.replace(_findings._schema()[like], column=name)
    if not matches:
        if spec.kind == "bool":
            return pd.arrays.BooleanArray(np.zeros(n, bool), np.ones(n, bool)), False
        return np.full(n, np.nan), False
    s = raw[matches[0]]
    col = _findings._Collector(_findings._RowLabels(raw))
    plaus: list[str] = []
    if spec.kind == "bool":
        out = _findings._parse_bool(s, spec, col)
        out = out.array if isinstance(out, pd.Series) else out
    else:
        out = _findings._parse_number(s, spec, col)
        _findings._check_range(out, spec, col, plaus)
    col.raise_if_any()
    for msg in plaus:
        warnings.warn(msg, PlausibilityWarning, stacklevel=4)
    return out, True


# --------------------------------------------------------------------------- notes and results


class _Notes:
    """Per-row notes built without per-row Python: one bit per note, strings per distinct pattern."""

    def __init__(self, n: int):
        self.n = n
        self.texts: list[str] = []
        self.masks: list[np.ndarray] = []

    def add(self, mask: np.ndarray | bool, text: str) -> None:
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), (self.n,))
        if mask.any():
            # "; " separates notes in the joined column, so it must not occur inside one
            self.texts.append(text.replace("; ", ", "))
            self.masks.append(mask)

    def build(self) -> tuple[np.ndarray, np.ndarray, list[tuple[str, ...]]]:
        """(notes column of '; '-joined strings, code per row, tuple of notes per code)."""
        code = np.zeros(self.n, dtype=np.int64)
        for i, m in enumerate(self.masks):
            code |= m.astype(np.int64) << i
        uniq, inverse = np.unique(code, return_inverse=True) if len(self.masks) > 16 else (None, None)
        if uniq is None:
            present = np.flatnonzero(np.bincount(code, minlength=1 << len(self.masks)))
            lookup = np.full(1 << len(self.masks), -1, dtype=np.int64)
            lookup[present] = np.arange(present.size)
            uniq, inverse = present, lookup[code]
        tuples = [tuple(t for i, t in enumerate(self.texts) if (int(u) >> i) & 1) for u in uniq]
        strings = np.array(["; ".join(t) for t in tuples], dtype=object)
        return strings[inverse], inverse, tuples


def _constant_objects(n: int, value: Any) -> np.ndarray:
    one = np.empty(1, dtype=object)
    one[0] = value  # a tuple stays one element
    return one[np.zeros(n, dtype=np.intp)]


def _int_array(values: np.ndarray, known: np.ndarray) -> pd.arrays.IntegerArray:
    # values under the mask are never read, so no need to zero them
    return pd.arrays.IntegerArray(values.astype(np.int64, copy=False), ~known)


def _group_columns(groups: _Groups, pmin: np.ndarray, pmax: np.ndarray,
                   allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(group label or 'indeterminate' or None, possible groups as tuples, index of the sure group)."""
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


@dataclass(frozen=True)
class RiskResult:
    """One patient's risk score (what ``risk_score`` returns for a single mapping).

    Attributes
    ----------
    score : str
        ``"mastoprog"`` (this package's own composite, not MAPS or MARS), ``"mars"``, ``"maps"`` or
        ``"ipsm"``.
    points, points_min, points_max : int or None
        Points when the findings decide them; otherwise None with the best/worst case in
        ``points_min``/``points_max``. All None for IPSM (points not confirmed).
    group : str or None
        Risk group when the unknown findings cannot change it, ``"indeterminate"`` when they can,
        None when the score defines no (confirmed) groups or does not apply.
    possible_groups : tuple of str
        Every group consistent with the findings.
    linear_predictor, linear_predictor_min, linear_predictor_max : float or None
        Sum of log hazard ratios (mastoprog score only).
    contributions : mapping
        Points per factor (``pts_*``; None when unknown); for mastoprog also ``lp_*``.
    details : mapping
        Score-specific columns (e.g. MARS median OS, IPSM flags, ``applicable``, ``alp_uln_used``).
    notes : tuple of str
        Defaults used, assumptions, applicability and unconfirmed parts, in words.
    patient_id : object or None
    """

    score: str
    points: int | None
    points_min: int | None
    points_max: int | None
    group: str | None
    possible_groups: tuple[str, ...]
    linear_predictor: float | None = None
    linear_predictor_min: float | None = None
    linear_predictor_max: float | None = None
    contributions: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    patient_id: Any = None


_CORE = ("patient_id", "score", "points", "points_min", "points_max", "group", "possible_groups",
         "linear_predictor", "linear_predictor_min", "linear_predictor_max", "notes")


def _py(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


def _to_result(frame: pd.DataFrame, notes: tuple[str, ...]) -> RiskResult:
    row = frame.iloc[0]
    contrib = {c: _py(row[c]) for c in frame.columns if c.startswith(("pts_", "lp_"))}
    details = {c: _py(row[c]) for c in frame.columns if c not in _CORE and c not in contrib}
    get = lambda c: _py(row[c]) if c in frame.columns else None  # noqa: E731
    return RiskResult(
        score=row["score"], points=get("points"), points_min=get("points_min"),
        points_max=get("points_max"), group=get("group"), possible_groups=row["possible_groups"],
        linear_predictor=get("linear_predictor"), linear_predictor_min=get("linear_predictor_min"),
        linear_predictor_max=get("linear_predictor_max"),
        contributions=MappingProxyType(contrib), details=MappingProxyType(details),
        notes=notes, patient_id=get("patient_id"),
    )


def _finish(frame: pd.DataFrame, cols: dict[str, Any], notes: _Notes, single: bool,
            score: str) -> pd.DataFrame | RiskResult:
    n = len(frame)
    text, code, tuples = notes.build()
    head: dict[str, Any] = {}
    if "patient_id" in frame.columns:
        head["patient_id"] = frame["patient_id"].to_numpy()
    head["score"] = pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[score])
    # copy=False: no block consolidation (a third of the run time on a million rows).
    out = pd.DataFrame({**head, **cols, "notes": text}, index=frame.index, copy=False)
    if single:
        return _to_result(out, tuples[int(code[0])])
    return out


def _check_score(score: Any) -> str:
    if score not in SCORES:
        raise ValueError(f"The 'score' parameter of risk_score must be one of {set(sorted(SCORES))}. "
                         f"Got {score!r} instead.")
    return score


# --------------------------------------------------------------------------- mastoprog score


class _MastoprogCases(NamedTuple):
    flags: dict[str, _Tri]  # age_gt_60, splenomegaly, alp_gt_uln
    sar: _Sar
    alp: _Alp


def _mastoprog_cases(frame: pd.DataFrame) -> _MastoprogCases:
    f = _mastoprog_spec()["factors"]
    age = f["age_gt_60"]
    flags = {
        "age_gt_60": _compare(frame[age.column].to_numpy(dtype=float), age.comparison, float(age.threshold)),
        "splenomegaly": _bool_tri(frame["splenomegaly"]),
    }
    alp = _alp_gt_uln(frame)
    flags["alp_gt_uln"] = alp.flag
    return _MastoprogCases(flags, _sar(frame), alp)


def _sar_feature_tris(sar: _Sar) -> dict[str, _Tri]:
    # sar_1: exactly one gene; sar_2plus: two or more (mutually exclusive indicators).
    return {"sar_1": _Tri((sar.lo == 1) & (sar.hi == 1), (sar.lo <= 1) & (sar.hi >= 1)),
            "sar_2plus": _Tri(sar.lo >= 2, sar.hi >= 2)}


def risk_features(data: FindingsSource) -> pd.DataFrame:
    """Model features of the mastoprog score: 0/1 floats, NaN when the findings cannot decide.

    Parameters
    ----------
    data : DataFrame, mapping or path
        Findings (see :func:`mastoprog.read_findings`); reads ``age`` (years), ``splenomegaly``,
        ``alp`` and ``alp_uln`` (U/L), ``srsf2``/``asxl1``/``runx1`` and/or ``sar_count``.

    Returns
    -------
    DataFrame
        Indexed like the input, float columns in ``MASTOPROG_FACTORS`` order: ``age_gt_60``
        (age > 60 y), ``splenomegaly``, ``alp_gt_uln`` (ALP > ULN; ``alp_uln`` defaults to a
        documented adult value when absent), ``sar_1`` (exactly one mutated S/A/R gene),
        ``sar_2plus`` (two or more); ``sar_1`` and ``sar_2plus`` are never both 1. The linear
        predictor of the survival model is ``risk_features(data) @ mastoprog_coefficients().log_hr``.

    Examples
    --------
    >>> risk_features({"age": 61, "splenomegaly": True, "alp": 90, "sar_count": 2}).iloc[0].tolist()
    [1.0, 1.0, 0.0, 0.0, 1.0]
    """
    frame, _ = ensure_findings(data, columns=_MASTOPROG_COLUMNS)
    cases = _mastoprog_cases(frame)
    tris = {**cases.flags, **_sar_feature_tris(cases.sar)}
    return pd.DataFrame({k: tris[k].as_float() for k in MASTOPROG_FACTORS}, index=frame.index)


def _feature_matrix(data: FindingsSource, missing: str) -> tuple[np.ndarray, pd.Index]:
    """Features as an (n, 5) array; unknowns NaN (``"nan"``), best case (``"best"``) or worst."""
    frame, _ = ensure_findings(data, columns=_MASTOPROG_COLUMNS)
    cases = _mastoprog_cases(frame)
    tris = {**cases.flags, **_sar_feature_tris(cases.sar)}
    if missing == "nan":
        cols = [tris[k].as_float() for k in MASTOPROG_FACTORS]
    else:
        # Every factor is harmful (checked at load), so best = fewest findings, worst = most;
        # for S/A/R the fewest / most genes, keeping the two indicators exclusive.
        count = cases.sar.lo if missing == "best" else cases.sar.hi
        side = "lo" if missing == "best" else "hi"
        cols = [getattr(tris[k], side).astype(float) for k in MASTOPROG_FACTORS[:3]]
        cols += [(count == 1).astype(float), (count >= 2).astype(float)]
    return np.column_stack(cols), frame.index


def mastoprog_coefficients() -> pd.DataFrame:
    """Log hazard ratios of the mastoprog composite score, with their source and evidence.

    Returns
    -------
    DataFrame
        Indexed by factor (``MASTOPROG_FACTORS`` order) with ``log_hr``, ``se_log_hr`` (from the
        95 % interval: ``(log(hr_high) - log(hr_low)) / (2 * 1.96)``), ``hr``, ``hr_low``,
        ``hr_high``, ``points``, ``source``, ``evidence``, ``assumption`` (True where the effect
        is not a published hazard ratio: splenomegaly, and the two-or-more-genes weight) and
        ``note``.

    Notes
    -----
    A composite of this package's own, not MAPS or MARS: age > 60 y and ALP > ULN take the MAPS
    *hybrid* model HRs [1]_ (adjusted for adverse mutations, which the score also counts); one
    S/A/R gene takes the MAPS hybrid adverse-mutation HR 2.6 (1.6-4.4), and two or more genes its
    square, because MARS [2]_ scores them as two points; splenomegaly HR 1.5 (1.0-2.25) is an
    assumption (no independent HR is published). The MAPS hybrid HRs are adjusted for advanced SM
    and platelets, which this score leaves out: they are meant for a model whose baseline hazard
    is per subtype (as ``survival.py``'s is), not for comparing patients across subtypes.

    References
    ----------
    .. [1] Pardanani A et al. Blood Adv 2018;2:2964-72. doi:10.1182/bloodadvances.2018026245
    .. [2] Jawhar M et al. J Clin Oncol 2019;37:2846-56. doi:10.1200/JCO.19.00640

    Examples
    --------
    >>> c = mastoprog_coefficients()
    >>> round(float(c.loc["age_gt_60", "hr"]), 2), bool(c.loc["splenomegaly", "assumption"])
    (2.2, True)
    """
    rows = []
    for f in _mastoprog_spec()["factors"].values():
        rows.append({
            "factor": f.name, "log_hr": math.log(f.hr),
            "se_log_hr": (math.log(f.hr_high) - math.log(f.hr_low)) / (2 * 1.96),
            "hr": f.hr, "hr_low": f.hr_low, "hr_high": f.hr_high, "points": f.points,
            "source": f.source, "evidence": f.evidence, "assumption": f.assumption, "note": f.note,
        })
    return pd.DataFrame(rows).set_index("factor")


# --------------------------------------------------------------------------- scoring engine


class _Points:
    """Accumulates points (best and worst case) and per-factor contribution columns."""

    def __init__(self, n: int):
        self.pmin = np.zeros(n, dtype=np.int64)
        self.pmax = np.zeros(n, dtype=np.int64)
        self.cols: dict[str, Any] = {}

    def tri(self, name: str, tri: _Tri, points: int) -> None:
        lo, hi = points * tri.lo.view(np.int8), points * tri.hi.view(np.int8)
        if points < 0:
            lo, hi = hi, lo
        self._add(name, lo, hi)

    def counts(self, name: str, factors: list[_Factor], sar: _Sar) -> None:
        lo, hi, _ = _count_points(factors, sar)
        self._add(name, lo, hi)

    def _add(self, name: str, lo: np.ndarray, hi: np.ndarray) -> None:
        self.pmin += lo
        self.pmax += hi
        self.cols[f"pts_{name}"] = _int_array(lo, lo == hi)

    def core(self) -> dict[str, Any]:
        return {"points": _int_array(self.pmin, self.pmin == self.pmax),
                "points_min": self.pmin.copy(), "points_max": self.pmax.copy()}


def _unknown_notes(notes: _Notes, items: Mapping[str, np.ndarray]) -> None:
    for name, unknown in items.items():
        notes.add(unknown, f"{name} unknown (range covers both cases)")


def _score_mastoprog(frame: pd.DataFrame) -> tuple[dict[str, Any], _Notes]:
    spec = _mastoprog_spec()
    f, groups = spec["factors"], spec["groups"]
    n = len(frame)
    cases = _mastoprog_cases(frame)
    pts = _Points(n)
    lmin, lmax = np.zeros(n), np.zeros(n)
    lp_cols: dict[str, np.ndarray] = {}
    for name, tri in cases.flags.items():
        pts.tri(name, tri, f[name].points)
        b = math.log(f[name].hr)  # >= 0 (checked at load): lo case = lowest LP
        lmin += b * tri.lo
        lmax += b * tri.hi
        lp_cols[f"lp_{name}"] = np.where(tri.known, b * tri.lo, np.nan)
    sar_factors = [f["sar_1"], f["sar_2plus"]]
    pts.counts("sar", sar_factors, cases.sar)
    lp_per_count = {c: sum(math.log(x.hr) for x in sar_factors if _OPS[x.comparison](c, float(x.threshold)))
                    for c in range(len(_SAR_GENES) + 1)}
    slo, shi = _range_over_counts(lp_per_count, cases.sar)
    lmin += slo
    lmax += shi
    lp_cols["lp_sar"] = np.where(slo == shi, slo, np.nan)
    determined = np.logical_and.reduce([t.known for t in cases.flags.values()]) & (slo == shi)

    label, possible, _ = _group_columns(groups, pts.pmin, pts.pmax)
    spleen = cases.flags["splenomegaly"]
    in_sm = _subtype_tri(frame["who_subtype"], spec["sm"])
    assumed = spleen.hi | (cases.sar.hi >= 2)
    cols = {
        **pts.core(), "group": label, "possible_groups": possible,
        "linear_predictor": np.where(determined, lmin, np.nan),
        "linear_predictor_min": lmin, "linear_predictor_max": lmax,
        **pts.cols, **lp_cols,
        "uses_assumption": assumed, "alp_uln_used": cases.alp.uln, "applicable": in_sm.as_boolean(),
    }
    notes = _Notes(n)
    notes.add(True, "mastoprog composite score (this package's own, not MAPS or MARS): groups "
                    f"{groups.describe()} points are unvalidated cut-points [assumption]")
    sf = f["splenomegaly"]
    notes.add(spleen.hi, f"splenomegaly effect is an assumption (HR {sf.hr:g}, 95 % range "
                         f"{sf.hr_low:g}-{sf.hr_high:g}, no independent HR is published)")
    s2 = f["sar_2plus"]
    notes.add(cases.sar.hi >= 2, f"the 2+ S/A/R genes weight (HR {s2.hr:g}) is derived from the MAPS "
                                 "adverse-mutation HR (squared, as MARS doubles the points), not published")
    _alp_notes(notes, cases.alp)
    _subtype_label_notes(notes, frame["who_subtype"], _Tri(~in_sm.hi, ~in_sm.hi),
                         "who_subtype '{label}' is not systemic mastocytosis: the score's factors were "
                         "described in SM (ISM and advanced SM), so read it with caution")
    _unknown_notes(notes, {**{k: ~t.known for k, t in cases.flags.items()},
                           "S/A/R gene count": cases.sar.lo != cases.sar.hi})
    return cols, notes


def _subtype_label_notes(notes: _Notes, subtype: pd.Series, outside: _Tri, text: str) -> None:
    """One note per subtype label found outside a score's population (``text`` gets the label)."""
    cat = subtype.array
    codes = np.asarray(cat.codes)
    for i, label in enumerate(cat.categories):
        mask = (codes == i) & outside.lo
        notes.add(mask, text.format(label=label))


def _score_mars(frame: pd.DataFrame) -> tuple[dict[str, Any], _Notes]:
    spec = _mars_spec()
    f, groups = spec["factors"], spec["groups"]
    n = len(frame)
    pts = _Points(n)
    for name in ("age_gt_60", "hb_lt_10", "plt_lt_100"):
        x = f[name]
        pts.tri(name, _compare(frame[x.column].to_numpy(dtype=float), x.comparison, float(x.threshold)),
                x.points)
    sar = _sar(frame)
    pts.counts("sar", [f["sar_1"], f["sar_2plus"]], sar)
    advanced = _subtype_tri(frame["who_subtype"], spec["advanced"])
    label, possible, sure = _group_columns(groups, pts.pmin, pts.pmax, allowed=advanced.hi)
    cols = {**pts.core(), "group": label, "possible_groups": possible, **pts.cols,
            "applicable": advanced.as_boolean()}
    notes = _Notes(n)
    notes.add(True, f"MARS (Jawhar 2019, J Clin Oncol), advanced SM only: groups {groups.describe()} "
                    "points [S]")
    members = ", ".join(sorted(spec["advanced"]))
    notes.add(~advanced.known, f"advanced status unknown (no who_subtype): MARS applies to advanced SM "
                               f"only ({members})")
    _subtype_label_notes(notes, frame["who_subtype"], _Tri(~advanced.hi, ~advanced.hi),
                         "MARS is for advanced SM only (" + members + "): who_subtype '{label}' is not "
                         "advanced SM, so no MARS group or median OS is given")
    for cohort, by_group in spec["medians"].items():
        med = np.array([by_group[g] for g in groups.labels] + [np.nan])
        idx = np.where(sure >= 0, sure, len(groups.labels))
        value = med[idx]
        text = np.array([("not reached" if np.isnan(v) else f"{v:g} y") for v in med[:-1]] + [None],
                        dtype=object)
        cols[f"median_os_{cohort}_y"] = value
        cols[f"median_os_{cohort}"] = text[idx]
        for i, g in enumerate(groups.labels):
            if np.isnan(by_group[g]):
                notes.add(sure == i, f"MARS {g} risk: median OS not reached in the {cohort} cohort")
    notes.add((sure < 0) & advanced.hi, "MARS group undetermined: no median OS given")
    _unknown_notes(notes, {name: cols[f"pts_{name}"].isna() for name in ("age_gt_60", "hb_lt_10",
                                                                          "plt_lt_100")}
                   | {"S/A/R gene count": sar.lo != sar.hi})
    return cols, notes


def _score_maps(frame: pd.DataFrame, raw: pd.DataFrame) -> tuple[dict[str, Any], _Notes]:
    spec = _maps_spec()
    f = spec["factors"]
    n = len(frame)
    pts = _Points(n)
    subtype = frame["who_subtype"]
    advanced = _subtype_tri(subtype, spec["advanced"])
    pts.tri("advanced_sm", advanced, f["advanced_sm"].points)
    for name in ("age_gt_60", "plt_lt_150"):
        x = f[name]
        pts.tri(name, _compare(frame[x.column].to_numpy(dtype=float), x.comparison, float(x.threshold)),
                x.points)
    alp = _alp_gt_uln(frame)
    pts.tri("alp_gt_uln", alp.flag, f["alp_gt_uln"].points)
    genes = _sar(frame).genes
    nras_values, nras_given = _extra_column(raw, "nras", like="asxl1")
    nras = _bool_tri(nras_values)
    adverse = _Tri(genes["asxl1"].lo | genes["runx1"].lo | nras.lo,
                   genes["asxl1"].hi | genes["runx1"].hi | nras.hi)
    pts.tri("adverse_mutation", adverse, f["adverse_mutation"].points)
    in_sm = _subtype_tri(subtype, spec["advanced"] | spec["non_advanced"])
    cols = {**pts.core(), "group": np.full(n, None, dtype=object),
            "possible_groups": _constant_objects(n, ()),
            **pts.cols, "applicable": in_sm.as_boolean(), "alp_uln_used": alp.uln}
    notes = _Notes(n)
    notes.add(True, f"MAPS hybrid points (Pardanani 2018, Blood Adv) [S]. {spec['groups_note']}")
    nras_open = ~nras.known & ~adverse.lo
    where = "its 'nras' column is empty here" if nras_given else "no 'nras' column was given"
    notes.add(nras_open, f"NRAS is not a canonical column and {where}: the adverse-mutation point "
                         "(ASXL1/RUNX1/NRAS, SRSF2 does not count) stays open unless ASXL1 or RUNX1 "
                         "is mutated")
    notes.add(~advanced.known, "who_subtype unknown: the advanced-SM points (2) stay open")
    members = ", ".join(sorted(spec["advanced"] | spec["non_advanced"]))
    _subtype_label_notes(notes, subtype, _Tri(~in_sm.hi, ~in_sm.hi),
                         "MAPS was developed in systemic mastocytosis (" + members + "): who_subtype "
                         "'{label}' is outside it")
    _alp_notes(notes, alp)
    _unknown_notes(notes, {name: cols[f"pts_{name}"].isna() for name in ("age_gt_60", "plt_lt_150",
                                                                          "alp_gt_uln")})
    return cols, notes


def _score_ipsm(frame: pd.DataFrame, raw: pd.DataFrame) -> tuple[dict[str, Any], _Notes]:
    spec = _ipsm_spec()
    n = len(frame)
    subtype = frame["who_subtype"]
    sets = {"non-advanced": _subtype_tri(subtype, spec["non_advanced"]),
            "advanced": _subtype_tri(subtype, spec["advanced"])}
    unknown_subtype = ~sets["advanced"].known
    model = np.where(sets["advanced"].lo, "advanced",
                     np.where(sets["non-advanced"].lo, "non-advanced",
                              np.where(unknown_subtype, "unknown", "not applicable"))).astype(object)
    leuk, leuk_given = _extra_column(raw, "leukocytes", like="anc")
    cols: dict[str, Any] = {
        "points": _int_array(np.zeros(n, np.int64), np.zeros(n, bool)),
        "points_min": _int_array(np.zeros(n, np.int64), np.zeros(n, bool)),
        "points_max": _int_array(np.zeros(n, np.int64), np.zeros(n, bool)),
        "group": np.full(n, None, dtype=object),
        "possible_groups": _constant_objects(n, ()),
        "ipsm_model": model,
    }
    for name, factors in spec["models"].items():
        applies = sets[name].hi
        prefix = "flag_adv_" if name == "advanced" else "flag_nonadv_"
        for x in factors:
            if x.column == "leukocytes":
                tri = _compare(leuk, x.comparison, float(x.threshold))
            elif x.column == "skin_lesions":
                tri = _bool_tri(frame[x.column], want=bool(float(x.threshold)))
            else:
                tri = _compare(frame[x.column].to_numpy(dtype=float), x.comparison, float(x.threshold))
            cols[prefix + x.name] = pd.arrays.BooleanArray(tri.lo & applies, ~tri.known | ~applies)
    notes = _Notes(n)
    notes.add(True, f"IPSM (Sperr 2019, Lancet Haematol) factor flags [S]. {spec['unconfirmed_note']}")
    notes.add(unknown_subtype, "who_subtype unknown: flags of both the non-advanced and the advanced "
                               "IPSM are shown")
    if not leuk_given:
        notes.add(sets["advanced"].hi, "leukocytes is not a canonical column: give an extra 'leukocytes' "
                                       "column (10^9/L); the leukocyte flag is left unknown")
    outside = ~(sets["advanced"].hi | sets["non-advanced"].hi)
    _subtype_label_notes(notes, subtype, _Tri(outside, outside),
                         "IPSM covers systemic mastocytosis only: who_subtype '{label}' is outside it, "
                         "so no flags are given")
    return cols, notes


_COLUMNS = {"mastoprog": _MASTOPROG_SCORE_COLUMNS, "mars": _MARS_COLUMNS, "maps": _MAPS_COLUMNS,
            "ipsm": _IPSM_COLUMNS}


def risk_score(data: FindingsSource, score: str = "mastoprog") -> pd.DataFrame | RiskResult:
    """Risk score of every patient, with contributions, missing-data ranges and notes.

    Parameters
    ----------
    data : DataFrame, mapping or path
        Findings (see :func:`mastoprog.read_findings`): ``age`` (years), ``splenomegaly``, ``alp`` and
        ``alp_uln`` (U/L), ``hemoglobin`` (g/dL), ``platelets`` (10^9/L), ``tryptase`` (ng/mL),
        ``skin_lesions``, ``srsf2``/``asxl1``/``runx1`` and/or ``sar_count``, ``who_subtype``. MAPS
        also reads an optional extra ``nras`` column (true/false), IPSM an optional extra
        ``leukocytes`` column (10^9/L); neither is canonical.
    score : {"mastoprog", "mars", "maps", "ipsm"}
        ``"mastoprog"``: this package's own composite (not MAPS or MARS): age > 60 y 1 point,
        splenomegaly 1, ALP > ULN 1, S/A/R one gene 1 / two or more 2; groups low 0 /
        intermediate 1-2 / high 3-5 (our unvalidated cut-points) and a linear predictor (sum of
        log HRs, see :func:`mastoprog_coefficients`). ``"mars"``: MARS points, groups and the
        published median OS (training and validation cohorts), advanced SM only. ``"maps"``: MAPS
        hybrid points, no groups (unconfirmed). ``"ipsm"``: IPSM factor flags, no points or groups
        (unconfirmed).

    Returns
    -------
    DataFrame or RiskResult
        Indexed like the input: ``patient_id`` (when given), ``score``, ``points`` (nullable int;
        <NA> when the unknown findings could change it), ``points_min``, ``points_max``, ``group``
        (a label when the range cannot change it, ``"indeterminate"`` when it can, None when the
        score has no confirmed groups or does not apply), ``possible_groups`` (tuple),
        ``linear_predictor`` and ``_min``/``_max`` (mastoprog only), per-factor ``pts_*`` (and
        ``lp_*``) contributions, score-specific columns (``applicable``, ``alp_uln_used``,
        ``uses_assumption``, ``median_os_*``, IPSM ``flag_*`` and ``ipsm_model``) and ``notes``
        (defaults used, assumptions, applicability, unconfirmed parts). One mapping in gives a
        :class:`RiskResult`.

    Raises
    ------
    ValueError
        For an unknown ``score``.
    FindingsError
        For impossible findings (see :func:`mastoprog.read_findings`).

    References
    ----------
    .. [1] Pardanani A et al. Blood Adv 2018;2:2964-72. doi:10.1182/bloodadvances.2018026245 (MAPS).
    .. [2] Jawhar M et al. J Clin Oncol 2019;37:2846-56. doi:10.1200/JCO.19.00640 (MARS).
    .. [3] Sperr WR et al. Lancet Haematol 2019;6:e638-49. doi:10.1016/S2352-3026(19)30166-8 (IPSM).

    Examples
    --------
    >>> r = risk_score({"age": 65, "hemoglobin": 9, "platelets": 80, "asxl1": True,
    ...                 "runx1": True, "srsf2": False, "who_subtype": "ASM"}, score="mars")
    >>> r.points, r.group, r.details["median_os_training_y"]
    (5, 'high', 1.9)
    >>> r = risk_score({"age": 70, "splenomegaly": True, "alp": 150})
    >>> r.points, r.points_min, r.points_max, r.possible_groups
    (None, 3, 5, ('high',))
    >>> r.group
    'high'
    """
    score = _check_score(score)
    raw, single = _raw_and_single(data)
    frame, _ = ensure_findings(raw, columns=_COLUMNS[score])
    if score == "mastoprog":
        cols, notes = _score_mastoprog(frame)
    elif score == "mars":
        cols, notes = _score_mars(frame)
    elif score == "maps":
        cols, notes = _score_maps(frame, raw)
    else:
        cols, notes = _score_ipsm(frame, raw)
    return _finish(frame, cols, notes, single, score)
