"""How well a survival model agrees with the published evidence it was, and was not, calibrated to.

:func:`fidelity` compares a model with every figure of the evidence registry (``data/evidence.csv``)
it can be compared with: subtype medians and survival probabilities (population-averaged over the
model's own reference cohort of that subtype, as in the calibration), MARS group medians and their
contrasts (averaged over the advanced-SM reference cohort in the scenario's subtype mix, grouped by
the risk module's MARS score), and the hazard ratios of the predictor. Each row says whether the
figure was used for calibration (or as an input effect) or is a check the model never saw, and
whether the model value falls inside the published 95 % uncertainty (:func:`published_interval`).

:func:`leave_one_source_out` re-calibrates without a source and reports how well the model then
predicts that source's figures. :func:`sar_sensitivity` shows how much individual predictions move
when the reference cohort's S/A/R prevalence (an assumption) is halved or doubled;
:func:`sar_prevalence_sensitivity` does it for named patients and groups of every subtype at the
plausible low and high prevalence of ``data/sar_prevalence_ranges.csv`` (stored in the model file at
build time and shown in the model card).

Treatment-specific figures (midostaurin, cladribine, transplant, dasatinib) are compared only with a
model calibrated to that treatment's target set: the models carry no treatment effect.

References
----------
Jawhar M et al. J Clin Oncol 2019;37:2846-56. doi:10.1200/JCO.19.00640 (MARS).
Pardanani A et al. Blood Adv 2018;2:2964-72. doi:10.1182/bloodadvances.2018026245 (MAPS).
Lim KH et al. Blood 2009;113:5727-36. doi:10.1182/blood-2009-02-205237.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .._resources import load_table
from ..lifetables import LifeTable
from ..scenarios import SAR_GENES
from ._curves import PROGNOSTIC_SUBTYPES
from ._evidence import load_evidence, published_interval
from ._predictor import (
    ADVANCED_SUBTYPES,
    PREDICTOR_FACTORS,
    TIME_GRID,
    complete_reference,
    draw_medians,
    grid_medians,
    mars_groups,
    predictor_features,
    solve_level_shift,
)

__all__ = ["FIDELITY_COLUMNS", "SAR_SENSITIVITY_COLUMNS", "fidelity", "leave_one_source_out",
           "sar_prevalence_sensitivity", "sar_sensitivity"]

#: Columns of :func:`fidelity`.
FIDELITY_COLUMNS: tuple[str, ...] = (
    "figure_id",
    "source",
    "population",
    "era",
    "measure",
    "time_months",
    "published",
    "published_low",
    "published_high",
    "interval_basis",
    "model",
    "model_low",
    "model_high",
    "used_for",
    "inside",
    "note",
)
# Registry subtype -> the model's prognostic subtype (ICC SM-AMN is compared with SM-AHN).
_SUBTYPE_OF = {"SM-AMN": "SM-AHN", **{s: s for s in PROGNOSTIC_SUBTYPES}}
_MARS_GROUPS = ("low", "intermediate", "high")
_HR_FACTOR = {  # registry figure -> predictor factor whose excess HR (in ASM) it is compared with
    "maps_clinical_anemia": "hb_lt_10",
    "maps_clinical_platelets": "plt_lt_150",
    "maps_hybrid_platelets": "plt_lt_150",
    "maps_hybrid_alp": "alp_gt_uln",
    "maps_clinical_alp": "alp_gt_uln",
    "maps_hybrid_mutation": "sar_1",
    "maps_hybrid_age": "age_decades",
    "maps_clinical_age": "age_decades",
}
# The figures the predictor takes its effects from (the others are checks).
_HR_INPUTS = {
    "maps_clinical_anemia",
    "maps_clinical_platelets",
    "maps_hybrid_alp",
    "maps_hybrid_mutation",
    "maps_hybrid_age",
}
_GROUP_N = 5_000  # reference patients per subtype (Monte Carlo error of an averaged median ~1-2 %)


# --------------------------------------------------------------------------- the model as arrays


@dataclass(frozen=True)
class ModelView:
    """What fidelity needs of a model: parameters per prognostic subtype, effects and draws.

    Attributes
    ----------
    log_lambda, rho : ndarray (6,)
        Weibull log scale (log months) and shape per subtype (NaN where there is no excess).
    excess : ndarray (6,) of bool
        Subtypes with an excess hazard.
    usable : ndarray (6,) of bool
        Subtypes with a calibrated curve.
    center, weights : ndarray (6, F)
        Reference means and per-subtype effect weights.
    beta : ndarray (F,)
        Excess log hazard ratios.
    d_beta, d_log_lambda : ndarray (D, F), (D, 6) or None
        Parameter draws (bands); None without draws.
    target_set : dict
        Per subtype, the target set (and era) its calibration comes from.
    reference : dict
        Per subtype, ``(scenario, seed)`` of its reference cohort.
    life_table : LifeTable
    name : str
        The model's nominal target set.
    """

    log_lambda: np.ndarray
    rho: np.ndarray
    excess: np.ndarray
    usable: np.ndarray
    center: np.ndarray
    weights: np.ndarray
    beta: np.ndarray
    d_beta: np.ndarray | None
    d_log_lambda: np.ndarray | None
    target_set: dict[str, dict[str, str]]
    reference: dict[str, tuple[str, int]]
    life_table: LifeTable
    name: str
    extra: dict[str, Any] = field(default_factory=dict)


def model_view(model: Any) -> ModelView:
    """The :class:`ModelView` of a calibrated :class:`SurvivalModel` (the one adaptation point)."""
    st = model.state_.to_dict()
    factors = list(st["factors"])
    if factors != list(PREDICTOR_FACTORS):
        raise ValueError(
            f"fidelity needs a model with the evidence predictor {list(PREDICTOR_FACTORS)}; "
            f"this model has {factors}"
        )
    S, F = len(PROGNOSTIC_SUBTYPES), len(factors)
    ll, rho, exc, usable = np.full(S, np.nan), np.full(S, np.nan), np.zeros(S, bool), np.zeros(S, bool)
    center, weights = np.zeros((S, F)), np.ones((S, F))
    tsets: dict[str, dict[str, str]] = {}
    refs: dict[str, tuple[str, int]] = {}
    for k, s in enumerate(PROGNOSTIC_SUBTYPES):
        p = st["subtypes"].get(s)
        if p is None:
            continue
        usable[k] = p["excess"] != "uncalibrated"
        tgt = p.get("target") or {}
        tsets[s] = {k2: str(tgt.get(k2) or "") for k2 in ("target_set", "era", "figure_id")}
        if p["excess"] == "weibull":
            exc[k], ll[k], rho[k] = True, p["log_lambda"], p["rho"]
            center[k] = [p["center"][f] for f in factors]
            ref = p.get("reference_cohort") or {}
            refs[s] = (str(ref.get("scenario", "lim2009")), int(ref.get("seed", 20090601)))
        w = p.get("weights")
        if w is not None:
            weights[k] = [w[f] for f in factors]
    draws = st.get("draws")
    d_beta = d_ll = None
    if draws:
        d_beta = np.asarray(draws["beta"], float)
        d_ll = np.column_stack(
            [
                np.asarray(draws["log_lambda"].get(s, [np.nan] * len(d_beta)), float)
                for s in PROGNOSTIC_SUBTYPES
            ]
        )
    level = (st.get("provenance") or {}).get("advanced_level") or {}
    return ModelView(
        ll,
        rho,
        exc,
        usable,
        center,
        weights,
        np.array([st["beta"][f]["log_hr"] for f in factors]),
        d_beta,
        d_ll,
        tsets,
        refs,
        model.life_table_,
        str(st.get("target_set_name", "")),
        {"group_figures": tuple(level.get("figures", ()))},
    )


# --------------------------------------------------------------------------- reference cohorts


@dataclass(frozen=True)
class _Cohort:
    """Reference patients with their subtype index, features, weights and background on the grid."""

    frame: pd.DataFrame
    k: np.ndarray
    X: np.ndarray
    weight: np.ndarray
    s_pop_grid: np.ndarray


_COHORTS: dict[tuple[Any, ...], _Cohort] = {}


def _cohort(view: ModelView, subtypes: tuple[str, ...], n: int) -> _Cohort:
    """Reference patients of ``subtypes`` (cached: the draw is deterministic for its scenario, seed
    and n, and the life table)."""
    key = (tuple(view.reference.get(s) for s in subtypes), subtypes, n, view.life_table.describe()["name"])
    if key not in _COHORTS:
        if len(_COHORTS) > 8:
            _COHORTS.clear()
        _COHORTS[key] = _draw_cohort(view, subtypes, n)
    return _COHORTS[key]


def _draw_cohort(view: ModelView, subtypes: tuple[str, ...], n: int) -> _Cohort:
    from ..scenarios import load_scenario, reference_cohort  # scenarios sit below survival

    frames, ks, wts = [], [], []
    for s in subtypes:
        scenario, seed = view.reference.get(s, ("lim2009", 20090601))
        ref = complete_reference(reference_cohort(scenario, s, n=n, random_state=seed), s, seed)
        mix = load_scenario(scenario).subtype_mix
        frames.append(ref)
        ks.append(np.full(len(ref), PROGNOSTIC_SUBTYPES.index(s)))
        wts.append(np.full(len(ref), float(mix.get(s, 1.0)) / len(ref)))
    frame = pd.concat(frames, ignore_index=True)
    X = predictor_features(frame).to_numpy(float)
    age, sex = frame["age"].to_numpy(float), np.asarray(frame["sex"].astype(object))
    year = frame["diagnosis_year"].to_numpy(float)
    grid = view.life_table.survival(age[:, None], sex[:, None], year[:, None], TIME_GRID[None, :])
    return _Cohort(frame, np.concatenate(ks), X, np.concatenate(wts), grid)


def _lp(view: ModelView, c: _Cohort, beta: np.ndarray) -> np.ndarray:
    """(D, n) linear predictor of each reference patient in its own subtype, per beta draw.

    Reference patients have complete findings, so this is one weighted, centred product.
    """
    Xw = np.nan_to_num(c.X - view.center[c.k]) * view.weights[c.k]
    return np.atleast_2d(beta) @ Xw.T


def _medians(view: ModelView, c: _Cohort, mask: np.ndarray, bands: bool) -> tuple[float, float, float]:
    """Population-averaged median (months) of the masked reference patients, with its 95 % band."""
    k = c.k[mask]
    lp = _lp(view, c, view.beta)[:, mask]
    m = float(
        grid_medians(c.s_pop_grid[mask], lp, view.log_lambda[k][None, :], view.rho[k], c.weight[mask])[0]
    )
    if not bands or view.d_beta is None or view.d_log_lambda is None:
        return m, np.nan, np.nan
    f = c.frame[mask]
    lt = view.life_table

    def background(rows: np.ndarray, times: np.ndarray) -> np.ndarray:
        g = f.iloc[rows]
        return lt.survival(
            g["age"].to_numpy(float)[:, None],
            np.asarray(g["sex"].astype(object))[:, None],
            g["diagnosis_year"].to_numpy(float)[:, None],
            times[None, :],
        )

    d = draw_medians(
        background,
        _lp(view, c, view.d_beta)[:, mask],
        view.d_log_lambda[:, k],
        view.rho[k],
        c.weight[mask],
        m,
    )
    return m, float(np.nanpercentile(d, 2.5)), float(np.nanpercentile(d, 97.5))


def _survival_at(view: ModelView, c: _Cohort, mask: np.ndarray, t: float, relative: bool) -> float:
    lt = view.life_table
    f = c.frame[mask]
    s_pop = lt.survival(
        f["age"].to_numpy(float),
        np.asarray(f["sex"].astype(object)),
        f["diagnosis_year"].to_numpy(float),
        np.full(int(mask.sum()), t),
    )
    k = c.k[mask]
    lp = _lp(view, c, view.beta)[0, mask]
    exc = np.where(
        view.excess[k],
        np.exp(-np.exp(lp + np.nan_to_num(view.rho[k]) * (np.log(t) - np.nan_to_num(view.log_lambda[k])))),
        1.0,
    )
    w = c.weight[mask] / c.weight[mask].sum()
    s = float(w @ (s_pop * exc))
    return s / float(w @ s_pop) if relative else s


# --------------------------------------------------------------------------- fidelity


def _row(
    ev: pd.Series,
    model: float,
    band: tuple[float, float],
    used_for: str,
    note: str = "",
    population: str | None = None,
) -> dict[str, Any]:
    lo, hi, basis = published_interval(ev)
    inside = None if np.isnan(lo) or np.isnan(model) else bool(lo <= model <= hi)
    return {
        "figure_id": ev["figure_id"],
        "source": ev["source"],
        "population": population or _population(ev),
        "era": ev["era"],
        "measure": ev["measure"],
        "time_months": ev["time_months"],
        "published": ev["value"],
        "published_low": lo,
        "published_high": hi,
        "interval_basis": basis,
        "model": model,
        "model_low": band[0],
        "model_high": band[1],
        "used_for": used_for,
        "inside": inside,
        "note": note,
    }


def _population(ev: pd.Series) -> str:
    parts = [str(ev["subtype"])]
    if isinstance(ev["score"], str) and ev["score"]:
        parts.append(f"{ev['score']} {ev['score_group']}")
    if ev["edition"] != "as published":
        parts.append(str(ev["edition"]))
    parts.append(str(ev["cohort"]))
    return ", ".join(parts)


def _used_for(view: ModelView, subtype: str, figure: pd.Series) -> str:
    """ "calibration" when the model's target for the subtype is this figure, else "check"."""
    t = view.target_set.get(subtype, {})
    return "calibration" if t.get("figure_id") == figure["figure_id"] else "check"


