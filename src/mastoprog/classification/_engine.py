"""The candidate-set engine: which subtypes the findings allow, with column operations only.

Every criterion that reads findings no other criterion reads is a :class:`~mastoprog._logic.Tri`
(surely true, possibly true). Counts of such independent criteria (minor criteria, B findings, C
findings) are integer intervals ``[sure, possible]`` in which every value is reachable, so a
threshold on a count is decided exactly from the interval's ends. Findings that feed several rules
are enumerated as a few *scenarios* instead:

* ``tryptase`` (minor criterion, B1 and the BMM bound): one scenario per reachable combination of
  its thresholds (3 in WHO 2016 / ICC 2022, 4 in WHO 2022);
* ``ahn`` (tryptase validity, SM-AHN / SM-AMN / SM-ALN): lineage none / myeloid / lymphoid;
* ``skin_lesions`` (CM, BMM, the child rule): present / absent.

Rows whose shared findings are all known are evaluated in one pass; only the rows with an unknown
shared finding are evaluated once per scenario consistent with them, and the union is taken.

B findings decide a subtype only when no C finding is present, so the engine reads them in that
world: ``hepatic_dysfunction`` and ``hypersplenism`` are false there (B3 reads ``hepatomegaly or
splenomegaly or lymph nodes``), and the blood counts are at or above the C1 thresholds (the ICC B2
"cytopenia short of C1" reads ``count below the B2 threshold``). In that world each finding feeds
one criterion, so within a scenario every rule is monotone in independent findings and the union
over scenarios is the exact set of subtypes reachable by filling the unknowns (checked against a
brute-force enumeration of fills in ``tests/test_classify_properties.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from .._logic import Tri, all_of, any_of, compare, count, count_compare, from_boolean
from ..findings import ahn_lineage
from ._editions import B2_COUNT_RULES, BIT, LINEAGES, Edition, edition

__all__ = ["COLUMNS", "Evaluation", "build_parts", "evaluate"]

#: The canonical columns the classifier reads (validated through ``ensure_findings``).
COLUMNS: tuple[str, ...] = (
    "age", "skin_lesions", "bm_examined", "bm_mc_aggregates", "atypical_mc_pct", "kit_d816",
    "kit_other", "cd2_cd25", "cd30", "tryptase", "hat", "bm_mc_infiltration_pct",
    "mc_aspirate_pct", "kit_vaf_pct", "dysplasia_myeloproliferation", "hepatomegaly",
    "splenomegaly", "lymphadenopathy", "hepatic_dysfunction", "hypersplenism", "malabsorption",
    "osteolysis", "anc", "hemoglobin", "platelets", "ahn", "mc_sarcoma", "lymphadenopathy_1cm",
)


@dataclass
class Parts:
    """Per-row summaries of the findings no other rule shares (possibly true / possibly false)."""

    major_pt: np.ndarray
    major_pf: np.ndarray
    minor_lo: np.ndarray  # minor criteria (a)-(c) met for sure
    minor_hi: np.ndarray  # ... possibly met
    b1x_pt: np.ndarray  # B1 parts other than tryptase (infiltration, KIT VAF), combined
    b1x_pf: np.ndarray
    b23_lo: np.ndarray  # B2 + B3 as read when no C finding is present
    b23_hi: np.ndarray
    c_lo: np.ndarray
    c_hi: np.ndarray
    mcl_pt: np.ndarray
    mcl_pf: np.ndarray
    sar_pt: np.ndarray
    sar_pf: np.ndarray
    o_pt: np.ndarray  # child and marrow not examined (the child rule applies, given skin)
    o_pf: np.ndarray
    f_pt: np.ndarray  # adult and marrow not examined possible ("mastocytosis in the skin")

    def take(self, idx: np.ndarray) -> Parts:
        """The rows ``idx`` only."""
        return Parts(*(getattr(self, f.name)[idx] for f in fields(self)))


@dataclass
class Findings:
    """The criteria as reported (met for sure), and what the missing-findings report reads."""

    tri: dict[str, Tri]  # yes/no columns
    num: dict[str, np.ndarray]  # numeric columns, NaN = unknown
    minor_b: Tri
    minor_c: Tri
    b1: Tri
    b2: Tri
    b3_no_c: Tri
    c1: Tri
    b_sure: tuple[np.ndarray, ...]
    c_sure: tuple[np.ndarray, ...]


def _pair(t: Tri) -> tuple[np.ndarray, np.ndarray]:
    """(possibly true, possibly false): the engine's working form of a criterion."""
    return t.hi, ~t.lo


