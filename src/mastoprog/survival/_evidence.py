"""The evidence registry: every published survival figure mastoprog holds, one row each.

``data/evidence.csv`` lists each figure with its population (subtype and classification edition,
score group, treatment, era, cohort), its measure (``median_os`` in months, ``survival_at`` or
``relative_survival_at`` a probability at ``time_months``, ``hazard_ratio``), value with its
interval or the numbers behind it (``n_patients``, ``events``), source, location in the source and
evidence level. :func:`load_evidence` validates it at load; :func:`published_interval` gives the
95 % uncertainty a model value is judged against (see ``fidelity``).

References
----------
Collett D. Modelling Survival Data in Medical Research, 3rd ed., 2015, section 2.3 (interval of a
median from the number of deaths; binomial interval of a survival probability).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from .._resources import load_table
from ..exceptions import ModelFileError

__all__ = [
    "MEASURES",
    "calibration_summary",
    "fidelity_markdown",
    "load_evidence",
    "published_interval",
    "target_label",
]

#: Measures a registry row may have, with the unit its ``value`` is in.
MEASURES: dict[str, str] = {
    "median_os": "months",
    "survival_at": "probability",
    "relative_survival_at": "probability",
    "hazard_ratio": "HR",
}
_COLUMNS = (
    "figure_id", "subtype", "edition", "score", "score_group", "treatment", "era", "cohort", "measure",
    "time_months", "value", "unit", "ci_low", "ci_high", "n_patients", "events", "source", "location",
    "evidence", "note",
)
_Z = 1.959963984540054


@cache
def _evidence_cached() -> pd.DataFrame:
    table = load_table("evidence.csv")
    where = "evidence.csv"
    missing = [c for c in _COLUMNS if c not in table.columns]
    if missing:
        raise ModelFileError(f"{where}: missing column(s) {missing}")
    problems = []
    dup = table["figure_id"][table["figure_id"].duplicated()]
    if len(dup):
        problems.append(f"column 'figure_id': duplicated {sorted(set(dup))}")
    for i, r in table.iterrows():
        problems += _row_problems(int(i) + 2, r)
    if problems:
        raise ModelFileError(f"{where}: " + "; ".join(problems))
    return table.set_index("figure_id", drop=False)


def _row_problems(line: int, r: pd.Series) -> list[str]:
    measure = r["measure"]
    if measure not in MEASURES:
        return [f"line {line}, column 'measure': got {measure!r}; expected one of {list(MEASURES)}"]
    problems = []
    if r["unit"] != MEASURES[measure]:
        problems.append(f"line {line}, column 'unit': got {r['unit']!r}; expected {MEASURES[measure]!r}")
    v, lo, hi = (float(r[c]) for c in ("value", "ci_low", "ci_high"))
    if np.isnan(v) and "not reached" not in str(r["note"]):
        problems.append(f"line {line}, column 'value': empty; only a median 'not reached' may be empty")
    if measure in ("survival_at", "relative_survival_at"):
        if not (0 < v <= 1):
            problems.append(f"line {line}, column 'value': got {v!r}; expected a probability in (0, 1]")
        if not float(r["time_months"]) > 0:
            problems.append(f"line {line}, column 'time_months': got {r['time_months']!r}; expected > 0")
    elif not (np.isnan(v) or v > 0):
        problems.append(f"line {line}, column 'value': got {v!r}; expected > 0 {MEASURES[measure]}")
    if not np.isnan(lo) and not (lo <= v <= hi):
        problems.append(f"line {line}, columns 'ci_low'/'ci_high': {lo!r}-{hi!r} does not contain {v!r}")
    return problems


def load_evidence() -> pd.DataFrame:
    """The evidence registry, validated (a copy; indexed by ``figure_id``).

    Returns
    -------
    DataFrame
        One row per published figure; columns as described in the module docstring.

    Raises
    ------
    ModelFileError
        Naming the line and column of any row that breaks the rules (unknown measure, wrong unit,
        a probability outside (0, 1], an interval that does not contain its value, a duplicated id).

    Examples
    --------
    >>> ev = load_evidence()
    >>> float(ev.loc["lim2009_asm_median", "value"]), ev.loc["lim2009_asm_median", "unit"]
    (41.0, 'months')
    >>> int(ev.loc["midostaurin_review_116", "n_patients"]), float(ev.loc["midostaurin_review_116", "value"])
    (116, 33.9)
    """
    return _evidence_cached().copy()


def published_interval(row: pd.Series) -> tuple[float, float, str]:
    """The 95 % interval a model value is judged against, and how it was obtained.

    Parameters
    ----------
    row : Series
        A registry row.

    Returns
    -------
    tuple
        ``(low, high, basis)``. The published CI when there is one; for a median, value x/÷
        exp(1.96 / sqrt(events)) (var(log median) ~ 1 / deaths), with deaths = ``events`` or, when
        not reported, ceil(n / 2) (the fewest consistent with a reached median), and for a MARS group
        a third of the cohort's n (group sizes are not in the reference: assumption); for a
        survival probability the binomial interval on the complementary log-log scale from n.
        NaN bounds when the source gives neither.

    Examples
    --------
    >>> lo, hi, basis = published_interval(load_evidence().loc["lim2009_asm_median"])
    >>> round(lo, 1), round(hi, 1), basis
    (26.7, 62.9, 'median x/÷ exp(1.96/sqrt(21 deaths)); deaths assumed ceil(n/2), not reported')
    """
    v, lo, hi = float(row["value"]), float(row["ci_low"]), float(row["ci_high"])
    if not np.isnan(lo):
        return lo, hi, "published 95 % CI" if row["evidence"] != "assumption" else "assumption range"
    n, events = float(row["n_patients"]), float(row["events"])
    if row["measure"] == "median_os" and not np.isnan(v):
        if np.isnan(events) and not np.isnan(n):
            group = isinstance(row["score_group"], str) and row["score_group"] != ""
            n_eff = math.ceil(n / 3) if group else n
            events = math.ceil(n_eff / 2)
            why = ("deaths assumed ceil(n/3/2): MARS group sizes not reported" if group
                   else "deaths assumed ceil(n/2), not reported")
        elif np.isnan(events):
            return np.nan, np.nan, "no n or deaths in the reference"
        else:
            why = "deaths as reported"
        f = math.exp(_Z / math.sqrt(events))
        return v / f, v * f, f"median x/÷ exp(1.96/sqrt({int(events)} deaths)); {why}"
    if row["measure"] in ("survival_at", "relative_survival_at") and not np.isnan(n):
        if v >= 1.0:
            return 1.0 - 3.0 / n, 1.0, "rule of three: no death among n"
        se = math.sqrt(v * (1 - v) / n) / (v * abs(math.log(v)))
        a, b = math.log(-math.log(v)) + _Z * se, math.log(-math.log(v)) - _Z * se
        return math.exp(-math.exp(a)), math.exp(-math.exp(b)), "binomial, complementary log-log scale"
    return np.nan, np.nan, "no interval, n or deaths in the reference"


def target_label(target: Any, level_shift: Any = None) -> str:
    """Where a subtype's calibration comes from, for every clinician-facing output.

    Parameters
    ----------
    target : mapping or None
        The subtype's stored target row (``target_set``, ``era``).
    level_shift : mapping or None
        The subtype's ``level_shift`` (``target_set``, ``era``) when a group target set its level.

    Returns
    -------
    str
        E.g. ``"lim2009 (Mayo Clinic 1976-2007, before KIT inhibitors (Lim 2009))"``; empty when
        the target is unknown.

    Examples
    --------
    >>> target_label({"target_set": "lim2009", "era": "Mayo Clinic 1976-2007, before KIT inhibitors"})
    'lim2009 (Mayo Clinic 1976-2007, before KIT inhibitors)'
    >>> label = target_label({"target_set": "lim2009", "era": "Mayo 1968-2024", "taken_from": "mayo2025"})
    >>> label.split(": ")[0]
    'mayo2025 (Mayo 1968-2024)'
    >>> label.endswith("has no figure for this subtype, its calibration comes from another target set")
    True
    """
    if not target:
        return ""
    name, era = str(target.get("target_set") or ""), str(target.get("era") or "")
    text = f"{name} ({era})" if era else name
    taken = str(target.get("taken_from") or "")
    if taken:  # a figure this set borrows: say so wherever the curve is shown
        text = (f"{taken} ({era}): {name} has no figure for this subtype, its calibration comes from "
                "another target set")
    if level_shift:
        lname, lera = str(level_shift.get("target_set") or ""), str(level_shift.get("era") or "")
        text = f"{lname} ({lera}) for the level, {text} for the contrasts between advanced subtypes"
    return text


def calibration_summary(st: Any) -> list[str]:
    """One line per subtype naming the target set and era its curve is calibrated to (model card).

    ``st`` is a model state as a dict (``ModelState.to_dict()``). When the subtypes come from more
    than one target set (a re-calibrated model keeps the subtypes its new set does not give), a
    last line says which subtypes come from which set.
    """
    lines: list[str] = []
    sets: dict[str, list[str]] = {}
    for s, p in st["subtypes"].items():
        label = target_label(p.get("target"), p.get("level_shift"))
        if label:
            lines.append(f"{s}: {label}")
            tg = p.get("target") or {}
            sets.setdefault(str(tg.get("taken_from") or tg.get("target_set")), []).append(s)
    if len(sets) > 1:
        lines.append("this model mixes target sets: " + "; ".join(
            f"{name} for {', '.join(subs)}" for name, subs in sets.items()))
    return lines


def fidelity_markdown(rows: Any) -> list[str]:
    """Markdown lines of a stored fidelity table (``provenance["fidelity"]``, a list of records)."""
    if not rows:
        return []
    out = ["", "## Fidelity: the model against the published figures", "",
           "| figure | population | published (95 % interval) | model (band) | used for | inside |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        def num(v: Any) -> str:
            return "" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{float(v):.3g}"

        pub = f"{num(r.get('published'))} ({num(r.get('published_low'))}-{num(r.get('published_high'))})"
        mod = f"{num(r.get('model'))} ({num(r.get('model_low'))}-{num(r.get('model_high'))})"
        verdict = {True: "yes", False: "no"}.get(r.get("inside"), "no published interval")
        out.append(f"| {r['figure_id']} | {r['population']} | {pub} | {mod} | {r['used_for']} | {verdict} |")
    return out


def sar_sensitivity_markdown(rows: Any) -> list[str]:
    """Markdown lines of a stored S/A/R sensitivity table (``provenance["sar_sensitivity"]``).

    One line per subtype and patient (or group): the median at the reference cohort's S/A/R share
    and at the plausible low and high shares (``data/sar_prevalence_ranges.csv``).
    """
    if not rows:
        return []
    out = ["", "## Sensitivity to the reference cohort's S/A/R prevalence", "",
           "The share of reference patients with a mutated SRSF2/ASXL1/RUNX1 gene is not published by "
           "subtype (an assumption of the scenario). The model is centred on it; at each bound the subtype "
           "is re-calibrated to the same target and the medians recomputed (months; ratio to the reference "
           "share in brackets). Typical patient: male, the reference cohort's median age, normal counts "
           "and ALP, no splenomegaly.", "",
           "| subtype | patient or group | S/A/R share: reference, low - high | median | at low share | "
           "at high share |", "|---|---|---|---|---|---|"]
    for r in rows:
        named = r.get("age") is not None and np.isfinite(float(r["age"]))
        age = f", {float(r['age']):.0f} y" if named else ""
        shares = (f"{float(r['share_reference']):.2f}, {float(r['share_low']):.2f} - "
                  f"{float(r['share_high']):.2f}")
        base = r.get("median_months")
        low, high = _months(r.get("median_months_low"), base), _months(r.get("median_months_high"), base)
        out.append(f"| {r['subtype']} | {r['who']}{age} | {shares} | {_months(base)} | {low} | {high} |")
    bases = dict.fromkeys(f"{r['subtype']}: {r['basis']} [{r['evidence']}]" for r in rows)
    out += ["", "Bounds:", ""] + [f"- {b}" for b in bases]
    return out


def _months(v: Any, base: Any = None) -> str:
    """A median in months, with its ratio to ``base`` in brackets when given."""
    if v is None or not np.isfinite(float(v)):
        return ""
    ratio = f" ({float(v) / float(base):.2f})" if base else ""
    return f"{float(v):.1f}{ratio}"