def fidelity(model: Any, *, bands: bool = True, n: int = _GROUP_N) -> pd.DataFrame:
    """One row per registry figure the model can be compared with, and the model's verdict.

    Parameters
    ----------
    model : SurvivalModel
        A calibrated model with the evidence predictor.
    bands : bool
        Also compute the model's 95 % band from its parameter draws (slower).
    n : int
        Reference patients per subtype drawn for the comparisons (default 20,000).

    Returns
    -------
    DataFrame
        Columns :data:`FIDELITY_COLUMNS`: the figure, its population and era, the published value
        and 95 % interval (and how the interval was obtained), the model value and band, ``used_for``
        (``"calibration"``: a target or an input effect; ``"check"``: never used to build the
        model) and ``inside`` (the model value lies in the published interval; None when the source
        gives no interval).
    """
    view = model_view(model)
    ev = load_evidence()
    rows: list[dict[str, Any]] = []
    rows += _subtype_rows(view, ev, bands, n)
    rows += _mars_rows(view, ev, bands, n)
    rows += _hr_rows(view, ev)
    return pd.DataFrame(rows, columns=list(FIDELITY_COLUMNS))


def _subtype_rows(view: ModelView, ev: pd.DataFrame, bands: bool, n: int) -> list[dict[str, Any]]:
    rows = []
    treated = ev["treatment"].isin(["midostaurin", "cladribine", "allogeneic transplant", "dasatinib"])
    chosen = ev[~treated & ev["subtype"].isin(list(_SUBTYPE_OF)) & (ev["measure"] != "hazard_ratio")]
    for _, r in chosen.iterrows():
        s = _SUBTYPE_OF[r["subtype"]]
        k = PROGNOSTIC_SUBTYPES.index(s)
        if not view.usable[k] or np.isnan(float(r["value"])):
            continue
        c = _cohort(view, (s,), n)
        everyone = np.ones(len(c.k), bool)
        note = f"model: {s} reference cohort" + (
            " (ICC SM-AMN compared with SM-AHN)" if s != r["subtype"] else ""
        )
        if r["measure"] == "median_os":
            m, lo, hi = _medians(view, c, everyone, bands) if view.excess[k] else (np.inf, np.nan, np.nan)
        else:
            m = _survival_at(
                view, c, everyone, float(r["time_months"]), r["measure"] == "relative_survival_at"
            )
            lo = hi = np.nan
        rows.append(_row(r, m, (lo, hi), _used_for(view, s, r), note))
    return rows


