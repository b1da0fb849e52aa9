"""The survival model's patient-level structure, taken from the published multivariable evidence.

The linear predictor of the *excess* hazard of a patient of prognostic subtype s is::

    lp_i,s = sum_f w[s, f] * beta_f * (x_i,f - c_s,f)

* ``x`` are :func:`predictor_features`: age in decades from 60 (continuous, whole years), Hb < 10
  g/dL, platelets < 150 x10^9/L, ALP > ULN, one S/A/R gene, two or more, splenomegaly (the last an
  assumption). Unknown binary findings are NaN (a range); age is required.
* ``beta`` are excess-hazard log hazard ratios converted from the published all-cause ones
  (``data/survival_effects.csv``, kind ``effect``: every conversion is written in its row).
* ``w`` are per-subtype weights (kind ``weight``): 0 where a factor does not act on that subtype's
  excess hazard (age in ISM/SSM: the life table carries it), 1 for the full published effect, and
  a shrinkage weight for MCL (4 patients behind its target: effects shrink toward the subtype).
* ``c_s`` is the mean of ``x`` in subtype s's reference cohort (see ``model.py``).

The risk module's mastoprog composite (age > 60, splenomegaly, ALP, S/A/R) is unchanged: the score is
a summary for people, this predictor is the evidence.

References
----------
Pardanani A et al. Blood Adv 2018;2:2964-72. doi:10.1182/bloodadvances.2018026245 (MAPS).
Jawhar M et al. J Clin Oncol 2019;37:2846-56. doi:10.1200/JCO.19.00640 (MARS).
Lim KH et al. Blood 2009;113:5727-36. doi:10.1182/blood-2009-02-205237.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from .._logic import OPS
from .._resources import load_table
from ..exceptions import ModelFileError
from ..findings import ensure_findings
from ..risk import risk_features, risk_score
from ._curves import PROGNOSTIC_SUBTYPES

__all__ = ["PREDICTOR_FACTORS", "Predictor", "load_predictor", "model_features", "predictor_features"]

#: Factors of the excess-hazard linear predictor, in the order of ``Predictor.beta``.
PREDICTOR_FACTORS: tuple[str, ...] = (
    "age_decades",
    "hb_lt_10",
    "plt_lt_150",
    "alp_gt_uln",
    "sar_1",
    "sar_2plus",
    "splenomegaly",
)
#: Continuous factors (never a 0/1 range; required).
CONTINUOUS_FACTORS: tuple[str, ...] = ("age_decades",)
_RISK_FLAGS = ("alp_gt_uln", "sar_1", "sar_2plus", "splenomegaly")


@dataclass(frozen=True)
class Predictor:
    """Excess-hazard effects and per-subtype weights (``data/survival_effects.csv``).

    Attributes
    ----------
    factors : tuple of str
        :data:`PREDICTOR_FACTORS`.
    beta : ndarray (F,)
        Excess-hazard log hazard ratios (per decade for ``age_decades``).
    se : ndarray (F,)
        Their standard errors (for the parameter draws).
    weights : ndarray (6, F)
        Multiplier of each effect per prognostic subtype (``PROGNOSTIC_SUBTYPES`` order).
    continuous : ndarray (F,) of bool
        Continuous factors.
    records : DataFrame
        The effect rows as published and converted, for the model card.
    """

    factors: tuple[str, ...]
    beta: np.ndarray
    se: np.ndarray
    weights: np.ndarray
    continuous: np.ndarray
    records: pd.DataFrame

    def effective_beta(self, beta: np.ndarray | None = None) -> np.ndarray:
        """Per-subtype log hazard ratios ``w * beta``: (6, F), or (D, 6, F) for a stack (D, F)."""
        b = self.beta if beta is None else np.asarray(beta, float)
        return b[..., None, :] * self.weights

    def assumptions(self) -> list[str]:
        """One line per effect or weight that is an assumption (for the model card)."""
        table = load_table("survival_effects.csv")
        rows = table[table["assumption"].astype(str).str.lower() == "true"]
        return [
            f"{r['factor']}" + (f" in {r['subtype']}" if r["kind"] == "weight" else "") + f": {r['note']}"
            for _, r in rows.iterrows()
            if r["kind"] == "effect" or str(r["subtype"]) == "MCL"
        ]


@cache
def load_predictor() -> Predictor:
    """The predictor's effects and weights, validated at load.

    Returns
    -------
    Predictor

    Raises
    ------
    ModelFileError
        If a factor lacks its effect row or a weight for any prognostic subtype, or a value is
        outside its range (SE > 0, weight in [0, 1]).

    Examples
    --------
    >>> p = load_predictor()
    >>> p.factors[:3]
    ('age_decades', 'hb_lt_10', 'plt_lt_150')
    >>> float(p.weights[PROGNOSTIC_SUBTYPES.index("ISM"), 0])  # no age term on the ISM excess
    0.0
    """
    table = load_table("survival_effects.csv")
    where = "survival_effects.csv"
    eff = table[table["kind"] == "effect"].set_index("factor")
    wts = table[table["kind"] == "weight"]
    problems = []
    missing = [f for f in PREDICTOR_FACTORS if f not in eff.index]
    if missing:
        problems.append(f"no effect row for factor(s) {missing}")
    weights = np.full((len(PROGNOSTIC_SUBTYPES), len(PREDICTOR_FACTORS)), np.nan)
    for _, r in wts.iterrows():
        if r["factor"] in PREDICTOR_FACTORS and r["subtype"] in PROGNOSTIC_SUBTYPES:
            k, j = PROGNOSTIC_SUBTYPES.index(r["subtype"]), PREDICTOR_FACTORS.index(r["factor"])
            weights[k, j] = r["weight"]
        else:
            problems.append(f"weight row {r['factor']!r}/{r['subtype']!r}: unknown factor or subtype")
    if np.isnan(weights).any():
        k, j = np.argwhere(np.isnan(weights))[0]
        problems.append(
            f"no weight for factor {PREDICTOR_FACTORS[j]!r} in subtype {PROGNOSTIC_SUBTYPES[k]!r}"
        )
    elif ((weights < 0) | (weights > 1)).any():
        problems.append("every weight must be in [0, 1] (a shrinkage multiplier)")
    if not missing:
        se = eff.loc[list(PREDICTOR_FACTORS), "excess_se"].to_numpy(float)
        if not (se > 0).all():
            problems.append("column 'excess_se': expected > 0 for every effect")
    if problems:
        raise ModelFileError(f"{where}: " + "; ".join(problems))
    rec = eff.loc[list(PREDICTOR_FACTORS)]
    return Predictor(
        factors=PREDICTOR_FACTORS,
        beta=rec["excess_log_hr"].to_numpy(float),
        se=rec["excess_se"].to_numpy(float),
        weights=weights,
        continuous=np.array([f in CONTINUOUS_FACTORS for f in PREDICTOR_FACTORS]),
        records=rec.reset_index(),
    )


@cache
def _cut_points() -> dict[str, tuple[str, float]]:
    """(comparison, threshold) of the predictor's own continuous/binary findings, from the data file."""
    eff = load_table("survival_effects.csv")
    eff = eff[eff["kind"] == "effect"].set_index("factor")
    return {f: (str(eff.loc[f, "comparison"]), float(eff.loc[f, "threshold"]))
            for f in ("age_decades", "hb_lt_10", "plt_lt_150")}


