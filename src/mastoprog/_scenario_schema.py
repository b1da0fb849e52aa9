"""The schema of a scenario TOML file, as pydantic models (read by :mod:`mastoprog.scenarios`).

Every table is a strict model with no unknown keys; every distribution carries its citation
(``source``, ``evidence``, and a ``note`` when the evidence is ``assumption``). Validation collects
every problem with its dotted key (``strata.ISM-skin.age.median: missing``); :func:`problems`
turns pydantic's errors into those lines.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ._resources import EVIDENCE_LEVELS
from .findings import CANONICAL_COLUMNS

__all__ = ["CensoringFile", "MissingnessFile", "ScenarioFile", "problems"]

STRATUM_SUBTYPES = ("CM", "ISM", "SSM", "SM-AHN", "ASM", "MCL")
FINDINGS_PROFILES = ("CM", "ISM", "BMM", "SSM", "SM-AHN", "ASM", "MCL", "SM-ALN")


def _within(lo: float | None, hi: float | None, lo_open: bool = False, unit: str = "") -> AfterValidator:
    """Check a number is within [lo, hi] (``(lo, hi]`` with ``lo_open``); message in the house style."""
    parts = ([f"{'>' if lo_open else '>='} {lo:g}"] if lo is not None else []) \
        + ([f"<= {hi:g}"] if hi is not None else [])
    expected = f"expected a number {' and '.join(parts)}{' ' + unit if unit else ''}"

    def check(v: float) -> float:
        low = lo is not None and (v <= lo if lo_open else v < lo)
        if low or (hi is not None and v > hi):
            raise ValueError(expected)
        return float(v)

    return AfterValidator(check)


_FINITE = Field(allow_inf_nan=False)
Probability = Annotated[float, _FINITE, _within(0, 1)]
Years = Annotated[float, _FINITE, _within(0, 120, unit="years")]
PositiveYears = Annotated[float, _FINITE, _within(0, None, lo_open=True, unit="years")]
CalendarYear = Annotated[int, Field(ge=1900, le=2100)]
Text = Annotated[str, Field(max_length=10_000)]


class _Table(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class CitedTable(_Table):
    """A table with its citation: ``source``, ``evidence`` and (for an assumption) ``note``."""

    source: Annotated[str, Field(min_length=1, max_length=10_000)]
    evidence: str
    note: Text = ""

    @field_validator("evidence")
    @classmethod
    def _known_level(cls, v: str) -> str:
        if v not in EVIDENCE_LEVELS:
            raise ValueError(f"expected one of {sorted(EVIDENCE_LEVELS)}")
        return v

    @model_validator(mode="after")
    def _assumption_has_rationale(self) -> CitedTable:
        if self.evidence == "assumption" and not self.note.strip():
            raise ValueError(".note: missing (an assumption needs a one-line rationale)")
        return self


class WeightTable(CitedTable):
    value: Annotated[float, _FINITE, _within(0, None)]


class AgeTable(CitedTable):
    median: Years
    sd_below: PositiveYears
    sd_above: PositiveYears
    min: Years
    max: Years

    @model_validator(mode="after")
    def _ordered(self) -> AgeTable:
        if not self.min < self.median < self.max:
            raise ValueError(f"expected min < median < max (got {self.min:g}, {self.median:g}, "
                             f"{self.max:g} years)")
        return self


class SexTable(CitedTable):
    p_male: Probability


class YearTable(CitedTable):
    first: CalendarYear
    last: CalendarYear

    @model_validator(mode="after")
    def _ordered(self) -> YearTable:
        if self.first > self.last:
            raise ValueError(f"expected first <= last (got {self.first} > {self.last})")
        return self


class ProbabilityTable(CitedTable):
    p: Probability


class SarCountTable(CitedTable):
    p: list[Probability]

    @field_validator("p")
    @classmethod
    def _four_summing_to_one(cls, v: list[float]) -> list[float]:
        if len(v) != 4 or abs(sum(v) - 1) > 1e-9:
            raise ValueError("expected 4 probabilities in [0, 1] for 0, 1, 2, 3 mutated genes, "
                             "summing to 1")
        return v


class Distributions(_Table):
    """The per-stratum distributions (each may be inherited from ``[defaults]``)."""

    weight: WeightTable | None = None
    age: AgeTable | None = None
    sex: SexTable | None = None
    diagnosis_year: YearTable | None = None
    splenomegaly: ProbabilityTable | None = None
    hepatomegaly: ProbabilityTable | None = None
    lymphadenopathy: ProbabilityTable | None = None
    alp_raised: ProbabilityTable | None = None
    sar_count: SarCountTable | None = None
    kit_d816: ProbabilityTable | None = None


class StratumTable(Distributions):
    who_subtype: Literal["CM", "ISM", "SSM", "SM-AHN", "ASM", "MCL"]
    findings_profile: Literal["CM", "ISM", "BMM", "SSM", "SM-AHN", "ASM", "MCL", "SM-ALN"] | None = None
    description: Text = ""


class AlpTable(CitedTable):
    uln: Annotated[float, _FINITE, _within(0, None, lo_open=True, unit="U/L")]
    normal_ratio_min: Annotated[float, _FINITE, _within(0, 1, lo_open=True)]
    normal_ratio_max: Annotated[float, _FINITE, _within(0, 1, lo_open=True)]
    raised_excess_median: Annotated[float, _FINITE, _within(0, None, lo_open=True)]
    raised_excess_gsd: Annotated[float, _FINITE, _within(1, None)]
    raised_ratio_max: Annotated[float, _FINITE, _within(1.02, None, lo_open=True)]

    @model_validator(mode="after")
    def _ordered(self) -> AlpTable:
        if self.normal_ratio_min > self.normal_ratio_max:
            raise ValueError(".normal_ratio_min: must be <= alp.normal_ratio_max")
        return self


class SarGenesTable(CitedTable):
    srsf2: Annotated[float, _FINITE, _within(0, None, lo_open=True)]
    asxl1: Annotated[float, _FINITE, _within(0, None, lo_open=True)]
    runx1: Annotated[float, _FINITE, _within(0, None, lo_open=True)]


class CensoringFile(CitedTable):
    """``[censoring]`` of a scenario (or the ``censoring=`` mapping of ``simulate_cohort``)."""

    study_end: Annotated[float, _FINITE, _within(1900, 2200, unit="calendar year")] | None = \
        None
    dropout_per_year: Annotated[float, _FINITE, _within(0, None, unit="per year")] = 0.0
    max_followup_months: Annotated[float, _FINITE,
                                   _within(0, None, lo_open=True, unit="months")] | None = None
    target_fraction: Annotated[float, _FINITE, _within(0, 1, lo_open=True)] | None = None


class MissingnessFile(CitedTable):
    """One ``[[missingness]]`` rule (or one rule of ``simulate_cohort(missingness=...)``)."""

    columns: Annotated[list[str], Field(min_length=1)]
    joint: bool = False
    p: Probability | None = None
    p_by_subtype: dict[Literal["CM", "ISM", "SSM", "SM-AHN", "ASM", "MCL"],
                       Probability] | None = None

    @field_validator("columns")
    @classmethod
    def _canonical(cls, v: list[str]) -> list[str]:
        ok = [c for c in CANONICAL_COLUMNS if c not in ("patient_id", "who_subtype", "time", "event")]
        bad = [c for c in v if c not in ok]
        if bad:
            raise ValueError(f"got {bad[0]!r}; expected canonical finding columns (see the data "
                             "dictionary)")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> MissingnessFile:
        if (self.p is None) == (self.p_by_subtype is None):
            raise ValueError("give exactly one of 'p' (MCAR) or 'p_by_subtype'")
        return self


class ScenarioFile(_Table):
    """A scenario TOML file."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    schema_version: Literal[1]
    title: Text | None = None
    description: Text = ""
    target_set: Annotated[str, Field(min_length=1, max_length=200)] = "lim2009"
    defaults: Distributions = Distributions()
    strata: Annotated[dict[str, StratumTable], Field(min_length=1)]
    alp: AlpTable
    sar_genes: SarGenesTable
    censoring: CensoringFile | None = None
    missingness: list[MissingnessFile] = []

    @model_validator(mode="after")
    def _strata_complete(self) -> ScenarioFile:
        out = []
        for name, s in self.strata.items():
            out += _stratum_problems(name, s, self.defaults)
        if sum(w.value for w in (self.strata[n].weight or self.defaults.weight for n in self.strata)
               if w is not None) <= 0:
            out.append("strata.*.weight.value: the weights sum to 0; at least one must be > 0")
        if out:
            raise ValueError("\n".join(out))
        return self