def _mars_rows(view: ModelView, ev: pd.DataFrame, bands: bool, n: int) -> list[dict[str, Any]]:
    if not view.excess[[PROGNOSTIC_SUBTYPES.index(s) for s in ADVANCED_SUBTYPES]].all():
        return []
    c = _cohort(view, ADVANCED_SUBTYPES, n)
    groups = mars_groups(c.frame)
    got = {g: _medians(view, c, groups == g, bands) for g in _MARS_GROUPS}
    used = {r.get("figure_id") for r in view.target_set.values()} | set(view.extra.get("group_figures", ()))
    rows = []
    for _, r in ev[ev["score"] == "MARS"].iterrows():
        g = r["score_group"]
        note = "group-averaged over the advanced-SM reference cohort (scenario mix); MARS groups: risk module"
        rows.append(
            _row(r, got[g][0], got[g][1:], "calibration" if r["figure_id"] in used else "check", note)
        )
    # Contrasts: ratios of adjacent group medians (the relative structure, era-independent).
    for cohort in ("training", "validation"):
        pub = ev[(ev["score"] == "MARS") & ev["figure_id"].str.contains(cohort)].set_index(
            "score_group", drop=False
        )
        for a, b in (("low", "intermediate"), ("intermediate", "high")):
            va, vb = float(pub.loc[a, "value"]), float(pub.loc[b, "value"])
            if np.isnan(va) or np.isnan(vb):
                continue
            rows.append(_contrast_row(pub.loc[a], pub.loc[b], got[a][0] / got[b][0], cohort))
    return rows