def _b2(tri: dict[str, Tri], num: dict[str, np.ndarray], ed: Edition) -> Tri:
    """B2: dysplasia/myeloproliferation; in ICC 2022 also cytopenia short of C1, or cytosis.

    Arber DA et al., Blood 2022;140:1200 (ICC) and Blood Res 2023 (PMC10133845) Table 5: "B2 ...
    cytopenia not meeting C-finding criteria, or cytosis". A count below its B2 threshold counts
    only when it does not meet C1 (then it is a C finding).
    """
    terms = [tri["dysplasia_myeloproliferation"]]
    if ed.b2_counts:
        for col, (low, high, c1) in B2_COUNT_RULES.items():
            x = num[col]
            short_of_c = all_of(compare(x, ed.t(low).op, ed.t(low).value),
                                compare(x, ed.t(c1).op, ed.t(c1).value).negate())
            terms += [short_of_c, compare(x, ed.t(high).op, ed.t(high).value)]
    return any_of(*terms)


def _b1_parts(num: dict[str, np.ndarray], ed: Edition) -> list[Tri]:
    parts = [compare(num["bm_mc_infiltration_pct"], ed.t("b1_infiltration").op,
                     ed.t("b1_infiltration").value)]
    if "b1_kit_vaf" in ed.thresholds:
        parts.append(compare(num["kit_vaf_pct"], ed.t("b1_kit_vaf").op, ed.t("b1_kit_vaf").value))
    return parts


def _c_terms(tri: dict[str, Tri], num: dict[str, np.ndarray], ed: Edition) -> tuple[Tri, ...]:
    c1 = any_of(*(compare(num[col], ed.t(f"c1_{col}").op, ed.t(f"c1_{col}").value)
                  for col in ("anc", "hemoglobin", "platelets")))
    return (c1, tri["hepatic_dysfunction"], tri["osteolysis"], tri["hypersplenism"],
            tri["malabsorption"])


def _minor(tri: dict[str, Tri], num: dict[str, np.ndarray], ed: Edition) -> tuple[Tri, Tri, Tri]:
    minor_a = compare(num["atypical_mc_pct"], ed.t("minor_atypical").op, ed.t("minor_atypical").value)
    minor_b = any_of(tri["kit_d816"], *([tri["kit_other"]] if ed.kit_other_counts else []))
    minor_c = any_of(tri["cd2_cd25"], *([tri["cd30"]] if ed.cd30_counts else []))
    return minor_a, minor_b, minor_c


def build_parts(f: pd.DataFrame, ed: Edition) -> tuple[Parts, Findings]:
    """Criteria of every row from the validated findings frame ``f``."""
    tri = {c: from_boolean(f[c]) for c in COLUMNS if f[c].dtype == "boolean"}
    # Canonical numbers are float64 with NaN for unknown: a view, no copy.
    num = {c: np.asarray(f[c], dtype=float) for c in COLUMNS if c not in tri and c != "ahn"}
    minor_a, minor_b, minor_c = _minor(tri, num, ed)
    minor_lo, minor_hi = count(minor_a, minor_b, minor_c)
    b1_parts = _b1_parts(num, ed)
    b1x = any_of(*b1_parts) if ed.b1_any else all_of(*b1_parts)
    b2 = _b2(tri, num, ed)
    lymph = any_of(*(tri[c] for c in ed.b3_lymph_columns))
    # B3 as it reads when no C finding is present (hepatic_dysfunction, hypersplenism false).
    b3_no_c = any_of(tri["hepatomegaly"], tri["splenomegaly"], lymph)
    b23_lo, b23_hi = count(b2, b3_no_c)
    c_terms = _c_terms(tri, num, ed)
    c_lo, c_hi = count(*c_terms)
    child = compare(num["age"], ed.t("child_age").op, ed.t("child_age").value)
    bm = tri["bm_examined"]
    mcl = compare(num["mc_aspirate_pct"], ed.t("mcl_aspirate").op, ed.t("mcl_aspirate").value)
    parts = Parts(*_pair(tri["bm_mc_aggregates"]), minor_lo, minor_hi, *_pair(b1x), b23_lo, b23_hi,
                  c_lo, c_hi, *_pair(mcl), *_pair(tri["mc_sarcoma"]),
                  o_pt=child.hi & ~bm.lo, o_pf=~child.lo | bm.hi, f_pt=~child.lo & ~bm.lo)
    # Reported findings (met for sure), with the real B3 definition.
    tryp = compare(num["tryptase"], ed.t("b1_tryptase").op, ed.t("b1_tryptase").value)
    b1 = any_of(*b1_parts, tryp) if ed.b1_any else all_of(*b1_parts, tryp)
    b3 = any_of(all_of(tri["hepatomegaly"], tri["hepatic_dysfunction"].negate()),
                all_of(tri["splenomegaly"], tri["hypersplenism"].negate()), lymph)
    found = Findings(tri=tri, num=num, minor_b=minor_b, minor_c=minor_c, b1=b1, b2=b2,
                     b3_no_c=b3_no_c, c1=c_terms[0], b_sure=(b1.lo, b2.lo, b3.lo),
                     c_sure=tuple(t.lo for t in c_terms))
    return parts, found


