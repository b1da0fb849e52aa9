"""WHO 2016 (default), WHO 2022 and ICC 2022 subtype classification: the public functions.

``classify(findings)`` always returns a DataFrame (one row per patient, a mapping gives one row);
``classify_patient(mapping)`` returns one frozen :class:`Classification`. The rules are those of
``who_criteria.md`` (shipped decisions included), with their numbers in the data files (see
``_editions``); the exact candidate sets come from ``_engine``.

Decisions (see also ``who_criteria.md``)
----------------------------------------
* B1 in WHO 2016 follows the WHO wording "and/or" (infiltration > 30 % or tryptase > 200 ng/mL
  suffices); the seed review's Table 2 and ICC 2022 read "and" (ICC is implemented with "and").
* The tryptase minor criterion does not count with an associated *myeloid* neoplasm (all editions;
  lineage from ``findings.ahn_lineage()``). B1 and the BMM bound use tryptase as measured.
* Precedence: MCL > SM-AHN (SM-AMN, SM-ALN) > ASM > SSM > ISM (BMM in WHO 2022). MCL with an AHN is
  reported as MCL with the AHN noted in ``rationale`` and ``flags``.
* ICC 2022: the major criterion alone suffices; SM-AMN for a myeloid neoplasm; SM with a lymphoid
  neoplasm is labelled ``SM-ALN`` (the ICC grouping of the Mayo 910 cohort, PMID 40607735: median
  8.1 y vs 2.0 y for SM-AMN), with its SM component reported. B2 also counts a cytopenia short of
  C1, or a cytosis, derived from the counts (thresholds in ``classification_thresholds.csv``); B3
  counts lymph nodes > 1 cm (``lymphadenopathy_1cm``, or ``lymphadenopathy`` > 2 cm). ICC also
  asks for immature mast-cell morphology in MCL, which is not a column: the rationale says so.
* WHO 2016 / WHO 2022 define SM-AHN for any associated hematologic neoplasm, lymphoid ones
  included, so a lymphoid AHN stays SM-AHN there, flagged ``lymphoid_ahn`` (ICC would say
  SM-ALN). Switching WHO to SM-ALN is one cell (``lymphoid_label``) of
  ``classification_editions.csv``.
* Hypereosinophilic syndrome without a clonal marker is not an associated myeloid neoplasm
  (lineage ``none`` in ``ahn_entities.csv``): flagged ``ahn_not_neoplasm`` and not counted.
* Hereditary alpha-tryptasemia (``hat`` true) in WHO 2022 / ICC 2022: no correction formula is
  fixed, so tryptase is used as measured and the result carries the flag "tryptase criterion
  uncertain". An unknown ``hat`` means HaT is not known, so nothing is flagged.
* Not SM: MCS if ``mc_sarcoma``; else with skin lesions CM when the marrow was examined; a child
  (age < 18, from the data file) with skin lesions and no marrow examination is CM whatever the SM
  criteria say (paediatric convention); an adult with skin lesions and no marrow examination is
  ``indeterminate`` between CM and the SM subtypes the other findings allow ("mastocytosis in the
  skin"); otherwise ``none``.
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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._logic import state
from ..findings import FindingsSource, ensure_findings
from ._editions import (
    B2_COUNT_RULES,
    B_NAMES,
    BIT,
    C_NAMES,
    INDETERMINATE,
    LABELS,
    N_MASKS,
    SUBTYPE_CATEGORIES,
    SUBTYPE_SEVERITY,
    Edition,
    check_edition,
)
from ._engine import COLUMNS, Evaluation, evaluate

__all__ = ["Classification", "classify", "classify_patient"]

# Candidate tuples are shown from least to most advanced.
_DISPLAY = sorted(LABELS, key=lambda lab: (SUBTYPE_SEVERITY[lab], lab))
_POPCOUNT = np.array([bin(m).count("1") for m in range(N_MASKS)], dtype=np.int8)
_SINGLE = np.array([LABELS.index(next(lab for lab in LABELS if m == int(BIT[lab])))
                    if _POPCOUNT[m] == 1 else -1 for m in range(N_MASKS)], dtype=np.int16)
_FLAG_TEXT = {
    "tryptase_uncertain_hat": "tryptase criterion uncertain (HaT known; tryptase not adjusted)",
    "mcl_with_ahn": "AHN noted with MCL",
    "lymphoid_neoplasm_alongside": "associated lymphoid neoplasm reported alongside",
    "child_skin_no_marrow": "child with skin lesions, no marrow examination: CM",
    "skin_no_marrow": "adult with skin lesions, no marrow examination: SM not excluded",
    "mcl_morphology_unchecked": "ICC MCL also requires immature mast-cell morphology (not recorded)",
    "lymphoid_ahn": ("the AHN is lymphoid: ICC 2022 reports SM-ALN (SM with an associated lymphoid "
                     "neoplasm, Mayo 2025 median OS 8.1 y vs 2.3 y for WHO SM-AHN)"),
    "ahn_not_neoplasm": ("not counted as an AHN: hypereosinophilic syndrome without a clonal marker "
                         "is not an associated myeloid neoplasm (record a clonal one as CEL)"),
}
_FLAGS = tuple(_FLAG_TEXT)


# --------------------------------------------------------------------------- small tables


def _names(mask: int, names: tuple[str, ...]) -> tuple[str, ...]:
    # Visits only the set bits, lowest first (mask & -mask isolates the lowest one).
    mask, out = int(mask), []
    while mask:
        low = mask & -mask
        out.append(names[low.bit_length() - 1])
        mask ^= low
    return tuple(out)


def _small_tuple_column(codes: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Object array of name tuples for bitmask codes below ``2 ** len(names)`` (a small table)."""
    table = np.empty(1 << len(names), dtype=object)
    table[:] = [_names(m, names) for m in range(len(table))]
    return table[codes]


