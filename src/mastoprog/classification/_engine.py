"""WHO 2016 (default), WHO 2022 and ICC 2022 subtype classification of mastocytosis.

The rules are those of ``who_criteria.md`` (shipped decisions included); every number they use
(threshold, ``>`` vs ``>=``, criterion counts) is read from ``data/classification_thresholds.csv``
and the edition switches from ``data/classification_editions.csv``. Nothing numeric is written in
the rule code below.

Missing findings are never guessed: each unknown is evaluated both ways and the result is the set
of subtypes reachable by filling the unknowns (``candidates``); ``subtype`` is a label only when
that set has one element.

How the candidate set is computed exactly, with column operations only
----------------------------------------------------------------------
Every criterion that reads one finding which no other criterion reads is three-valued: two boolean
arrays, *possibly true* and *possibly false*. Counts of such independent criteria (minor criteria,
B findings, C findings) are integer intervals ``[sure, sure + unknown]`` in which every value is
reachable, so a threshold on a count is decided exactly from the interval's ends. Findings that feed
several rules are enumerated as a few *scenarios* instead:

* ``tryptase`` (minor criterion, B1 and the BMM bound): one scenario per reachable combination of
  its thresholds (3 in WHO 2016 / ICC 2022, 4 in WHO 2022);
* ``ahn`` (tryptase validity, SM-AHN / SM-AMN): lineage none / myeloid / lymphoid;
* ``skin_lesions`` (CM, BMM, the child rule): present / absent.

Rows whose shared findings are all known are evaluated in one pass; only the rows with an unknown
shared finding are evaluated once per scenario consistent with them, and the union is taken.
``hepatic_dysfunction`` and ``hypersplenism`` feed both a C finding (C2, C4) and B3; they need no
scenario because B findings only decide a subtype when no C finding is present, i.e. in the world
where both are false, so B3 reads as ``hepatomegaly or splenomegaly or lymphadenopathy`` there.
Within a scenario all remaining rules are monotone in independent findings, so the union over
scenarios is the exact set of subtypes reachable by filling the unknowns (checked against a brute
force enumeration of fills in ``tests/test_classify_properties.py``).

Decisions (see also ``who_criteria.md``)
----------------------------------------
* B1 in WHO 2016 follows the WHO wording "and/or" (infiltration > 30 % or tryptase > 200 ng/mL
  suffices); the seed review's Table 2 and ICC 2022 read "and" (ICC is implemented with "and").
* The tryptase minor criterion does not count with an associated *myeloid* neoplasm (all editions;
  lineage from ``findings.ahn_lineage()``). B1 and the BMM bound use tryptase as measured.
* Precedence: MCL > SM-AHN (SM-AMN) > ASM > SSM > ISM (BMM in WHO 2022). MCL with an AHN is reported
  as MCL with the AHN noted in ``rationale`` and ``flags``.
* ICC 2022: the major criterion alone suffices; SM-AMN only for a myeloid neoplasm, a lymphoid one
  is reported alongside the SM subtype (``flags``). ICC's "lymphadenopathy > 1 cm" and "B2 also
  accepts cytopenia short of C or cytosis" read the same columns (code them by the edition used).
  ICC also asks for immature mast-cell morphology in MCL, which is not a column: the rationale says
  so.
* Hereditary alpha-tryptasemia (``hat`` true) in WHO 2022 / ICC 2022: no correction formula is
  fixed, so tryptase is used as measured and the result carries the flag "tryptase criterion
  uncertain". An unknown ``hat`` means HaT is not known, so nothing is flagged.
* Not SM: MCS if ``mc_sarcoma``; else with skin lesions CM when the marrow was examined; a child
  (age < 18, from the data file) with skin lesions and no marrow examination is CM whatever the SM
  criteria say (paediatric convention; an SM proven outside the marrow in such a child would need
  ``bm_examined``); an adult with skin lesions and no marrow examination is ``indeterminate``
  between CM and the SM subtypes the other findings allow ("mastocytosis in the skin"); otherwise
  ``none``.
* BMM (WHO 2022): SM without skin lesions, without B finding, tryptase < 125 ng/mL, placed where
  ISM is (after MCL, SM-AHN, ASM, SSM). ``sm_component`` of an SM-AHN may be BMM in WHO 2022.

References
----------
Arber DA et al., Blood 2016;127:2391, doi:10.1182/blood-2016-03-643544.
Valent P, Akin C, Metcalfe DD, Blood 2017;129:1420.
Khoury JD et al., Leukemia 2022;36:1703, doi:10.1038/s41375-022-01613-1.
Arber DA et al., Blood 2022;140:1200, doi:10.1182/blood.2022015850.
Leguit RJ et al., Virchows Arch 2023;482:99.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from .._resources import load_table
from ..findings import SUBTYPE_LABELS, FindingsSource, ahn_lineage, ensure_findings

__all__ = [
    "COLUMNS",
    "EDITIONS",
    "INDETERMINATE",
    "PROGNOSTIC_GROUP",
    "SUBTYPE_SEVERITY",
    "Classification",
    "classify",
]

#: The canonical columns the classifier reads (validated through ``ensure_findings``).
COLUMNS: tuple[str, ...] = (
    "age", "skin_lesions", "bm_examined", "bm_mc_aggregates", "atypical_mc_pct", "kit_d816",
    "kit_other", "cd2_cd25", "cd30", "tryptase", "hat", "bm_mc_infiltration_pct",
    "mc_aspirate_pct", "kit_vaf_pct", "dysplasia_myeloproliferation", "hepatomegaly",
    "splenomegaly", "lymphadenopathy", "hepatic_dysfunction", "hypersplenism", "malabsorption",
    "osteolysis", "anc", "hemoglobin", "platelets", "ahn", "mc_sarcoma",
)

#: Label of a case the findings cannot decide (the candidates are listed).
INDETERMINATE = "indeterminate"


@cache
def _subtype_table() -> pd.DataFrame:
    return load_table("subtypes.csv").set_index("label")


#: Ordinal severity of each subtype label (none 0 < CM < BMM < ISM < SSM < ASM < SM-AHN = SM-AMN <
#: MCL = MCS), from ``data/subtypes.csv`` (prognostic order of Lim 2009; BMM and MCS placed by
#: assumption). Used by the property "adding a C finding never makes a case less advanced".
SUBTYPE_SEVERITY: dict[str, int] = {
    label: int(rank) for label, rank in _subtype_table()["severity_rank"].items()
}

#: Subtype label -> the subtype whose survival curve it uses (BMM -> ISM, SM-AMN -> SM-AHN,
#: every other label itself), from ``data/subtypes.csv``.
PROGNOSTIC_GROUP: dict[str, str] = dict(_subtype_table()["prognostic_group"].items())

_LABELS = tuple(SUBTYPE_LABELS)
_BIT = {label: np.uint16(1 << i) for i, label in enumerate(_LABELS)}
_NMASK = 1 << len(_LABELS)
# Candidate tuples are shown from least to most advanced.
_DISPLAY = sorted(_LABELS, key=lambda lab: (SUBTYPE_SEVERITY[lab], lab))
_POPCOUNT = np.array([bin(m).count("1") for m in range(_NMASK)], dtype=np.int8)
_SINGLE = np.array([_LABELS.index(next(lab for lab in _LABELS if m == int(_BIT[lab])))
                    if _POPCOUNT[m] == 1 else -1 for m in range(_NMASK)], dtype=np.int16)
_SUBTYPE_CATEGORIES = (*_LABELS, INDETERMINATE)

_LINEAGES = ("none", "myeloid", "lymphoid")
_B_NAMES = ("B1", "B2", "B3")
_C_NAMES = ("C1", "C2", "C3", "C4", "C5")
_FLAG_TEXT = {
    "tryptase_uncertain_hat": "tryptase criterion uncertain (HaT known; tryptase not adjusted)",
    "mcl_with_ahn": "AHN noted with MCL",
    "lymphoid_neoplasm_alongside": "associated lymphoid neoplasm reported alongside",
    "child_skin_no_marrow": "child with skin lesions, no marrow examination: CM",
    "skin_no_marrow": "adult with skin lesions, no marrow examination: SM not excluded",
    "mcl_morphology_unchecked": "ICC MCL also requires immature mast-cell morphology (not recorded)",
}
_FLAGS = tuple(_FLAG_TEXT)
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt}


# --------------------------------------------------------------------------- rules from data


@dataclass(frozen=True)
class _Threshold:
    column: str
    op: str
    value: float

    def text(self) -> str:
        return f"{self.column} {self.op} {self.value:g}"


@dataclass(frozen=True)
class _Edition:
    name: str
    label: str
    citation: str
    thresholds: dict[str, _Threshold]
    kit_other_counts: bool
    cd30_counts: bool
    b1_any: bool
    tryptase_invalid: np.ndarray  # bool per lineage code (none, myeloid, lymphoid)
    ahn_label: str
    ahn_qualifies: np.ndarray  # bool per lineage code
    bmm: bool
    hat_flag: bool

    def t(self, rule: str) -> _Threshold:
        return self.thresholds[rule]


@cache
def _edition_names() -> tuple[str, ...]:
    return tuple(dict.fromkeys(load_table("classification_editions.csv")["edition"]))


#: The editions ``classify`` implements (``who2016`` is the default).
EDITIONS: tuple[str, ...] = _edition_names()


@cache
def _edition(name: str) -> _Edition:
    th = load_table("classification_thresholds.csv")
    th = th[th["edition"] == name]
    thresholds = {}
    for rec in th.to_dict("records"):
        if rec["comparison"] not in _OPS:  # pragma: no cover - guarded by tests on the data file
            raise ValueError(f"classification_thresholds.csv: bad comparison {rec['comparison']!r}")
        thresholds[rec["rule"]] = _Threshold(rec["column"], rec["comparison"], float(rec["value"]))
    st = load_table("classification_editions.csv")
    st = st[st["edition"] == name]
    settings = dict(zip(st["setting"], st["value"].astype(str), strict=True))
    sources = dict(zip(st["setting"], st["source"], strict=True))

    def flag(key: str) -> bool:
        return settings[key].strip().lower() == "true"

    def lineages(key: str) -> np.ndarray:
        chosen = set(settings[key].split("|"))
        return np.array([lin in chosen for lin in _LINEAGES])

    return _Edition(
        name=name, label=settings["label"], citation=sources["label"].split(";")[0],
        thresholds=thresholds, kit_other_counts=flag("kit_other_counts"),
        cd30_counts=flag("cd30_counts"), b1_any=settings["b1_combine"] == "any",
        tryptase_invalid=lineages("tryptase_invalid_lineages"), ahn_label=settings["ahn_label"],
        ahn_qualifies=lineages("ahn_lineages"), bmm=flag("bmm"), hat_flag=flag("hat_flag"),
    )


def _check_edition(edition: Any) -> _Edition:
    if not isinstance(edition, str) or edition not in EDITIONS:
        allowed = "{" + ", ".join(repr(e) for e in sorted(EDITIONS)) + "}"
        raise ValueError(
            f"The 'edition' parameter of classify must be one of {allowed}. Got {edition!r} instead."
        )
    return _edition(edition)


# --------------------------------------------------------------------------- three-valued logic
# A criterion is a pair (pt, pf) of boolean arrays: "possibly true", "possibly false".
# Known true = (1, 0); known false = (0, 1); unknown = (1, 1).


def _tri_bool(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    arr = s.array
    value = arr.to_numpy(dtype=bool, na_value=False)
    return value | np.asarray(arr.isna()), ~value


def _tri_cmp(x: np.ndarray, t: _Threshold) -> tuple[np.ndarray, np.ndarray]:
    # NaN compares False, so an unknown value is "possibly true" via isnan and "possibly false".
    res = _OPS[t.op](x, t.value)
    return res | np.isnan(x), ~res


def _tri_any(*terms: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    pt = np.logical_or.reduce([p for p, _ in terms])
    pf = np.logical_and.reduce([f for _, f in terms])
    return pt, pf


def _tri_all(*terms: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    pt = np.logical_and.reduce([p for p, _ in terms])
    pf = np.logical_or.reduce([f for _, f in terms])
    return pt, pf


def _sure(tri: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return tri[0] & ~tri[1]


def _count(*terms: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(sure, possible) counts of independent criteria: every value in between is reachable."""
    lo = np.sum([(p & ~f) for p, f in terms], axis=0, dtype=np.int8)
    hi = np.sum([p for p, _ in terms], axis=0, dtype=np.int8)
    return lo, hi