def _stratum_problems(name: str, s: StratumTable, defaults: Distributions) -> list[str]:
    key = f"strata.{name}"
    out = []
    for dist in Distributions.model_fields:
        if getattr(s, dist) is None and getattr(defaults, dist) is None:
            out.append(f"{key}.{dist}: missing (and no [defaults.{dist}])")
    profile = s.findings_profile or (name if name in FINDINGS_PROFILES else s.who_subtype)
    if s.who_subtype == "ISM" and profile not in ("ISM", "BMM"):
        out.append(f"{key}.findings_profile: got {profile!r}; expected 'ISM' or 'BMM' for an ISM stratum")
    elif s.who_subtype == "SM-AHN" and profile not in ("SM-AHN", "SM-ALN"):
        out.append(f"{key}.findings_profile: got {profile!r}; expected 'SM-AHN' (myeloid AHN) or "
                   "'SM-ALN' (lymphoid AHN) for an SM-AHN stratum")
    elif s.who_subtype not in ("ISM", "SM-AHN") and profile != s.who_subtype:
        out.append(f"{key}.findings_profile: got {profile!r}; expected {s.who_subtype!r} (the "
                   "stratum's who_subtype)")
    if name in STRATUM_SUBTYPES and name != s.who_subtype:
        out.append(f"{key}: got {name!r}; expected a stratum named after a subtype to have "
                   f"who_subtype = {name!r}")
    return out


