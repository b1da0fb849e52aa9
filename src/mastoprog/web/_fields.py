"""The form's fields and the request options, read from the data dictionary (no clinical logic here).

The form and the JSON API hand their values to :func:`mastoprog.read_findings` unchanged, so an
empty ``ahn`` or ``mc_sarcoma`` means "none" in both (data dictionary) and the word ``unknown`` keeps
them open; every other empty field means unknown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import pandas as pd

from ..findings import AHN_LABELS, SUBTYPE_LABELS, column_spec
from ..lifetables import LifeTable

#: Classification editions offered (the names ``mp.classify`` accepts).
EDITIONS: dict[str, str] = {
    "who2016": "WHO 2016 (Arber 2016; default)",
    "who2022": "WHO 2022 (Khoury 2022)",
    "icc2022": "ICC 2022 (Arber 2022)",
}
#: Built-in survival models offered (the names ``mp.load_model`` accepts).
MODELS: dict[str, str] = {
    "lim2009": "lim2009 (Lim 2009; default)",
    "mayo2025": "mayo2025 (Mayo Clinic 2025)",
    "midostaurin": "midostaurin (Gotlib 2016)",
    "mars2019": "mars2019 (advanced SM at the MARS validation medians, Jawhar 2019)",
}


@lru_cache(maxsize=1)
def year_range() -> tuple[int, int]:
    """The calendar years of the built-in models' life table (HMD US): the request's year lies inside."""
    table = LifeTable.hmd_us()
    return int(table.first_year), int(table.last_year)


#: "Already survived" is offered up to this many months.
SURVIVED_MAX_MONTHS = 240.0

#: The form: (group title, ((column, label), ...)); every canonical column but time and event.
FIELD_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Patient",
        (
            ("patient_id", "Patient identifier (optional)"),
            ("age", "Age at diagnosis"),
            ("sex", "Sex"),
        ),
    ),
    (
        "SM criteria (bone marrow, KIT, immunophenotype, tryptase)",
        (
            ("skin_lesions", "Typical skin lesions"),
            ("bm_examined", "Bone-marrow biopsy done"),
            ("bm_mc_aggregates", "Multifocal dense mast-cell aggregates (major criterion)"),
            ("atypical_mc_pct", "Spindle-shaped / atypical mast cells"),
            ("kit_d816", "KIT D816 mutation (extracutaneous)"),
            ("kit_other", "Other activating KIT mutation"),
            ("cd2_cd25", "Mast cells CD2 and/or CD25 positive"),
            ("cd30", "Mast cells CD30 positive"),
            ("tryptase", "Baseline serum tryptase"),
            ("hat", "Hereditary alpha-tryptasemia"),
            ("bm_mc_infiltration_pct", "Marrow mast-cell infiltration"),
            ("mc_aspirate_pct", "Mast cells on aspirate smears"),
            ("kit_vaf_pct", "KIT D816V allele frequency"),
        ),
    ),
    (
        "B findings",
        (
            ("dysplasia_myeloproliferation", "Dysplasia or myeloproliferation (short of an AHN)"),
            ("hepatomegaly", "Palpable hepatomegaly"),
            ("splenomegaly", "Splenomegaly (palpable or on imaging)"),
            ("lymphadenopathy", "Lymph nodes > 2 cm"),
            ("lymphadenopathy_1cm", "Lymph nodes > 1 cm (ICC 2022 B3)"),
        ),
    ),
    (
        "C findings and blood counts",
        (
            ("hepatic_dysfunction", "Hepatomegaly with impaired liver function"),
            ("hypersplenism", "Splenomegaly with hypersplenism"),
            ("malabsorption", "Malabsorption with hypoalbuminemia and weight loss"),
            ("osteolysis", "Large osteolyses and/or pathological fractures"),
            ("anc", "Absolute neutrophil count"),
            ("hemoglobin", "Hemoglobin"),
            ("platelets", "Platelets"),
            ("leukocytes", "White blood cell count"),
        ),
    ),
    (
        "Associated neoplasm and prior diagnosis",
        (
            ("ahn", "Associated hematologic neoplasm (AHN)"),
            ("mc_sarcoma", "Mast-cell sarcoma diagnosed"),
            ("who_subtype", "Subtype already assigned (optional)"),
        ),
    ),
    (
        "Risk inputs",
        (
            ("alp", "Alkaline phosphatase"),
            ("alp_uln", "ALP upper limit of normal (your lab)"),
            ("srsf2", "SRSF2 mutated"),
            ("asxl1", "ASXL1 mutated"),
            ("runx1", "RUNX1 mutated"),
            ("nras", "NRAS mutated (MAPS)"),
            ("sar_count", "Number of mutated S/A/R genes (if genes not given)"),
        ),
    ),
)
FINDING_COLUMNS: tuple[str, ...] = tuple(c for _, fields in FIELD_GROUPS for c, _ in fields)
OPTION_FIELDS: tuple[str, ...] = ("edition", "model", "year", "survived_months")
#: Longest value accepted in one field (characters): a number or label is far shorter.
MAX_VALUE_CHARS = 200


@dataclass
class RequestProblems:
    """Every problem of one request, per field: shown beside the field and listed by the API."""

    by_field: dict[str, list[str]] = field(default_factory=dict)
    listed: list[dict[str, Any]] = field(default_factory=list)

    def add(self, column: str, value: Any, expected: str, hint: str | None = None) -> None:
        """Record one problem (``column`` "" for the request as a whole)."""
        shown = value if isinstance(value, (int, float, str, bool)) or value is None else repr(value)[:80]
        if isinstance(shown, str) and len(shown) > 80:
            shown = shown[:77] + "..."
        if isinstance(shown, float) and not math.isfinite(shown):
            shown = str(shown)
        text = f"got {shown!r}; expected {expected}" + (f" (hint: {hint})" if hint else "")
        self.by_field.setdefault(column, []).append(text)
        self.listed.append(
            {
                "field": column or None,
                "value": shown,
                "expected": expected,
                "hint": hint,
                "message": f"{column}: {text}" if column else text,
            }
        )

    def __bool__(self) -> bool:
        return bool(self.listed)


@lru_cache(maxsize=1)
def schema_table() -> pd.DataFrame:
    """The data dictionary (``data/findings_schema.csv``) indexed by column."""
    with (
        resources.files("mastoprog").joinpath("data", "findings_schema.csv").open("r", encoding="utf-8") as f
    ):
        return pd.read_csv(f, dtype=str, keep_default_na=False).set_index("column")


def unit(column: str) -> str:
    """The column's unit as shown beside the field ("" when it has none)."""
    u = column_spec(column)["unit"]
    return "" if u in ("", "genes") else str(u)


