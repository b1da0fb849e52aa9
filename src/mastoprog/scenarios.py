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
names the stratum. A stratum named like a subtype must have that subtype. SM with an associated
*lymphoid* neoplasm is a WHO 2016 SM-AHN with the findings profile ``SM-ALN``: its prognostic group
(``Stratum.prognostic_group``, the ``who_subtype`` column of a prognostic draw and what
``reference_cohort`` matches) is SM-ALN, the ICC 2022 label (Mayo 910 median OS 8.1 y); asked for
``"SM-AHN"``, ``select`` and ``simulate_cohort`` draw every WHO SM-AHN, lymphoid ones included.

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
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from pydantic import TypeAdapter, ValidationError

from ._random import as_generator
from ._resources import data_path, load_toml
from ._scenario_schema import (
    CensoringFile,
    CitedTable,
    Distributions,
    MissingnessFile,
    ProbabilityTable,
    ScenarioFile,
    StratumTable,
    problems,
)
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
    "parse_censoring",
    "parse_missingness",
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
FINDINGS_PROFILES: tuple[str, ...] = ("CM", "ISM", "BMM", "SSM", "SM-AHN", "ASM", "MCL", "SM-ALN")
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

    @property
    def prognostic_group(self) -> str:
        """The survival model's subtype for this stratum: ``SM-ALN`` for SM with a lymphoid AHN
        (findings profile ``SM-ALN``; WHO 2016 calls it SM-AHN), else ``who_subtype``."""
        return "SM-ALN" if self.findings_profile == "SM-ALN" else self.who_subtype


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

    def select(self, subtype: str | None = None, *,
               prognostic: bool = False) -> tuple[tuple[Stratum, ...], np.ndarray]:
        """(strata, probabilities) for ``subtype``: a WHO label, a stratum name, or None for the mix.

        ``"SM-AHN"`` selects every WHO 2016 SM-AHN stratum, lymphoid ones included, and ``"SM-ALN"``
        the lymphoid ones; with ``prognostic=True`` (the survival model's reference cohorts) a label
        selects the strata of that prognostic group only (``"SM-AHN"``: the myeloid ones).
        Strata of weight 0 (e.g. CM in lim2009) are drawn only when asked for by name or label;
        if every matching stratum has weight 0 they are drawn in equal shares.
        """
        if subtype is None:
            chosen = tuple(s for s in self.strata if s.weight > 0)
        else:
            chosen = tuple(s for s in self.strata if subtype in (s.prognostic_group, s.name)
                           or (not prognostic and subtype == s.who_subtype))
            if not chosen:
                labels = sorted({s.prognostic_group for s in self.strata} | {s.name for s in self.strata})
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

    def draw_strata(self, n: int, random_state: Any, subtype: str | None = None, *,
                    prognostic: bool = False) -> tuple[tuple[Stratum, ...], np.ndarray]:
        """(strata, code per patient): which stratum each of ``n`` patients belongs to.

        Parameters
        ----------
        n : int
            Number of patients.
        random_state : int, numpy.random.SeedSequence or numpy.random.Generator
            Seed, or a Generator used as given.
        subtype : str, optional
            As in :meth:`draw_prognostic`.
        prognostic : bool
            Select ``subtype`` as a prognostic group (:meth:`select`).

        Returns
        -------
        tuple
            The strata drawn from and one index into them per patient.
        """
        n = check_patient_count(n)
        rng = as_generator(random_state, "random_state of draw_strata")
        chosen, probs = self.select(subtype, prognostic=prognostic)
        if len(chosen) == 1:
            return chosen, np.zeros(n, dtype=np.intp)
        # Inverse-CDF on one uniform per patient: cheap and stable across numpy versions.
        return chosen, inverse_cdf(probs, rng.random(n))

    def draw_prognostic(self, n: int, random_state: Any, subtype: str | None = None, *,
                        prognostic: bool = False) -> pd.DataFrame:
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
        prognostic : bool
            Read ``subtype`` as the survival model's prognostic group (``"SM-AHN"`` without the
            lymphoid-AHN strata, which are ``"SM-ALN"``), as :func:`reference_cohort` does.

        Returns
        -------
        DataFrame
            Columns ``age`` (years, float), ``sex`` (categorical F/M), ``splenomegaly``
            (boolean), ``alp`` and ``alp_uln`` (U/L), ``srsf2``, ``asxl1``, ``runx1`` (boolean),
            ``who_subtype`` (categorical over ``SUBTYPE_LABELS``: the prognostic group, SM-ALN for a
            stratum with a lymphoid AHN), and the extra columns
            ``diagnosis_year`` (int) and ``variant`` (categorical: the stratum), RangeIndex.
        """
        rng = as_generator(random_state, "random_state of draw_prognostic")
        chosen, codes = self.draw_strata(n, rng, subtype, prognostic=prognostic)
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

    # The survival model's subtype: SM-ALN for a stratum of SM with a lymphoid AHN.
    sub_code = np.array([SUBTYPE_LABELS.index(s.prognostic_group) for s in chosen])[codes]
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
        Prognostic subtype of the survival model (``"SM-AHN"``: the myeloid SM-AHN strata;
        ``"SM-ALN"``: SM with a lymphoid AHN) or stratum name; None draws the scenario's whole mix.
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
    return scn.draw_prognostic(n, as_generator(random_state, "random_state of reference_cohort"), subtype,
                               prognostic=True)


# --------------------------------------------------------------------------- validation


def _raise_problems(where: str, lines: list[str]) -> NoReturn:
    n = len(lines)
    listed = "\n".join(f"  - {p}" for p in lines[:50])
    raise ModelFileError(f"scenario {where!r}: {n} problem{'s' if n != 1 else ''}:\n{listed}")


def _parse(raw: Mapping[str, Any], where: str) -> Scenario:
    """A :class:`Scenario` from a parsed TOML file, or every problem with its key (ModelFileError)."""
    try:
        spec = ScenarioFile.model_validate(raw)
    except ValidationError as exc:
        _raise_problems(where, problems(exc))
    a = spec.alp
    alp = AlpSpec(a.uln, a.normal_ratio_min, a.normal_ratio_max, a.raised_excess_median,
                  a.raised_excess_gsd, a.raised_ratio_max, _cited(a))
    g = spec.sar_genes
    return Scenario(
        name=spec.name.strip(), title=spec.title or spec.name, description=spec.description,
        target_set=spec.target_set,
        strata=tuple(_stratum(name, s, spec.defaults) for name, s in spec.strata.items()),
        alp=alp, sar_gene_weights=(g.srsf2, g.asxl1, g.runx1), sar_gene_cited=_cited(g),
        censoring=_censoring(spec.censoring) if spec.censoring else CensoringSpec(),
        missingness=tuple(_missing(m) for m in spec.missingness), path=where, raw=raw,
    )


def _cited(t: CitedTable) -> Cited:
    return Cited(t.source, t.evidence, t.note)


def _stratum(name: str, s: StratumTable, defaults: Distributions) -> Stratum:
    """A validated stratum table, with the distributions it does not give taken from defaults."""
    def get(dist: str) -> Any:
        return getattr(s, dist) or getattr(defaults, dist)  # both None: refused by the schema

    age, year, sar = get("age"), get("diagnosis_year"), get("sar_count")
    sex = get("sex")
    # Which recipe of raw findings the generator uses (data/synthetic_findings.csv): by default
    # the stratum's name when a recipe has that name (e.g. BMM), else its WHO subtype.
    profile = s.findings_profile or (name if name in FINDINGS_PROFILES else s.who_subtype)
    return Stratum(
        name=name, who_subtype=s.who_subtype, findings_profile=profile, description=s.description,
        weight=get("weight").value, weight_cited=_cited(get("weight")),
        age=AgeDistribution(age.median, age.sd_below, age.sd_above, age.min, age.max, _cited(age)),
        p_male=Probability(sex.p_male, _cited(sex)),
        diagnosis_year=(year.first, year.last), diagnosis_year_cited=_cited(year),
        splenomegaly=_probability(get("splenomegaly")), hepatomegaly=_probability(get("hepatomegaly")),
        lymphadenopathy=_probability(get("lymphadenopathy")),
        alp_raised=_probability(get("alp_raised")),
        sar_count=(sar.p[0], sar.p[1], sar.p[2], sar.p[3]), sar_count_cited=_cited(sar),
        kit_d816=_probability(get("kit_d816")),
    )


def _probability(t: ProbabilityTable) -> Probability:
    return Probability(t.p, _cited(t))


def _censoring(t: CensoringFile) -> CensoringSpec:
    return CensoringSpec(study_end=t.study_end, dropout_per_year=t.dropout_per_year,
                         max_followup_months=t.max_followup_months,
                         target_fraction=t.target_fraction, cited=_cited(t))


def _missing(t: MissingnessFile) -> MissingnessRule:
    by = {str(k): v for k, v in t.p_by_subtype.items()} if t.p_by_subtype is not None else None
    return MissingnessRule(tuple(t.columns), t.p, by, t.joint, _cited(t))


def parse_censoring(table: Mapping[str, Any], where: str) -> CensoringSpec:
    """A :class:`CensoringSpec` from a mapping with the keys of a scenario's ``[censoring]``.

    Parameters
    ----------
    table : mapping
        ``study_end`` (decimal calendar year), ``dropout_per_year``, ``max_followup_months``,
        ``target_fraction`` and the citation keys ``source``, ``evidence``, ``note``.
    where : str
        What the mapping is, for messages (e.g. ``"censoring argument"``).

    Returns
    -------
    CensoringSpec

    Raises
    ------
    ModelFileError
        Listing every problem as ``censoring.<key>: ...``.
    """
    try:
        return _censoring(CensoringFile.model_validate(dict(table)))
    except ValidationError as exc:
        _raise_problems(where, problems(exc, "censoring"))


def parse_missingness(rules: Any, where: str) -> tuple[MissingnessRule, ...]:
    """:class:`MissingnessRule` objects from mappings with the keys of ``[[missingness]]``.

    Parameters
    ----------
    rules : sequence of mapping
        Each with ``columns``, ``p`` or ``p_by_subtype``, ``joint`` and the citation keys.
    where : str
        What the rules are, for messages (e.g. ``"missingness argument"``).

    Returns
    -------
    tuple of MissingnessRule

    Raises
    ------
    ModelFileError
        Listing every problem as ``missingness[i].<key>: ...``.
    """
    try:
        return tuple(_missing(m) for m in _MISSINGNESS.validate_python(list(rules)))
    except ValidationError as exc:
        _raise_problems(where, problems(exc, "missingness"))


_MISSINGNESS = TypeAdapter(list[MissingnessFile])


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