def problems(exc: ValidationError, prefix: str = "") -> list[str]:
    """One line per problem: ``<dotted key>: got <value>; expected <what>`` (or a custom text).

    Parameters
    ----------
    exc : pydantic.ValidationError
    prefix : str
        Key of the validated table inside its file (``"censoring"``), prepended to every path.

    Returns
    -------
    list of str
    """
    out: list[str] = []
    for e in exc.errors(include_url=False):
        path = prefix
        for p in e["loc"]:
            path += f"[{p}]" if isinstance(p, int) else (f".{p}" if path else str(p))
        path = path or "(top level)"
        msg = str(e["msg"]).removeprefix("Value error, ")
        if (e["type"] == "value_error" and "\n" in msg) or msg.startswith(("strata.", "missingness")):
            out += msg.split("\n")  # cross-field problems name their own keys
        elif msg.startswith("."):
            out.append(f"{path}{msg}")
        elif e["type"] == "missing":
            out.append(f"{path}: missing")
        elif e["type"] == "extra_forbidden":
            out.append(f"{path}: unknown key")
        elif msg.startswith("got ") or (isinstance(e.get("input"), dict) and msg.startswith("expected")):
            out.append(f"{path}: {msg}")  # the message shows the values itself
        else:
            expected = msg.replace("Input should be", "expected").replace("Input ", "")
            value = e.get("input")
            got = "a table" if isinstance(value, dict) else repr(value)
            out.append(f"{path}: got {got}; {expected}" if msg.startswith(("expected", "Input should"))
                       else f"{path}: {msg} (got {got})")
    return out