def _flag(values: np.ndarray, comparison: str, threshold: float) -> np.ndarray:
    """1/0 where ``values <comparison> threshold``, NaN where the finding is unknown."""
    return np.where(np.isnan(values), np.nan, OPS[comparison](values, threshold).astype(float))


def predictor_features(data: Any) -> pd.DataFrame:
    """The predictor's features: age in decades from 60, 0/1 flags, NaN where a finding is unknown.

    Parameters
    ----------
    data : DataFrame, mapping or path
        Findings: ``age`` (years), ``hemoglobin`` (g/dL), ``platelets`` (10^9/L), ``alp`` and
        ``alp_uln`` (U/L), ``srsf2``/``asxl1``/``runx1`` or ``sar_count``, ``splenomegaly``.

    Returns
    -------
    DataFrame
        Float columns in :data:`PREDICTOR_FACTORS` order, indexed like the input. ``age_decades``
        is ``(floor(age) - 60) / 10``: completed years, so a curve moves by one year's effect
        (about 4 %) at a birthday and never steps at 60.

    Examples
    --------
    >>> predictor_features({"age": 71.2, "hemoglobin": 8.5, "platelets": 60}).iloc[0].tolist()[:3]
    [1.1, 1.0, 1.0]
    """
    frame, _ = ensure_findings(data, columns=("age", "hemoglobin", "platelets"))
    flags = risk_features(data)
    hb = frame["hemoglobin"].to_numpy(float) if "hemoglobin" in frame.columns else np.full(len(frame), np.nan)
    plt_ = frame["platelets"].to_numpy(float) if "platelets" in frame.columns else np.full(len(frame), np.nan)
    age = frame["age"].to_numpy(float) if "age" in frame.columns else np.full(len(frame), np.nan)
    cut = _cut_points()  # from data/survival_effects.csv: the code holds no clinical number
    out = pd.DataFrame(
        {
            "age_decades": (np.floor(age) - cut["age_decades"][1]) / 10.0,
            "hb_lt_10": _flag(hb, *cut["hb_lt_10"]),
            "plt_lt_150": _flag(plt_, *cut["plt_lt_150"]),
        },
        index=frame.index,
    )
    for f in _RISK_FLAGS:
        out[f] = flags[f].to_numpy(float)
    return out[list(PREDICTOR_FACTORS)]