def _possible(lo: Any, hi: Any, t: _Threshold) -> tuple[Any, Any]:
    """(possibly true, possibly false) of ``count <op> t`` for a count known to lie in [lo, hi]."""
    if t.op == "<":
        return lo < t.value, hi >= t.value
    op = _OPS[t.op]
    return op(hi, t.value), ~op(lo, t.value)


# --------------------------------------------------------------------------- the evaluator


_PART_FIELDS = ("major_pt", "major_pf", "minor_lo", "minor_hi", "b1x_pt", "b1x_pf", "b23_lo",
                "b23_hi", "c_lo", "c_hi", "mcl_pt", "mcl_pf", "sar_pt", "sar_pf", "o_pt", "o_pf",
                "f_pt")


@dataclass
class _Parts:
    """Per-row summaries of the findings no other rule shares (see the module docstring)."""

    major_pt: np.ndarray
    major_pf: np.ndarray
    minor_lo: np.ndarray  # minor criteria (a)-(c) met for sure
    minor_hi: np.ndarray  # ... possibly met
    b1x_pt: np.ndarray  # B1 parts other than tryptase (infiltration, KIT VAF), combined
    b1x_pf: np.ndarray
    b23_lo: np.ndarray  # B2 + B3 (B3 as read when no C finding is present)
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

    def take(self, idx: np.ndarray) -> _Parts:
        return _Parts(*(getattr(self, f)[idx] for f in _PART_FIELDS))


