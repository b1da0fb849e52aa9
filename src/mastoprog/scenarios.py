"""Scenarios: documented cohort distributions shared by the survival model and the generator.

A scenario is a TOML file (the canonical ones ship in ``mastoprog/data/scenarios/``; a user can pass
the path of their own) describing a cohort: the subtype mix, and per stratum the distribution of age,
sex, splenomegaly, hepatomegaly, raised ALP, S/A/R mutations, KIT D816V and calendar year of
diagnosis, plus default censoring and missingness. Every distribution carries its ``source`` and
``evidence`` level (``P``, ``S``, ``U``, ``assumption``) so a model card can show where each number
comes from.

A *stratum* is the unit of the mix: usually one WHO subtype, but a subtype may have several strata
(lim2009 splits ISM into ``ISM-skin`` and ``BMM``, bone-marrow mastocytosis, which differ in age and in
their findings). ``who_subtype`` is the WHO 2016 label of the stratum; the ``variant`` column of a draw
names the stratum. A stratum named like a subtype must have that subtype.

``reference_cohort`` is the fixed draw the survival model is calibrated on: the same arguments give
the same frame on any machine (numpy's PCG64 generator seeded explicitly, no global state).

References
----------
Lim KH et al., Blood 2009;113:5727-36, doi:10.1182/blood-2009-02-205237.
Pardanani A, Lim KH et al., Blood 2010;115:150-1 (ISM split into ISM-other, BMM and SSM).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._random import as_generator
from ._resources import EVIDENCE_LEVELS, data_path, load_toml
from .exceptions import ModelFileError
from .findings import SUBTYPE_LABELS

__all__ = [
    "AgeDistribution",
    "CensoringSpec",
    "MissingnessRule",
    "Scenario",
    "Stratum",
    "available_scenarios",
    "check_patient_count",
    "inverse_cdf",
    "load_scenario",
    "reference_cohort",
]

SCHEMA_VERSION = 1
#: Columns ``Scenario.draw_prognostic`` returns, in this order.
PROGNOSTIC_COLUMNS: tuple[str, ...] = (
    "age", "sex", "splenomegaly", "alp", "alp_uln", "srsf2", "asxl1", "runx1",
    "who_subtype", "diagnosis_year", "variant",
)
SAR_GENES: tuple[str, ...] = ("srsf2", "asxl1", "runx1")
#: Subtypes a scenario stratum may have: those with a survival curve (not MCS, not ``none``).
STRATUM_SUBTYPES: tuple[str, ...] = ("CM", "ISM", "SSM", "SM-AHN", "ASM", "MCL")
#: Recipes of raw findings in ``data/synthetic_findings.csv`` (BMM: ISM without skin lesions).
FINDINGS_PROFILES: tuple[str, ...] = ("CM", "ISM", "BMM", "SSM", "SM-AHN", "ASM", "MCL")
# Per-stratum keys that are distributions, and the fields each one takes.
_STRATUM_DISTRIBUTIONS = {
    "weight": ("value",),
    "age": ("median", "sd_below", "sd_above", "min", "max"),
    "sex": ("p_male",),
    "diagnosis_year": ("first", "last"),
    "splenomegaly": ("p",),
    "hepatomegaly": ("p",),
    "lymphadenopathy": ("p",),
    "alp_raised": ("p",),
    "sar_count": ("p",),
    "kit_d816": ("p",),
}
_CITATION_KEYS = ("source", "evidence", "note")


# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class Cited:
    """Where a distribution comes from: a citation, an evidence level and a one-line rationale."""

    source: str
    evidence: str
    note: str = ""


@dataclass(frozen=True)
class AgeDistribution:
    """Split normal truncated on each side of the median, in years.

    Below the median a normal with ``sd_below`` truncated at ``min``, above it a normal with
    ``sd_above`` truncated at ``max``; each half carries probability 1/2, so the median is exactly
    ``median`` (the published figure) whatever the spread and bounds.
    """

    median: float
    sd_below: float
    sd_above: float
    min: float
    max: float
    cited: Cited


@dataclass(frozen=True)
class Probability:
    """Probability of a yes/no finding (or a share, for ``p_male``)."""

    p: float
    cited: Cited


@dataclass(frozen=True)
class Stratum:
    """One stratum of the scenario's mix (see the module docstring)."""

    name: str
    who_subtype: str
    findings_profile: str
    description: str
    weight: float
    weight_cited: Cited
    age: AgeDistribution
    p_male: Probability
    diagnosis_year: tuple[int, int]
    diagnosis_year_cited: Cited
    splenomegaly: Probability
    hepatomegaly: Probability
    lymphadenopathy: Probability
    alp_raised: Probability
    sar_count: tuple[float, float, float, float]
    sar_count_cited: Cited
    kit_d816: Probability


