"""Patients as the survival model sees them: validated arrays, candidate subtypes, lp ranges.

:func:`prepare` turns findings into the per-patient arrays every prediction uses (keys listed in
:class:`Patients`). Missing findings become ranges: an undecided subtype gives several candidate
subtypes, an unknown binary risk feature a range of the linear predictor, unknown sex a range of
the background (see the ``mastoprog.survival`` module docstring for the policy).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

import numpy as np
import pandas as pd

from ..classification import COLUMNS as CLASSIFIER_COLUMNS
from ..classification import PROGNOSTIC_GROUP, classify_subtypes, lymphoid_ahn, with_lymphoid_group
from ..exceptions import CalibrationError, FindingsError, FindingsWarning
from ..findings import already_validated, ensure_findings, note, to_frame
from ..lifetables import LifeTable
from ._design import design_features  # fitting helper: terms of fitted models
from ._predictor import feature_patterns as _feature_patterns
from ._predictor import lp_ranges as _lp_ranges
from ._predictor import model_features
from ._state import PROGNOSTIC_SUBTYPES, ModelArrays, ModelState

# Findings the classifier reads that could contradict a given ``who_subtype``. Age is one of them
# (WHO/ICC child rule: age < 18 with skin lesions and no marrow examination is CM), but it never
# decides a classification on its own (that rule also needs skin_lesions and bm_examined), so a
# frame whose only classifier column is age (e.g. a cohort of survival and risk columns) skips
# the classifier: it could only answer "indeterminate", which never contradicts who_subtype.
_DIAGNOSTIC_ALONE = tuple(c for c in CLASSIFIER_COLUMNS if c != "age")


class Patients(TypedDict):
    """Per-patient arrays from :func:`prepare` (n patients, 7 prognostic subtypes, F factors)."""

    age: np.ndarray  # (n,) years at diagnosis
    sex: np.ndarray  # (n,) "F"/"M" (unknown sex stored as "F", see sex_unknown)
    sex_unknown: np.ndarray  # (n,) bool
    year: np.ndarray  # (n,) calendar year of diagnosis
    cand: np.ndarray  # (n, 6) bool: possible prognostic subtypes
    X: np.ndarray  # (n, F) risk features 0/1, NaN = unknown
    lp_mid: np.ndarray  # (n, 6) central linear predictor per candidate subtype
    lp_lo: np.ndarray  # (n, 6) smallest over the unknown features
    lp_hi: np.ndarray  # (n, 6) largest over the unknown features
    envelope: np.ndarray  # (n,) bool: the curve is a range
    labels: pd.Index  # patient_id where given, else the row index
    single: bool  # one patient given as a mapping
    row_notes: np.ndarray  # (n,) str: per-patient note from the subtype check ("" when none)
    n: int
    # (pattern, first, lp_lo, lp_hi) of every parameter draw, filled on first use by the model
    draw_lp: NotRequired[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


def _features(full: pd.DataFrame, factors: list[str], state: ModelState) -> np.ndarray:
    """(n, F) feature values: a fitted model's formula terms (fitting helper), else the predictor's.

    ``full`` is the canonical frame validated in :func:`prepare` (inside its
    :func:`~mastoprog.findings.already_validated` block: not parsed again here)."""
    design = (state.fit or {}).get("design")
    if design:
        return design_features(full, factors, design)
    return model_features(full, factors)


def prepare(
    data: Any,
    *,
    arr: ModelArrays,
    state: ModelState,
    factors: list[str],
    life_table: LifeTable,
    edition: str,
    year: float | None = None,
    require_sex: bool = False,
) -> Patients:
    """Validated per-patient arrays: background inputs, candidate subtypes, features.

    Unknown sex is allowed unless ``require_sex``: the background is then the envelope over
    F and M (central curve: their mean), like any other missing finding.
    """
    raw = to_frame(data)
    if raw.attrs:
        # pandas deep-copies ``attrs`` on every column access (a simulated cohort carries its
        # provenance there): work on a shallow copy without them; the caller's frame is untouched.
        raw = raw.copy(deep=False)
        raw.attrs = {}
    single = isinstance(data, Mapping | pd.Series)  # one patient given as a mapping or a row
    full, _ = ensure_findings(raw)  # every canonical column present is validated (and warned) here
    # The classifier and the features are public functions that validate their input: given the
    # frame validated here, they select its columns instead of parsing them a second time.
    with already_validated(full):
        return _prepare_validated(raw, full, arr=arr, state=state, factors=factors,
                                  life_table=life_table, edition=edition, year=year,
                                  require_sex=require_sex, single=single)


def _prepare_validated(raw: pd.DataFrame, full: pd.DataFrame, *, arr: ModelArrays, state: ModelState,
                       factors: list[str], life_table: LifeTable, edition: str, year: float | None,
                       require_sex: bool, single: bool) -> Patients:
    """:func:`prepare` after the validation: ``raw`` as given (its columns and ``diagnosis_year``
    cells), ``full`` its canonical frame."""
    frame = full[[c for c in ("patient_id", "age", "sex", "who_subtype") if c in full.columns]]
    n = len(frame)
    age = frame["age"].to_numpy(float)
    sex = frame["sex"]
    problems = []
    if np.isnan(age).any():
        problems.append(
            f"column 'age': missing in row(s) {list(frame.index[np.isnan(age)][:5])}; "
            "expected the age at diagnosis in years (needed for population mortality)"
        )
    sex_unknown = sex.isna().to_numpy()
    if require_sex and sex_unknown.any():
        problems.append(
            f"column 'sex': missing in row(s) {list(frame.index[sex_unknown][:5])}; "
            "expected 'F' or 'M' (needed for population mortality)"
        )
    if problems:
        raise FindingsError("; ".join(problems))
    if year is not None and (isinstance(year, bool | np.bool_)
                             or not isinstance(year, int | float | np.integer | np.floating)
                             or not np.isfinite(year) or year < life_table.first_year):
        raise ValueError(f"The 'year' parameter must be a calendar year >= {life_table.first_year} "
                         f"(the life table's first year). Got {year!r} instead.")
    default_year = float(life_table.last_year if year is None else year)
    if "diagnosis_year" in raw.columns:
        given = raw["diagnosis_year"]
        y = pd.to_numeric(given, errors="coerce").to_numpy(float)
        # Empty cells take the default year; text or years before the life table are refused
        # (the life table would silently clamp them to its first year).
        blank = given.isna().to_numpy()
        if not pd.api.types.is_numeric_dtype(given):  # text cells: blanks too (numbers need no pass)
            blank |= given.astype(str).str.strip().isin(["", "nan", "NaN"]).to_numpy()
        with np.errstate(invalid="ignore"):
            bad = (np.isnan(y) & ~blank) | np.isinf(y) | (y < life_table.first_year)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            got = given.iloc[i]
            got = got.item() if isinstance(got, np.generic) else got  # numpy scalars print plainly
            raise FindingsError(
                f"{int(bad.sum())} invalid diagnosis_year value(s); first: row {frame.index[i]!r}, "
                f"column 'diagnosis_year': got {got!r}; expected a calendar year >= "
                f"{life_table.first_year} (empty = the default year)"
            )
        y = np.where(np.isnan(y), default_year, y)
    else:
        y = np.full(n, default_year)
    if "patient_id" in frame.columns:
        pid = frame["patient_id"]
        labels = pd.Index(np.where(pid.isna(), frame.index.astype(object), pid.astype(object)))
    else:
        labels = frame.index
    cand, row_notes = candidates(full, frame, edition, labels, arr.usable, state,
                                 given_columns=raw.columns)
    X = _features(full, factors, state)
    # Linear predictors once per distinct feature pattern (a cohort has a few thousand), gathered.
    pattern, first = feature_patterns(X, factors)
    per_pattern = lp_ranges(X[first], arr.beta, arr.center, factors, arr.weights)
    lp_mid, lp_lo, lp_hi = (v[pattern] for v in per_pattern)
    # A feature range matters only for candidate subtypes that have an excess hazard.
    spread = (lp_hi - lp_lo > 1e-12) & cand & arr.excess[None, :]
    envelope = (cand.sum(axis=1) > 1) | spread.any(axis=1) | sex_unknown
    return {
        "age": age,
        "sex": np.where(sex_unknown, "F", np.asarray(sex.astype(object))),
        "sex_unknown": sex_unknown,
        "year": y,
        "cand": cand,
        "X": X,
        "lp_mid": lp_mid,
        "lp_lo": lp_lo,
        "lp_hi": lp_hi,
        "envelope": envelope,
        "labels": labels,
        "single": single,
        "row_notes": row_notes,
        "n": n,
    }


def candidates(
    raw: pd.DataFrame,
    frame: pd.DataFrame,
    edition: str,
    labels: pd.Index,
    usable: np.ndarray,
    state: ModelState,
    given_columns: pd.Index | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(n, 6) bool matrix of possible prognostic subtypes per patient, and a note per patient.

    ``raw``: the findings (canonical or as given); ``given_columns``: the columns the caller gave
    (default ``raw.columns``), which decide whether findings could contradict a given
    ``who_subtype``. Vectorised over distinct label patterns (a cohort has only a handful), not
    over patients.
    """
    given_columns = raw.columns if given_columns is None else given_columns
    group = dict(PROGNOSTIC_GROUP)
    n = len(frame)
    who = frame["who_subtype"].astype(object)
    # [evidence, issue 10] SM-ALN: a WHO SM-AHN whose AHN is lymphoid takes the SM-ALN group.
    lymphoid = lymphoid_ahn(raw)
    who = pd.Series(with_lymphoid_group(who.to_numpy(object), lymphoid), index=who.index)
    given = who.notna().to_numpy()
    # Classify when a subtype is missing, or when the input carries findings that could
    # contradict a given who_subtype (then warn and keep who_subtype).
    diagnostic = any(c in given_columns for c in _DIAGNOSTIC_ALONE)
    # One tuple of possible labels per patient: (who_subtype,) when given, else the
    # classifier's subtype, or its candidates when it is undecided.
    per_row = np.empty(n, dtype=object)
    if (~given).any() or diagnostic:
        classified = classify_subtypes(raw, edition=edition)  # the subtypes, not the report
        sub = with_lymphoid_group(classified["subtype"].astype(object).to_numpy(), lymphoid)  # [evidence]
        decided = sub != "indeterminate"
        per_row[:] = with_lymphoid_group(classified["candidates"].to_numpy(object), lymphoid)  # [evidence]
        per_row[decided] = _as_singletons(sub[decided])
        g_who = who.map(group).to_numpy(object)
        g_cls = pd.Series(sub).map(group).to_numpy(object)
        clash = given & decided & (g_who != g_cls)
        if clash.any():
            first = np.flatnonzero(clash)[:5]
            what = "; ".join(
                f"patient {labels[i]!r}: who_subtype {who.iloc[i]!r}, findings {sub[i]!r}" for i in first
            )
            note(  # a warning, or data inside findings.collect_notes() (the web page)
                f"who_subtype disagrees with the findings ({edition}) for {int(clash.sum())} "
                f"patient(s), using who_subtype: {what}",
                FindingsWarning,
                stacklevel=5,
            )
    per_row[given] = _as_singletons(who[given].to_numpy(object))
    codes, patterns = pd.factorize(pd.Series(per_row, dtype=object))
    index = {s: k for k, s in enumerate(PROGNOSTIC_SUBTYPES)}
    table = np.zeros((len(patterns), len(PROGNOSTIC_SUBTYPES)), bool)
    notes = np.full(len(patterns), "", dtype=object)
    errors = []
    for c, labs in enumerate(patterns):  # distinct patterns only
        groups = {group.get(lab, lab) for lab in labs}
        ok = {g for g in groups if g in index and usable[index[g]]}
        rows = np.flatnonzero(codes == c)
        if not ok:
            errors.append((labels[rows[0]], tuple(sorted(groups)), rows.size))
            continue
        dropped = groups - ok
        if dropped:
            notes[c] = (f"candidate subtype(s) {sorted(dropped)} have no calibrated curve and are "
                        "left out of the envelope")
        table[c, [index[g] for g in ok]] = True
    if errors:
        row, first_groups, _ = errors[0]
        total = sum(e[2] for e in errors)
        what = ", ".join(first_groups) if first_groups else "unknown"
        raise CalibrationError(
            f"{total} patient(s) have no calibrated survival curve; first: patient {row!r}, "
            f"subtype {what}: {_no_curve_reason(first_groups, state)}"
        )
    return table[codes], notes[codes]