def _tryptase_code(x: Any, ed: _Edition) -> Any:
    """Bits: 1 = minor criterion threshold met, 2 = B1 tryptase part met, 4 = below the BMM bound."""
    code = _OPS[ed.t("minor_tryptase").op](x, ed.t("minor_tryptase").value) * 1
    code = code + _OPS[ed.t("b1_tryptase").op](x, ed.t("b1_tryptase").value) * 2
    if ed.bmm:
        code = code + _OPS[ed.t("bmm_tryptase").op](x, ed.t("bmm_tryptase").value) * 4
    return code


@cache
def _tryptase_scenarios(name: str) -> tuple[int, ...]:
    """Every combination of tryptase threshold outcomes some tryptase value reaches."""
    ed = _edition(name)
    cuts = [ed.t(r).value for r in ("minor_tryptase", "b1_tryptase", "bmm_tryptase")
            if r in ed.thresholds]
    points = {0.0, 1e6}
    for c in cuts:
        points |= {c, c * (1 - 1e-9), c * (1 + 1e-9)}
    return tuple(sorted({int(_tryptase_code(np.float64(p), ed)) for p in points if p >= 0}))


def _outcome(p: _Parts, ed: _Edition, tcode: Any, lin: Any, skin: Any):
    """Candidate set (bitmask) and friends for one scenario of the shared findings.

    ``tcode``, ``lin`` (lineage code 0/1/2) and ``skin`` (bool) are arrays (one value per row) or
    scalars (the same scenario for every row).
    """
    minor_t = (tcode & 1).astype(bool)
    b1_tryp = (tcode & 2).astype(bool)
    below_bmm = (tcode & 4).astype(bool)
    skin = np.asarray(skin, dtype=bool)

    # SM criteria: (major and >= n minor) or >= m minor; both monotone in independent inputs.
    d = (minor_t & ~ed.tryptase_invalid[lin]).astype(np.int8)
    lo, hi = p.minor_lo + d, p.minor_hi + d
    wm, alone = ed.t("sm_minor_with_major"), ed.t("sm_minor_alone")
    wm_pt, wm_pf = _possible(lo, hi, wm)
    al_pt, al_pf = _possible(lo, hi, alone)
    sm_pt = (p.major_pt & wm_pt) | al_pt
    sm_pf = (p.major_pf | wm_pf) & al_pf

    # B1 ("and/or" in WHO, "and" in ICC) with the tryptase part fixed by the scenario.
    if ed.b1_any:
        b1_pt, b1_pf = p.b1x_pt | b1_tryp, p.b1x_pf & ~b1_tryp
    else:
        b1_pt, b1_pf = p.b1x_pt & b1_tryp, p.b1x_pf | ~b1_tryp
    b_lo = p.b23_lo + (b1_pt & ~b1_pf)
    b_hi = p.b23_hi + b1_pt

    # SM grade: ASM > SSM > ISM (BMM in WHO 2022).
    asm_pt, asm_pf = _possible(p.c_lo, p.c_hi, ed.t("asm_c_count"))
    ssm_pt, ssm_pf = _possible(b_lo, b_hi, ed.t("ssm_b_count"))
    grade = asm_pt * _BIT["ASM"] | asm_pf * (ssm_pt * _BIT["SSM"])
    if ed.bmm:
        ctx = below_bmm & ~skin
        bmm_pt, bmm_pf = _possible(b_lo, b_hi, ed.t("bmm_b_count"))
        ism = ssm_pf & (~ctx | bmm_pf)
        grade = grade | asm_pf * (ism * _BIT["ISM"] | (ctx & bmm_pt) * _BIT["BMM"])
    else:
        grade = grade | asm_pf * (ssm_pf * _BIT["ISM"])
    grade = grade.astype(np.uint16)

    ahn = ed.ahn_qualifies[lin]
    smset = p.mcl_pt * _BIT["MCL"] | p.mcl_pf * np.where(ahn, _BIT[ed.ahn_label], grade)
    smset = smset.astype(np.uint16)
    comp = ((p.mcl_pf & ahn) * grade).astype(np.uint16)

    o_pt, o_pf, f_pt = skin & p.o_pt, ~skin | p.o_pf, skin & p.f_pt
    sm_path = sm_pt & o_pf  # SM subtypes (the child rule overrides SM)
    non_sm = sm_pf | o_pt
    forced = sm_pf & f_pt & p.sar_pf  # adult, skin, no marrow: SM not excluded
    cand = (sm_path | forced) * smset
    cand = cand | (non_sm & p.sar_pt) * _BIT["MCS"]
    cand = cand | (non_sm & p.sar_pf & skin) * _BIT["CM"]
    cand = cand | (sm_pf & p.sar_pf & ~skin) * _BIT["none"]
    comp = (sm_path | forced) * comp
    flags = (o_pt & non_sm & p.sar_pf, forced)
    return cand.astype(np.uint16), comp.astype(np.uint16), sm_pt, sm_pf, flags