@dataclass(frozen=True)
class AlpSpec:
    """ALP values: ``alp = uln * ratio`` (normal: uniform ratio; raised: 1.02 + lognormal excess)."""

    uln: float
    normal_ratio_min: float
    normal_ratio_max: float
    raised_excess_median: float
    raised_excess_gsd: float
    raised_ratio_max: float
    cited: Cited


@dataclass(frozen=True)
class CensoringSpec:
    """Censoring of follow-up.

    Attributes
    ----------
    study_end : float or None
        Calendar date (decimal year) at which follow-up closes: administrative censoring at
        ``study_end - (diagnosis_year + U(0, 1))`` years. None: no administrative censoring.
    dropout_per_year : float
        Rate of random loss to follow-up (exponential), per year; 0 = none.
    max_followup_months : float or None
        Optional cap on follow-up (e.g. a trial's fixed follow-up), months.
    target_fraction : float or None
        If given, the drop-out rate is solved so that the expected censored fraction (given the
        drawn event and administrative times) equals it; ``dropout_per_year`` is then ignored.
    """

    study_end: float | None = None
    dropout_per_year: float = 0.0
    max_followup_months: float | None = None
    target_fraction: float | None = None
    cited: Cited = field(default_factory=lambda: Cited("user setting", "assumption"))


@dataclass(frozen=True)
class MissingnessRule:
    """Columns set to unknown, MCAR (``p``) or by WHO subtype (``p_by_subtype``).

    With ``joint`` the columns go missing together (one draw per patient, e.g. a whole mutation
    panel not done); otherwise each column has its own draw.
    """

    columns: tuple[str, ...]
    p: float | None
    p_by_subtype: Mapping[str, float] | None
    joint: bool
    cited: Cited


