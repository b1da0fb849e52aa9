"""Synthetic cohorts with a known truth, drawn from a scenario and the calibrated survival model.

``simulate_cohort`` draws, for each patient, a stratum of the scenario's mix (and so a WHO 2016
subtype), the prognostic covariates (``Scenario.draw_prognostic``), the **raw findings** a
clinician would record, drawn so that they are consistent with the subtype under the WHO 2016
rules (and, where the editions agree, WHO 2022 and ICC 2022), a survival time drawn exactly from
the calibrated model, optional censoring and missingness, and the **truth** (``true_*`` columns).

Raw findings follow the recipes in ``data/synthetic_findings.csv`` (one row per profile and
finding, each with its source, evidence level and the definition its range respects, e.g.
"tryptase < 200 ng/mL: no B1 in any edition"). Where the editions legitimately differ the truth
says so: ``true_subtype_who2022`` is ``BMM`` for an ISM with no skin lesions, no B finding and
tryptase < 125 ng/mL; ``true_subtype_icc2022`` is ``SM-AMN`` for SM with a myeloid AHN and
``SM-ALN`` for SM with a lymphoid AHN.

Survival: the exact draw of ``SurvivalModel.sample_event_times`` (see ``mastoprog.survival``):
the minimum of a background death time, drawn by exact inversion of the life table's
piecewise-constant hazard, and an excess (disease) death time drawn in closed form from the
Weibull excess hazard. For mastoprog's own model it is computed here from the model's parameters
with the same random stream (identical times for the same generator state, checked by the tests)
because the model's public method validates and classifies its input row by row; any other model
object is called through its public methods. So the cohort's Kaplan-Meier curve converges to the
model's population-averaged curve, not to an approximation of it.

Everything random comes from one ``numpy.random.Generator`` built from ``random_state``: the same seed and
scenario give the same frame on any machine, different seeds give independent cohorts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

from .._logic import OPS
from .._random import as_generator
from .._resources import load_table
from ..exceptions import ModelFileError
from ..findings import AHN_LABELS, CANONICAL_COLUMNS, SUBTYPE_LABELS, ahn_lineage
from ..scenarios import (
    FINDINGS_PROFILES,
    CensoringSpec,
    MissingnessRule,
    Scenario,
    check_patient_count,
    inverse_cdf,
    load_scenario,
    parse_censoring,
    parse_missingness,
)
from ..survival import (
    PROGNOSTIC_SUBTYPES,
    ModelState,
    SurvivalModel,
    load_model,
    model_features,
    point_medians,
)

__all__ = [
    "SIMULATION_COLUMNS",
    "TRUTH_COLUMNS",
    "simulate_cohort",
    "simulation_summary",
]

#: Canonical columns a simulated cohort has (``patient_id`` only on request; ``who_subtype``
#: is left unassigned unless ``assign_subtype=True``, so that the classifier has work to do).
_CANONICAL_OUT = tuple(c for c in CANONICAL_COLUMNS if c != "patient_id")
#: Truth columns, in order.
TRUTH_COLUMNS: tuple[str, ...] = (
    "true_subtype", "true_subtype_who2022", "true_subtype_icc2022", "true_sm_component",
    "true_variant", "true_linear_predictor", "true_median", "true_survival_60", "true_time",
)
#: Every column of ``simulate_cohort``'s output, in order (without the optional ``patient_id``).
SIMULATION_COLUMNS: tuple[str, ...] = (*_CANONICAL_OUT, "diagnosis_year", *TRUTH_COLUMNS)
_METADATA_KEY = "mastoprog"
_FORMAT_VERSION = 1

_BOOL_PARAMS = ("skin_lesions", "bm_examined", "bm_mc_aggregates", "kit_other", "cd2_cd25",
                "cd30", "hat", "mc_sarcoma", "dysplasia_myeloproliferation", "c1",
                "hepatic_dysfunction", "hypersplenism", "osteolysis", "malabsorption",
                "c1_hemoglobin", "c1_platelets", "c1_anc")
_FLOAT_PARAMS = ("atypical_mc_pct", "tryptase", "bm_mc_infiltration_pct", "kit_vaf_pct",
                 "mc_aspirate_pct", "hemoglobin", "platelets", "anc", "hemoglobin_low",
                 "platelets_low", "anc_low")
# Parameters a profile may leave out: then the finding is absent (probability 0).
_OPTIONAL_PARAMS = frozenset({"hepatic_dysfunction", "hypersplenism", "osteolysis",
                              "malabsorption", "c1_hemoglobin", "c1_platelets", "c1_anc",
                              "hemoglobin_low", "platelets_low", "anc_low"})
_COMPONENTS = ("ISM", "SSM", "ASM")
#: Profiles of SM with an associated neoplasm: findings from an SM component, plus the AHN entity
#: (SM-AHN: myeloid entities; SM-ALN: lymphoid ones, a WHO 2016 SM-AHN and an ICC 2022 SM-ALN).
_AHN_PROFILES = ("SM-AHN", "SM-ALN")
_DISTS = ("const", "bernoulli", "uniform", "loguniform")


# --------------------------------------------------------------------------- findings recipes


@dataclass(frozen=True)
class _Recipes:
    """Per-profile parameter arrays (index = position in FINDINGS_PROFILES)."""

    prob: dict[str, np.ndarray]                 # bool params: P(True) per profile
    low: dict[str, np.ndarray]                  # float params
    high: dict[str, np.ndarray]
    log: dict[str, np.ndarray]                  # float params: loguniform?
    component_p: np.ndarray                     # (2, 3) SM-AHN, SM-ALN: P(component ISM, SSM, ASM)
    ahn_labels: tuple[str, ...]
    ahn_p: np.ndarray                           # (2, A) SM-AHN (myeloid), SM-ALN (lymphoid)
    requires_c: np.ndarray                      # ASM: >= 1 C finding by definition


@cache
def _recipes() -> _Recipes:
    table = load_table("synthetic_findings.csv")
    problems: list[str] = []
    bad_dist = ~table["dist"].isin(_DISTS)
    for i in np.flatnonzero(bad_dist.to_numpy()):
        problems.append(f"line {i + 2}: dist {table['dist'].iat[i]!r} not in {_DISTS}")
    bad_prof = ~table["profile"].isin((*FINDINGS_PROFILES, "SM"))
    for i in np.flatnonzero(bad_prof.to_numpy()):
        problems.append(f"line {i + 2}: unknown profile {table['profile'].iat[i]!r}")
    rows = {(r.profile, r.parameter): r for r in table.itertuples(index=False)}
    prob = {param: _bool_recipe(rows, param, problems) for param in _BOOL_PARAMS}
    low, high, log = {}, {}, {}
    for param in _FLOAT_PARAMS:
        low[param], high[param], log[param] = _float_recipe(rows, param, problems)
    comp = np.array([[float(rows[(a, f"component_{c}")].low) if (a, f"component_{c}") in rows else 0.0
                      for c in _COMPONENTS] for a in _AHN_PROFILES])
    labels = tuple(dict.fromkeys(param[4:] for (prof, param) in rows
                                 if prof in _AHN_PROFILES and param.startswith("ahn_")))
    for label in labels:
        if label not in AHN_LABELS:
            problems.append(f"SM-AHN/SM-ALN: unknown AHN entity {label!r}; expected one of {AHN_LABELS}")
    ahn_p = np.array([[float(rows[(a, f"ahn_{lab}")].low) if (a, f"ahn_{lab}") in rows else 0.0
                       for lab in labels] for a in _AHN_PROFILES])
    for a, c_row, a_row in zip(_AHN_PROFILES, comp, ahn_p, strict=True):
        if not np.isclose(c_row.sum(), 1) or not labels or not np.isclose(a_row.sum(), 1):
            problems.append(f"{a}: component_* and ahn_* probabilities must each sum to 1")
    if problems:
        raise ModelFileError("data file 'synthetic_findings.csv': " + "; ".join(problems))
    requires_c = np.array([p == "ASM" for p in FINDINGS_PROFILES])
    return _Recipes(prob, low, high, log, comp, labels, ahn_p, requires_c)


def _recipe_row(rows: Mapping[tuple[str, str], Any], profile: str, param: str) -> Any:
    """The recipe row of ``param`` for ``profile``; every SM profile inherits the SM base."""
    if (profile, param) in rows:
        return rows[(profile, param)]
    if profile != "CM" and ("SM", param) in rows:
        return rows[("SM", param)]
    return None


def _bool_recipe(rows: Mapping[tuple[str, str], Any], param: str, problems: list[str]) -> np.ndarray:
    """P(yes) of a yes/no finding per findings profile (problems appended to ``problems``)."""
    p = np.zeros(len(FINDINGS_PROFILES))
    for j, prof in enumerate(FINDINGS_PROFILES):
        r = _recipe_row(rows, prof, param)
        if r is None:
            if param not in _OPTIONAL_PARAMS:
                problems.append(f"profile {prof}: no row for {param!r}")
        elif r.dist not in ("const", "bernoulli") or not 0 <= float(r.low) <= 1:
            problems.append(f"profile {prof}, {param}: expected const 0/1 or bernoulli p in [0, 1]")
        else:
            p[j] = float(r.low)
    return p


def _float_recipe(rows: Mapping[tuple[str, str], Any], param: str,
                  problems: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, log-uniform?) of a numeric finding per findings profile."""
    n_prof = len(FINDINGS_PROFILES)
    lo, hi, lg = np.zeros(n_prof), np.zeros(n_prof), np.zeros(n_prof, bool)
    for j, prof in enumerate(FINDINGS_PROFILES):
        r = _recipe_row(rows, prof, param)
        if r is None:
            # SM-AHN findings come from its SM component's profile (ISM/SSM/ASM).
            if param not in _OPTIONAL_PARAMS and prof not in _AHN_PROFILES:
                problems.append(f"profile {prof}: no row for {param!r}")
            continue
        a = float(r.low)
        b = a if r.dist == "const" else float(r.high)
        if r.dist == "bernoulli" or not b >= a or (r.dist == "loguniform" and a <= 0):
            problems.append(f"profile {prof}, {param}: expected const, uniform or loguniform "
                            f"with 0 < low <= high (got {r.dist} {a:g}..{b:g})")
        lo[j], hi[j], lg[j] = a, b, r.dist == "loguniform"
    return lo, hi, lg