def _build_parts(f: pd.DataFrame, ed: _Edition) -> tuple[_Parts, dict[str, Any]]:
    tri = {c: _tri_bool(f[c]) for c in COLUMNS if f[c].dtype == "boolean"}
    # Canonical numbers are float64 with NaN for unknown: a view, no copy.
    num = {c: np.asarray(f[c], dtype=float) for c in COLUMNS if c not in tri and c != "ahn"}

    minor_a = _tri_cmp(num["atypical_mc_pct"], ed.t("minor_atypical"))
    kit_terms = [tri["kit_d816"]] + ([tri["kit_other"]] if ed.kit_other_counts else [])
    cd_terms = [tri["cd2_cd25"]] + ([tri["cd30"]] if ed.cd30_counts else [])
    minor_b, minor_c = _tri_any(*kit_terms), _tri_any(*cd_terms)
    minor_lo, minor_hi = _count(minor_a, minor_b, minor_c)

    b1_parts = [_tri_cmp(num["bm_mc_infiltration_pct"], ed.t("b1_infiltration"))]
    if "b1_kit_vaf" in ed.thresholds:
        b1_parts.append(_tri_cmp(num["kit_vaf_pct"], ed.t("b1_kit_vaf")))
    b1x = _tri_any(*b1_parts) if ed.b1_any else _tri_all(*b1_parts)
    b2 = tri["dysplasia_myeloproliferation"]
    # B3 as it reads when no C finding is present (hepatic_dysfunction, hypersplenism false).
    b3_no_c = _tri_any(tri["hepatomegaly"], tri["splenomegaly"], tri["lymphadenopathy"])
    b23_lo, b23_hi = _count(b2, b3_no_c)

    c1 = _tri_any(_tri_cmp(num["anc"], ed.t("c1_anc")),
                  _tri_cmp(num["hemoglobin"], ed.t("c1_hemoglobin")),
                  _tri_cmp(num["platelets"], ed.t("c1_platelets")))
    c_terms = (c1, tri["hepatic_dysfunction"], tri["osteolysis"], tri["hypersplenism"],
               tri["malabsorption"])
    c_lo, c_hi = _count(*c_terms)

    child = _tri_cmp(num["age"], ed.t("child_age"))
    bm = tri["bm_examined"]
    parts = _Parts(
        major_pt=tri["bm_mc_aggregates"][0], major_pf=tri["bm_mc_aggregates"][1],
        minor_lo=minor_lo, minor_hi=minor_hi, b1x_pt=b1x[0], b1x_pf=b1x[1],
        b23_lo=b23_lo, b23_hi=b23_hi, c_lo=c_lo, c_hi=c_hi,
        mcl_pt=_tri_cmp(num["mc_aspirate_pct"], ed.t("mcl_aspirate"))[0],
        mcl_pf=_tri_cmp(num["mc_aspirate_pct"], ed.t("mcl_aspirate"))[1],
        sar_pt=tri["mc_sarcoma"][0], sar_pf=tri["mc_sarcoma"][1],
        o_pt=child[0] & bm[1], o_pf=child[1] | bm[0], f_pt=child[1] & bm[1],
    )
    # Reported findings (met for sure), with the real B3 definition.
    tryp = num["tryptase"]
    b1_report = (_tri_any(*b1_parts, _tri_cmp(tryp, ed.t("b1_tryptase"))) if ed.b1_any
                 else _tri_all(*b1_parts, _tri_cmp(tryp, ed.t("b1_tryptase"))))
    hd, hs = tri["hepatic_dysfunction"], tri["hypersplenism"]
    b3 = _tri_any(_tri_all(tri["hepatomegaly"], (hd[1], hd[0])),
                  _tri_all(tri["splenomegaly"], (hs[1], hs[0])), tri["lymphadenopathy"])
    extra = {
        "tri": tri, "num": num, "minor_b": minor_b, "minor_c": minor_c, "minor_a": minor_a,
        "b_sure": (_sure(b1_report), _sure(b2), _sure(b3)),
        "b1_report": b1_report, "b3_no_c": b3_no_c, "c1": c1,
        "c_sure": tuple(_sure(t) for t in c_terms), "c_undecided": c_terms,
        "asm_pt_pf": _possible(c_lo, c_hi, ed.t("asm_c_count")),
    }
    return parts, extra


