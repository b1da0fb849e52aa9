"""IPSM (Sperr 2019) factor flags for non-advanced and advanced SM.

The flags are the records of ``data/risk_ipsm.csv`` (non-advanced: age >= 60, ALP >= 100 U/L;
advanced: age >= 60, tryptase >= 125 ng/mL, leukocytes >= 16 x10^9/L, Hb <= 11 g/dL, platelets
<= 100 x10^9/L, no skin lesions). Points, hazard ratios and groups are not confirmed, so none are
returned. With ``who_subtype`` unknown the flags of both models are shown.

References
----------
.. [1] Sperr WR et al. Lancet Haematol 2019;6:e638-49. doi:10.1016/S2352-3026(19)30166-8
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._logic import in_categories
from ._common import Context, Notes, constant_objects, factor_tri, int_array
from ._tables import score_table

__all__ = ["COLUMNS", "score_ipsm"]

#: Canonical columns IPSM reads.
COLUMNS: tuple[str, ...] = ("age", "alp", "tryptase", "leukocytes", "hemoglobin", "platelets", "skin_lesions",
                            "who_subtype")
_PREFIX = {"advanced": "flag_adv_", "non-advanced": "flag_nonadv_"}


def _model(sets: dict[str, Any]) -> np.ndarray:
    adv, non = sets["advanced"], sets["non-advanced"]
    return np.where(adv.lo, "advanced", np.where(non.lo, "non-advanced", np.where(
        ~adv.known, "unknown", "not applicable"))).astype(object)


def score_ipsm(frame: pd.DataFrame, data: Any = None) -> tuple[dict[str, Any], Notes]:
    """Columns and notes of IPSM for a validated frame (see :func:`mastoprog.risk_score`)."""
    table = score_table("ipsm")
    n = len(frame)
    sets = {m: in_categories(frame["who_subtype"], table.sets[m]) for m in _PREFIX}
    none = int_array(np.zeros(n, np.int64), np.zeros(n, bool))
    cols: dict[str, Any] = {"points": none, "points_min": none.copy(), "points_max": none.copy(),
                            "group": np.full(n, None, dtype=object),
                            "possible_groups": constant_objects(n, ()),
                            "ipsm_model": _model(sets)}
    ctx = Context(frame)
    for key, f in table.factors.items():
        model = key.split(":", 1)[0]
        tri, applies = factor_tri(f, ctx), sets[model].hi
        cols[_PREFIX[model] + f.name] = pd.arrays.BooleanArray(tri.lo & applies, ~tri.known | ~applies)
    notes = Notes(n)
    notes.add(True, f"IPSM (Sperr 2019, Lancet Haematol) factor flags [S]. {table.notes['points_groups']}")
    notes.add(~sets["advanced"].known, "who_subtype unknown: flags of both the non-advanced and the advanced "
                                       "IPSM are shown")
    outside = ~(sets["advanced"].hi | sets["non-advanced"].hi)
    notes.outside(frame["who_subtype"], outside,
                  "IPSM covers systemic mastocytosis only: who_subtype '{label}' is outside it, "
                  "so no flags are given")
    return cols, notes