def _contrast_row(a: pd.Series, b: pd.Series, model_ratio: float, cohort: str) -> dict[str, Any]:
    la, ha, _ = published_interval(a)
    lb, hb, _ = published_interval(b)
    va, vb = float(a["value"]), float(b["value"])
    # Independent groups: se(log ratio) = sqrt(se_a^2 + se_b^2), each se from its interval.
    se = np.hypot(np.log(ha / la), np.log(hb / lb)) / (2 * 1.959963984540054)
    ratio = va / vb
    lo, hi = ratio * np.exp(-1.959963984540054 * se), ratio * np.exp(1.959963984540054 * se)
    return {
        "figure_id": f"{a['figure_id']}/{b['score_group']}",
        "source": a["source"],
        "population": f"advanced SM, MARS {a['score_group']}/{b['score_group']} median ratio, {a['cohort']}",
        "era": a["era"],
        "measure": "median_ratio",
        "time_months": np.nan,
        "published": ratio,
        "published_low": lo,
        "published_high": hi,
        "interval_basis": "log ratio, se from both groups' intervals (deaths assumed per group)",
        "model": model_ratio,
        "model_low": np.nan,
        "model_high": np.nan,
        "used_for": "check",
        "inside": bool(lo <= model_ratio <= hi),
        "note": f"derived from the two published {cohort} medians: the relative structure to keep",
    }