def _lineage_codes(ahn: pd.Series) -> np.ndarray:
    """0 none, 1 myeloid, 2 lymphoid, -1 unknown, from the canonical ``ahn`` categorical."""
    lineage = ahn_lineage()
    cats = list(ahn.cat.categories)
    table = np.array([0 if c == "none" else _LINEAGES.index(lineage[c]) for c in cats] + [-1],
                     dtype=np.int8)
    return table[ahn.cat.codes.to_numpy()]  # code -1 (unknown) picks the last entry


def _evaluate(f: pd.DataFrame, ed: _Edition) -> dict[str, Any]:
    parts, extra = _build_parts(f, ed)
    n = len(f)
    tryp = extra["num"]["tryptase"]
    t_na = np.isnan(tryp)
    tcode = _tryptase_code(tryp, ed).astype(np.int8)
    scen = _tryptase_scenarios(ed.name)
    tcode[t_na] = scen[0]
    lin = _lineage_codes(f["ahn"])
    l_na = lin < 0
    skin_pt, skin_pf = extra["tri"]["skin_lesions"]
    s_na = skin_pt & skin_pf

    # One pass with every row's own shared findings (unknowns get a placeholder, redone below).
    cand, comp, sm_pt, sm_pf, (child_flag, forced) = _outcome(
        parts, ed, tcode, np.where(l_na, 0, lin), skin_pt & ~skin_pf)
    unknown = np.flatnonzero(t_na | l_na | s_na)
    if unknown.size:
        sub = parts.take(unknown)
        u_t, u_tc, u_l, u_s = t_na[unknown], tcode[unknown], lin[unknown], s_na[unknown]
        u_skin = skin_pt[unknown] & ~skin_pf[unknown]
        acc = [np.zeros(unknown.size, np.uint16), np.zeros(unknown.size, np.uint16)]
        accb = [np.zeros(unknown.size, bool) for _ in range(4)]
        for tc in scen:
            ok_t = u_t | (u_tc == tc)
            for lc in range(len(_LINEAGES)):
                ok_l = ok_t & ((u_l < 0) | (u_l == lc))
                for sk in (False, True):
                    ok = ok_l & (u_s | (u_skin == sk))
                    if not ok.any():
                        continue
                    c, cp, spt, spf, (cf, fo) = _outcome(sub, ed, np.int8(tc), lc, np.bool_(sk))
                    acc[0] |= np.where(ok, c, 0).astype(np.uint16)
                    acc[1] |= np.where(ok, cp, 0).astype(np.uint16)
                    accb[0] |= ok & spt
                    accb[1] |= ok & spf
                    accb[2] |= ok & cf
                    accb[3] |= ok & fo
        cand[unknown], comp[unknown] = acc
        sm_pt[unknown], sm_pf[unknown] = accb[0], accb[1]
        child_flag[unknown], forced[unknown] = accb[2], accb[3]
    return {"cand": cand, "comp": comp, "sm_pt": sm_pt, "sm_pf": sm_pf, "child_flag": child_flag,
            "forced": forced, "lin": lin, "tcode": tcode, "t_na": t_na, "extra": extra,
            "parts": parts, "n": n}


# --------------------------------------------------------------------------- reporting


def _has(cand: np.ndarray, *labels: str) -> np.ndarray:
    mask = np.uint16(sum(int(_BIT[lab]) for lab in labels))
    return (cand & mask) != 0


def _missing_mask(ev: dict[str, Any], ed: _Edition) -> np.ndarray:
    """Bitmask over COLUMNS of the unknown findings that separate the candidates.

    A column is listed when it is unknown, feeds a criterion still undecided, and that criterion
    separates two of the candidates (SM criteria; MCL; AHN; C findings for ASM vs a lower grade;
    B findings and the BMM conditions; sarcoma; skin, marrow examination and age for CM / none).
    """
    cand, ex = ev["cand"], ev["extra"]
    tri, num = ex["tri"], ex["num"]
    indet = _POPCOUNT[cand] > 1
    na = {c: (tri[c][0] & tri[c][1]) for c in tri}
    na |= {c: np.isnan(v) for c, v in num.items()}
    na["ahn"] = ev["lin"] < 0
    bit = {c: np.int64(1 << i) for i, c in enumerate(COLUMNS)}
    out = np.zeros(ev["n"], np.int64)

    def add(col: str, cond: np.ndarray) -> None:
        np.bitwise_or(out, bit[col], out=out, where=na[col] & cond & indet)

    sm_open = ev["sm_pt"] & ev["sm_pf"]
    add("bm_mc_aggregates", sm_open)
    add("atypical_mc_pct", sm_open)
    mb_open = sm_open & ~_sure(ex["minor_b"])
    add("kit_d816", mb_open)
    if ed.kit_other_counts:
        add("kit_other", mb_open)
    mc_open = sm_open & ~_sure(ex["minor_c"])
    add("cd2_cd25", mc_open)
    if ed.cd30_counts:
        add("cd30", mc_open)
    tryp_minor_possible = ev["t_na"] | (ev["tcode"] & 1).astype(bool)
    add("tryptase", sm_open)
    add("ahn", sm_open & tryp_minor_possible)

    add("mc_aspirate_pct", _has(cand, "MCL"))
    add("ahn", _has(cand, ed.ahn_label))

    grades = _has(cand, "ISM", "SSM", "BMM")
    c_open = _has(cand, "ASM") & grades
    c1_open = c_open & ~_sure(ex["c1"])
    for col in ("anc", "hemoglobin", "platelets"):
        add(col, c1_open)
    for col in ("hepatic_dysfunction", "hypersplenism", "osteolysis", "malabsorption"):
        add(col, c_open)

    b_open = (_has(cand, "SSM") & _has(cand, "ISM", "BMM")) | (_has(cand, "BMM") & _has(cand, "ISM"))
    b1_open = b_open & ~_sure(ex["b1_report"])
    add("bm_mc_infiltration_pct", b1_open)
    add("tryptase", b1_open)
    if "b1_kit_vaf" in ed.thresholds:
        add("kit_vaf_pct", b1_open)
    add("dysplasia_myeloproliferation", b_open)
    b3_open = b_open & ~_sure(ex["b3_no_c"])
    for col in ("hepatomegaly", "splenomegaly", "lymphadenopathy"):
        add(col, b3_open)
    bmm_open = _has(cand, "BMM") & _has(cand, "ISM")
    add("skin_lesions", bmm_open)
    add("tryptase", bmm_open)

    add("mc_sarcoma", _has(cand, "MCS"))
    skin_pt = tri["skin_lesions"][0]
    bm_pf = tri["bm_examined"][1]
    # Skin, marrow examination and age decide CM, and (through the child rule) SM vs not SM.
    cm = _has(cand, "CM")
    mixed = (_has(cand, "CM", "MCS", "none")
             & _has(cand, *(lab for lab in _LABELS if lab not in ("CM", "MCS", "none"))))
    add("skin_lesions", cm | mixed | _has(cand, "none"))
    add("bm_examined", (cm | mixed) & skin_pt)
    add("age", (cm | mixed) & skin_pt & bm_pf)
    return out