def subtype_weights(st: dict, subtype: str) -> np.ndarray:
    """(F,) effect weights of one subtype in a model state (dict): stored, the predictor's, or 1.

    A subtype calibrated before keeps its stored ``weights``; a state with the evidence predictor's
    factors takes :func:`load_predictor`'s; any other (a fitted model, composite flags) has 1.
    """
    F = list(st["factors"])
    stored = (st["subtypes"].get(subtype) or {}).get("weights")
    if stored:
        return np.array([float(stored.get(f, 1.0)) for f in F])
    if F == list(PREDICTOR_FACTORS) and subtype in PROGNOSTIC_SUBTYPES:
        return load_predictor().weights[PROGNOSTIC_SUBTYPES.index(subtype)].copy()
    return np.ones(len(F))


# --------------------------------------------------------------------------- reference cohorts

_HB_BANDS = ("<10", ">=10")
_PLATELET_BANDS = ("<100", "100-150", ">=150")


@cache
def _reference_counts() -> pd.DataFrame:
    table = load_table("reference_counts.csv")
    problems = []
    for s, g in table.groupby("subtype"):
        if abs(g["p"].sum() - 1.0) > 1e-9:
            problems.append(f"subtype {s}: probabilities sum to {g['p'].sum():.6g}, expected 1")
    unknown = set(table["hb_band"]) - set(_HB_BANDS) | set(table["platelet_band"]) - set(_PLATELET_BANDS)
    if unknown:
        problems.append(f"unknown band(s) {sorted(unknown)}")
    if problems:
        raise ModelFileError("reference_counts.csv: " + "; ".join(problems))
    return table


def complete_reference(cohort: pd.DataFrame, subtype: str, seed: int) -> pd.DataFrame:
    """A reference cohort with ``hemoglobin`` and ``platelets`` drawn where the scenario has none.

    Scenarios describe age, sex, organomegaly, ALP and S/A/R genes but not blood counts, which the
    predictor needs; they are drawn here, deterministically (``seed``), from the joint bands of
    ``data/reference_counts.csv`` (an assumption: the synthetic generator's profiles, so that a
    simulated cohort meets the targets the model was calibrated to). Columns already present are
    kept.

    Parameters
    ----------
    cohort : DataFrame
        The reference cohort of one prognostic subtype.
    subtype : str
        Its prognostic subtype (``CM``, ``ISM``, ``SSM``, ``SM-AHN``, ``ASM``, ``MCL``).
    seed : int
        Seed of the draw.

    Returns
    -------
    DataFrame
        A copy with ``hemoglobin`` (g/dL) and ``platelets`` (10^9/L).
    """
    if {"hemoglobin", "platelets"} <= set(cohort.columns):
        return cohort
    table = _reference_counts()
    rows = table[table["subtype"] == subtype].reset_index(drop=True)
    if rows.empty:
        raise ModelFileError(f"reference_counts.csv: no blood-count bands for subtype {subtype!r}")
    rng = np.random.default_rng([int(seed), PROGNOSTIC_SUBTYPES.index(subtype) + 1])
    n = len(cohort)
    cell = np.minimum(
        np.searchsorted(np.cumsum(rows["p"].to_numpy(float)), rng.random(n), side="right"), len(rows) - 1
    )
    u = rng.random((2, n))
    out = cohort.copy()
    lo, hi = rows["hb_low"].to_numpy(float)[cell], rows["hb_high"].to_numpy(float)[cell]
    out["hemoglobin"] = np.round(lo + u[0] * (hi - lo), 1)
    lo, hi = rows["platelets_low"].to_numpy(float)[cell], rows["platelets_high"].to_numpy(float)[cell]
    out["platelets"] = np.round(lo + u[1] * (hi - lo))
    return out