def _hr_rows(view: ModelView, ev: pd.DataFrame) -> list[dict[str, Any]]:
    k = PROGNOSTIC_SUBTYPES.index("ASM")
    rows = []
    for fid, factor in _HR_FACTOR.items():
        r = ev.loc[fid]
        j = PREDICTOR_FACTORS.index(factor)
        b = view.weights[k, j] * view.beta[j]
        note = "model: excess HR in ASM (full weight)"
        if factor == "age_decades":
            b *= 1.7  # the decade gap between the > 60 and <= 60 halves used in the conversion
            note = "model: excess HR per decade x 1.7 decades (the gap the conversion assumed)"
        band = (np.nan, np.nan)
        if view.d_beta is not None:
            d = view.weights[k, j] * view.d_beta[:, j] * (1.7 if factor == "age_decades" else 1.0)
            band = (float(np.exp(np.percentile(d, 2.5))), float(np.exp(np.percentile(d, 97.5))))
        used = "calibration" if fid in _HR_INPUTS else "check"
        rows.append(_row(r, float(np.exp(b)), band, used, note))
    return rows


# --------------------------------------------------------------------------- leave one source out


def leave_one_source_out(model: Any, *, n: int = _GROUP_N) -> pd.DataFrame:
    """Re-calibrate without a source and report how well the model then predicts it.

    Two sources can be left out because another source can stand in for them:

    * ``MARS validation``: the advanced-SM level is fitted to the MARS *training* medians
      (intermediate 3.9 y, high 1.9 y; low not reached) and the validation medians are predicted;
    * ``Lim 2009 (SM-AHN, MCL)``: SM-AHN and MCL are calibrated to the Mayo 910 WHO-HAEM5 medians
      (2.3 y, 1.8 y) and Lim's 24 and 2 months are predicted.

    Returns
    -------
    DataFrame
        One row per predicted figure: ``left_out``, ``calibrated_to``, ``figure_id``, ``published``,
        ``published_low``, ``published_high``, ``predicted``, ``inside``.
    """
    view = model_view(model)
    ev = load_evidence()
    rows = []
    c = _cohort(view, ADVANCED_SUBTYPES, n)
    groups = mars_groups(c.frame)
    lp = _lp(view, c, view.beta)[0]
    ll = view.log_lambda[c.k]
    rho = view.rho[c.k]
    train = {
        "intermediate": float(ev.loc["mars_training_intermediate", "value"]),
        "high": float(ev.loc["mars_training_high", "value"]),
    }
    delta, _ = solve_level_shift(c.s_pop_grid, lp, ll, rho, c.weight, groups, train)
    for g in _MARS_GROUPS:
        m = groups == g
        pred = float(grid_medians(c.s_pop_grid[m], lp[m][None], ll[m][None] + delta, rho[m], c.weight[m])[0])
        rows.append(
            _loso_row(
                "MARS validation", "MARS training (intermediate, high)", ev.loc[f"mars_validation_{g}"], pred
            )
        )
    for s, fid_in, fid_out in (
        ("SM-AHN", "mayo910_who_smahn", "lim2009_smahn_median"),
        ("MCL", "mayo910_who_mcl", "lim2009_mcl_median"),
    ):
        cs = _cohort(view, (s,), n)
        lps = _lp(view, cs, view.beta)[0]
        ks = cs.k
        one = np.full(len(ks), "all", dtype=object)
        d, _ = solve_level_shift(
            cs.s_pop_grid,
            lps,
            view.log_lambda[ks],
            view.rho[ks],
            cs.weight,
            one,
            {"all": float(ev.loc[fid_in, "value"])},
        )
        pred = float(
            grid_medians(cs.s_pop_grid, lps[None], view.log_lambda[ks][None] + d, view.rho[ks], cs.weight)[0]
        )
        rows.append(_loso_row(f"Lim 2009 ({s})", f"Mayo 910 WHO-HAEM5 ({s})", ev.loc[fid_out], pred))
    return pd.DataFrame(rows)