def _boolean(values: np.ndarray) -> pd.arrays.BooleanArray:
    return pd.arrays.BooleanArray(np.ascontiguousarray(values, dtype=bool),
                                  np.zeros(values.shape[0], bool))


def _draw_findings(scn: Scenario, chosen, codes: np.ndarray, prog: pd.DataFrame,
                   rng: np.random.Generator) -> tuple[dict[str, Any], dict[str, Any]]:
    """Raw findings (canonical column -> array) and the truth labels, vectorised by profile."""
    rec = _recipes()
    n = codes.size
    prof_of_stratum = np.array([FINDINGS_PROFILES.index(s.findings_profile) for s in chosen])
    prof_main = prof_of_stratum[codes]
    # Which associated-neoplasm profile (0 SM-AHN, 1 SM-ALN; -1 none) each patient has.
    ahn_kind = np.array([_AHN_PROFILES.index(f) if f in _AHN_PROFILES else -1
                         for f in FINDINGS_PROFILES], np.int8)[prof_main]
    is_ahn = ahn_kind >= 0

    # SM-AHN: the SM component decides the B/C findings (precedence: MCL > AHN > ASM > SSM > ISM).
    comp_idx = _per_kind_inverse_cdf(rec.component_p, ahn_kind, rng.random(n))
    comp_prof = np.array([FINDINGS_PROFILES.index(c) for c in _COMPONENTS])[comp_idx]
    prof = np.where(is_ahn, comp_prof, prof_main)
    # Profiles in play: a finding that every one of them fixes (p = 0 or 1, or a constant
    # value) is set without spending random numbers on it.
    in_play = set(prof_of_stratum.tolist())
    if in_play & {FINDINGS_PROFILES.index(a) for a in _AHN_PROFILES}:
        in_play |= {FINDINGS_PROFILES.index(c) for c in _COMPONENTS}
    in_play_idx = np.array(sorted(in_play))

    def bern(param: str, which: np.ndarray = prof) -> np.ndarray:
        table = rec.prob[param]
        p = table.take(which)
        if np.all((table[in_play_idx] == 0) | (table[in_play_idx] == 1)):
            return p == 1
        return rng.random(n) < p

    def value(param: str) -> np.ndarray:
        lo_t, hi_t, log_t = rec.low[param], rec.high[param], rec.log[param]
        if np.array_equal(lo_t[in_play_idx], hi_t[in_play_idx]):
            return lo_t.take(prof)
        u = rng.random(n)
        # Per-profile tables (widths, logs of the bounds) gathered per patient: the same
        # doubles as computing hi - lo, log(lo), log(hi) patient by patient, at a fraction of
        # the cost (the log-uniform bounds were two logarithms per patient).
        if not log_t.any():
            u *= (hi_t - lo_t).take(prof)  # in place: lo + u * (hi - lo), one temporary fewer
            u += lo_t.take(prof)
            return u
        llo_t, lhi_t = np.zeros_like(lo_t), np.zeros_like(hi_t)
        llo_t[log_t], lhi_t[log_t] = np.log(lo_t[log_t]), np.log(hi_t[log_t])
        logx = np.exp(llo_t.take(prof) + u * (lhi_t - llo_t).take(prof))
        if log_t[in_play_idx].all():  # log-uniform for every profile in play
            return logx
        return np.where(log_t.take(prof), logx, lo_t.take(prof) + u * (hi_t - lo_t).take(prof))

    per_stratum = lambda fn: np.array([fn(s) for s in chosen], dtype=float).take(codes)  # noqa: E731
    spleen = prog["splenomegaly"].to_numpy(dtype=bool)
    liver = rng.random(n) < per_stratum(lambda s: s.hepatomegaly.p)
    nodes = rng.random(n) < per_stratum(lambda s: s.lymphadenopathy.p)
    kit = rng.random(n) < per_stratum(lambda s: s.kit_d816.p)

    out: dict[str, Any] = {}
    out["skin_lesions"] = bern("skin_lesions", prof_main)  # SM-AHN's own share of skin lesions
    for param in ("bm_examined", "bm_mc_aggregates", "cd2_cd25", "cd30", "hat", "mc_sarcoma"):
        out[param] = bern(param)
    out["atypical_mc_pct"] = value("atypical_mc_pct")
    out["kit_d816"] = kit
    out["kit_other"] = ~kit & bern("kit_other")
    out["tryptase"] = value("tryptase")
    out["bm_mc_infiltration_pct"] = value("bm_mc_infiltration_pct")
    out["mc_aspirate_pct"] = value("mc_aspirate_pct")
    out["kit_vaf_pct"] = np.where(kit, value("kit_vaf_pct"), 0.0)

    # B findings. SSM needs >= 2 in every edition: B1 (infiltration > 30 % and tryptase > 200,
    # which ICC requires together) by its recipe, plus B3 (organomegaly) or else B2 (dysplasia;
    # with an AHN, dysplasia is the AHN's, so lymphadenopathy gives the second B finding).
    dysplasia = bern("dysplasia_myeloproliferation") & ~is_ahn
    i_ssm = FINDINGS_PROFILES.index("SSM")
    lacks_b3 = (prof == i_ssm) & ~(spleen | liver | nodes)
    dysplasia |= lacks_b3 & ~is_ahn
    nodes = nodes | (lacks_b3 & is_ahn)
    out["dysplasia_myeloproliferation"] = dysplasia
    out["hepatomegaly"] = liver
    out["splenomegaly"] = spleen
    out["lymphadenopathy"] = nodes
    out["lymphadenopathy_1cm"] = nodes.copy()  # assumption: no node of 1-2 cm without a > 2 cm one

    # C findings (ASM by definition has >= 1: cytopenia when none was drawn).
    c1 = bern("c1")
    c2 = liver & bern("hepatic_dysfunction")
    c4 = spleen & bern("hypersplenism")
    c3 = bern("osteolysis")
    c5 = bern("malabsorption")
    c1 |= rec.requires_c[prof] & ~(c1 | c2 | c3 | c4 | c5)
    hb_low, plt_low, anc_low = bern("c1_hemoglobin") & c1, bern("c1_platelets") & c1, \
        bern("c1_anc") & c1
    hb_low |= c1 & ~(hb_low | plt_low | anc_low)
    out["hepatic_dysfunction"], out["osteolysis"] = c2, c3
    out["hypersplenism"], out["malabsorption"] = c4, c5
    # The low value where the cytopenia was drawn (both drawn for everyone, low first: the
    # random stream is fixed); copyto in place of np.where, same values.
    for col, low in (("anc", anc_low), ("hemoglobin", hb_low), ("platelets", plt_low)):
        low_value = value(f"{col}_low")
        out[col] = value(col)
        np.copyto(out[col], low_value, where=low)

    # AHN entity for SM-AHN.
    ahn_pick = _per_kind_inverse_cdf(rec.ahn_p, ahn_kind, rng.random(n))
    ahn_cats = ["none", *AHN_LABELS]
    ahn_code = np.where(is_ahn, np.array([ahn_cats.index(a) for a in rec.ahn_labels])[ahn_pick], 0)
    out["ahn"] = pd.Categorical.from_codes(ahn_code, categories=ahn_cats)

    # Truth per edition.
    # Subtype codes as one-byte integers (the categoricals store them so anyway).
    who2016 = np.array([SUBTYPE_LABELS.index(s.who_subtype) for s in chosen], np.int8)[codes]
    b3 = liver | spleen | nodes  # ISM recipes have no B1/B2, so this is the B count of an ISM
    bmm = (who2016 == SUBTYPE_LABELS.index("ISM")) & ~out["skin_lesions"] & ~b3 \
        & (out["tryptase"] < _threshold("bmm_tryptase", "who2022"))
    who2022 = np.where(bmm, SUBTYPE_LABELS.index("BMM"), who2016)
    lineage = ahn_lineage()
    myeloid = np.array([False] + [lineage[a] == "myeloid" for a in AHN_LABELS])[ahn_code]
    comp_label = np.array([SUBTYPE_LABELS.index(c) for c in _COMPONENTS], np.int8)[comp_idx]
    icc_assoc = np.where(myeloid, SUBTYPE_LABELS.index("SM-AMN"), SUBTYPE_LABELS.index("SM-ALN"))
    icc = np.where(is_ahn, icc_assoc, who2016)  # ICC: SM-AMN (myeloid) or SM-ALN (lymphoid)
    cats = list(SUBTYPE_LABELS)
    truth = {
        "true_subtype": pd.Categorical.from_codes(who2016, categories=cats),
        "true_subtype_who2022": pd.Categorical.from_codes(who2022, categories=cats),
        "true_subtype_icc2022": pd.Categorical.from_codes(icc, categories=cats),
        "true_sm_component": pd.Categorical.from_codes(np.where(is_ahn, comp_label, -1),
                                                       categories=cats),
    }
    return out, truth