def _small_tuple_column(codes: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Object array of name tuples for bitmask codes below ``2 ** len(names)`` (a small table)."""
    table = np.empty(1 << len(names), dtype=object)
    table[:] = [_names(m, names) for m in range(len(table))]
    return table[codes]


def _names(mask: int, names: tuple[str, ...]) -> tuple[str, ...]:
    # Visits only the set bits, lowest first (mask & -mask isolates the lowest one).
    mask, out = int(mask), []
    while mask:
        low = mask & -mask
        out.append(names[low.bit_length() - 1])
        mask ^= low
    return tuple(out)


def _cand_tuple(mask: int) -> tuple[str, ...]:
    return tuple(lab for lab in _DISPLAY if mask & int(_BIT[lab]))


_CAND_TUPLES = np.empty(_NMASK, dtype=object)
_CAND_TUPLES[:] = [_cand_tuple(m) for m in range(_NMASK)]


def _tri_state(pt: np.ndarray, pf: np.ndarray) -> np.ndarray:
    """0 False, 1 True, 2 unknown."""
    return np.where(pt & pf, 2, pt.astype(np.int8)).astype(np.int8)


def _first_rows(codes: np.ndarray, n_unique: int) -> np.ndarray:
    """Index of the first row of each code 0..n_unique-1."""
    first = np.empty(n_unique, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return first


def _rationale_core(key: dict[str, Any], ed: _Edition) -> tuple[str, str, bool]:
    """(prefix, suffix, show B/C findings) of a rationale; the findings and unknowns go between."""
    sub = key["sub"]
    sm = ("SM criteria not met", "SM criteria met", "SM criteria undecided")[key["sm"]]
    if key["sm"] == 1:
        major = {1: "major", 0: "no major", 2: "major unknown"}[key["major"]]
        sm += f" ({major} + {key['minor']} minor)"
    elif key["sm"] == 2:
        sm += f" ({key['minor']} minor met for sure)"
    ahn_name = key["ahn_name"]
    if sub == INDETERMINATE:
        text = f"indeterminate between {', '.join(_cand_tuple(key['cand']))}; {sm}"
        show = True
    else:
        label = sub
        if sub == ed.ahn_label:
            label += f" (AHN: {ahn_name}; SM component {key['comp'] or 'undetermined'})"
        elif sub == "MCL":
            label += f" ({ed.t('mcl_aspirate').text()} %)"
        text = f"{label}; {sm}"
        show = sub in ("ISM", "SSM", "ASM", "BMM", "MCL", ed.ahn_label)
        text += {"CM": "; skin lesions", "none": "; no skin lesions, no mast-cell sarcoma",
                 "MCS": "; mast-cell sarcoma"}.get(sub, "")
    suffix = ""
    flags = _names(key["flags"], _FLAGS)
    if flags:
        notes = {fl: _FLAG_TEXT[fl] for fl in flags}
        if "mcl_with_ahn" in notes:
            notes["mcl_with_ahn"] = f"AHN noted with MCL: {ahn_name}"
        if "lymphoid_neoplasm_alongside" in notes:
            notes["lymphoid_neoplasm_alongside"] = (
                f"associated lymphoid neoplasm reported alongside: {ahn_name}")
        suffix = "; " + "; ".join(notes.values())
    return f"{ed.label} ({ed.citation}): {text}", suffix, show


def _findings_text(bc: int) -> str:
    b, c = _names(bc >> 5, _B_NAMES), _names(bc & 31, _C_NAMES)
    return (f"; B findings met: {', '.join(b) if b else 'none'}"
            f"; C findings met: {', '.join(c) if c else 'none'}")


_FINDINGS_TEXT = tuple(_findings_text(bc) for bc in range(1 << (len(_B_NAMES) + len(_C_NAMES))))


def _missing_text(cols: tuple[str, ...]) -> str:
    return f"; unknown findings that would decide: {', '.join(cols)}" if cols else ""


def _rationales(parts: dict[str, np.ndarray], ed: _Edition, ahn_cats: list[str]) -> np.ndarray:
    """One line per row, each distinct line built once from a few small lookup tables."""
    core_key = parts["cand"].astype(np.int64)
    for name, size in (("code", 12), ("sm", 3), ("major", 3), ("minor", 8), ("comp", 12),
                       ("flags", 1 << len(_FLAGS)), ("ahn", 64)):
        core_key = core_key * size + parts[name]
    core_codes, core_u = pd.factorize(core_key)
    first = _first_rows(core_codes, len(core_u))
    cores = []
    for i in first:
        code, comp, ahn = parts["code"][i] - 1, parts["comp"][i] - 1, parts["ahn"][i] - 1
        cores.append(_rationale_core({
            "cand": int(parts["cand"][i]), "sub": _SUBTYPE_CATEGORIES[code] if code >= 0
            else INDETERMINATE, "sm": int(parts["sm"][i]), "major": int(parts["major"][i]),
            "minor": int(parts["minor"][i]), "comp": _LABELS[comp] if comp >= 0 else None,
            "flags": int(parts["flags"][i]), "ahn_name": ahn_cats[ahn] if ahn > 0 else None,
        }, ed))
    miss_codes, miss_u, miss_names = parts["missing"]
    miss_text = [_missing_text(cols) for cols in miss_names]
    bc = parts["b"] * 32 + parts["c"]
    combo = (core_codes.astype(np.int64) * 256 + bc) * len(miss_u) + miss_codes
    combo_codes, combo_u = pd.factorize(combo)
    table = np.empty(len(combo_u), dtype=object)
    for j, i in enumerate(_first_rows(combo_codes, len(combo_u))):
        prefix, suffix, show = cores[core_codes[i]]
        table[j] = (prefix + (_FINDINGS_TEXT[bc[i]] if show else "")
                    + miss_text[miss_codes[i]] + suffix)
    return table[combo_codes]


@dataclass(frozen=True)
class Classification:
    """The classification of one patient (returned when ``classify`` gets one mapping).

    Attributes mirror the columns of the DataFrame ``classify`` returns; tri-state fields are
    ``True``, ``False`` or ``None`` (unknown).
    """

    patient_id: Any
    subtype: str
    candidates: tuple[str, ...]
    sm_criteria_met: bool | None
    major_criterion: bool | None
    minor_criteria: int
    b_findings: tuple[str, ...]
    c_findings: tuple[str, ...]
    sm_component: str | None
    missing: tuple[str, ...]
    rationale: str
    edition: str
    flags: tuple[str, ...] = ()

    @property
    def definite(self) -> bool:
        """True when the findings decide one subtype."""
        return self.subtype != INDETERMINATE


def classify(data: FindingsSource, edition: str = "who2016") -> pd.DataFrame | Classification:
    """Mastocytosis subtype by the WHO 2016, WHO 2022 or ICC 2022 criteria.

    Parameters
    ----------
    data : DataFrame, mapping or path
        Patient findings in the canonical columns (see ``findings.read_findings``): tryptase in
        ng/mL, blood counts in 10^9/L, hemoglobin in g/dL, percentages 0-100, age in years.
        Unknown findings are empty/NaN/None and are evaluated both ways, never guessed.
    edition : {"who2016", "who2022", "icc2022"}
        Rule set; ``who2016`` (the seed review's) is the default.

    Returns
    -------
    DataFrame or Classification
        Indexed like the input, with ``patient_id`` (if given), ``subtype`` (a label of
        ``SUBTYPE_LABELS`` or ``"indeterminate"``), ``candidates`` (tuple of labels reachable by
        filling the unknowns, least advanced first; one element when definite),
        ``sm_criteria_met`` and ``major_criterion`` (pandas boolean, <NA> = undecided),
        ``minor_criteria`` (count met for sure), ``b_findings`` / ``c_findings`` (met for sure,
        e.g. ``("B1", "B3")``), ``sm_component`` (ISM/SSM/ASM, or BMM in WHO 2022, for SM-AHN /
        SM-AMN; else None), ``missing`` (unknown columns that would decide an indeterminate case),
        ``rationale`` (one line citing the edition), ``edition`` and ``flags`` (e.g.
        ``"tryptase_uncertain_hat"``, ``"mcl_with_ahn"``, ``"skin_no_marrow"``). One mapping in
        gives one frozen :class:`Classification`.

    Raises
    ------
    ValueError
        Unknown ``edition``.
    FindingsError
        Invalid findings (every problem listed, with row, column, value and expected range).

    Notes
    -----
    Exact candidate sets: see the module docstring for the method and the decisions taken
    (B1 "and/or", myeloid AHN invalidating tryptase, MCL before SM-AHN, children, HaT, BMM,
    SM-AMN). No per-row Python: one million rows take well under a second plus validation.

    References
    ----------
    Arber DA et al., Blood 2016;127:2391, doi:10.1182/blood-2016-03-643544.
    Khoury JD et al., Leukemia 2022;36:1703, doi:10.1038/s41375-022-01613-1.
    Arber DA et al., Blood 2022;140:1200, doi:10.1182/blood.2022015850.

    Examples
    --------
    A 45-year-old with skin lesions whose marrow shows dense aggregates and KIT D816V, tryptase
    35 ng/mL, no B or C finding:

    >>> ism = {"age": 45, "skin_lesions": True, "bm_examined": True, "bm_mc_aggregates": True,
    ...        "kit_d816": True, "tryptase": 35, "bm_mc_infiltration_pct": 10,
    ...        "mc_aspirate_pct": 1, "dysplasia_myeloproliferation": False,
    ...        "hepatomegaly": False, "splenomegaly": False, "lymphadenopathy": False,
    ...        "hepatic_dysfunction": False, "hypersplenism": False, "malabsorption": False,
    ...        "osteolysis": False, "anc": 3.0, "hemoglobin": 13.5, "platelets": 250,
    ...        "mc_sarcoma": False}
    >>> r = classify(ism)
    >>> r.subtype, r.minor_criteria, r.b_findings, r.c_findings
    ('ISM', 2, (), ())

    Blood counts unknown: C1 is undecided, so ISM and ASM both remain, and the counts would decide.

    >>> r = classify(ism | {"anc": None, "hemoglobin": None, "platelets": None})
    >>> r.subtype, r.candidates, r.missing
    ('indeterminate', ('ISM', 'ASM'), ('anc', 'hemoglobin', 'platelets'))

    The editions disagree on the same findings: B1 reads "and/or" in WHO 2016 (tryptase > 200
    suffices, so B1 + B3 = SSM) but "and" in ICC 2022 (infiltration 10 % fails it: ISM).

    >>> import pandas as pd
    >>> f = pd.DataFrame([ism | {"tryptase": 250, "hepatomegaly": True}])
    >>> [classify(f, edition=e)["subtype"].iloc[0] for e in ("who2016", "who2022", "icc2022")]
    ['SSM', 'SSM', 'ISM']
    """
    ed = _check_edition(edition)
    frame, single = ensure_findings(data, columns=COLUMNS)
    result = _classify_frame(frame, ed)
    if single:
        return _one(result.iloc[0])
    return result


def _classify_frame(frame: pd.DataFrame, ed: _Edition) -> pd.DataFrame:
    """Rules and reporting on a frame already validated by ``ensure_findings``."""
    ev = _evaluate(frame, ed)
    n = ev["n"]
    cand = ev["cand"]
    ex = ev["extra"]

    code = _SINGLE[cand]
    subtype = pd.Categorical.from_codes(np.where(code < 0, len(_LABELS), code),
                                        categories=list(_SUBTYPE_CATEGORIES))
    sm_state = _tri_state(ev["sm_pt"], ev["sm_pf"])
    major_state = _tri_state(*ex["tri"]["bm_mc_aggregates"])

    lin = ev["lin"]
    d_sure = ((~ev["t_na"]) & (ev["tcode"] & 1).astype(bool) & (lin >= 0)
              & ~ed.tryptase_invalid[np.where(lin < 0, 0, lin)])
    minor = (ev["parts"].minor_lo + d_sure).astype(np.int64)
    b_mask = sum(s.astype(np.int64) << i for i, s in enumerate(ex["b_sure"]))
    c_mask = sum(s.astype(np.int64) << i for i, s in enumerate(ex["c_sure"]))

    # SM component of a definite SM-AHN / SM-AMN, when one grade is reachable.
    comp_code = _SINGLE[ev["comp"]]
    is_ahn = code == _LABELS.index(ed.ahn_label)
    comp_code = np.where(is_ahn, comp_code, -1)

    # Flags.
    hat = ex["tri"]["hat"]
    flag = {
        "tryptase_uncertain_hat": (ed.hat_flag & _sure(hat) & (ev["tcode"] & 1).astype(bool)
                                   & ~ev["t_na"] & ~ed.tryptase_invalid[np.where(lin < 0, 0, lin)]
                                   & ev["sm_pt"]),
        "mcl_with_ahn": (code == _LABELS.index("MCL")) & (lin > 0),
        "lymphoid_neoplasm_alongside": ((lin >= 0) & ~ed.ahn_qualifies[np.where(lin < 0, 0, lin)]
                                        & (lin > 0) & ~_has(cand, "CM", "none", "MCS")),
        "child_skin_no_marrow": ev["child_flag"] & _has(cand, "CM"),
        "skin_no_marrow": ev["forced"],
        "mcl_morphology_unchecked": np.full(n, ed.name == "icc2022") & _has(cand, "MCL"),
    }
    flag_mask = sum(flag[f].astype(np.int64) << i for i, f in enumerate(_FLAGS))
    missing = _missing_mask(ev, ed)

    ahn_codes = frame["ahn"].cat.codes.to_numpy().astype(np.int64)
    miss_codes, miss_u = pd.factorize(missing)
    miss_names = [_names(m, COLUMNS) for m in miss_u]  # once, for the column and the rationale
    rationale_parts = {
        "cand": cand, "code": code.astype(np.int64) + 1, "sm": sm_state, "major": major_state,
        "minor": minor, "comp": comp_code.astype(np.int64) + 1, "flags": flag_mask,
        "ahn": ahn_codes + 1, "missing": (miss_codes, miss_u, miss_names), "b": b_mask, "c": c_mask,
    }
    rationale = _rationales(rationale_parts, ed, list(frame["ahn"].cat.categories))

    def boolean(state: np.ndarray) -> pd.arrays.BooleanArray:
        return pd.arrays.BooleanArray(state == 1, state == 2)

    comp_labels = np.array([*_LABELS, None], dtype=object)
    miss_table = np.empty(len(miss_u), dtype=object)
    miss_table[:] = miss_names
    cols: dict[str, Any] = {}
    if "patient_id" in frame.columns:
        cols["patient_id"] = frame["patient_id"].to_numpy().copy()  # not a view of the input
    cols.update({
        "subtype": subtype,
        "candidates": _CAND_TUPLES[cand],
        "sm_criteria_met": boolean(sm_state),
        "major_criterion": boolean(major_state),
        "minor_criteria": minor,
        "b_findings": _small_tuple_column(b_mask, _B_NAMES),
        "c_findings": _small_tuple_column(c_mask, _C_NAMES),
        "sm_component": comp_labels[comp_code],
        "missing": miss_table[miss_codes],
        "rationale": rationale,
        "edition": pd.Categorical.from_codes(np.zeros(n, np.int8), categories=[ed.name]),
        "flags": _small_tuple_column(flag_mask, _FLAGS),
    })
    # Every array above is new, so the frame takes them as they are (copy=False): one block
    # per column, no copy and no consolidation of the object columns into one 2-D block.
    result = pd.DataFrame(cols, index=frame.index, copy=False)
    return result


def _one(row: pd.Series) -> Classification:
    def tri(v: Any) -> bool | None:
        return None if pd.isna(v) else bool(v)

    return Classification(
        patient_id=row.get("patient_id"), subtype=str(row["subtype"]),
        candidates=row["candidates"], sm_criteria_met=tri(row["sm_criteria_met"]),
        major_criterion=tri(row["major_criterion"]), minor_criteria=int(row["minor_criteria"]),
        b_findings=row["b_findings"], c_findings=row["c_findings"],
        sm_component=row["sm_component"], missing=row["missing"], rationale=row["rationale"],
        edition=row["edition"], flags=row["flags"],
    )