def _loso_row(left_out: str, calibrated_to: str, r: pd.Series, pred: float) -> dict[str, Any]:
    lo, hi, _ = published_interval(r)
    return {
        "left_out": left_out,
        "calibrated_to": calibrated_to,
        "figure_id": r["figure_id"],
        "published": float(r["value"]),
        "published_low": lo,
        "published_high": hi,
        "predicted": pred,
        "inside": bool(lo <= pred <= hi),
    }


# --------------------------------------------------------------------------- S/A/R sensitivity


def sar_sensitivity(
    model: Any, patients: pd.DataFrame, *, factors: tuple[float, ...] = (0.5, 2.0), n: int = _GROUP_N
) -> pd.DataFrame:
    """How individual medians move when the reference cohort's S/A/R prevalence is scaled.

    The S/A/R prevalence of the reference cohorts is an assumption (not published by subtype). The
    model is centred on it, so a patient's median depends on it through the calibration: each
    factor scales the share of patients with any mutated gene (capped at 1), the subtype is
    re-calibrated to the same target, and each patient's median is recomputed.

    Parameters
    ----------
    model : SurvivalModel
    patients : DataFrame
        Patients with ``who_subtype`` among the advanced subtypes and complete predictor findings.
    factors : tuple of float
        Multipliers of the mutated share.

    Returns
    -------
    DataFrame
        One row per patient and factor: ``patient``, ``subtype``, ``factor``, ``median_months``
        (at the scaled prevalence), ``median_months_base`` and ``ratio``.
    """
    view = model_view(model)
    X = predictor_features(patients).to_numpy(float)
    rows = []
    for i, s in enumerate(patients["who_subtype"].astype(str)):
        k = PROGNOSTIC_SUBTYPES.index(s)
        c = _cohort(view, (s,), n)
        base = _patient_median(view, c, X[i], patients.iloc[i], k, 1.0)
        for f in factors:
            rows.append(
                {
                    "patient": patients.index[i],
                    "subtype": s,
                    "factor": f,
                    "median_months": _patient_median(view, c, X[i], patients.iloc[i], k, f),
                    "median_months_base": base,
                }
            )
    out = pd.DataFrame(rows)
    out["ratio"] = out["median_months"] / out["median_months_base"]
    return out


def _patient_median(
    view: ModelView, c: _Cohort, x: np.ndarray, row: pd.Series, k: int, factor: float
) -> float:
    """Median of one patient after re-centring and re-calibrating subtype k at a scaled S/A/R share."""
    center_k, d = _sar_shift(view, c, k, factor)
    return _median_at(view, x, row, k, center_k, d)


