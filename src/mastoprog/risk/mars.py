"""MARS, the Mutation-Adjusted Risk Score (Jawhar 2019), for advanced SM only.

Points from the records of ``data/risk_mars.csv`` (age > 60 y 1, Hb < 10 g/dL 1, platelets
< 100 x10^9/L 1, one S/A/R gene 1, two or more 2), groups low 0-1 / intermediate 2 / high 3-5 and
the published median overall survival of the training (n = 231) and validation (n = 152) cohorts.
A patient without ``who_subtype`` is classified first (notes say so); a non-advanced subtype gets
the arithmetic but no group or median.

References
----------
.. [1] Jawhar M et al. J Clin Oncol 2019;37:2846-56. doi:10.1200/JCO.19.00640
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from ._common import Context, Notes, group_columns, score_factors
from ._subtype import advanced_status
from ._tables import SAR_GENES, Groups, bad_file, score_table

__all__ = ["COLUMNS", "mars_medians", "score_mars"]

#: Canonical columns MARS reads.
COLUMNS: tuple[str, ...] = ("age", "hemoglobin", "platelets", *SAR_GENES, "sar_count", "who_subtype")


@cache
def mars_medians() -> dict[str, dict[str, float]]:
    """Published median OS (years) by cohort and group; NaN = not reached.

    Examples
    --------
    >>> mars_medians()["validation"]
    {'low': 12.2, 'intermediate': 4.4, 'high': 1.9}
    """
    table = score_table("mars")
    assert table.groups is not None
    medians: dict[str, dict[str, float]] = {}
    for rec in table.table[table.table["kind"] == "median_os"].to_dict("records"):
        if rec["factor"] not in table.groups.labels:
            raise bad_file(table.file, f"median_os row for unknown group {rec['factor']!r}")
        value = float(rec["value"])
        if np.isnan(value) and "not reached" not in str(rec["note"]):
            # an empty median means "not reached" only when the row says so
            raise bad_file(table.file, f"median_os row {rec['factor']!r} ({rec['cohort']}) has no value "
                                       "and no 'not reached' note")
        medians.setdefault(rec["cohort"], {})[rec["factor"]] = value
    return medians


def _median_columns(groups: Groups, sure: np.ndarray, notes: Notes) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    for cohort, by_group in mars_medians().items():
        med = np.array([by_group[g] for g in groups.labels] + [np.nan])
        idx = np.where(sure >= 0, sure, len(groups.labels))
        text = np.array([("not reached" if np.isnan(v) else f"{v:g} y") for v in med[:-1]] + [None],
                        dtype=object)
        cols[f"median_os_{cohort}_y"] = med[idx]
        cols[f"median_os_{cohort}"] = text[idx]
        for i, g in enumerate(groups.labels):
            if np.isnan(by_group[g]):
                notes.add(sure == i, f"MARS {g} risk: median OS not reached in the {cohort} cohort")
    return cols


def score_mars(frame: pd.DataFrame, data: Any = None) -> tuple[dict[str, Any], Notes]:
    """Columns and notes of MARS for a validated frame (see :func:`mastoprog.risk_score`)."""
    table = score_table("mars")
    groups = table.groups
    assert groups is not None
    notes = Notes(len(frame))
    notes.add(True, f"MARS (Jawhar 2019, J Clin Oncol), advanced SM only: groups {groups.describe()} "
                    "points [S]")
    members = ", ".join(sorted(table.sets["advanced"]))
    advanced = advanced_status(frame, data, table.sets["advanced"], notes, "MARS")
    ctx = Context(frame, sets={"advanced": advanced})
    pts, tris = score_factors(table, ctx)
    label, possible, sure = group_columns(groups, pts.pmin, pts.pmax, allowed=advanced.hi)
    cols = {**pts.core(), "group": label, "possible_groups": possible, **pts.cols,
            "applicable": advanced.as_boolean()}
    notes.add(~advanced.known, f"advanced status unknown: MARS applies to advanced SM only ({members})")
    notes.outside(frame["who_subtype"], ~advanced.hi,
                  "MARS is for advanced SM only (" + members + "): who_subtype '{label}' is not "
                  "advanced SM, so no MARS group or median OS is given")
    cols |= _median_columns(groups, sure, notes)
    notes.add((sure < 0) & advanced.hi, "MARS group undetermined: no median OS given")
    notes.unknown({name: ~t.known for name, t in tris.items()}
                  | {"S/A/R gene count": ctx.sar.lo != ctx.sar.hi})
    return cols, notes
