"""The editions' rules as data: thresholds and switches read from the data files, and the labels.

Every number the rules use (threshold, ``>`` vs ``>=``, criterion counts) comes from
``data/classification_thresholds.csv``; the edition switches (which KIT mutations and CD markers
count, B1 "and/or" vs "and", which AHN lineages make which label, BMM, HaT, the lymph-node size of
B3, ...) from ``data/classification_editions.csv``; labels, severity and prognostic group from
``data/subtypes.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from .._logic import OPS
from .._resources import load_table
from ..findings import SUBTYPE_LABELS

__all__ = ["EDITIONS", "INDETERMINATE", "PROGNOSTIC_GROUP", "SUBTYPE_SEVERITY"]

#: Label of a case the findings cannot decide (the candidates are listed).
INDETERMINATE = "indeterminate"


@cache
def _subtype_table() -> pd.DataFrame:
    return load_table("subtypes.csv").set_index("label")


#: Ordinal severity of each subtype label (none 0 < CM < BMM < ISM < SSM < ASM < SM-ALN <
#: SM-AHN = SM-AMN < MCL = MCS), from ``data/subtypes.csv`` (prognostic order of Lim 2009 and
#: Mayo 2025; BMM and MCS placed by assumption). Used by the property "adding a C finding never
#: makes a case less advanced".
SUBTYPE_SEVERITY: dict[str, int] = {
    label: int(rank) for label, rank in _subtype_table()["severity_rank"].items()
}

#: Subtype label -> the subtype whose survival curve it uses (BMM -> ISM, SM-AMN -> SM-AHN,
#: every other label itself, SM-ALN included), from ``data/subtypes.csv``.
PROGNOSTIC_GROUP: dict[str, str] = dict(_subtype_table()["prognostic_group"].items())

LABELS: tuple[str, ...] = tuple(SUBTYPE_LABELS)
BIT: dict[str, np.uint16] = {label: np.uint16(1 << i) for i, label in enumerate(LABELS)}
N_MASKS = 1 << len(LABELS)
SUBTYPE_CATEGORIES: tuple[str, ...] = (*LABELS, INDETERMINATE)
#: Lineage codes of ``ahn``: 0 no AHN (or an entity that is not a neoplasm), 1 myeloid, 2 lymphoid.
LINEAGES: tuple[str, ...] = ("none", "myeloid", "lymphoid")
B_NAMES: tuple[str, ...] = ("B1", "B2", "B3")
C_NAMES: tuple[str, ...] = ("C1", "C2", "C3", "C4", "C5")
#: Blood counts that may give B2 (ICC 2022): column -> (cytopenia rule, cytosis rule, C1 rule).
B2_COUNT_RULES: dict[str, tuple[str, str, str]] = {
    "anc": ("b2_cytopenia_anc", "b2_cytosis_anc", "c1_anc"),
    "hemoglobin": ("b2_cytopenia_hemoglobin", "b2_cytosis_hemoglobin", "c1_hemoglobin"),
    "platelets": ("b2_cytopenia_platelets", "b2_cytosis_platelets", "c1_platelets"),
}


@dataclass(frozen=True)
class Threshold:
    """One rule of ``classification_thresholds.csv``: ``column <op> value``."""

    column: str
    op: str
    value: float

    def text(self) -> str:
        """The rule as written, e.g. ``"mc_aspirate_pct >= 20"``."""
        return f"{self.column} {self.op} {self.value:g}"

    def holds(self, x: Any) -> Any:
        """The comparison on values (NaN compares False)."""
        return OPS[self.op](x, self.value)


@dataclass(frozen=True)
class Edition:
    """One edition's rules (built from the data files by :func:`edition`)."""

    name: str
    label: str
    citation: str
    thresholds: dict[str, Threshold]
    kit_other_counts: bool
    cd30_counts: bool
    b1_any: bool
    tryptase_invalid: np.ndarray  # bool per lineage code (none, myeloid, lymphoid)
    ahn_label: str
    lineage_bit: np.ndarray  # uint16 per lineage code: the associated-neoplasm label's bit, or 0
    bmm: bool
    hat_flag: bool
    b3_lymph_columns: tuple[str, ...]

    def t(self, rule: str) -> Threshold:
        """The threshold of ``rule`` in this edition."""
        return self.thresholds[rule]

    @property
    def b2_counts(self) -> bool:
        """Whether B2 also counts cytopenia short of C1 or cytosis (ICC 2022)."""
        return "b2_cytopenia_hemoglobin" in self.thresholds

    @property
    def associated_labels(self) -> tuple[str, ...]:
        """Labels given for SM with an associated neoplasm (SM-AHN; SM-AMN / SM-ALN)."""
        return tuple(lab for lab in LABELS if int(BIT[lab]) in set(self.lineage_bit.tolist()))


@cache
def _edition_names() -> tuple[str, ...]:
    return tuple(dict.fromkeys(load_table("classification_editions.csv")["edition"]))


#: The editions ``classify`` implements (``who2016`` is the default).
EDITIONS: tuple[str, ...] = _edition_names()


def _thresholds(name: str) -> dict[str, Threshold]:
    th = load_table("classification_thresholds.csv")
    out = {}
    for rec in th[th["edition"] == name].to_dict("records"):
        if rec["comparison"] not in OPS:  # pragma: no cover - guarded by tests on the data file
            raise ValueError(f"classification_thresholds.csv: bad comparison {rec['comparison']!r}")
        out[rec["rule"]] = Threshold(rec["column"], rec["comparison"], float(rec["value"]))
    return out


def _lineage_bits(settings: dict[str, str]) -> np.ndarray:
    """Label bit per lineage code from ``ahn_lineages`` and ``lymphoid_label``."""
    bits = np.zeros(len(LINEAGES), dtype=np.uint16)
    for lineage in settings["ahn_lineages"].split("|"):
        bits[LINEAGES.index(lineage)] = BIT[settings["ahn_label"]]
    lymphoid = settings.get("lymphoid_label", "").strip()
    if lymphoid:
        bits[LINEAGES.index("lymphoid")] = BIT[lymphoid]
    return bits


@cache
def edition(name: str) -> Edition:
    """The rules of edition ``name`` (cached)."""
    st = load_table("classification_editions.csv")
    st = st[st["edition"] == name]
    settings = dict(zip(st["setting"], st["value"].fillna("").astype(str), strict=True))
    sources = dict(zip(st["setting"], st["source"], strict=True))

    def flag(key: str) -> bool:
        return settings[key].strip().lower() == "true"

    return Edition(
        name=name, label=settings["label"], citation=sources["label"].split(";")[0],
        thresholds=_thresholds(name), kit_other_counts=flag("kit_other_counts"),
        cd30_counts=flag("cd30_counts"), b1_any=settings["b1_combine"] == "any",
        tryptase_invalid=np.array([lin in settings["tryptase_invalid_lineages"].split("|")
                                   for lin in LINEAGES]),
        ahn_label=settings["ahn_label"], lineage_bit=_lineage_bits(settings), bmm=flag("bmm"),
        hat_flag=flag("hat_flag"), b3_lymph_columns=tuple(settings["b3_lymph_columns"].split("|")),
    )


def check_edition(name: Any, caller: str = "classify") -> Edition:
    """The edition's rules, or the package's message for an unknown name."""
    if not isinstance(name, str) or name not in EDITIONS:
        allowed = "{" + ", ".join(repr(e) for e in sorted(EDITIONS)) + "}"
        raise ValueError(
            f"The 'edition' parameter of {caller} must be one of {allowed}. Got {name!r} instead."
        )
    return edition(name)