def _per_kind_inverse_cdf(p: np.ndarray, kind: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Category per patient from the probability row of its kind (``p`` is (K, C); kind -1 uses
    row 0, its result is unused). One uniform per patient whatever the kind: the stream is fixed."""
    out = inverse_cdf(p[0], u, np.int8)
    for j in range(1, p.shape[0]):
        sel = kind == j
        if sel.any():
            out[sel] = inverse_cdf(p[j], u[sel], np.int8)
    return out


@cache
def _threshold(rule: str, edition: str) -> float:
    """A classification threshold from the classifier's data file (one source of truth)."""
    table = load_table("classification_thresholds.csv")
    row = table[(table["rule"] == rule) & (table["edition"] == edition)]
    if len(row) != 1:
        raise ModelFileError(f"classification_thresholds.csv: expected one row for {rule}/{edition}")
    return float(row["value"].iloc[0])


# --------------------------------------------------------------------------- survival

# Columns the survival model reads (risk features, background mortality, subtype).
_MODEL_COLUMNS = ("age", "sex", "who_subtype", "splenomegaly", "alp", "alp_uln", "srsf2", "asxl1",
                  "runx1", "sar_count", "diagnosis_year", "hemoglobin", "platelets")
_TRUTH_T = 60.0  # months: true_survival_60


def _load_default_model(scn: Scenario) -> SurvivalModel:
    return load_model(scn.target_set)


def _check_model(model: Any, truth: bool) -> None:
    """Refuse a model that lacks the methods the simulation calls (instead of an AttributeError)."""
    needed = ("sample_event_times", "predict_median", "predict_survival_at")[: 3 if truth else 1]
    if not all(callable(getattr(model, m, None)) for m in needed):
        raise TypeError(
            "The 'model' parameter of simulate_cohort must be a SurvivalModel (e.g. "
            f"load_model('lim2009')) or an object with {', '.join(needed)}. Got {model!r} instead."
        )


def _model_name(model: Any) -> str:
    """A short name for provenance: the last calibration's target set, e.g. ``lim2009``."""
    st = getattr(model, "state_", None)
    if isinstance(st, ModelState):
        return f"{type(model).__name__}({st.last_target_set or st.kind})"
    return type(model).__name__


def _survival(model: Any, frame: pd.DataFrame, rng: np.random.Generator,
              truth: bool) -> dict[str, np.ndarray]:
    """Event times drawn exactly from ``model`` and, with ``truth``, the model's closed forms.

    For mastoprog's ``SurvivalModel`` the draw is computed here from the model's parameters
    with the very same random stream as ``SurvivalModel.sample_event_times`` (background time by
    ``LifeTable.sample_death_times``, then one ``standard_exponential`` per patient for the
    Weibull excess time), so both give the same times for the same generator state (the tests
    check it to 1e-12): the model's own method validates and classifies its input row by row,
    which a million-patient cohort with known subtypes does not need. Any other model object is
    used through its public methods (``sample_event_times``, ``predict_median``,
    ``predict_survival_at``).
    """
    n = len(frame)
    if not isinstance(model, SurvivalModel):
        out = {"true_time": np.asarray(model.sample_event_times(frame, rng), dtype=float)}
        nan = np.full(n, np.nan)
        out["true_linear_predictor"] = nan
        out["true_median"] = np.asarray(model.predict_median(frame), float).reshape(n) \
            if truth else nan
        out["true_survival_60"] = np.asarray(model.predict_survival_at(frame, _TRUTH_T),
                                             float).reshape(n) if truth else nan
        return out
    ma = model.state_.arrays
    factors = list(model.state_.factors)
    code_of = {lab: i for i, lab in enumerate(SUBTYPE_LABELS)}
    k_of_code = np.full(len(SUBTYPE_LABELS), -1)
    for j, sub in enumerate(PROGNOSTIC_SUBTYPES):
        k_of_code[code_of[sub]] = j
    k = k_of_code[frame["who_subtype"].cat.codes.to_numpy()]
    bad = (k < 0) | ~ma.usable[np.maximum(k, 0)]
    if bad.any():
        from ..exceptions import CalibrationError

        missing = sorted(set(frame["who_subtype"].astype(str).to_numpy()[bad]))
        raise CalibrationError(
            f"the survival model has no calibrated curve for subtype(s) {missing}: survival times "
            "cannot be drawn for them (use survival=False, another model, or a scenario without them)"
        )
    X = _complete_features(frame, factors)
    if X is None:  # factors this shortcut does not know (the evidence predictor): the model's own
        cols = [c for c in ("age", "splenomegaly", "alp", "alp_uln", "srsf2", "asxl1", "runx1",
                            "sar_count", "hemoglobin", "platelets") if c in frame.columns]
        X = model_features(pd.DataFrame({c: frame[c].array for c in cols}, copy=False), factors)
        # A finding the model reads as unknown (ALP > ULN of a child without alp_uln) is 0 here, as
        # the comparison shortcut above reads it; simulated patients have every finding.
        X = np.nan_to_num(X, nan=0.0)
    w = np.ones_like(ma.center) if ma.weights is None else ma.weights
    lp = (X * w[k]) @ ma.beta - ma.center_lp.take(k)  # per-subtype effect weights
    age = frame["age"].to_numpy(dtype=float)
    sex = frame["sex"].cat.codes.to_numpy().astype(np.int64)  # categories F, M -> 0, 1
    year = frame["diagnosis_year"].to_numpy()
    lt = model.life_table_
    t_bg = lt.sample_death_times(age, sex, year, rng)
    e = rng.standard_exponential(n)
    exc = ma.excess.take(k)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        t_exc = np.where(exc, np.exp(ma.log_lambda.take(k) + (np.log(e) - lp) / ma.rho.take(k)),
                         np.inf)
    out = {"true_time": np.minimum(t_bg, t_exc), "true_linear_predictor": np.where(exc, lp, 0.0)}
    if truth:
        # Continuous features (age in completed years) are carried by the curve key's whole age.
        binary = np.where(np.isin(factors, ["age_decades"]), 0.0, X)
        out["true_median"], out["true_survival_60"] = _closed_form_truth(model, age, sex, year, k,
                                                                          binary, lp)
    else:
        out["true_median"] = out["true_survival_60"] = np.full(n, np.nan)
    return out


def _prognostic_labels(truth: Mapping[str, Any]) -> pd.Categorical:
    """The subtype whose curve each patient's survival is drawn from: the WHO 2016 truth, except
    SM with a lymphoid AHN (WHO SM-AHN), which the survival model gives the SM-ALN group."""
    who, icc = truth["true_subtype"], truth["true_subtype_icc2022"]
    aln = icc.codes == SUBTYPE_LABELS.index("SM-ALN")
    return pd.Categorical.from_codes(np.where(aln, icc.codes, who.codes), categories=list(SUBTYPE_LABELS))


def _complete_features(frame: pd.DataFrame, factors: list[str]) -> np.ndarray | None:
    """The risk features of patients whose findings are all known, from ``risk_mastoprog.csv``.

    The same rows (column, comparison, threshold) ``risk.risk_features`` applies; for complete
    simulated covariates no unknown-value logic is needed, so this is a handful of vectorised
    comparisons instead of a validation pass over the frame (the tests check that both agree).
    Returns None when a factor is not a plain comparison.
    """
    table = load_table("risk_mastoprog.csv")
    rows = table[table["kind"] == "factor"].set_index("factor")
    arrays = {c: frame[c].to_numpy(dtype=float) for c in ("age", "alp", "alp_uln")}
    arrays["splenomegaly"] = frame["splenomegaly"].to_numpy(dtype=float)
    arrays["sar_count"] = frame["sar_count"].to_numpy(dtype=float)
    # 0/1 flags written as bytes, then one contiguous conversion: writing each column of a
    # float (n, F) matrix in place costs several times more (strided 8-byte stores).
    out = np.empty((len(frame), len(factors)), dtype=bool)
    for j, factor in enumerate(factors):
        if factor not in rows.index:
            return None
        row = rows.loc[factor]
        op = OPS.get(str(row["comparison"]))
        if op is None or row["column"] not in arrays:
            return None
        thr = row["threshold"]
        rhs = arrays[thr] if isinstance(thr, str) and thr in arrays else float(thr)
        op(arrays[row["column"]], rhs, out=out[:, j])
    return out.astype(float)


def _closed_form_truth(model: Any, age: np.ndarray, sex: np.ndarray, year: np.ndarray,
                       k: np.ndarray, X: np.ndarray, lp: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Median (months) and S(60 months) of each patient's model curve.

    Patients sharing whole age, sex, calendar year, subtype and risk features share a curve, so
    each distinct curve (a cohort of 10^6 has ~10^5) is solved once by the survival model's own
    solver (:func:`mastoprog.survival.point_medians`) and gathered.
    """
    ma = model.state_.arrays
    # One integer per distinct curve: whole age, sex, year, subtype, feature pattern (the
    # features of a simulated patient are complete 0/1 values).
    pattern = (X @ (2.0 ** np.arange(X.shape[1]))).astype(np.int64)
    y0 = int(year.min())
    dims = (int(np.floor(age.max())) + 1, 2, int(year.max()) - y0 + 1, len(PROGNOSTIC_SUBTYPES),
            2 ** X.shape[1])
    key = np.ravel_multi_index((np.floor(age).astype(np.int64), sex, year.astype(np.int64) - y0,
                                k, pattern), dims)
    size = int(np.prod(dims))
    if size <= 64_000_000:  # dense lookup: much cheaper than hashing a million keys
        present = np.zeros(size, bool)
        present[key] = True
        slots = np.flatnonzero(present)
        lookup = np.empty(size, np.int64)
        lookup[slots] = np.arange(slots.size)
        codes, m = lookup[key], slots.size
    else:
        codes, uniq = pd.factorize(key)
        m = len(uniq)
    first = np.empty(m, dtype=np.int64)
    first[codes[::-1]] = np.arange(codes.size - 1, -1, -1)
    uk = k[first]
    med, s60 = point_medians(model.life_table_, age[first], sex[first], year[first], lp[first],
                             ma.log_lambda[uk], ma.rho[uk], ma.excess[uk], survival_at=_TRUTH_T)
    assert s60 is not None
    return med[codes], s60[codes]


# --------------------------------------------------------------------------- censoring


def _censoring_spec(censoring: Any, scn: Scenario) -> CensoringSpec | None:
    if censoring is None or censoring is False:
        return None
    if isinstance(censoring, str):
        if censoring != "scenario":
            raise ValueError(f"censoring must be None, 'scenario', a mapping or a CensoringSpec; "
                             f"got {censoring!r}")
        return scn.censoring
    if isinstance(censoring, CensoringSpec):
        return censoring
    if isinstance(censoring, Mapping):
        cfg = {"source": "simulate_cohort argument", "evidence": "assumption",
               "note": "set by the user", **censoring}
        return parse_censoring(cfg, "censoring argument")
    raise TypeError(f"censoring must be None, 'scenario', a mapping or a CensoringSpec; "
                    f"got {type(censoring).__name__}")


def _censored_fraction(t: np.ndarray, admin: np.ndarray, rate_per_month: float) -> float:
    """Expected censored share given event times ``t`` and administrative times ``admin``."""
    by_admin = admin < t
    return float(np.mean(np.where(by_admin, 1.0, -np.expm1(-rate_per_month * t))))


def _apply_censoring(spec: CensoringSpec | None, t: np.ndarray, diag_year: np.ndarray,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    n = t.size
    if spec is None:
        return t.copy(), np.ones(n, dtype=np.int8), {
            "censoring": "none", "censored_fraction": 0.0, "expected_censored_fraction": 0.0}
    admin = np.full(n, np.inf)
    u_date = rng.random(n)  # diagnosis date within its calendar year
    if spec.study_end is not None:
        admin = (spec.study_end - (diag_year + u_date)) * 12.0
        if np.any(admin <= 0):
            raise ValueError(
                f"censoring.study_end = {spec.study_end:g} is before some diagnoses (latest "
                f"diagnosis year {int(diag_year.max())}); expected a study end after the accrual "
                "window (decimal calendar year)"
            )
    if spec.max_followup_months is not None:
        admin = np.minimum(admin, spec.max_followup_months)
    rate = spec.dropout_per_year / 12.0
    if spec.target_fraction is not None:
        from scipy.optimize import brentq

        floor = _censored_fraction(t, admin, 0.0)
        if spec.target_fraction < floor:
            raise ValueError(
                f"censoring.target_fraction = {spec.target_fraction:g} is below the "
                f"{floor:.3f} already censored by the study end / maximum follow-up; "
                "expected a larger target or a later study_end"
            )
        if spec.target_fraction >= 1:
            raise ValueError("censoring.target_fraction: expected a value < 1")
        rate = brentq(lambda r: _censored_fraction(t, admin, r) - spec.target_fraction,
                      0.0, 1.0, xtol=1e-12) if spec.target_fraction > floor else 0.0
    dropout = rng.standard_exponential(n) / rate if rate > 0 else np.full(n, np.inf)
    cens = np.minimum(admin, dropout)
    event = (t <= cens).astype(np.int8)
    time = np.minimum(t, cens)
    info = {
        "censoring": {"study_end": spec.study_end, "max_followup_months": spec.max_followup_months,
                      "dropout_per_year": rate * 12.0, "target_fraction": spec.target_fraction,
                      "source": spec.cited.source, "evidence": spec.cited.evidence},
        "censored_fraction": float(1.0 - event.mean()),
        "expected_censored_fraction": _censored_fraction(t, admin, rate),
        "administrative_censored_fraction": float(np.mean((admin < t) & (admin <= dropout))),
    }
    return time, event, info


# --------------------------------------------------------------------------- missingness


def _missing_rules(missingness: Any, scn: Scenario) -> tuple[MissingnessRule, ...]:
    if missingness is None or missingness is False:
        return ()
    if isinstance(missingness, str):
        if missingness != "scenario":
            raise ValueError("missingness must be None, 'scenario', a mapping {column: p} (MCAR) "
                             f"or a list of rules; got {missingness!r}")
        return scn.missingness
    if isinstance(missingness, Mapping):  # shorthand {column: p}, MCAR, one draw per column
        missingness = [{"columns": [c], "p": p} for c, p in missingness.items()]
    if isinstance(missingness, Sequence):
        given = [m for m in missingness if isinstance(m, MissingnessRule)]
        cfgs = [{"source": "simulate_cohort argument", "evidence": "assumption",
                 "note": "set by the user", **(m if isinstance(m, Mapping) else {"columns": m})}
                for m in missingness if not isinstance(m, MissingnessRule)]
        parsed = iter(parse_missingness(cfgs, "missingness argument"))
        return tuple(m if isinstance(m, MissingnessRule) else next(parsed) for m in missingness) \
            if given else tuple(parsed)
    raise TypeError("missingness must be None, 'scenario', a mapping {column: p} (MCAR) or a list "
                    f"of rules; got {type(missingness).__name__}")


def _apply_missingness(rules: tuple[MissingnessRule, ...], data: dict[str, Any],
                       who: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    """Set values to unknown in place; returns the share missing per column."""
    n = who.size
    shares: dict[str, float] = {}
    for rule in rules:
        if rule.p is not None:
            p = np.full(n, rule.p)
        else:
            by = rule.p_by_subtype or {}  # a rule has p or p_by_subtype (checked when read)
            table = np.array([by.get(lab, 0.0) for lab in SUBTYPE_LABELS])
            p = table[who]
        joint = rng.random(n) < p if rule.joint else None
        for col in rule.columns:
            mask = joint if joint is not None else rng.random(n) < p
            v = data[col]
            if isinstance(v, pd.arrays.BooleanArray):
                data[col] = pd.arrays.BooleanArray(v._data, v._mask | mask)
            elif isinstance(v, pd.Categorical):
                codes = np.where(mask, -1, v.codes)
                data[col] = pd.Categorical.from_codes(codes, categories=v.categories)
            else:
                arr = np.asarray(v, dtype=float).copy()
                arr[mask] = np.nan
                data[col] = arr
            shares[col] = float(mask.mean())
    # sar_count summarises the three genes: unknown as soon as one of them is unknown.
    gene_mask = np.zeros(n, bool)
    for g in ("srsf2", "asxl1", "runx1"):
        gene_mask |= np.asarray(data[g].isna() if hasattr(data[g], "isna") else np.isnan(data[g]))
    if gene_mask.any():
        count = np.asarray(data["sar_count"], dtype=float).copy()
        count[gene_mask] = np.nan
        data["sar_count"] = count
        shares["sar_count"] = float(np.isnan(count).mean())
    return shares


# --------------------------------------------------------------------------- public API


def simulate_cohort(
    n: int,
    scenario: str | PathLike | Scenario = "lim2009",
    random_state: int | np.random.SeedSequence | np.random.Generator = 0,
    model: Any = None,
    censoring: Any = None,
    missingness: Any = None,
    *,
    subtype: str | None = None,
    survival: bool = True,
    truth: bool = True,
    assign_subtype: bool = False,
    patient_ids: bool = False,
) -> pd.DataFrame:
    """Draw a synthetic cohort with a known truth.

    Parameters
    ----------
    n : int
        Number of patients.
    scenario : str, path or Scenario
        A shipped scenario (``"lim2009"``, ``"referral_advanced"``) or a TOML file of your own.
    random_state : int, numpy.random.SeedSequence or numpy.random.Generator
        Seed of the single ``numpy.random.Generator`` (PCG64) used for every draw (a Generator
        is used as it is).
    model : SurvivalModel, optional
        Model the survival times are drawn from; default ``load_model(scenario.target_set)``.
    censoring : None, "scenario", mapping or CensoringSpec
        None: complete follow-up (every death observed). ``"scenario"``: the scenario's default
        (lim2009: follow-up closes mid-2008, 2 % drop-out per year). A mapping with keys
        ``study_end`` (decimal calendar year), ``dropout_per_year``, ``max_followup_months``,
        ``target_fraction`` (solve the drop-out rate for this expected censored share).
    missingness : None, "scenario", mapping or list
        None: complete findings. ``"scenario"``: the scenario's rules (e.g. no mutation panel in
        85 % of ISM). ``{column: p}``: MCAR per column. A list of rules (mappings with
        ``columns``, ``p`` or ``p_by_subtype``, ``joint``).
    subtype : str, optional
        Draw one WHO subtype (or stratum) only, instead of the scenario's mix.
    survival : bool
        False skips the survival draw (``time``/``event``/``true_*`` survival columns NaN): raw
        findings only, without loading the survival model.
    truth : bool
        False skips the model's closed-form truth columns (faster on very large cohorts).
    assign_subtype : bool
        True fills ``who_subtype`` with the true WHO 2016 subtype; by default it is left
        unassigned so that downstream code classifies the raw findings.
    patient_ids : bool
        True adds ``patient_id`` ("SYN0000001", ...) as the first column.

    Returns
    -------
    DataFrame
        ``SIMULATION_COLUMNS`` in that order: the canonical columns (canonical dtypes; ``time``
        in months, ``event`` 1 = death observed), ``diagnosis_year`` (int), and the truth:
        ``true_subtype`` (WHO 2016), ``true_subtype_who2022`` (BMM where WHO 2022 splits it off),
        ``true_subtype_icc2022`` (SM-AMN for a myeloid AHN), ``true_sm_component`` (ISM/SSM/ASM
        of an SM-AHN), ``true_variant`` (the scenario stratum), ``true_linear_predictor`` (the
        model's excess-hazard linear predictor, centred at the subtype's reference-cohort mean;
        0 for CM, which has no excess hazard), ``true_median`` (months, the patient's own model
        curve), ``true_survival_60`` (its value at 60 months) and ``true_time`` (the uncensored
        death time, months).
        ``df.attrs["mastoprog"]`` holds the provenance written into the cohort file's metadata
        (scenario, ``seed`` = the ``random_state``, package version, model)
        and the censoring summary (``censored_fraction``, ``expected_censored_fraction``).

    Examples
    --------
    >>> df = simulate_cohort(1000, random_state=1, survival=False)
    >>> df["true_subtype"].value_counts().index[0] in {"ISM", "SM-AHN"}
    True
    """
    from .._about import __version__

    n = check_patient_count(n)
    scn = load_scenario(scenario)
    # A Generator is used as given (e.g. to continue a stream); anything else seeds a new one.
    rng = as_generator(random_state, "random_state of simulate_cohort")
    cens_spec = _censoring_spec(censoring, scn)
    rules = _missing_rules(missingness, scn)

    chosen, codes = scn.draw_strata(n, rng, subtype)
    prog = scn.draw_prognostic_for_strata(chosen, codes, rng)
    raw, truth_labels = _draw_findings(scn, chosen, codes, prog, rng)

    data: dict[str, Any] = {}
    for col in _CANONICAL_OUT:
        if col in raw:
            v = raw[col]
            data[col] = _boolean(v) if isinstance(v, np.ndarray) and v.dtype == bool else v
        elif col in prog.columns and col != "who_subtype":
            data[col] = prog[col].array
        elif col == "sar_count":
            genes = np.stack([prog[g].to_numpy(dtype=bool) for g in ("srsf2", "asxl1", "runx1")])
            data[col] = genes.sum(axis=0).astype(float)
        elif col == "who_subtype":
            who = truth_labels["true_subtype"]
            data[col] = who if assign_subtype else pd.Categorical.from_codes(
                np.full(n, -1), categories=list(SUBTYPE_LABELS))
        elif col in ("time", "event", "leukocytes"):  # leukocytes, nras: not drawn (unknown)
            data[col] = np.full(n, np.nan)
        elif col == "nras":
            data[col] = pd.arrays.BooleanArray(np.zeros(n, bool), np.ones(n, bool))
        else:  # pragma: no cover - every canonical column is handled above
            raise AssertionError(col)
    data["diagnosis_year"] = prog["diagnosis_year"].to_numpy()

    model_name = None
    surv_info: dict[str, Any] = {"censoring": "not simulated"}
    sv: dict[str, np.ndarray] = {c: np.full(n, np.nan) for c in
                                 ("true_linear_predictor", "true_median", "true_survival_60",
                                  "true_time")}
    if survival:
        model = model if model is not None else _load_default_model(scn)
        _check_model(model, truth)
        model_name = _model_name(model)
        # The model sees the complete, true covariates (before any missingness is applied).
        frame = pd.DataFrame({**{c: data[c] for c in _MODEL_COLUMNS if c != "who_subtype"},
                              "who_subtype": _prognostic_labels(truth_labels)}, copy=False)
        sv = _survival(model, frame, rng, truth)
        time, event, surv_info = _apply_censoring(cens_spec, sv["true_time"],
                                                  data["diagnosis_year"], rng)
        data["time"], data["event"] = time, event.astype(float)

    shares = _apply_missingness(rules, data, truth_labels["true_subtype"].codes, rng)
    data.update(truth_labels)
    data["true_variant"] = prog["variant"].array
    data.update({c: sv[c] for c in ("true_linear_predictor", "true_median", "true_survival_60",
                                    "true_time")})
    # copy=False: no consolidation of same-dtype columns into 2-D blocks (a full copy per dtype).
    df = pd.DataFrame(data, columns=list(SIMULATION_COLUMNS), copy=False)
    if patient_ids:
        width = max(7, len(str(n)))
        df.insert(0, "patient_id", np.char.add("SYN", np.char.zfill(
            np.arange(1, n + 1).astype(str), width)).astype(object))
    df.attrs[_METADATA_KEY] = {
        "format_version": _FORMAT_VERSION,
        "generator": "mastoprog.simulate_cohort",
        "mastoprog_version": __version__,
        "scenario": scn.name,
        "scenario_path": scn.path,
        "subtype": subtype,
        "n": n,
        "seed": int(random_state) if isinstance(random_state, int | np.integer) else repr(random_state),
        "model": model_name,
        "missing_fraction": shares,
        **surv_info,
    }
    return df


def simulation_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per true subtype: patients, deaths observed, censored fraction, median follow-up (months).

    The last row (``all``) covers the whole cohort; provenance stays in ``df.attrs``.
    """
    groups = df["true_subtype"].astype(str)
    frame = pd.DataFrame({"subtype": groups, "event": df["event"], "time": df["time"]})

    def block(g: pd.DataFrame) -> pd.Series:
        return pd.Series({"n": len(g), "deaths": float(g["event"].sum()),
                          "censored_fraction": float(1 - g["event"].mean()),
                          "median_time_months": float(g["time"].median())})

    parts = {k: block(g) for k, g in frame.groupby("subtype", sort=True)}
    parts["all"] = block(frame)
    return pd.DataFrame(parts).T