def _tryptase_code(x: Any, ed: Edition) -> Any:
    """Bits: 1 = minor criterion threshold met, 2 = B1 tryptase part met, 4 = below the BMM bound."""
    code = ed.t("minor_tryptase").holds(x) * 1 + ed.t("b1_tryptase").holds(x) * 2
    if ed.bmm:
        code = code + ed.t("bmm_tryptase").holds(x) * 4
    return code


@cache
def tryptase_scenarios(name: str) -> tuple[int, ...]:
    """Every combination of tryptase threshold outcomes some tryptase value reaches."""
    ed = edition(name)
    cuts = [ed.t(r).value for r in ("minor_tryptase", "b1_tryptase", "bmm_tryptase")
            if r in ed.thresholds]
    points = {0.0, 1e6}
    for c in cuts:
        points |= {c, c * (1 - 1e-9), c * (1 + 1e-9)}
    return tuple(sorted({int(_tryptase_code(np.float64(p), ed)) for p in points if p >= 0}))


def _sm_criteria(p: Parts, ed: Edition, minor_t: Any, lin: Any) -> tuple[np.ndarray, np.ndarray]:
    """(possibly, possibly not) SM: (major and >= n minor) or >= m minor."""
    d = (minor_t & ~ed.tryptase_invalid[lin]).astype(np.int8)
    lo, hi = p.minor_lo + d, p.minor_hi + d
    wm, alone = ed.t("sm_minor_with_major"), ed.t("sm_minor_alone")
    with_major = count_compare(lo, hi, wm.op, wm.value)
    minor_alone = count_compare(lo, hi, alone.op, alone.value)
    sm_pt = (p.major_pt & with_major.hi) | minor_alone.hi
    sm_pf = (p.major_pf | ~with_major.lo) & ~minor_alone.lo
    return sm_pt, sm_pf


def _grade(p: Parts, ed: Edition, b1_tryp: Any, below_bmm: Any, skin: np.ndarray) -> np.ndarray:
    """Possible SM grades (bitmask): ASM > SSM > ISM (BMM in WHO 2022)."""
    # B1 ("and/or" in WHO, "and" in ICC) with the tryptase part fixed by the scenario.
    if ed.b1_any:
        b1_pt, b1_pf = p.b1x_pt | b1_tryp, p.b1x_pf & ~b1_tryp
    else:
        b1_pt, b1_pf = p.b1x_pt & b1_tryp, p.b1x_pf | ~b1_tryp
    b_lo = p.b23_lo + (b1_pt & ~b1_pf)
    b_hi = p.b23_hi + b1_pt
    asm = count_compare(p.c_lo, p.c_hi, ed.t("asm_c_count").op, ed.t("asm_c_count").value)
    ssm = count_compare(b_lo, b_hi, ed.t("ssm_b_count").op, ed.t("ssm_b_count").value)
    asm_pf, ssm_pf = ~asm.lo, ~ssm.lo
    grade = asm.hi * BIT["ASM"] | asm_pf * (ssm.hi * BIT["SSM"])
    if ed.bmm:
        ctx = below_bmm & ~skin
        bmm = count_compare(b_lo, b_hi, ed.t("bmm_b_count").op, ed.t("bmm_b_count").value)
        ism = ssm_pf & (~ctx | ~bmm.lo)
        grade = grade | asm_pf * (ism * BIT["ISM"] | (ctx & bmm.hi) * BIT["BMM"])
    else:
        grade = grade | asm_pf * (ssm_pf * BIT["ISM"])
    return grade.astype(np.uint16)


def _outcome(p: Parts, ed: Edition, tcode: Any, lin: Any, skin: Any) -> tuple[Any, ...]:
    """Candidate set (bitmask) and friends for one scenario of the shared findings.

    ``tcode``, ``lin`` (lineage code 0/1/2) and ``skin`` (bool) are arrays (one value per row) or
    scalars (the same scenario for every row).
    """
    skin = np.asarray(skin, dtype=bool)
    sm_pt, sm_pf = _sm_criteria(p, ed, (tcode & 1).astype(bool), lin)
    grade = _grade(p, ed, (tcode & 2).astype(bool), (tcode & 4).astype(bool), skin)
    assoc = ed.lineage_bit[lin]
    smset = (p.mcl_pt * BIT["MCL"] | p.mcl_pf * np.where(assoc > 0, assoc, grade)).astype(np.uint16)
    comp = ((p.mcl_pf & (assoc > 0)) * grade).astype(np.uint16)

    o_pt, o_pf, f_pt = skin & p.o_pt, ~skin | p.o_pf, skin & p.f_pt
    sm_path = sm_pt & o_pf  # SM subtypes (the child rule overrides SM)
    non_sm = sm_pf | o_pt
    forced = sm_pf & f_pt & p.sar_pf  # adult, skin, no marrow: SM not excluded
    cand = (sm_path | forced) * smset
    cand = cand | (non_sm & p.sar_pt) * BIT["MCS"]
    cand = cand | (non_sm & p.sar_pf & skin) * BIT["CM"]
    cand = cand | (sm_pf & p.sar_pf & ~skin) * BIT["none"]
    comp = (sm_path | forced) * comp
    flags = (o_pt & non_sm & p.sar_pf, forced)
    return cand.astype(np.uint16), comp.astype(np.uint16), sm_pt, sm_pf, flags