@dataclass(frozen=True)
class Scenario:
    """A documented cohort: the subtype mix and per-stratum distributions (see ``load_scenario``)."""

    name: str
    title: str
    description: str
    target_set: str
    strata: tuple[Stratum, ...]
    alp: AlpSpec
    sar_gene_weights: tuple[float, float, float]
    sar_gene_cited: Cited
    censoring: CensoringSpec
    missingness: tuple[MissingnessRule, ...]
    path: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    # ------------------------------------------------------------------ descriptions

    @property
    def subtype_mix(self) -> pd.Series:
        """Share of each WHO 2016 subtype in the cohort (strata with weight 0 excluded)."""
        w = pd.Series({s.name: s.weight for s in self.strata})
        sub = pd.Series({s.name: s.who_subtype for s in self.strata})
        mix = w.groupby(sub, sort=False).sum()
        mix = mix[mix > 0]
        return mix / mix.sum()

    def stratum(self, name: str) -> Stratum:
        """The stratum called ``name`` (KeyError listing the names otherwise)."""
        for s in self.strata:
            if s.name == name:
                return s
        raise KeyError(f"scenario {self.name!r} has no stratum {name!r}; "
                       f"strata: {[s.name for s in self.strata]}")

    def strata_table(self) -> pd.DataFrame:
        """One row per (stratum, distribution) with its parameters, source and evidence level."""
        rows = []
        for s in self.strata:
            items: list[tuple[str, str, Cited]] = [
                ("weight", f"{s.weight:g}", s.weight_cited),
                ("age", f"median {s.age.median:g} y, sd {s.age.sd_below:g}/{s.age.sd_above:g}, "
                        f"[{s.age.min:g}, {s.age.max:g}]", s.age.cited),
                ("sex", f"P(male) = {s.p_male.p:g}", s.p_male.cited),
                ("diagnosis_year", f"uniform {s.diagnosis_year[0]}-{s.diagnosis_year[1]}",
                 s.diagnosis_year_cited),
                ("sar_count", "P(0..3) = " + ", ".join(f"{p:g}" for p in s.sar_count),
                 s.sar_count_cited),
            ]
            for key in ("splenomegaly", "hepatomegaly", "lymphadenopathy", "alp_raised", "kit_d816"):
                prob: Probability = getattr(s, key)
                items.append((key, f"p = {prob.p:g}", prob.cited))
            for key, value, cited in items:
                rows.append({"stratum": s.name, "who_subtype": s.who_subtype, "distribution": key,
                             "value": value, "source": cited.source, "evidence": cited.evidence,
                             "note": cited.note})
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ drawing

    def select(self, subtype: str | None = None) -> tuple[tuple[Stratum, ...], np.ndarray]:
        """(strata, probabilities) for ``subtype``: a WHO label, a stratum name, or None for the mix.

        Strata of weight 0 (e.g. CM in lim2009) are drawn only when asked for by name or label;
        if every matching stratum has weight 0 they are drawn in equal shares.
        """
        if subtype is None:
            chosen = tuple(s for s in self.strata if s.weight > 0)
        else:
            chosen = tuple(s for s in self.strata if subtype in (s.who_subtype, s.name))
            if not chosen:
                labels = sorted({s.who_subtype for s in self.strata} | {s.name for s in self.strata})
                raise ValueError(
                    f"scenario {self.name!r} has no stratum for subtype {subtype!r}; "
                    f"expected one of {labels}"
                    + (" (MCS has no calibrated survival and no reference stratum)"
                       if subtype == "MCS" else "")
                )
        w = np.array([s.weight for s in chosen], dtype=float)
        if w.sum() <= 0:
            w = np.ones(len(chosen))
        return chosen, w / w.sum()

    def draw_strata(self, n: int, random_state: Any,
                    subtype: str | None = None) -> tuple[tuple[Stratum, ...], np.ndarray]:
        """(strata, code per patient): which stratum each of ``n`` patients belongs to.

        Parameters
        ----------
        n : int
            Number of patients.
        random_state : int, numpy.random.SeedSequence or numpy.random.Generator
            Seed, or a Generator used as given.
        subtype : str, optional
            As in :meth:`draw_prognostic`.

        Returns
        -------
        tuple
            The strata drawn from and one index into them per patient.
        """
        n = check_patient_count(n)
        rng = as_generator(random_state, "random_state of draw_strata")
        chosen, probs = self.select(subtype)
        if len(chosen) == 1:
            return chosen, np.zeros(n, dtype=np.intp)
        # Inverse-CDF on one uniform per patient: cheap and stable across numpy versions.
        return chosen, inverse_cdf(probs, rng.random(n))

    def draw_prognostic(self, n: int, random_state: Any,
                        subtype: str | None = None) -> pd.DataFrame:
        """Draw ``n`` patients' prognostic covariates from the scenario.

        Parameters
        ----------
        n : int
            Number of patients.
        random_state : int, numpy.random.SeedSequence or numpy.random.Generator
            The only source of randomness (a Generator is used as given).
        subtype : str, optional
            A WHO subtype label (``"ISM"`` draws both ISM strata in their proportions), a stratum
            name (``"BMM"``), or None for the scenario's whole mix.

        Returns
        -------
        DataFrame
            Columns ``age`` (years, float), ``sex`` (categorical F/M), ``splenomegaly``
            (boolean), ``alp`` and ``alp_uln`` (U/L), ``srsf2``, ``asxl1``, ``runx1`` (boolean),
            ``who_subtype`` (categorical over ``SUBTYPE_LABELS``), and the extra columns
            ``diagnosis_year`` (int) and ``variant`` (categorical: the stratum), RangeIndex.
        """
        rng = as_generator(random_state, "random_state of draw_prognostic")
        chosen, codes = self.draw_strata(n, rng, subtype)
        return self.draw_prognostic_for_strata(chosen, codes, rng)

    def draw_prognostic_for_strata(self, strata: tuple[Stratum, ...], codes: np.ndarray,
                                   random_state: Any) -> pd.DataFrame:
        """The prognostic covariates of patients whose strata are already drawn (vectorised).

        Parameters
        ----------
        strata, codes
            As returned by :meth:`draw_strata`.
        random_state : int, numpy.random.SeedSequence or numpy.random.Generator
            Seed, or a Generator used as given (to continue the stream of :meth:`draw_strata`).

        Returns
        -------
        DataFrame
            As :meth:`draw_prognostic`.
        """
        rng = as_generator(random_state, "random_state of draw_prognostic_for_strata")
        frame, _ = _draw_prognostic_codes(self, strata, codes, rng)
        return frame


