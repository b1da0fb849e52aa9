"""MAPS, the Mayo Alliance Prognostic System (Pardanani 2018): hybrid-model points.

Points from the records of ``data/risk_maps.csv``: advanced SM 2, age > 60 y 1, platelets
< 150 x10^9/L 1, ALP > ULN 1, adverse mutation (ASXL1, RUNX1 or NRAS) 1 (0-6). Its risk groups are
not confirmed, so none are returned. MAPS gives points from the findings it has:

* ``who_subtype`` absent: the patient is classified first (WHO 2016) for the advanced-SM points,
  and the notes say so;
* NRAS (``nras``) not reported while ASXL1 and RUNX1 are known: taken as not mutated, because the
  hybrid model was built on patients with a myeloid NGS panel, which covers the three genes and
  reports the mutations found (an assumption row of the data file; the notes say when it is used).

References
----------
.. [1] Pardanani A et al. Blood Adv 2018;2:2964-72. doi:10.1182/bloodadvances.2018026245
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._logic import Tri, from_boolean, in_categories
from ._common import Context, Notes, alp_notes, constant_objects, score_factors
from ._subtype import advanced_status
from ._tables import SAR_GENES, score_table

__all__ = ["COLUMNS", "score_maps"]

#: Canonical columns MAPS reads.
COLUMNS: tuple[str, ...] = ("age", "platelets", "alp", "alp_uln", *SAR_GENES, "sar_count", "nras",
                            "who_subtype")


def _nras(ctx: Context) -> tuple[Tri, np.ndarray]:
    """NRAS with the panel assumption, and the rows where the assumption was used."""
    nras = from_boolean(ctx.frame["nras"])
    panel = ctx.sar.genes["asxl1"].known & ctx.sar.genes["runx1"].known
    assumed = ~nras.known & panel
    return Tri(nras.lo, nras.hi & ~assumed), assumed


def score_maps(frame: pd.DataFrame, data: Any = None) -> tuple[dict[str, Any], Notes]:
    """Columns and notes of MAPS for a validated frame (see :func:`mastoprog.risk_score`)."""
    table = score_table("maps")
    n = len(frame)
    notes = Notes(n)
    notes.add(True, f"MAPS hybrid points (Pardanani 2018, Blood Adv) [S]. {table.notes['groups']}")
    advanced = advanced_status(frame, data, table.sets["advanced"], notes, "MAPS")
    ctx = Context(frame, sets={"advanced": advanced})
    nras, assumed = _nras(ctx)
    ctx.genes = {"nras": nras}
    pts, tris = score_factors(table, ctx)
    in_sm = in_categories(frame["who_subtype"], table.sets["advanced"] | table.sets["non-advanced"])
    cols = {**pts.core(), "group": np.full(n, None, dtype=object), "possible_groups": constant_objects(n, ()),
            **pts.cols, "applicable": in_sm.as_boolean(), "alp_uln_used": ctx.alp.uln}
    notes.add(assumed & ~tris["adverse_mutation"].lo, table.notes["nras_not_reported"])
    notes.add(~nras.known & ~tris["adverse_mutation"].known,
              "NRAS, ASXL1 or RUNX1 unknown: the adverse-mutation point (ASXL1/RUNX1/NRAS, SRSF2 does not "
              "count) stays open")
    notes.add(~advanced.known, "advanced status unknown: the advanced-SM points (2) stay open")
    members = ", ".join(sorted(table.sets["advanced"] | table.sets["non-advanced"]))
    notes.outside(frame["who_subtype"], ~in_sm.hi,
                  "MAPS was developed in systemic mastocytosis (" + members + "): who_subtype "
                  "'{label}' is outside it")
    alp_notes(notes, ctx.alp)
    notes.unknown({name: ~tris[name].known for name in ("age_gt_60", "plt_lt_150", "alp_gt_uln")})
    return cols, notes