def choices(column: str) -> tuple[tuple[str, str], ...] | None:
    """(value, label) options of a select field, or None for a text field.

    The empty option is what an empty cell means in the data dictionary: "none" for ``ahn`` and
    ``mc_sarcoma`` (a diagnosis recorded when made), "unknown" for the others.
    """
    kind = column_spec(column)["kind"]
    if column == "mc_sarcoma":
        return (("", "no (none diagnosed)"), ("yes", "yes"), ("unknown", "unknown"))
    if kind == "bool":
        return (("", "unknown"), ("yes", "yes"), ("no", "no"))
    if kind == "sex":
        return (("", "unknown"), ("F", "female (F)"), ("M", "male (M)"))
    if kind == "ahn":
        return (("", "none"), ("unknown", "unknown"), *((a, a) for a in AHN_LABELS))
    if kind == "subtype":
        return (("", "not assigned"), *((s, s) for s in SUBTYPE_LABELS))
    return None


def expected_text(column: str) -> str:
    """What a field accepts, with its unit (for OpenAPI and messages)."""
    spec = column_spec(column)
    opts = choices(column)
    if opts is not None:
        return "one of " + ", ".join(repr(v) for v, _ in opts)
    if spec["kind"] == "id":
        return "any text"
    lo, hi = spec["min"], spec["max"]
    rng = f"from {lo:g}" if not pd.isna(lo) else ""
    rng += f" to {hi:g}" if not pd.isna(hi) else " upwards"
    return f"a number {rng} {unit(column)}".rstrip() + " (empty = unknown)"


def split_request(
    values: dict[str, Any], *, strict: bool
) -> tuple[dict[str, Any], dict[str, Any], RequestProblems]:
    """Findings (unchanged, for ``read_findings``) and raw options of one request.

    Parameters
    ----------
    values : dict
        Form fields or the JSON object.
    strict : bool
        Unknown keys are problems (JSON API); the form ignores them (e.g. a submit button's name).

    Returns
    -------
    tuple
        ``(findings, options, problems)``.
    """
    problems = RequestProblems()
    findings: dict[str, Any] = {}
    for key, value in values.items():
        if key in OPTION_FIELDS:
            continue
        if key not in FINDING_COLUMNS:
            if strict:
                problems.add(
                    str(key)[:60],
                    value,
                    "a field of the data dictionary: " + ", ".join(FINDING_COLUMNS + OPTION_FIELDS),
                )
            continue
        if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            problems.add(key, value, f"at most {MAX_VALUE_CHARS} characters; {expected_text(key)}")
            continue
        findings[key] = value
    return findings, {k: values.get(k) for k in OPTION_FIELDS}, problems