def _draw_prognostic_codes(scn: Scenario, chosen: tuple[Stratum, ...], codes: np.ndarray,
                           rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Vectorised draw given stratum codes; also returns the per-patient parameter arrays."""
    from scipy.special import ndtr, ndtri

    n = codes.size

    def table(fn) -> np.ndarray:
        return np.array([fn(s) for s in chosen], dtype=float)

    def per(fn) -> np.ndarray:  # one value per stratum, spread over the patients
        return table(fn).take(codes)

    # Age: split normal, each half truncated on its own side (median exact).
    med, sdb, sda = per(lambda s: s.age.median), per(lambda s: s.age.sd_below), \
        per(lambda s: s.age.sd_above)
    # Phi(a) < 0.5 and Phi(b) > 0.5 of the truncation points, per stratum.
    lo_tail = ndtr((table(lambda s: s.age.min) - table(lambda s: s.age.median))
                   / table(lambda s: s.age.sd_below)).take(codes)
    hi_tail = ndtr((table(lambda s: s.age.max) - table(lambda s: s.age.median))
                   / table(lambda s: s.age.sd_above)).take(codes)
    u = rng.random(n)
    lower = u < 0.5
    v = np.where(lower, u * 2.0, u * 2.0 - 1.0)
    q = np.where(lower, lo_tail + v * (0.5 - lo_tail), 0.5 + v * (hi_tail - 0.5))
    z = ndtri(q)
    age = med + np.where(lower, sdb, sda) * z
    age = np.clip(age, per(lambda s: s.age.min), per(lambda s: s.age.max))  # rounding guard only

    male = rng.random(n) < per(lambda s: s.p_male.p)
    spleen = rng.random(n) < per(lambda s: s.splenomegaly.p)

    # ALP: uln x ratio; raised means strictly above the ULN (the risk module's `alp > alp_uln`).
    a = scn.alp
    raised = rng.random(n) < per(lambda s: s.alp_raised.p)
    u_norm = rng.random(n)
    z_exc = rng.standard_normal(n)
    ratio_normal = a.normal_ratio_min + u_norm * (a.normal_ratio_max - a.normal_ratio_min)
    ratio_raised = np.minimum(
        1.02 + a.raised_excess_median * np.exp(np.log(a.raised_excess_gsd) * z_exc),
        a.raised_ratio_max,
    )
    alp = a.uln * np.where(raised, ratio_raised, ratio_normal)

    # S/A/R: count by inverse CDF, then which genes by weighted sampling without replacement
    # (Gumbel top-k: the k largest of log w + Gumbel noise).
    cum = np.cumsum(np.array([s.sar_count for s in chosen], dtype=float), axis=1)
    u_count = rng.random(n)
    count = np.zeros(n, dtype=np.int8)
    for j in range(3):  # count = number of cumulative probabilities <= u (inverse CDF)
        count += u_count >= cum[:, j].take(codes)
    keys = np.log(np.asarray(scn.sar_gene_weights)) - np.log(-np.log(rng.random((n, 3))))
    # Rank of each gene among the three (0 = largest key) by pairwise comparison: no sort needed.
    cols = [np.ascontiguousarray(keys[:, i]) for i in range(3)]
    mutated = np.empty((3, n), dtype=bool)
    for i in range(3):
        rank = np.zeros(n, dtype=np.int8)
        for j in range(3):
            if j != i:
                rank += cols[j] > cols[i]
        mutated[i] = rank < count

    first = per(lambda s: s.diagnosis_year[0])
    span = per(lambda s: s.diagnosis_year[1] - s.diagnosis_year[0] + 1)
    year = (first + np.floor(rng.random(n) * span)).astype(np.int64)

    sub_code = np.array([SUBTYPE_LABELS.index(s.who_subtype) for s in chosen])[codes]
    frame = pd.DataFrame(copy=False, data={
        "age": age,
        "sex": pd.Categorical.from_codes(male.astype(np.int8), categories=["F", "M"]),
        "splenomegaly": pd.arrays.BooleanArray(spleen, np.zeros(n, bool)),
        "alp": alp,
        "alp_uln": np.full(n, a.uln),
        **{g: pd.arrays.BooleanArray(mutated[i], np.zeros(n, bool))
           for i, g in enumerate(SAR_GENES)},
        "who_subtype": pd.Categorical.from_codes(sub_code, categories=list(SUBTYPE_LABELS)),
        "diagnosis_year": year,
        # Categories: every stratum of the scenario, whatever subset was drawn (stable dtype).
        "variant": pd.Categorical.from_codes(
            np.array([scn.strata.index(s) for s in chosen])[codes],
            categories=[s.name for s in scn.strata]),
    })
    params = {"alp_raised": raised, "sar_count": count}
    return frame, params


# --------------------------------------------------------------------------- loading


def available_scenarios() -> tuple[str, ...]:
    """Names of the scenarios shipped with mastoprog (``mastoprog/data/scenarios/*.toml``)."""
    folder = data_path("scenarios")
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")))


def load_scenario(name_or_path: str | PathLike | Scenario = "lim2009") -> Scenario:
    """Load and validate a scenario: a shipped name (``"lim2009"``) or the path of a TOML file.

    Parameters
    ----------
    name_or_path : str, path or Scenario
        ``available_scenarios()`` lists the shipped names; anything with a ``.toml`` suffix or a
        path separator is read as a file. A ``Scenario`` is returned unchanged.

    Returns
    -------
    Scenario

    Raises
    ------
    ModelFileError
        If the file is not valid TOML or any key is missing, unknown or out of range; the message
        lists every problem with its key (e.g. ``strata.ISM.age.median``).
    FileNotFoundError
        If a path is given and does not exist.

    Examples
    --------
    >>> scn = load_scenario("lim2009")
    >>> round(float(scn.subtype_mix["SM-AHN"]), 3)
    0.404
    """
    if isinstance(name_or_path, Scenario):
        return name_or_path
    text = str(name_or_path)
    is_path = isinstance(name_or_path, PathLike) or text.endswith(".toml") or "/" in text \
        or "\\" in text
    if is_path:
        path = Path(text)
        if not path.exists():
            raise FileNotFoundError(f"scenario file not found: {text!r}")
        try:
            with path.open("rb") as fh:
                raw = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ModelFileError(f"scenario file {text!r} is not valid TOML: {exc}") from None
        where = text
    else:
        names = available_scenarios()
        if text not in names:
            raise ModelFileError(
                f"unknown scenario {text!r}; shipped scenarios: {list(names)} "
                "(or pass the path of your own .toml file)"
            )
        raw = load_toml(f"scenarios/{text}.toml")
        where = f"scenarios/{text}.toml"
    return _parse(raw, where)


def reference_cohort(scenario: str | PathLike | Scenario = "lim2009", subtype: str | None = None,
                     n: int = 200_000, random_state: int = 20090601) -> pd.DataFrame:
    """The fixed draw of prognostic covariates the survival model is calibrated on.

    Deterministic: ``numpy.random.default_rng(random_state)`` (PCG64) and the scenario fully determine
    the frame, on any machine.

    Parameters
    ----------
    scenario : str, path or Scenario
        Default ``"lim2009"``.
    subtype : str, optional
        WHO subtype (or stratum name); None draws the scenario's whole mix.
    n : int
        Number of patients (default 200,000: at 20,000 the sampling error of a population-averaged
        median was about 1 %, a visible bias in closed-loop checks; at 200,000 it is about 0.2 %).
    random_state : int
        Seed; default 20090601 (Lim 2009 was published in June 2009).

    Returns
    -------
    DataFrame
        As ``Scenario.draw_prognostic``.
    """
    scn = load_scenario(scenario)
    return scn.draw_prognostic(n, as_generator(random_state, "random_state of reference_cohort"), subtype)


# --------------------------------------------------------------------------- validation


class _Reader:
    """Reads a parsed TOML mapping, collecting every problem with its dotted key."""

    def __init__(self, where: str):
        self.where = where
        self.problems: list[str] = []

    def bad(self, key: str, got: Any, expected: str) -> None:
        self.problems.append(f"{key}: got {got!r}; expected {expected}")

    def table(self, obj: Mapping[str, Any], key: str, name: str, required: bool = True) -> dict:
        v = obj.get(name)
        if v is None:
            if required:
                self.problems.append(f"{key}: missing (expected a table)")
            return {}
        if not isinstance(v, Mapping):
            self.bad(key, v, "a table")
            return {}
        return dict(v)

    def number(self, obj: Mapping[str, Any], key: str, name: str, lo: float | None = None,
               hi: float | None = None, lo_open: bool = False, required: bool = True,
               default: float | None = None, unit: str = "") -> float:
        full = f"{key}.{name}"
        v = obj.get(name)
        if v is None:
            if required:
                self.problems.append(f"{full}: missing (expected a number{unit and ' in ' + unit})")
            return float("nan") if default is None else default
        if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v):
            self.bad(full, v, f"a finite number{unit and ' in ' + unit}")
            return float("nan")
        v = float(v)
        rng_text = []
        if lo is not None:
            rng_text.append(f"{'>' if lo_open else '>='} {lo:g}")
        if hi is not None:
            rng_text.append(f"<= {hi:g}")
        if (lo is not None and (v <= lo if lo_open else v < lo)) or (hi is not None and v > hi):
            self.bad(full, v, f"a number {' and '.join(rng_text)}{unit and ' ' + unit}")
        return v

    def text(self, obj: Mapping[str, Any], key: str, name: str, required: bool = True,
             choices: tuple[str, ...] | None = None, default: str = "") -> str:
        full = f"{key}.{name}"
        v = obj.get(name)
        if v is None:
            if required:
                self.problems.append(f"{full}: missing (expected a string)")
            return default
        if not isinstance(v, str) or (required and not v.strip()):
            self.bad(full, v, "a non-empty string")
            return default
        if choices is not None and v not in choices:
            self.bad(full, v, f"one of {list(choices)}")
        return v

    def cited(self, obj: Mapping[str, Any], key: str) -> Cited:
        source = self.text(obj, key, "source")
        evidence = self.text(obj, key, "evidence", choices=tuple(sorted(EVIDENCE_LEVELS)))
        note = self.text(obj, key, "note", required=False)
        if evidence == "assumption" and not note.strip():
            self.problems.append(f"{key}.note: missing (an assumption needs a one-line rationale)")
        return Cited(source, evidence, note)

    def unknown(self, obj: Mapping[str, Any], key: str, allowed: tuple[str, ...]) -> None:
        for k in obj:
            if k not in allowed:
                self.problems.append(f"{key}.{k}: unknown key; expected one of {sorted(allowed)}")

    def raise_if_any(self) -> None:
        if self.problems:
            n = len(self.problems)
            lines = "\n".join(f"  - {p}" for p in self.problems[:50])
            raise ModelFileError(
                f"scenario {self.where!r}: {n} problem{'s' if n != 1 else ''}:\n{lines}"
            )


def _parse(raw: Mapping[str, Any], where: str) -> Scenario:
    r = _Reader(where)
    r.unknown(raw, "(top level)", ("name", "schema_version", "title", "description", "target_set",
                                   "defaults", "strata", "alp", "sar_genes", "censoring",
                                   "missingness"))
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        r.bad("schema_version", version, f"{SCHEMA_VERSION}")
    name = r.text(raw, "(top level)", "name").strip() or Path(where).stem
    title = r.text(raw, "(top level)", "title", required=False, default=name)
    description = r.text(raw, "(top level)", "description", required=False)
    target_set = r.text(raw, "(top level)", "target_set", required=False, default="lim2009")

    defaults = r.table(raw, "defaults", "defaults", required=False)
    r.unknown(defaults, "defaults", tuple(_STRATUM_DISTRIBUTIONS))
    strata_raw = r.table(raw, "strata", "strata")
    if not strata_raw and "strata" in raw:
        r.problems.append("strata: expected at least one stratum")
    strata = tuple(_parse_stratum(r, key, value, defaults) for key, value in strata_raw.items())
    if strata and sum(s.weight for s in strata if np.isfinite(s.weight)) <= 0:
        r.problems.append("strata.*.weight.value: the weights sum to 0; at least one must be > 0")

    alp_t = r.table(raw, "alp", "alp")
    alp_fields = ("uln", "normal_ratio_min", "normal_ratio_max", "raised_excess_median",
                  "raised_excess_gsd", "raised_ratio_max")
    r.unknown(alp_t, "alp", (*alp_fields, *_CITATION_KEYS))
    alp = AlpSpec(
        uln=r.number(alp_t, "alp", "uln", 0, None, lo_open=True, unit="U/L"),
        normal_ratio_min=r.number(alp_t, "alp", "normal_ratio_min", 0, 1, lo_open=True),
        normal_ratio_max=r.number(alp_t, "alp", "normal_ratio_max", 0, 1, lo_open=True),
        raised_excess_median=r.number(alp_t, "alp", "raised_excess_median", 0, None, lo_open=True),
        raised_excess_gsd=r.number(alp_t, "alp", "raised_excess_gsd", 1, None),
        raised_ratio_max=r.number(alp_t, "alp", "raised_ratio_max", 1.02, None, lo_open=True),
        cited=r.cited(alp_t, "alp") if alp_t else Cited("", ""),
    )
    if alp.normal_ratio_min > alp.normal_ratio_max:
        r.problems.append("alp.normal_ratio_min: must be <= alp.normal_ratio_max")

    genes_t = r.table(raw, "sar_genes", "sar_genes")
    r.unknown(genes_t, "sar_genes", (*SAR_GENES, *_CITATION_KEYS))
    gene_w = tuple(r.number(genes_t, "sar_genes", g, 0, None, lo_open=True) for g in SAR_GENES)
    gene_cited = r.cited(genes_t, "sar_genes") if genes_t else Cited("", "")

    cens_t = r.table(raw, "censoring", "censoring", required=False)
    censoring = _parse_censoring(r, cens_t, "censoring") if cens_t else CensoringSpec()

    miss_raw = raw.get("missingness", [])
    if not isinstance(miss_raw, list):
        r.bad("missingness", miss_raw, "an array of tables ([[missingness]])")
        miss_raw = []
    missingness = tuple(_parse_missing(r, f"missingness[{i}]", m) for i, m in enumerate(miss_raw))

    r.raise_if_any()
    return Scenario(name=name, title=title, description=description, target_set=target_set,
                    strata=strata, alp=alp, sar_gene_weights=gene_w, sar_gene_cited=gene_cited,
                    censoring=censoring, missingness=missingness, path=where, raw=raw)


def _parse_stratum(r: _Reader, name: str, t: Any, defaults: Mapping[str, Any]) -> Stratum:
    key = f"strata.{name}"
    if not isinstance(t, Mapping):
        r.bad(key, t, "a table")
        t = {}
    r.unknown(t, key, ("who_subtype", "findings_profile", "description", *_STRATUM_DISTRIBUTIONS))
    who = r.text(t, key, "who_subtype", choices=STRATUM_SUBTYPES, default="ISM")
    # Which recipe of raw findings the generator uses (data/synthetic_findings.csv): by default
    # the stratum's name when a recipe has that name (e.g. BMM), else its WHO subtype.
    default_profile = name if name in FINDINGS_PROFILES else who
    profile = r.text(t, key, "findings_profile", required=False, choices=FINDINGS_PROFILES,
                     default=default_profile)
    if who == "ISM" and profile not in ("ISM", "BMM"):
        r.bad(f"{key}.findings_profile", profile, "'ISM' or 'BMM' for an ISM stratum")
    elif who != "ISM" and profile != who:
        r.bad(f"{key}.findings_profile", profile, f"{who!r} (the stratum's who_subtype)")
    if name in STRATUM_SUBTYPES and name != who:
        r.bad(key, name, f"a stratum named after a subtype to have who_subtype = {name!r}")
    description = r.text(t, key, "description", required=False)

    def dist(dname: str) -> tuple[dict, str]:
        if dname in t:
            return r.table(t, f"{key}.{dname}", dname), f"{key}.{dname}"
        if dname in defaults:
            return r.table(defaults, f"defaults.{dname}", dname), f"defaults.{dname}"
        r.problems.append(f"{key}.{dname}: missing (and no [defaults.{dname}])")
        return {}, f"{key}.{dname}"

    def prob(dname: str, field_name: str = "p") -> Probability:
        d, k = dist(dname)
        r.unknown(d, k, (field_name, *_CITATION_KEYS))
        return Probability(r.number(d, k, field_name, 0, 1), r.cited(d, k) if d else Cited("", ""))

    w, wk = dist("weight")
    r.unknown(w, wk, ("value", *_CITATION_KEYS))
    weight = r.number(w, wk, "value", 0, None)
    weight_cited = r.cited(w, wk) if w else Cited("", "")

    a, ak = dist("age")
    r.unknown(a, ak, (*_STRATUM_DISTRIBUTIONS["age"], *_CITATION_KEYS))
    age = AgeDistribution(
        median=r.number(a, ak, "median", 0, 120, unit="years"),
        sd_below=r.number(a, ak, "sd_below", 0, None, lo_open=True, unit="years"),
        sd_above=r.number(a, ak, "sd_above", 0, None, lo_open=True, unit="years"),
        min=r.number(a, ak, "min", 0, 120, unit="years"),
        max=r.number(a, ak, "max", 0, 120, unit="years"),
        cited=r.cited(a, ak) if a else Cited("", ""),
    )
    if np.isfinite([age.min, age.median, age.max]).all() and not age.min < age.median < age.max:
        r.problems.append(f"{ak}: expected min < median < max (got {age.min:g}, {age.median:g}, "
                          f"{age.max:g} years)")

    y, yk = dist("diagnosis_year")
    r.unknown(y, yk, ("first", "last", *_CITATION_KEYS))
    first = r.number(y, yk, "first", 1900, 2100, unit="calendar year")
    last = r.number(y, yk, "last", 1900, 2100, unit="calendar year")
    for fname, v in (("first", first), ("last", last)):
        if np.isfinite(v) and v != round(v):
            r.bad(f"{yk}.{fname}", v, "a whole calendar year")
    if np.isfinite(first) and np.isfinite(last) and first > last:
        r.problems.append(f"{yk}: expected first <= last (got {first:g} > {last:g})")
    year_cited = r.cited(y, yk) if y else Cited("", "")

    s, sk = dist("sar_count")
    r.unknown(s, sk, ("p", *_CITATION_KEYS))
    p = s.get("p")
    sar: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0)
    if p is None:
        if s:
            r.problems.append(f"{sk}.p: missing (expected 4 probabilities for 0, 1, 2, 3 genes)")
    elif (not isinstance(p, list) or len(p) != 4
          or not all(isinstance(x, int | float) and not isinstance(x, bool) and 0 <= x <= 1
                     for x in p)
          or abs(sum(p) - 1) > 1e-9):
        r.bad(f"{sk}.p", p, "4 probabilities in [0, 1] for 0, 1, 2, 3 mutated genes, summing to 1")
    else:
        sar = tuple(float(x) for x in p)

    return Stratum(
        name=name, who_subtype=who, findings_profile=profile, description=description,
        weight=weight, weight_cited=weight_cited, age=age, p_male=prob("sex", "p_male"),
        diagnosis_year=(int(first) if np.isfinite(first) else 0,
                        int(last) if np.isfinite(last) else 0),
        diagnosis_year_cited=year_cited,
        splenomegaly=prob("splenomegaly"), hepatomegaly=prob("hepatomegaly"),
        lymphadenopathy=prob("lymphadenopathy"), alp_raised=prob("alp_raised"),
        sar_count=sar, sar_count_cited=r.cited(s, sk) if s else Cited("", ""),
        kit_d816=prob("kit_d816"),
    )


def _parse_censoring(r: _Reader, t: Mapping[str, Any], key: str) -> CensoringSpec:
    r.unknown(t, key, ("study_end", "dropout_per_year", "max_followup_months", "target_fraction",
                       *_CITATION_KEYS))
    return CensoringSpec(
        study_end=r.number(t, key, "study_end", 1900, 2200, required=False, unit="calendar year")
        if "study_end" in t else None,
        dropout_per_year=r.number(t, key, "dropout_per_year", 0, None, required=False, default=0.0,
                                  unit="per year"),
        max_followup_months=r.number(t, key, "max_followup_months", 0, None, lo_open=True,
                                     required=False, unit="months")
        if "max_followup_months" in t else None,
        target_fraction=r.number(t, key, "target_fraction", 0, 1, lo_open=True, required=False)
        if "target_fraction" in t else None,
        cited=r.cited(t, key),
    )


def _parse_missing(r: _Reader, key: str, t: Any) -> MissingnessRule:
    from .findings import CANONICAL_COLUMNS

    if not isinstance(t, Mapping):
        r.bad(key, t, "a table")
        t = {}
    r.unknown(t, key, ("columns", "joint", "p", "p_by_subtype", *_CITATION_KEYS))
    cols = t.get("columns")
    ok_cols = tuple(c for c in CANONICAL_COLUMNS
                    if c not in ("patient_id", "who_subtype", "time", "event"))
    if not isinstance(cols, list) or not cols or not all(isinstance(c, str) for c in cols):
        r.bad(f"{key}.columns", cols, "a non-empty list of canonical column names")
        cols = []
    for c in cols:
        if c not in ok_cols:
            r.bad(f"{key}.columns", c, "canonical finding columns (see the data dictionary)")
    joint = t.get("joint", False)
    if not isinstance(joint, bool):
        r.bad(f"{key}.joint", joint, "true or false")
        joint = False
    p = r.number(t, key, "p", 0, 1, required=False) if "p" in t else None
    by = None
    if "p_by_subtype" in t:
        bt = r.table(t, f"{key}.p_by_subtype", "p_by_subtype")
        by = {}
        for sub in bt:
            if sub not in STRATUM_SUBTYPES:
                r.bad(f"{key}.p_by_subtype.{sub}", sub, f"one of {list(STRATUM_SUBTYPES)}")
            by[sub] = r.number(bt, f"{key}.p_by_subtype", sub, 0, 1)
    if (p is None) == (by is None):
        r.problems.append(f"{key}: give exactly one of 'p' (MCAR) or 'p_by_subtype'")
    return MissingnessRule(tuple(cols), p, by, joint, r.cited(t, key))


def inverse_cdf(p: np.ndarray, u: np.ndarray, dtype: Any = np.intp) -> np.ndarray:
    """Index of the category of each uniform: the number of cumulative probabilities <= u.

    Same result as ``searchsorted(cumsum(p)[:-1], u, side="right")``; a comparison pass per
    category is faster than a binary search per value for the few categories used here.

    Parameters
    ----------
    p : array_like (K,)
        Category probabilities (summing to 1).
    u : ndarray (n,)
        Uniforms in [0, 1).
    dtype : numpy integer type
        Of the codes; a small type (``np.int8`` for fewer than 128 categories) moves less memory
        on cohort-sized arrays. Wider types are used when K does not fit.

    Returns
    -------
    ndarray (n,)
        Category index 0..K-1 per uniform.

    Examples
    --------
    >>> import numpy as np
    >>> inverse_cdf([0.2, 0.5, 0.3], np.array([0.1, 0.2, 0.69, 0.7, 0.99])).tolist()
    [0, 1, 1, 2, 2]
    """
    cum = np.cumsum(np.asarray(p, dtype=float))[:-1]
    if cum.size >= np.iinfo(dtype).max:
        dtype = np.intp
    codes = np.zeros(u.size, dtype=dtype)
    for c in cum:
        codes += u >= c
    return codes


def check_patient_count(n: Any) -> int:
    """``n`` as an int when it is a positive whole number of patients.

    Parameters
    ----------
    n : int
        Number of patients.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        Otherwise, naming the value.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive whole number of patients; got {n!r}")
    return int(n)

