"""A naive, per-patient reference implementation of the classification rules.

Written straight from ``who_criteria.md`` with its numbers typed in by hand (on purpose: it does
not read the package's data files, so a wrong threshold there is caught by the comparison tests),
one dict at a time, in plain Python. ``reference_candidates`` handles unknown findings by brute
force: it enumerates every fill of the unknowns with representative values on each side of every
threshold. Used by ``tests/test_classify_properties.py`` (exactness of the vectorised candidate
sets) and ``benchmarks/bench_classify.py`` (the per-row baseline).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

MYELOID = {"MDS", "MPN", "MDS/MPN", "CMML", "AML", "CEL", "CML"}
#: Entities that are not a neoplasm: not an AHN (hypereosinophilic syndrome without a clonal marker).
NOT_NEOPLASM = {"none", "HES"}

#: Values on each side of every threshold a column meets in any edition.
REPRESENTATIVES: dict[str, tuple[Any, ...]] = {
    "age": (17.0, 18.0),
    "atypical_mc_pct": (25.0, 30.0),
    "tryptase": (10.0, 50.0, 150.0, 200.0, 300.0),
    "bm_mc_infiltration_pct": (10.0, 30.0, 50.0),
    "mc_aspirate_pct": (10.0, 20.0),
    "kit_vaf_pct": (5.0, 10.0),
    "anc": (0.9, 1.0, 1.8, 8.0),
    "hemoglobin": (9.9, 10.0, 12.0, 17.0),
    "platelets": (99.0, 100.0, 150.0, 450.0),
    "ahn": ("none", "MDS", "lymphoma"),
}
BOOL_COLUMNS = (
    "skin_lesions", "bm_examined", "bm_mc_aggregates", "kit_d816", "kit_other", "cd2_cd25", "cd30",
    "hat", "dysplasia_myeloproliferation", "hepatomegaly", "splenomegaly", "lymphadenopathy",
    "hepatic_dysfunction", "hypersplenism", "malabsorption", "osteolysis", "mc_sarcoma",
    "lymphadenopathy_1cm",
)
for _c in BOOL_COLUMNS:
    REPRESENTATIVES[_c] = (False, True)


def _unknown(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _sm_subtype(r: dict[str, Any], edition: str) -> str:
    """SM subtype once SM is established (precedence MCL > AHN > ASM > SSM > BMM/ISM)."""
    ahn = r["ahn"]
    if r["mc_aspirate_pct"] >= 20:
        return "MCL"
    if ahn not in NOT_NEOPLASM:
        if edition != "icc2022":
            return "SM-AHN"
        # ICC 2022: SM-AMN for a myeloid neoplasm, SM-ALN for a lymphoid one (Mayo 2025 grouping).
        return "SM-AMN" if ahn in MYELOID else "SM-ALN"
    c1 = r["anc"] < 1.0 or r["hemoglobin"] < 10 or r["platelets"] < 100
    n_c = sum([c1, r["hepatic_dysfunction"], r["osteolysis"], r["hypersplenism"],
               r["malabsorption"]])
    if n_c >= 1:
        return "ASM"
    if edition == "who2016":
        b1 = r["bm_mc_infiltration_pct"] > 30 or r["tryptase"] > 200
    elif edition == "who2022":
        b1 = (r["bm_mc_infiltration_pct"] >= 30 or r["tryptase"] >= 200
              or r["kit_vaf_pct"] >= 10)
    else:
        b1 = r["bm_mc_infiltration_pct"] > 30 and r["tryptase"] > 200
    nodes = r["lymphadenopathy"]
    b2 = r["dysplasia_myeloproliferation"]
    if edition == "icc2022":
        # ICC: lymph nodes > 1 cm; B2 also a cytopenia short of C1 or a cytosis (who_criteria.md,
        # published_figures.md section 5; cut-offs typed in from the data file's sources).
        nodes = nodes or r["lymphadenopathy_1cm"]
        b2 = b2 or (1.0 <= r["anc"] < 1.8 or 10 <= r["hemoglobin"] < 12 or 100 <= r["platelets"] < 150
                    or r["anc"] > 7.5 or r["hemoglobin"] > 16.5 or r["platelets"] >= 450)
    b3 = ((r["hepatomegaly"] and not r["hepatic_dysfunction"])
          or (r["splenomegaly"] and not r["hypersplenism"]) or nodes)
    n_b = sum([b1, b2, b3])
    if n_b >= 2:
        return "SSM"
    if edition == "who2022" and n_b == 0 and not r["skin_lesions"] and r["tryptase"] < 125:
        return "BMM"
    return "ISM"


def reference_complete(r: dict[str, Any], edition: str = "who2016") -> frozenset[str]:
    """Subtype(s) of a patient whose findings are all known (a set: the adult skin-without-marrow
    rule is indeterminate even then)."""
    later = edition != "who2016"
    minor = sum([
        r["atypical_mc_pct"] > 25,
        r["kit_d816"] or (later and r["kit_other"]),
        r["cd2_cd25"] or (later and r["cd30"]),
        r["tryptase"] > 20 and r["ahn"] not in MYELOID,
    ])
    if edition == "icc2022":
        sm = r["bm_mc_aggregates"] or minor >= 3
    else:
        sm = (r["bm_mc_aggregates"] and minor >= 1) or minor >= 3
    child = r["age"] < 18
    if child and r["skin_lesions"] and not r["bm_examined"]:
        sm = False  # the child rule: SM not assessed, CM unless a mast-cell sarcoma
    if sm:
        return frozenset({_sm_subtype(r, edition)})
    if r["mc_sarcoma"]:
        return frozenset({"MCS"})
    if r["skin_lesions"]:
        if r["bm_examined"] or child:
            return frozenset({"CM"})
        return frozenset({"CM", _sm_subtype(r, edition)})
    return frozenset({"none"})


def reference_candidates(r: dict[str, Any], edition: str = "who2016") -> frozenset[str]:
    """Union of ``reference_complete`` over every fill of the unknown findings (brute force)."""
    full = {c: r.get(c) for c in REPRESENTATIVES}
    # Data dictionary: an empty ``ahn`` means no AHN; the word "unknown" keeps it unknown.
    full["ahn"] = None if full["ahn"] == "unknown" else (full["ahn"] or "none")
    # Likewise a sarcoma is recorded when diagnosed: empty = no, "unknown" = open.
    full["mc_sarcoma"] = None if full["mc_sarcoma"] == "unknown" else bool(full["mc_sarcoma"])
    unknown = [c for c, v in full.items() if _unknown(v)]
    out: set[str] = set()
    for values in itertools.product(*(REPRESENTATIVES[c] for c in unknown)):
        filled = dict(full)
        filled.update(zip(unknown, values, strict=True))
        out |= reference_complete(filled, edition)
    return frozenset(out)