def lineage_codes(ahn: pd.Series) -> np.ndarray:
    """0 none, 1 myeloid, 2 lymphoid, -1 unknown, from the canonical ``ahn`` categorical.

    An entity whose lineage is ``none`` in ``data/ahn_entities.csv`` (hypereosinophilic syndrome
    without a clonal marker) is not an associated neoplasm: code 0.
    """
    lineage = ahn_lineage()
    cats = list(ahn.cat.categories)
    table = np.array([0 if c == "none" else LINEAGES.index(lineage[c]) for c in cats] + [-1],
                     dtype=np.int8)
    return table[ahn.cat.codes.to_numpy()]  # code -1 (unknown) picks the last entry


@dataclass
class Evaluation:
    """What :func:`evaluate` found for every row."""

    cand: np.ndarray  # candidate labels, bitmask
    comp: np.ndarray  # SM components of an associated-neoplasm label, bitmask
    sm_pt: np.ndarray
    sm_pf: np.ndarray
    child_flag: np.ndarray
    forced: np.ndarray
    lin: np.ndarray
    tcode: np.ndarray
    t_na: np.ndarray
    found: Findings
    parts: Parts

    @property
    def n(self) -> int:
        """Number of rows."""
        return len(self.cand)


def _scenarios(ed: Edition) -> list[tuple[int, int, bool]]:
    return [(tc, lc, sk) for tc in tryptase_scenarios(ed.name) for lc in range(len(LINEAGES))
            for sk in (False, True)]


def _redo_unknown(ev: Evaluation, unknown: np.ndarray, ed: Edition, skin: Tri) -> None:
    """Union over the scenarios consistent with each row whose shared findings are unknown."""
    sub = ev.parts.take(unknown)
    u_t, u_tc, u_l = ev.t_na[unknown], ev.tcode[unknown], ev.lin[unknown]
    u_s, u_skin = ~skin.known[unknown], skin.lo[unknown]
    acc = [np.zeros(unknown.size, np.uint16), np.zeros(unknown.size, np.uint16)]
    accb = [np.zeros(unknown.size, bool) for _ in range(4)]
    for tc, lc, sk in _scenarios(ed):
        ok = (u_t | (u_tc == tc)) & ((u_l < 0) | (u_l == lc)) & (u_s | (u_skin == sk))
        if not ok.any():
            continue
        c, cp, spt, spf, (cf, fo) = _outcome(sub, ed, np.int8(tc), lc, np.bool_(sk))
        acc[0] |= np.where(ok, c, 0).astype(np.uint16)
        acc[1] |= np.where(ok, cp, 0).astype(np.uint16)
        for i, arr in enumerate((spt, spf, cf, fo)):
            accb[i] |= ok & arr
    ev.cand[unknown], ev.comp[unknown] = acc
    ev.sm_pt[unknown], ev.sm_pf[unknown], ev.child_flag[unknown], ev.forced[unknown] = accb


def evaluate(f: pd.DataFrame, ed: Edition) -> Evaluation:
    """Candidate sets of every row of the validated findings ``f`` (exact; see the module doc)."""
    parts, found = build_parts(f, ed)
    tryp = found.num["tryptase"]
    t_na = np.isnan(tryp)
    tcode = _tryptase_code(tryp, ed).astype(np.int8)
    tcode[t_na] = tryptase_scenarios(ed.name)[0]
    lin = lineage_codes(f["ahn"])
    skin = found.tri["skin_lesions"]
    # One pass with every row's own shared findings (unknowns get a placeholder, redone below).
    cand, comp, sm_pt, sm_pf, (child_flag, forced) = _outcome(
        parts, ed, tcode, np.where(lin < 0, 0, lin), skin.lo)
    ev = Evaluation(cand, comp, sm_pt, sm_pf, child_flag, forced, lin, tcode, t_na, found, parts)
    unknown = np.flatnonzero(t_na | (lin < 0) | ~skin.known)
    if unknown.size:
        _redo_unknown(ev, unknown, ed, skin)
    return ev
