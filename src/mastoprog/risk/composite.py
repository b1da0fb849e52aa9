"""The mastoprog composite score: this package's own, **not MAPS and not MARS**.

It scores the four factors the seed review names as prognostic (age, splenomegaly, alkaline
phosphatase, number of mutated S/A/R genes): age > 60 y 1 point, splenomegaly 1, ALP > ULN 1, one
S/A/R gene 1, two or more 2 (0-5 points); groups low 0 / intermediate 1-2 / high 3-5 are our own,
unvalidated cut-points. Its linear predictor (sum of log hazard ratios) feeds the survival model:
age and ALP from the MAPS hybrid model, S/A/R from the MAPS adverse-mutation HR weighted as MARS
weights genes, and an explicitly *assumed* splenomegaly effect. Every record is a row of
``data/risk_mastoprog.csv``.

A group compares patients *within* a subtype: the subtype sets the baseline survival (Lim 2009:
ISM like the general population, ASM median 41 months), so every row carries ``group_context``,
the group read with its subtype.

References
----------
.. [1] Pardanani A et al. Blood Adv 2018;2:2964-72. doi:10.1182/bloodadvances.2018026245 (MAPS).
.. [2] Jawhar M et al. J Clin Oncol 2019;37:2846-56. doi:10.1200/JCO.19.00640 (MARS).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from .._logic import Tri, in_categories
from .._resources import load_table
from ..findings import FindingsSource, ensure_findings
from ._common import Context, Notes, Sar, alp_notes, factor_tri, group_columns, score_factors
from ._tables import bad_file, score_table

__all__ = ["COLUMNS", "MASTOPROG_FACTORS", "mastoprog_coefficients", "risk_features", "score_mastoprog"]

#: Model features of the mastoprog score, in the order of ``risk_features`` columns.
MASTOPROG_FACTORS: tuple[str, ...] = ("age_gt_60", "splenomegaly", "alp_gt_uln", "sar_1", "sar_2plus")
_FEATURE_COLUMNS = ("age", "splenomegaly", "alp", "alp_uln", "srsf2", "asxl1", "runx1", "sar_count")
#: Canonical columns the composite score reads.
COLUMNS: tuple[str, ...] = (*_FEATURE_COLUMNS, "who_subtype")


@cache
def _checked() -> None:
    table = score_table("mastoprog")
    if tuple(table.factors) != MASTOPROG_FACTORS:
        raise bad_file(table.file, f"factor rows must be {list(MASTOPROG_FACTORS)} in order; "
                                   f"got {list(table.factors)}")
    for f in table.factors.values():
        # best / worst cases (and the monotone point/LP ranges) assume every factor is harmful.
        if not (f.hr >= 1 and f.points >= 0):
            raise bad_file(table.file, f"factor {f.name!r}: expected hr >= 1 and points >= 0")


def _sar_feature_tris(sar: Sar) -> dict[str, Tri]:
    # sar_1: exactly one gene; sar_2plus: two or more (mutually exclusive indicators).
    return {"sar_1": Tri((sar.lo == 1) & (sar.hi == 1), (sar.lo <= 1) & (sar.hi >= 1)),
            "sar_2plus": Tri(sar.lo >= 2, sar.hi >= 2)}


def _feature_tris(frame: pd.DataFrame) -> tuple[dict[str, Tri], Context]:
    _checked()
    table = score_table("mastoprog")
    ctx = Context(frame)
    tris = {name: factor_tri(table.factor(name), ctx) for name in MASTOPROG_FACTORS[:3]}
    return {**tris, **_sar_feature_tris(ctx.sar)}, ctx


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
    frame, _ = ensure_findings(data, columns=_FEATURE_COLUMNS)
    tris, _ = _feature_tris(frame)
    return pd.DataFrame({k: tris[k].as_float() for k in MASTOPROG_FACTORS}, index=frame.index)


def feature_matrix(data: FindingsSource, missing: str) -> tuple[np.ndarray, pd.Index]:
    """Features as an (n, 5) array; unknowns NaN (``"nan"``), best case (``"best"``) or worst."""
    frame, _ = ensure_findings(data, columns=_FEATURE_COLUMNS)
    tris, ctx = _feature_tris(frame)
    if missing == "nan":
        return np.column_stack([tris[k].as_float() for k in MASTOPROG_FACTORS]), frame.index
    # Every factor is harmful (checked at load), so best = fewest findings, worst = most;
    # for S/A/R the fewest / most genes, keeping the two indicators exclusive.
    count = ctx.sar.lo if missing == "best" else ctx.sar.hi
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
    is per subtype (as the survival model's is), not for comparing patients across subtypes.

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
    _checked()
    rows = [{
        "factor": f.name, "log_hr": math.log(f.hr),
        "se_log_hr": (math.log(f.hr_high) - math.log(f.hr_low)) / (2 * 1.96),
        "hr": f.hr, "hr_low": f.hr_low, "hr_high": f.hr_high, "points": f.points,
        "source": f.source, "evidence": f.evidence, "assumption": f.assumption, "note": f.note,
    } for f in score_table("mastoprog").factors.values()]
    return pd.DataFrame(rows).set_index("factor")


@cache
def _subtype_notes() -> dict[str, str]:
    table = load_table("subtypes.csv")
    return {str(lab): str(note) for lab, note in zip(table["label"], table["note"], strict=True)}


def _context_text(group: Any, subtype: str | None) -> str:
    if group is None:
        return ""
    if subtype is None:
        return (f"{group} composite risk; who_subtype not given: the subtype sets the baseline "
                "survival and outweighs the group")
    note = _subtype_notes().get(subtype, "").split(";")[0]
    return (f"{group} composite risk within {subtype} ({note}): it ranks {subtype} patients against "
            "each other; the subtype sets the baseline survival")


def _group_context(label: np.ndarray, subtype: pd.Series) -> np.ndarray:
    """``group_context``: the group read with its subtype, one text per distinct pair."""
    cat = subtype.array
    sub_codes = np.asarray(cat.codes).astype(np.int64) + 1
    group_codes, groups = pd.factorize(pd.Series(label, dtype=object), use_na_sentinel=False)
    subs = [None, *cat.categories]
    table = np.array([_context_text(g, s) for g in groups for s in subs], dtype=object)
    return table[group_codes.astype(np.int64) * len(subs) + sub_codes]


def score_mastoprog(frame: pd.DataFrame, data: Any = None) -> tuple[dict[str, Any], Notes]:
    """Columns and notes of the composite for a validated frame (see :func:`mastoprog.risk_score`)."""
    _checked()
    table = score_table("mastoprog")
    ctx = Context(frame)
    pts, tris = score_factors(table, ctx, with_lp=True)
    assert table.groups is not None  # the composite's file has group rows (read_groups checks them)
    label, possible, _ = group_columns(table.groups, pts.pmin, pts.pmax)
    in_sm = in_categories(frame["who_subtype"], table.sets["sm"])
    spleen = tris["splenomegaly"]
    determined = np.logical_and.reduce(pts.known)
    cols = {
        **pts.core(), "group": label, "possible_groups": possible,
        "group_context": _group_context(label, frame["who_subtype"]),
        "linear_predictor": np.where(determined, pts.lmin, np.nan),
        "linear_predictor_min": pts.lmin, "linear_predictor_max": pts.lmax,
        **pts.cols, **pts.lp_cols,
        "uses_assumption": spleen.hi | (ctx.sar.hi >= 2), "alp_uln_used": ctx.alp.uln,
        "applicable": in_sm.as_boolean(),
    }
    return cols, _notes(frame, table, tris, ctx, in_sm)


def _notes(frame: pd.DataFrame, table: Any, tris: dict[str, Tri], ctx: Context, in_sm: Tri) -> Notes:
    notes = Notes(len(frame))
    notes.add(True, "mastoprog composite score (this package's own, not MAPS or MARS): groups "
                    f"{table.groups.describe()} points are unvalidated cut-points [assumption]")
    sf, s2 = table.factor("splenomegaly"), table.factor("sar_2plus")
    notes.add(tris["splenomegaly"].hi, f"splenomegaly effect is an assumption (HR {sf.hr:g}, 95 % range "
                                       f"{sf.hr_low:g}-{sf.hr_high:g}, no independent HR is published)")
    notes.add(ctx.sar.hi >= 2, f"the 2+ S/A/R genes weight (HR {s2.hr:g}) is derived from the MAPS "
                               "adverse-mutation HR (squared, as MARS doubles the points), not published")
    alp_notes(notes, ctx.alp)
    notes.outside(frame["who_subtype"], ~in_sm.hi,
                  "who_subtype '{label}' is not systemic mastocytosis: the score's factors were "
                  "described in SM (ISM and advanced SM), so read it with caution")
    notes.unknown({**{k: ~t.known for k, t in tris.items()}, "S/A/R gene count": ctx.sar.lo != ctx.sar.hi})
    return notes