def _cand_tuple(mask: int) -> tuple[str, ...]:
    return tuple(lab for lab in _DISPLAY if mask & int(BIT[lab]))


_CAND_TUPLES = np.empty(N_MASKS, dtype=object)
_CAND_TUPLES[:] = [_cand_tuple(m) for m in range(N_MASKS)]


def _has(cand: np.ndarray, *labels: str) -> np.ndarray:
    mask = np.uint16(sum(int(BIT[lab]) for lab in labels))
    return (cand & mask) != 0


def _first_rows(codes: np.ndarray, n_unique: int) -> np.ndarray:
    """Index of the first row of each code 0..n_unique-1."""
    first = np.empty(n_unique, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return first


# --------------------------------------------------------------------------- missing findings


class _Missing:
    """Bitmask over COLUMNS of the unknown findings that separate the candidates."""

    def __init__(self, ev: Evaluation):
        tri, num = ev.found.tri, ev.found.num
        self.na = {c: ~t.known for c, t in tri.items()} | {c: np.isnan(v) for c, v in num.items()}
        self.na["ahn"] = ev.lin < 0
        self.indet = _POPCOUNT[ev.cand] > 1
        self.bit = {c: np.int64(1 << i) for i, c in enumerate(COLUMNS)}
        self.out = np.zeros(ev.n, np.int64)

    def add(self, cond: np.ndarray, *cols: str) -> None:
        for col in cols:
            np.bitwise_or(self.out, self.bit[col], out=self.out, where=self.na[col] & cond & self.indet)


def _missing_sm(m: _Missing, ev: Evaluation, ed: Edition) -> None:
    """SM criteria undecided: the findings of the major and minor criteria."""
    sm_open = ev.sm_pt & ev.sm_pf
    m.add(sm_open, "bm_mc_aggregates", "atypical_mc_pct", "tryptase")
    m.add(sm_open & ~ev.found.minor_b.lo, "kit_d816", *(["kit_other"] if ed.kit_other_counts else []))
    m.add(sm_open & ~ev.found.minor_c.lo, "cd2_cd25", *(["cd30"] if ed.cd30_counts else []))
    m.add(sm_open & (ev.t_na | (ev.tcode & 1).astype(bool)), "ahn")


def _missing_grade(m: _Missing, ev: Evaluation, ed: Edition) -> None:
    """Grade undecided: C findings (ASM vs lower), B findings and the BMM conditions."""
    cand, found = ev.cand, ev.found
    c_open = _has(cand, "ASM") & _has(cand, "ISM", "SSM", "BMM")
    m.add(c_open & ~found.c1.lo, "anc", "hemoglobin", "platelets")
    m.add(c_open, "hepatic_dysfunction", "hypersplenism", "osteolysis", "malabsorption")
    b_open = (_has(cand, "SSM") & _has(cand, "ISM", "BMM")) | (_has(cand, "BMM") & _has(cand, "ISM"))
    b1_open = b_open & ~found.b1.lo
    m.add(b1_open, "bm_mc_infiltration_pct", "tryptase",
          *(["kit_vaf_pct"] if "b1_kit_vaf" in ed.thresholds else []))
    b2_open = b_open & ~found.b2.lo
    m.add(b2_open, "dysplasia_myeloproliferation", *(B2_COUNT_RULES if ed.b2_counts else ()))
    m.add(b_open & ~found.b3_no_c.lo, "hepatomegaly", "splenomegaly", *ed.b3_lymph_columns)
    m.add(_has(cand, "BMM") & _has(cand, "ISM"), "skin_lesions", "tryptase")


def _missing_mask(ev: Evaluation, ed: Edition) -> np.ndarray:
    """Bitmask over COLUMNS of the unknown findings that separate the candidates.

    A column is listed when it is unknown, feeds a criterion still undecided, and that criterion
    separates two of the candidates (SM criteria; MCL; AHN; C findings for ASM vs a lower grade;
    B findings and the BMM conditions; sarcoma; skin, marrow examination and age for CM / none).
    """
    m, cand = _Missing(ev), ev.cand
    _missing_sm(m, ev, ed)
    m.add(_has(cand, "MCL"), "mc_aspirate_pct")
    m.add(_has(cand, *ed.associated_labels), "ahn")
    _missing_grade(m, ev, ed)
    m.add(_has(cand, "MCS"), "mc_sarcoma")
    skin_pt, bm_pf = ev.found.tri["skin_lesions"].hi, ~ev.found.tri["bm_examined"].lo
    # Skin, marrow examination and age decide CM, and (through the child rule) SM vs not SM.
    cm = _has(cand, "CM")
    mixed = (_has(cand, "CM", "MCS", "none")
             & _has(cand, *(lab for lab in LABELS if lab not in ("CM", "MCS", "none"))))
    m.add(cm | mixed | _has(cand, "none"), "skin_lesions")
    m.add((cm | mixed) & skin_pt, "bm_examined")
    m.add((cm | mixed) & skin_pt & bm_pf, "age")
    return m.out


# --------------------------------------------------------------------------- rationale


def _sm_text(key: dict[str, Any]) -> str:
    sm = ("SM criteria not met", "SM criteria met", "SM criteria undecided")[key["sm"]]
    if key["sm"] == 1:
        major = {1: "major", 0: "no major", 2: "major unknown"}[key["major"]]
        sm += f" ({major} + {key['minor']} minor)"
    elif key["sm"] == 2:
        sm += f" ({key['minor']} minor met for sure)"
    return sm


def _label_text(key: dict[str, Any], ed: Edition) -> tuple[str, bool]:
    """The subtype with its qualifier, and whether the B/C findings are shown."""
    sub = key["sub"]
    if sub == INDETERMINATE:
        return f"indeterminate between {', '.join(_cand_tuple(key['cand']))}", True
    label = sub
    if sub in ed.associated_labels:
        kind = "ALN" if sub == "SM-ALN" else "AHN"
        label += f" ({kind}: {key['ahn_name']}; SM component {key['comp'] or 'undetermined'})"
    elif sub == "MCL":
        label += f" ({ed.t('mcl_aspirate').text()} %)"
    return label, sub in ("ISM", "SSM", "ASM", "BMM", "MCL", *ed.associated_labels)


def _flags_text(key: dict[str, Any]) -> str:
    flags = _names(key["flags"], _FLAGS)
    if not flags:
        return ""
    notes = {fl: _FLAG_TEXT[fl] for fl in flags}
    ahn_name = key["ahn_name"]
    if "mcl_with_ahn" in notes:
        notes["mcl_with_ahn"] = f"AHN noted with MCL: {ahn_name}"
    if "lymphoid_neoplasm_alongside" in notes:
        notes["lymphoid_neoplasm_alongside"] = f"associated lymphoid neoplasm reported alongside: {ahn_name}"
    return "; " + "; ".join(notes.values())


_SUFFIX = {"CM": "; skin lesions", "none": "; no skin lesions, no mast-cell sarcoma",
           "MCS": "; mast-cell sarcoma"}


def _rationale_core(key: dict[str, Any], ed: Edition) -> tuple[str, str, bool]:
    """(prefix, suffix, show B/C findings) of a rationale; the findings and unknowns go between."""
    label, show = _label_text(key, ed)
    text = f"{label}; {_sm_text(key)}{_SUFFIX.get(key['sub'], '')}"
    return f"{ed.label} ({ed.citation}): {text}", _flags_text(key), show


def _findings_text(bc: int) -> str:
    b, c = _names(bc >> 5, B_NAMES), _names(bc & 31, C_NAMES)
    return (f"; B findings met: {', '.join(b) if b else 'none'}"
            f"; C findings met: {', '.join(c) if c else 'none'}")


_FINDINGS_TEXT = tuple(_findings_text(bc) for bc in range(1 << (len(B_NAMES) + len(C_NAMES))))


def _missing_text(cols: tuple[str, ...]) -> str:
    return f"; unknown findings that would decide: {', '.join(cols)}" if cols else ""


_KEY_SIZES = (("code", len(SUBTYPE_CATEGORIES) + 1), ("sm", 3), ("major", 3), ("minor", 8),
              ("comp", len(SUBTYPE_CATEGORIES) + 1), ("flags", 1 << len(_FLAGS)), ("ahn", 64))


def _cores(parts: dict[str, np.ndarray], ed: Edition, ahn_cats: list[str]) -> tuple[np.ndarray, list]:
    """Codes of the distinct (subtype, criteria, flags, AHN) patterns and their text, once each."""
    core_key = parts["cand"].astype(np.int64)
    for name, size in _KEY_SIZES:
        core_key = core_key * size + parts[name]
    core_codes, core_u = pd.factorize(core_key)
    cores = []
    for i in _first_rows(core_codes, len(core_u)):
        code, comp, ahn = parts["code"][i] - 1, parts["comp"][i] - 1, parts["ahn"][i] - 1
        cores.append(_rationale_core({
            "cand": int(parts["cand"][i]),
            "sub": SUBTYPE_CATEGORIES[code] if code >= 0 else INDETERMINATE,
            "sm": int(parts["sm"][i]), "major": int(parts["major"][i]), "minor": int(parts["minor"][i]),
            "comp": LABELS[comp] if comp >= 0 else None, "flags": int(parts["flags"][i]),
            "ahn_name": ahn_cats[ahn] if ahn > 0 else None,
        }, ed))
    return core_codes, cores


def _rationales(parts: dict[str, Any], ed: Edition, ahn_cats: list[str]) -> np.ndarray:
    """One line per row, each distinct line built once from a few small lookup tables."""
    core_codes, cores = _cores(parts, ed, ahn_cats)
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


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Classification:
    """The classification of one patient (what :func:`classify_patient` returns).

    Attributes mirror the columns of the DataFrame :func:`classify` returns; tri-state fields are
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


def _flag_mask(ev: Evaluation, ed: Edition, code: np.ndarray, ahn: pd.Series) -> np.ndarray:
    lin, cand = ev.lin, ev.cand
    lin0 = np.where(lin < 0, 0, lin)
    tryptase_counts = (ev.tcode & 1).astype(bool) & ~ev.t_na & ~ed.tryptase_invalid[lin0]
    assoc_none = ed.lineage_bit[lin0] == 0
    not_sm = _has(cand, "CM", "none", "MCS")
    ahn_given = np.asarray(ahn.cat.codes) > 0  # category 0 is "none"
    flag = {
        "tryptase_uncertain_hat": ed.hat_flag & ev.found.tri["hat"].lo & tryptase_counts & ev.sm_pt,
        "mcl_with_ahn": (code == LABELS.index("MCL")) & (lin > 0),
        "lymphoid_neoplasm_alongside": (lin > 0) & assoc_none & ~not_sm,
        "child_skin_no_marrow": ev.child_flag & _has(cand, "CM"),
        "skin_no_marrow": ev.forced,
        "mcl_morphology_unchecked": np.full(ev.n, ed.name == "icc2022") & _has(cand, "MCL"),
        "lymphoid_ahn": (lin == 2) & (ed.lineage_bit[2] == BIT["SM-AHN"]) & _has(cand, "SM-AHN"),
        "ahn_not_neoplasm": ahn_given & (lin == 0),
    }
    return _bitmask(tuple(np.broadcast_to(flag[f], (ev.n,)) for f in _FLAGS))


def _bitmask(flags: tuple[np.ndarray, ...]) -> np.ndarray:
    """One int64 per row with bit i set where ``flags[i]`` is true."""
    out = np.zeros(len(flags[0]), np.int64)
    for i, f in enumerate(flags):
        out |= f.astype(np.int64) << i
    return out


def _boolean(st: np.ndarray) -> pd.arrays.BooleanArray:
    return pd.arrays.BooleanArray(st == 1, st == 2)


def _classify_frame(frame: pd.DataFrame, ed: Edition) -> pd.DataFrame:
    """Rules and reporting on a frame already validated by ``ensure_findings``."""
    ev = evaluate(frame, ed)
    cand = ev.cand
    code = _SINGLE[cand]
    sm_state = np.where(ev.sm_pt & ev.sm_pf, 2, ev.sm_pt).astype(np.int8)
    major_state = state(ev.found.tri["bm_mc_aggregates"])
    lin0 = np.where(ev.lin < 0, 0, ev.lin)
    d_sure = ~ev.t_na & (ev.tcode & 1).astype(bool) & (ev.lin >= 0) & ~ed.tryptase_invalid[lin0]
    minor = (ev.parts.minor_lo + d_sure).astype(np.int64)
    b_mask, c_mask = _bitmask(ev.found.b_sure), _bitmask(ev.found.c_sure)
    # SM component of a definite associated-neoplasm label, when one grade is reachable.
    is_assoc = np.isin(code, [LABELS.index(lab) for lab in ed.associated_labels])
    comp_code = np.where(is_assoc, _SINGLE[ev.comp], -1)
    flag_mask = _flag_mask(ev, ed, code, frame["ahn"])
    miss_codes, miss_u = pd.factorize(_missing_mask(ev, ed))
    miss_names = [_names(m, COLUMNS) for m in miss_u]  # once, for the column and the rationale
    rationale = _rationales({
        "cand": cand, "code": code.astype(np.int64) + 1, "sm": sm_state, "major": major_state,
        "minor": minor, "comp": comp_code.astype(np.int64) + 1, "flags": flag_mask,
        "ahn": frame["ahn"].cat.codes.to_numpy().astype(np.int64) + 1,
        "missing": (miss_codes, miss_u, miss_names), "b": b_mask, "c": c_mask,
    }, ed, list(frame["ahn"].cat.categories))
    miss_table = np.empty(len(miss_u), dtype=object)
    miss_table[:] = miss_names
    cols: dict[str, Any] = {}
    if "patient_id" in frame.columns:
        cols["patient_id"] = frame["patient_id"].to_numpy().copy()  # not a view of the input
    cols.update({
        "subtype": pd.Categorical.from_codes(np.where(code < 0, len(LABELS), code),
                                             categories=list(SUBTYPE_CATEGORIES)),
        "candidates": _CAND_TUPLES[cand],
        "sm_criteria_met": _boolean(sm_state),
        "major_criterion": _boolean(major_state),
        "minor_criteria": minor,
        "b_findings": _small_tuple_column(b_mask, B_NAMES),
        "c_findings": _small_tuple_column(c_mask, C_NAMES),
        "sm_component": np.array([*LABELS, None], dtype=object)[comp_code],
        "missing": miss_table[miss_codes],
        "rationale": rationale,
        "edition": pd.Categorical.from_codes(np.zeros(ev.n, np.int8), categories=[ed.name]),
        "flags": _small_tuple_column(flag_mask, _FLAGS),
    })
    # Every array above is new, so the frame takes them as they are (copy=False): one block
    # per column, no copy and no consolidation of the object columns into one 2-D block.
    return pd.DataFrame(cols, index=frame.index, copy=False)


def classify(data: FindingsSource, edition: str = "who2016") -> pd.DataFrame:
    """Mastocytosis subtype of every patient by the WHO 2016, WHO 2022 or ICC 2022 criteria.

    Parameters
    ----------
    data : DataFrame, mapping or path
        Patient findings in the canonical columns (see ``findings.read_findings``): tryptase in
        ng/mL, blood counts in 10^9/L, hemoglobin in g/dL, percentages 0-100, age in years.
        Unknown findings are empty/NaN/None and are evaluated both ways, never guessed. A mapping
        is one patient (one row); :func:`classify_patient` returns it as a :class:`Classification`.
    edition : {"who2016", "who2022", "icc2022"}
        Rule set; ``who2016`` (the seed review's) is the default.

    Returns
    -------
    DataFrame
        Always a frame, indexed like the input, with ``patient_id`` (if given), ``subtype`` (a
        label of ``SUBTYPE_LABELS`` or ``"indeterminate"``), ``candidates`` (tuple of labels
        reachable by filling the unknowns, least advanced first; one element when definite),
        ``sm_criteria_met`` and ``major_criterion`` (pandas boolean, <NA> = undecided),
        ``minor_criteria`` (count met for sure), ``b_findings`` / ``c_findings`` (met for sure,
        e.g. ``("B1", "B3")``), ``sm_component`` (ISM/SSM/ASM, or BMM in WHO 2022, for SM-AHN /
        SM-AMN / SM-ALN; else None), ``missing`` (unknown columns that would decide an
        indeterminate case), ``rationale`` (one line citing the edition), ``edition`` and
        ``flags`` (e.g. ``"tryptase_uncertain_hat"``, ``"mcl_with_ahn"``, ``"lymphoid_ahn"``).

    Raises
    ------
    ValueError
        Unknown ``edition``.
    FindingsError
        Invalid findings (every problem listed, with row, column, value and expected range).

    Notes
    -----
    Exact candidate sets: see ``_engine`` for the method and ``_report`` for the decisions taken
    (B1 "and/or", myeloid AHN invalidating tryptase, MCL before SM-AHN, SM-ALN, ICC B2/B3,
    children, HaT, BMM, SM-AMN). No per-row Python: one million rows take well under a second
    plus validation.

    References
    ----------
    Arber DA et al., Blood 2016;127:2391, doi:10.1182/blood-2016-03-643544.
    Khoury JD et al., Leukemia 2022;36:1703, doi:10.1038/s41375-022-01613-1.
    Arber DA et al., Blood 2022;140:1200, doi:10.1182/blood.2022015850.

    Examples
    --------
    The editions disagree on the same findings: B1 reads "and/or" in WHO 2016 (tryptase > 200
    suffices, so B1 + B3 = SSM) but "and" in ICC 2022 (infiltration 10 % fails it: ISM).

    >>> import pandas as pd
    >>> ism = {"age": 45, "skin_lesions": True, "bm_examined": True, "bm_mc_aggregates": True,
    ...        "kit_d816": True, "tryptase": 250, "bm_mc_infiltration_pct": 10,
    ...        "mc_aspirate_pct": 1, "dysplasia_myeloproliferation": False,
    ...        "hepatomegaly": True, "splenomegaly": False, "lymphadenopathy": False,
    ...        "lymphadenopathy_1cm": False, "hepatic_dysfunction": False, "hypersplenism": False,
    ...        "malabsorption": False, "osteolysis": False, "anc": 3.0, "hemoglobin": 13.5,
    ...        "platelets": 250, "mc_sarcoma": False}
    >>> f = pd.DataFrame([ism])
    >>> [classify(f, edition=e)["subtype"].iloc[0] for e in ("who2016", "who2022", "icc2022")]
    ['SSM', 'SSM', 'ISM']
    """
    ed = check_edition(edition)
    frame, _ = ensure_findings(data, columns=COLUMNS)
    return _classify_frame(frame, ed)


def classify_subtypes(data: FindingsSource, edition: str = "who2016") -> pd.DataFrame:
    """The ``subtype`` and ``candidates`` columns of :func:`classify`, without the report.

    For callers that need only the subtype (the survival model, for every patient it predicts):
    the same rules, none of the criteria, rationale or flags columns (most of :func:`classify`'s
    time on a large cohort).

    Parameters
    ----------
    data : DataFrame, mapping or path
        As in :func:`classify`.
    edition : {"who2016", "who2022", "icc2022"}
        Rule set; ``who2016`` is the default.

    Returns
    -------
    DataFrame
        ``patient_id`` (if given), ``subtype`` and ``candidates``, equal to those of
        :func:`classify` (``tests/test_classify_properties.py`` holds them equal).

    Raises
    ------
    ValueError
        Unknown ``edition``.
    FindingsError
        Invalid findings.

    Examples
    --------
    >>> classify_subtypes({"age": 50, "bm_examined": True, "bm_mc_aggregates": True,
    ...                    "tryptase": 40}).iloc[0].tolist()
    ['indeterminate', ('ISM', 'SSM', 'ASM', 'MCL')]
    """
    ed = check_edition(edition)
    frame, _ = ensure_findings(data, columns=COLUMNS)
    cand = evaluate(frame, ed).cand
    code = _SINGLE[cand]
    cols: dict[str, Any] = {}
    if "patient_id" in frame.columns:
        cols["patient_id"] = frame["patient_id"].to_numpy().copy()  # not a view of the input
    cols["subtype"] = pd.Categorical.from_codes(np.where(code < 0, len(LABELS), code),
                                                categories=list(SUBTYPE_CATEGORIES))
    cols["candidates"] = _CAND_TUPLES[cand]
    return pd.DataFrame(cols, index=frame.index, copy=False)


def _tri(v: Any) -> bool | None:
    return None if pd.isna(v) else bool(v)


def classify_patient(findings: Mapping[str, Any], edition: str = "who2016") -> Classification:
    """The classification of one patient, as a frozen :class:`Classification`.

    Parameters
    ----------
    findings : mapping
        One patient's findings in the canonical columns (units as in :func:`classify`).
    edition : {"who2016", "who2022", "icc2022"}
        Rule set; ``who2016`` is the default.

    Returns
    -------
    Classification

    Raises
    ------
    TypeError
        When ``findings`` is not a mapping (use :func:`classify` for a table).
    ValueError, FindingsError
        As :func:`classify`.

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
    >>> r = classify_patient(ism)
    >>> r.subtype, r.minor_criteria, r.b_findings, r.c_findings
    ('ISM', 2, (), ())

    Blood counts unknown: C1 is undecided, so ISM and ASM both remain, and the counts would decide.

    >>> r = classify_patient(ism | {"anc": None, "hemoglobin": None, "platelets": None})
    >>> r.subtype, r.candidates, r.missing
    ('indeterminate', ('ISM', 'ASM'), ('anc', 'hemoglobin', 'platelets'))

    SM with a lymphoid neoplasm: SM-AHN in WHO 2016 (flagged), SM-ALN in ICC 2022.

    >>> [classify_patient(ism | {"ahn": "CLL"}, edition=e).subtype for e in ("who2016", "icc2022")]
    ['SM-AHN', 'SM-ALN']
    """
    if not isinstance(findings, Mapping):
        raise TypeError(f"classify_patient takes one patient as a mapping; got {type(findings).__name__} "
                        "(use classify for a table)")
    row = classify(findings, edition=edition).iloc[0]
    return Classification(
        patient_id=row.get("patient_id"), subtype=str(row["subtype"]),
        candidates=row["candidates"], sm_criteria_met=_tri(row["sm_criteria_met"]),
        major_criterion=_tri(row["major_criterion"]), minor_criteria=int(row["minor_criteria"]),
        b_findings=row["b_findings"], c_findings=row["c_findings"],
        sm_component=row["sm_component"], missing=row["missing"], rationale=row["rationale"],
        edition=row["edition"], flags=row["flags"],
    )