def _scaled_sar(X: np.ndarray, factor: float) -> np.ndarray:
    """The reference features with the share of S/A/R-mutated patients scaled by ``factor``."""
    X = X.copy()
    j1, j2 = PREDICTOR_FACTORS.index("sar_1"), PREDICTOR_FACTORS.index("sar_2plus")
    rng = np.random.default_rng(20090601)
    mutated = (X[:, j1] + X[:, j2]) > 0
    p = mutated.mean()
    target = min(1.0, p * factor)
    if factor < 1:  # un-mutate a random share of the mutated
        drop = mutated & (rng.random(len(X)) < 1 - target / p)
        X[drop, j1] = X[drop, j2] = 0.0
    else:  # mutate a random share of the unmutated with the cohort's 1 : 2+ split
        add = ~mutated & (rng.random(len(X)) < (target - p) / max(1 - p, 1e-12))
        two = rng.random(len(X)) < X[mutated, j2].mean()
        X[add, j1], X[add, j2] = (~two[add]).astype(float), two[add].astype(float)
    return X


def _sar_shift(view: ModelView, c: _Cohort, k: int, factor: float,
               X: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """``(center of subtype k, shift of its log lambda)`` after re-centring on the reference cohort
    with a scaled S/A/R share and re-calibrating to the same population-averaged median."""
    X = _scaled_sar(c.X, factor) if X is None else X
    center = view.center.copy()
    center[k] = np.nanmean(X, axis=0)
    shifted = ModelView(**{**view.__dict__, "center": center})
    lp_ref = _lp(shifted, _Cohort(c.frame, c.k, X, c.weight, c.s_pop_grid), view.beta)[0]
    lp_base = _lp(view, c, view.beta)[0]
    ll = view.log_lambda[c.k]
    # Re-calibrate: the shift that keeps the subtype's population-averaged median where it was.
    one = np.full(len(c.k), "all", dtype=object)
    target_med = float(grid_medians(c.s_pop_grid, lp_base[None], ll[None], view.rho[c.k], c.weight)[0])
    d, _ = solve_level_shift(c.s_pop_grid, lp_ref, ll, view.rho[c.k], c.weight, one, {"all": target_med})
    return center[k], float(d)


def _median_at(view: ModelView, x: np.ndarray, row: Any, k: int, center_k: np.ndarray, d: float) -> float:
    """Median (months) of one patient of subtype k with reference means ``center_k`` and the
    log lambda shifted by ``d``."""
    xi = np.where(np.isnan(x), center_k, x)
    lp_i = float((xi - center_k) @ (view.weights[k] * view.beta))
    lt = view.life_table
    grid = lt.survival(
        np.array([float(row["age"])]), np.array([str(row["sex"])]), np.array([float(lt.last_year)]), TIME_GRID
    )[None, :]
    return float(
        grid_medians(
            grid,
            np.array([[lp_i]]),
            np.array([[view.log_lambda[k] + d]]),
            np.array([view.rho[k]]),
            np.ones(1),
        )[0]
    )


#: Columns of :func:`sar_prevalence_sensitivity`.
SAR_SENSITIVITY_COLUMNS: tuple[str, ...] = (
    "subtype", "who", "age", "share_reference", "share_low", "share_high", "median_months",
    "median_months_low", "median_months_high", "ratio_low", "ratio_high", "evidence", "basis",
)
# The named patients of the sensitivity table: S/A/R genes of a typical patient of each subtype
# (male, reference-median age, normal counts and ALP, no splenomegaly).
_SAR_PATIENTS = (("typical patient, no S/A/R gene", 0), ("typical patient, 1 S/A/R gene", 1),
                 ("typical patient, 2 S/A/R genes", 2))


def sar_prevalence_sensitivity(model: Any, *, n: int = _GROUP_N) -> pd.DataFrame:
    """How individual and group medians move when the reference S/A/R prevalence goes to its
    plausible low and high (``data/sar_prevalence_ranges.csv``).

    The share of reference patients with a mutated S/A/R gene is not published by subtype (an
    assumption of the scenario). The model is centred on it and re-calibrated to the same target
    at each bound (:func:`sar_sensitivity`'s method), so the subtype's population-averaged median
    does not move; the individual medians do. For each subtype with an excess hazard this gives
    three named patients (male, the reference cohort's median age, normal counts and ALP, no
    splenomegaly; 0, 1 or 2 S/A/R genes) and two groups (the reference patients without and with
    a mutated gene, population-averaged). Computed at build time and stored in the model file
    (``scripts/build_default_model.py``): the card shows it.

    Parameters
    ----------
    model : SurvivalModel
        A calibrated model with the evidence predictor.
    n : int
        Reference patients per subtype (default 5,000: the shift is a ratio of averaged medians,
        Monte Carlo error about 1 %).

    Returns
    -------
    DataFrame
        Columns :data:`SAR_SENSITIVITY_COLUMNS`: ``who`` (a named patient or a group), ``age``
        (years; NaN for a group), the mutated shares (reference, low, high), the medians in months
        (at the reference share, low, high), their ratios to the reference median, and the
        ``evidence`` and ``basis`` of the range.
    """
    view = model_view(model)
    ranges = load_table("sar_prevalence_ranges.csv").set_index("subtype")
    rows: list[dict[str, Any]] = []
    for s in ranges.index:
        k = PROGNOSTIC_SUBTYPES.index(s)
        if s not in view.reference or not view.excess[k]:
            continue
        rows += _sar_subtype_rows(view, _cohort(view, (s,), n), s, k, ranges.loc[s])
    return pd.DataFrame(rows, columns=list(SAR_SENSITIVITY_COLUMNS))


def _sar_subtype_rows(view: ModelView, c: _Cohort, s: str, k: int,
                      rng_row: pd.Series) -> list[dict[str, Any]]:
    """The rows of one subtype: named patients, then the groups without and with S/A/R."""
    j1, j2 = PREDICTOR_FACTORS.index("sar_1"), PREDICTOR_FACTORS.index("sar_2plus")
    share = float(((c.X[:, j1] + c.X[:, j2]) > 0).mean())
    bounds = {"low": float(rng_row["low"]), "high": float(rng_row["high"])}
    scaled = {b: _scaled_sar(c.X, v / share) if share > 0 else c.X for b, v in bounds.items()}
    shifts = {"": (view.center[k], 0.0), **{b: _sar_shift(view, c, k, 1.0, X) for b, X in scaled.items()}}
    age = float(np.round(np.median(c.frame["age"].to_numpy(float))))
    base = {"age": age, "sex": "M", "hemoglobin": 13.5, "platelets": 250.0, "alp": 80.0, "alp_uln": 120.0,
            "splenomegaly": False, "srsf2": False, "asxl1": False, "runx1": False}
    common = {"subtype": s, "share_reference": share, "share_low": bounds["low"],
              "share_high": bounds["high"], "evidence": str(rng_row["evidence"]),
              "basis": f"{rng_row['source']}; {rng_row['note']}"}
    out = []
    for label, genes in _SAR_PATIENTS:
        patient = pd.DataFrame([{**base, **dict(zip(SAR_GENES, [g < genes for g in range(3)], strict=True))}])
        x = predictor_features(patient).to_numpy(float)[0]
        med = {b: _median_at(view, x, patient.iloc[0], k, ctr, d) for b, (ctr, d) in shifts.items()}
        out.append(_sar_row(common, label, age, med))
    mutated = (c.X[:, j1] + c.X[:, j2]) > 0
    for label, mask in (("reference patients without S/A/R (group)", ~mutated),
                        ("reference patients with S/A/R (group)", mutated)):
        if mask.any():
            med = {b: _group_median(view, c, mask, k, ctr, d) for b, (ctr, d) in shifts.items()}
            out.append(_sar_row(common, label, np.nan, med))
    return out


def _group_median(view: ModelView, c: _Cohort, mask: np.ndarray, k: int, center_k: np.ndarray,
                  d: float) -> float:
    """Population-averaged median (months) of the masked reference patients of subtype k."""
    lp = (np.nan_to_num(c.X[mask] - center_k) * view.weights[k]) @ view.beta
    ll = np.full(int(mask.sum()), view.log_lambda[k] + d)
    return float(grid_medians(c.s_pop_grid[mask], lp[None], ll[None], np.full(ll.size, view.rho[k]),
                              c.weight[mask])[0])


def _sar_row(common: dict[str, Any], who: str, age: float, med: dict[str, float]) -> dict[str, Any]:
    return {**common, "who": who, "age": age, "median_months": med[""], "median_months_low": med["low"],
            "median_months_high": med["high"], "ratio_low": med["low"] / med[""],
            "ratio_high": med["high"] / med[""]}