def _number(raw: Any) -> float | None:
    """A JSON number or a short numeric string as float; None when empty; nan when not a number."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool):
        return math.nan
    if isinstance(raw, (int, float)):
        return float(raw) if not isinstance(raw, int) or abs(raw) < 10**6 else math.nan
    text = str(raw).strip()
    if len(text) > 20:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return math.nan


def read_options(raw: dict[str, Any], problems: RequestProblems) -> dict[str, Any]:
    """Edition, model, calendar year of diagnosis and months already survived, each checked.

    Parameters
    ----------
    raw : dict
        The raw option values (``None`` or "" = default).
    problems : RequestProblems
        Where problems are added.

    Returns
    -------
    dict
        ``edition``, ``model``, ``year`` (float or None), ``survived_months`` (float or None).
    """
    edition = raw.get("edition") or "who2016"
    if not isinstance(edition, str) or edition not in EDITIONS:
        problems.add("edition", edition, "one of " + ", ".join(EDITIONS))
    model = raw.get("model") or "lim2009"
    if not isinstance(model, str) or model not in MODELS:
        problems.add("model", model, "one of " + ", ".join(MODELS))
    year = _number(raw.get("year"))
    first, last = year_range()
    if year is not None and not (first <= year <= last):
        problems.add(
            "year",
            raw.get("year"),
            f"a calendar year from {first} to {last} (the life table's years; empty = the latest)",
        )
    survived = _number(raw.get("survived_months"))
    if survived is not None and not (0 <= survived <= SURVIVED_MAX_MONTHS):
        problems.add(
            "survived_months",
            raw.get("survived_months"),
            f"months already survived since diagnosis, from 0 to {SURVIVED_MAX_MONTHS:g} months "
            "(empty = seen at diagnosis)",
        )
    return {"edition": edition, "model": model, "year": year, "survived_months": survived}


def openapi_findings_schema() -> dict[str, Any]:
    """JSON Schema of the ``/api/patient`` body: every field with its unit, range and meaning."""
    table = schema_table()
    props: dict[str, Any] = {}
    for column in FINDING_COLUMNS:
        spec = column_spec(column)
        desc = table.loc[column, "description"]
        u = unit(column)
        kind = spec["kind"]
        entry: dict[str, Any] = {
            "description": f"{desc}" + (f" [unit: {u}]" if u else "") + f"; accepts {expected_text(column)}"
        }
        if kind in ("float", "count"):
            entry["anyOf"] = [{"type": "number"}, {"type": "string"}, {"type": "null"}]
            if not pd.isna(spec["min"]):
                entry["x-minimum"] = spec["min"]
            if not pd.isna(spec["max"]):
                entry["x-maximum"] = spec["max"]
            if u:
                entry["x-unit"] = u
        elif kind == "bool":
            entry["anyOf"] = [{"type": "boolean"}, {"type": "string"}, {"type": "null"}]
        else:
            entry["anyOf"] = [{"type": "string"}, {"type": "null"}]
        props[column] = entry
    props["edition"] = {
        "type": "string",
        "enum": list(EDITIONS),
        "default": "who2016",
        "description": "classification edition",
    }
    props["model"] = {
        "type": "string",
        "enum": list(MODELS),
        "default": "lim2009",
        "description": "survival model (target set and its era)",
    }
    props["year"] = {
        "anyOf": [{"type": "number"}, {"type": "null"}],
        "x-unit": "calendar year",
        "description": f"calendar year of diagnosis [unit: calendar year], {year_range()[0]}-"
        f"{year_range()[1]}; empty = the life table's latest year",
    }
    props["survived_months"] = {
        "anyOf": [{"type": "number"}, {"type": "null"}],
        "x-unit": "months",
        "description": "months already survived since diagnosis [unit: months], "
        f"0-{SURVIVED_MAX_MONTHS:g}; gives conditional survival",
    }
    return {
        "type": "object",
        "properties": props,
        "additionalProperties": False,
        "description": "One patient's findings (data dictionary: src/mastoprog/data/findings_schema.csv)"
        " plus options. Empty = unknown, except ahn / mc_sarcoma where empty = none.",
    }