# --------------------------------------------------------------------------- linear predictors


def lp_ranges(
    X: np.ndarray,
    beta: np.ndarray,
    center: np.ndarray,
    weights: np.ndarray | None,
    factors: list[str] | tuple[str, ...],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear predictors per prognostic subtype: central, minimum and maximum over unknown features.

    Parameters
    ----------
    X : ndarray (n, F)
        Features (:func:`predictor_features`); binary ones 0/1 or NaN (unknown), continuous ones
        known.
    beta : ndarray (F,) or (D, F)
        Excess log hazard ratios (one set, or one per parameter draw).
    center : ndarray (6, F)
        Reference means per subtype: an unknown binary feature takes it in the central value.
    weights : ndarray (6, F) or None
        Per-subtype multipliers of ``beta`` (:class:`Predictor`); None = 1 everywhere.
    factors : list of str
        Factor names; ``sar_1``/``sar_2plus`` are mutually exclusive indicators.

    Returns
    -------
    tuple of ndarray
        ``(mid, lo, hi)``, each (n, 6), or (D, n, 6) for a stack of ``beta``.
    """
    stacked = np.ndim(beta) == 2
    B = np.atleast_2d(beta)  # (D, F)
    known = ~np.isnan(X)
    factors = list(factors)
    if weights is None:
        weights = np.ones_like(center)
    # Every subtype at once: one pass per feature group, not per (subtype, group); the plain
    # per-subtype loop is the specification (tests/survival_reference.py, held equal by a test).
    W = weights[:, None, :] * B[None, :, :]  # (S, D, F): the subtypes' log hazard ratios
    cont = [j for j, f in enumerate(factors) if _real_valued(f)]  # fitting helper: + fitted terms
    sar = [factors.index(f) for f in ("sar_1", "sar_2plus") if f in factors]
    groups: list[list[int]] = [sar] if len(sar) == 2 else []
    grouped = {j for g in groups for j in g} | set(cont)
    groups += [[j] for j in range(len(factors)) if j not in grouped]
    # (D, n, S) sums: continuous terms enter mid, lo and hi alike
    base = np.zeros((B.shape[0], X.shape[0], center.shape[0]))
    if cont:
        centred = np.nan_to_num(X[:, cont])[None] - center[:, None, cont]  # (S, n, C)
        base += np.einsum("snc,sdc->dns", centred, W[:, :, cont])
    mid, lo, hi = base.copy(), base.copy(), base
    for g in groups:
        # Options for the group's 0/1 values (mutually exclusive indicators for S/A/R).
        opts = np.vstack([np.zeros((1, len(g))), np.eye(len(g)) if len(g) > 1 else np.ones((1, 1))])
        xg = X[:, g]
        consistent = np.all(~known[:, None, g] | (xg[:, None, :] == opts[None, :, :]), axis=2)  # (n, O)
        contrib = np.einsum("sog,sdg->ods", opts[None] - center[:, None, g], W[:, :, g])  # (O, D, S)
        cands = np.where(consistent.T[:, None, :, None], contrib[:, :, None, :], np.nan)  # (O, D, n, S)
        lo += np.nanmin(cands, axis=0)
        hi += np.nanmax(cands, axis=0)
        filled = np.where(known[None, :, g], xg[None], center[:, None, g])  # (S, n, g)
        mid += np.einsum("sng,sdg->dns", filled - center[:, None, g], W[:, :, g])
    if stacked:
        return mid, lo, hi
    return mid[0], lo[0], hi[0]


def _real_valued(factor: str) -> bool:
    """A real-valued factor: age in decades, or (fitting helper) a fitted model's design column of a
    linear, log or spline term (``hemoglobin``, ``log(alp)``, ``bs(age, 3)[0]``)."""
    return factor in CONTINUOUS_FACTORS or "(" in factor or factor in numeric_findings()


@cache
def numeric_findings() -> frozenset[str]:
    """Numeric columns of the data dictionary (``findings_schema.csv`` kinds float and count)."""
    schema = load_table("findings_schema.csv")
    return frozenset(str(c) for c in schema.loc[schema["kind"].isin(["float", "count"]), "column"])


def feature_patterns(X: np.ndarray, factors: list[str] | tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, first)``: each patient's distinct feature pattern and a row of each pattern.

    Binary features are 0/1/unknown (base 3); ``age_decades`` is in whole years, so it enters as
    one more integer digit. A cohort has a few thousand patterns at most.
    """
    digits = np.where(np.isnan(X), 2.0, X)
    if any(_real_valued(f) and f not in CONTINUOUS_FACTORS for f in factors):  # fitting helper:
        _, first, codes = np.unique(digits, axis=0, return_index=True, return_inverse=True)  # exact
        return codes.reshape(-1), first  # patterns for fitted continuous terms
    cont = [j for j, f in enumerate(factors) if f in CONTINUOUS_FACTORS]
    binary = [j for j in range(X.shape[1]) if j not in cont]
    key = digits[:, binary] @ (3.0 ** np.arange(len(binary)))
    for i, j in enumerate(cont):  # whole years: an integer in [-60, 60] per continuous column
        key = key + (3.0 ** len(binary)) * (256.0**i) * (np.round(digits[:, j] * 10.0) + 128.0)
    codes, uniq = pd.factorize(key)
    first = np.zeros(uniq.size, np.int64)
    first[codes[::-1]] = np.arange(codes.size - 1, -1, -1)  # a row of each pattern
    return codes, first


def model_features(data: Any, factors: list[str] | tuple[str, ...]) -> np.ndarray:
    """(n, F) features of a model's ``factors``: the evidence predictor's, or the composite's.

    A model built with this predictor has :data:`PREDICTOR_FACTORS`; a fitted model or an older
    model file may carry the mastoprog composite's flags (``age_gt_60``, ...), which come from
    :func:`mastoprog.risk.risk_features` unchanged.
    """
    if all(f in PREDICTOR_FACTORS for f in factors):
        return predictor_features(data)[list(factors)].to_numpy(float)
    flags = risk_features(data)
    if all(f in flags.columns for f in factors):
        return flags[list(factors)].to_numpy(float)
    both = pd.concat(
        [predictor_features(data), flags.drop(columns=[c for c in flags if c in PREDICTOR_FACTORS])], axis=1
    )
    return both[list(factors)].to_numpy(float)


# --------------------------------------------------------------------------- score groups

#: Advanced-SM prognostic subtypes (the population of MARS).
ADVANCED_SUBTYPES: tuple[str, ...] = ("SM-AHN", "ASM", "MCL")
#: Time grid (months) for group medians under many parameter draws: log-spaced, 0.05-1900 months.
TIME_GRID = np.geomspace(0.05, 1900.0, 400)


def mars_groups(frame: pd.DataFrame) -> np.ndarray:
    """MARS risk group (``"low"``, ``"intermediate"``, ``"high"``, or None) of each patient.

    The risk module's own MARS score (:func:`mastoprog.risk.risk_score`); ``frame`` needs
    ``who_subtype`` and complete MARS findings (age, hemoglobin, platelets, S/A/R genes).
    """
    cols = [
        c
        for c in ("age", "hemoglobin", "platelets", "srsf2", "asxl1", "runx1", "sar_count", "who_subtype")
        if c in frame.columns
    ]
    scored = risk_score(frame[cols], "mars")
    assert isinstance(scored, pd.DataFrame)  # a frame in gives a frame out
    return scored["group"].to_numpy(object)


def averaged_median(
    s_pop: Any, lp: np.ndarray, log_lambda: np.ndarray, rho: np.ndarray, weight: np.ndarray
) -> float:
    """Median (months) of the weighted population-averaged curve of a group of patients.

    Parameters
    ----------
    s_pop : callable
        ``s_pop(t)`` -> (n,) general-population survival of the patients at ``t`` months.
    lp, log_lambda, rho, weight : ndarray (n,)
        Linear predictor, Weibull log scale (log months) and shape of each patient's subtype, and
        the patient's weight in the average.
    """
    from scipy.optimize import brentq  # heavy import kept out of `import mastoprog`

    w = weight / weight.sum()

    def f(log_t: float) -> float:
        t = np.exp(log_t)
        return float(w @ (s_pop(t) * np.exp(-np.exp(lp + rho * (log_t - log_lambda))))) - 0.5

    return float(np.exp(brentq(f, np.log(1e-4), np.log(1900.0), xtol=1e-10)))


def grid_medians(
    s_pop_grid: np.ndarray,
    lp: np.ndarray,
    log_lambda: np.ndarray,
    rho: np.ndarray,
    weight: np.ndarray,
    grid: np.ndarray = TIME_GRID,
) -> np.ndarray:
    """Medians (months) of weighted averaged curves on a log-spaced grid, one per parameter draw.

    ``s_pop_grid`` is (n, G) on ``grid`` (months, log-spaced, default :data:`TIME_GRID`); ``lp``
    and ``log_lambda`` are (D, n); ``rho`` and ``weight`` (n,). Log-linear interpolation between
    grid points (relative error < 0.1 % on the default grid); NaN when the median is off the grid.
    """
    w = weight / weight.sum()
    log_grid = np.log(grid)
    out = np.full(lp.shape[0], np.nan)
    chunk = max(1, 4_000_000 // max(1, lp.shape[1] * grid.size))  # bounds memory
    for start in range(0, lp.shape[0], chunk):
        sl = slice(start, start + chunk)
        cum = np.exp(
            lp[sl, :, None] + rho[None, :, None] * (log_grid[None, None, :] - log_lambda[sl, :, None])
        )
        s = np.einsum("n,dng->dg", w, s_pop_grid[None] * np.exp(-cum))
        for i, row in enumerate(s, start=start):
            j = int(np.searchsorted(-row, -0.5))
            if 0 < j < row.size:
                frac = (row[j - 1] - 0.5) / (row[j - 1] - row[j])
                out[i] = float(np.exp(log_grid[j - 1] + frac * (log_grid[j] - log_grid[j - 1])))
    return out


def draw_medians(
    background: Any,
    lp: np.ndarray,
    log_lambda: np.ndarray,
    rho: np.ndarray,
    weight: np.ndarray,
    center_months: float,
    max_patients: int = 1_500,
) -> np.ndarray:
    """Group medians (months) under many parameter draws, fast: a subsample and a local grid.

    ``background(rows, grid)`` gives the (len(rows), G) general-population survival of the chosen
    rows on ``grid``. The first ``max_patients`` rows (the reference cohort is a random draw, so
    they are a random subsample; Monte Carlo error of a median about 3 %) and 80 log-spaced times
    from ``center_months`` / 6 to x 6 (the draws' medians lie well inside).
    """
    rows = np.arange(min(lp.shape[1], max_patients))
    grid = np.geomspace(center_months / 6.0, center_months * 6.0, 80)
    return grid_medians(
        background(rows, grid), lp[:, rows], log_lambda[:, rows], rho[rows], weight[rows], grid
    )


def solve_level_shift(
    s_pop_grid: np.ndarray,
    lp: np.ndarray,
    log_lambda: np.ndarray,
    rho: np.ndarray,
    weight: np.ndarray,
    groups: np.ndarray,
    targets: dict[str, float],
) -> tuple[float, dict[str, float]]:
    """The common shift of log lambda that makes the mean log residual of the group medians zero.

    With the groups moving in parallel under a common shift, this is the least-squares fit of the
    log medians: one parameter (the advanced-SM level) fitted to several published group medians,
    the others' residuals checking the relative structure.

    Parameters
    ----------
    s_pop_grid : ndarray (n, G)
        General-population survival of each patient on :data:`TIMETIME_GRID` (months).
    lp, log_lambda, rho, weight : ndarray (n,)
        As in :func:`grid_medians` (one parameter set).
    groups : ndarray (n,)
        Group label of each patient (e.g. :func:`mars_groups`).
    targets : dict
        Published median (months) per group label.

    Returns
    -------
    tuple
        ``(delta, achieved)``: the shift (added to each advanced subtype's log lambda) and the
        group medians (months) it gives.
    """
    from scipy.optimize import brentq  # heavy import kept out of `import mastoprog`

    masks = {g: groups == g for g in targets}

    def medians(delta: float) -> dict[str, float]:
        return {
            g: float(
                grid_medians(
                    s_pop_grid[m], lp[m][None, :], log_lambda[m][None, :] + delta, rho[m], weight[m]
                )[0]
            )
            for g, m in masks.items()
        }

    def f(delta: float) -> float:
        got = medians(delta)
        return float(np.mean([np.log(got[g] / targets[g]) for g in targets]))

    lo, hi = _bracket(f)
    delta = float(brentq(f, lo, hi, xtol=1e-8))
    return delta, medians(delta)


def _bracket(f: Any, step: float = 0.5, limit: float = 6.0) -> tuple[float, float]:
    """A sign-changing bracket of the increasing function ``f`` around 0, grown step by step (far
    shifts put a median off the time grid, where ``f`` is NaN, so the bracket is not taken wide)."""
    lo, hi = -step, step
    while not f(lo) < 0 and lo > -limit:
        lo -= step
    while not f(hi) > 0 and hi < limit:
        hi += step
    return lo, hi


#: Reference patients per advanced subtype used for score-group medians (Monte Carlo error of a
#: group median about 1-2 %, far inside the published uncertainty of a MARS group median).
GROUP_REFERENCE_N = 6_000


def apply_group_targets(
    st: dict,
    rows: pd.DataFrame,
    frame_of: Any,
    mix: dict[str, float],
    lt: Any,
    *,
    set_name: str,
    random_state: int,
    draws: dict[str, list[float]] | None,
    d_beta: np.ndarray | None,
) -> None:
    """Shift the advanced subtypes' common level so that the MARS group medians meet ``rows``.

    The advanced subtypes (ASM, SM-AHN, MCL) keep the contrasts between them that their own target
    rows gave; one common shift of their log lambda (:func:`solve_level_shift`) is fitted to the
    group medians, averaged over the advanced-SM reference cohort in the scenario's subtype mix
    and grouped by the risk module's MARS score. Draws: each draw's shift is the least-squares
    correction of that draw's group medians toward group medians drawn from their sampling
    distribution (log-normal, var = 1 / deaths), linearised around the point shift; so the band
    carries the MARS figures' uncertainty (and no longer the replaced level's). ``st`` (a model
    state being calibrated) and ``draws`` (log lambda draws per subtype) are updated in place.
    """
    from ..exceptions import CalibrationError

    adv = [s for s in ADVANCED_SUBTYPES if (st["subtypes"].get(s) or {}).get("excess") == "weibull"]
    if len(adv) != len(ADVANCED_SUBTYPES):
        raise CalibrationError(
            f"{set_name}: group_median targets need {list(ADVANCED_SUBTYPES)} calibrated in the same "
            f"target set (calibrated: {adv})"
        )
    F = list(st["factors"])
    beta = np.array([st["beta"][f]["log_hr"] for f in F])
    parts = []
    for s in adv:
        frame = frame_of(s).iloc[:GROUP_REFERENCE_N]
        p = st["subtypes"][s]
        w = subtype_weights(st, s)
        Xc = model_features(frame, F) - np.array([p["center"][f] for f in F])
        parts.append((s, frame, np.nan_to_num(Xc) * w))
    frame = pd.concat([f for _, f, _ in parts], ignore_index=True)
    Xw = np.vstack([x for _, _, x in parts])
    sub = np.concatenate([np.full(len(f), s, dtype=object) for s, f, _ in parts])
    weight = np.concatenate([np.full(len(f), mix.get(s, 1.0) / len(f)) for s, f, _ in parts])
    ll = np.array([st["subtypes"][s]["log_lambda"] for s in sub], float)
    rho = np.array([st["subtypes"][s]["rho"] for s in sub], float)
    groups = mars_groups(frame)
    age, sex = frame["age"].to_numpy(float), np.asarray(frame["sex"].astype(object))
    year = frame["diagnosis_year"].to_numpy(float)
    grid = lt.survival(age[:, None], sex[:, None], year[:, None], TIME_GRID[None, :])
    targets = {str(r["group"]): float(r["value"]) for _, r in rows.iterrows()}
    delta, achieved = solve_level_shift(grid, Xw @ beta, ll, rho, weight, groups, targets)
    era = str(rows["era"].iloc[0]) if "era" in rows.columns else ""
    for s in adv:
        st["subtypes"][s]["log_lambda"] = float(st["subtypes"][s]["log_lambda"] + delta)
        st["subtypes"][s]["level_shift"] = {"delta": delta, "target_set": set_name, "era": era}
    st.setdefault("provenance", {})["advanced_level"] = {
        "delta": delta,
        "target_set": set_name,
        "era": era,
        "figures": [str(x) for x in rows.get("figure_id", pd.Series(dtype=object)).dropna()],
        "targets": targets,
        "achieved": achieved,
        "reference_n_per_subtype": GROUP_REFERENCE_N,
        "source": str(rows["source"].iloc[0]),
        "evidence": str(rows["evidence"].iloc[0]),
    }
    if draws is None or d_beta is None:
        return
    _shift_draws(
        draws, adv, sub, Xw, d_beta, grid, ll, rho, weight, groups, rows, delta, random_state, achieved
    )


def _shift_draws(
    draws: dict[str, list[float]],
    adv: list[str],
    sub: np.ndarray,
    Xw: np.ndarray,
    d_beta: np.ndarray,
    grid: np.ndarray,
    ll: np.ndarray,
    rho: np.ndarray,
    weight: np.ndarray,
    groups: np.ndarray,
    rows: pd.DataFrame,
    delta: float,
    random_state: int,
    achieved: dict[str, float],
) -> None:
    """Per-draw level shifts (see :func:`apply_group_targets`)."""
    rng = np.random.default_rng([int(random_state), 2019])
    D = d_beta.shape[0]
    lp_d = d_beta @ Xw.T  # (D, n)
    ll_d = np.vstack([np.asarray(draws[s], float) for s in adv])  # (3, D)
    ll_rows = ll_d[[adv.index(s) for s in sub]].T  # (D, n)
    num = np.zeros(D)
    den = 0.0
    for _, r in rows.iterrows():
        g = str(r["group"])
        idx = np.flatnonzero(groups == g)

        def background(sel: np.ndarray, times: np.ndarray, idx: np.ndarray = idx) -> np.ndarray:
            return _interp_rows(grid[idx[sel]], times)

        point = lp_d.mean(axis=0)[None, idx]
        up, dn = (
            draw_medians(background, point, ll[idx][None] + delta + h, rho[idx], weight[idx], achieved[g])[0]
            for h in (0.05, -0.05)
        )
        slope = float(np.log(up / dn) / 0.1)  # d log median / d delta (about 1 / rho)
        drawn = np.log(float(r["value"])) + rng.standard_normal(D) / np.sqrt(float(r["events"]))
        got = np.log(
            draw_medians(
                background, lp_d[:, idx], ll_rows[:, idx] + delta, rho[idx], weight[idx], achieved[g]
            )
        )
        num += slope * (drawn - np.nan_to_num(got, nan=float(np.log(achieved[g]))))
        den += slope**2
    shift = delta + num / den
    for s in adv:
        draws[s] = [float(v + d) for v, d in zip(draws[s], shift, strict=True)]


def _interp_rows(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Rows of (n, G) survival on :data:`TIME_GRID` interpolated (log-log) at ``times``."""
    lg, lt = np.log(TIME_GRID), np.log(times)
    j = np.clip(np.searchsorted(lg, lt) - 1, 0, lg.size - 2)
    frac = (lt - lg[j]) / (lg[j + 1] - lg[j])
    with np.errstate(divide="ignore"):
        lv = np.log(np.maximum(values, 1e-300))
    return np.exp(lv[:, j] + frac * (lv[:, j + 1] - lv[:, j]))


def calibration_cohort(
    scenario: Any = "lim2009", subtype: str = "ASM", n: int = 200_000, random_state: int = 20090601
) -> pd.DataFrame:
    """The reference cohort a subtype is calibrated on: the scenario's draw with blood counts.

    :func:`mastoprog.scenarios.reference_cohort` (age, sex, organomegaly, ALP, S/A/R genes, year)
    completed by :func:`complete_reference` (hemoglobin, platelets), exactly as
    ``SurvivalModel.calibrate`` uses it; averaging a model's curves over it reproduces the target.

    Examples
    --------
    >>> bool(calibration_cohort("lim2009", "ASM", n=5)[["hemoglobin", "platelets"]].notna().all().all())
    True
    """
    from ..scenarios import reference_cohort  # scenarios sit below survival: no cycle

    return complete_reference(reference_cohort(scenario, subtype, n=n, random_state=random_state), subtype,
                              random_state)