def _no_curve_reason(groups: tuple[str, ...], state: ModelState) -> str:
    if "MCS" in groups:
        p = state.subtypes.get("MCS")
        default = "no confirmed survival target exists for mast-cell sarcoma (MCS)"
        return str(p.info.get("reason", default)) if p is not None else default
    if "none" in groups:
        return "the findings give no mastocytosis ('none'); the model covers mastocytosis only"
    fitted = state.subtypes.get(groups[0]) if groups else None  # fitting helper: an estimation-only
    if fitted is not None and fitted.info.get("reason"):  # fit names the terms it cannot compute
        return str(fitted.info["reason"])
    return "no calibrated parameters for this subtype in this model"


def _as_singletons(labels: np.ndarray) -> np.ndarray:
    """``(label,)`` per row, built once per distinct label rather than once per row."""
    codes, uniques = pd.factorize(pd.Series(labels, dtype=object))
    singles = np.empty(len(uniques), dtype=object)
    singles[:] = [(u,) for u in uniques]
    return singles[codes]


def lp_ranges(
    X: np.ndarray, beta: np.ndarray, center: np.ndarray, factors: list[str], weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear predictors per prognostic subtype: central, minimum and maximum over unknown features
    (:func:`._predictor.lp_ranges`: per-subtype effect weights, continuous age)."""
    return _lp_ranges(X, beta, center, weights, factors)


def feature_patterns(X: np.ndarray, factors: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, first)``: each patient's distinct feature pattern (:func:`._predictor.feature_patterns`)."""
    return _feature_patterns(X, factors)
