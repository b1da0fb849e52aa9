"""Calibration of the survival model to published targets: target sets, solving, draws.

``calibrate_state`` solves each subtype's Weibull scale ``lambda_s`` (months) so that the
*population-averaged* curve of a fixed reference cohort of subtype s meets its published target
exactly: a median, a survival probability at a time, or a relative survival (mean S / mean S_pop)
at a time. The excess survival is monotone in ``log lambda_s``, so one ``brentq`` per target.

Uncertainty draws: each target is drawn from its sampling distribution given the patients or
deaths behind it (median: log-normal with var(log median) = 1 / events; survival: complementary
log-log normal with the binomial (Greenwood at one time) variance from n; assumption ranges:
uniform) and ``lambda_s`` is re-solved per draw on the same reference cohort.

References
----------
Lim KH et al. Systemic mastocytosis in 342 consecutive adults: survival studies and prognostic
factors. Blood 2009;113:5727-36. doi:10.1182/blood-2009-02-205237 (the default target set).
Collett D. Modelling Survival Data in Medical Research, 3rd ed., 2015, section 2.3 (Greenwood's
formula, confidence interval for the median).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from .._resources import existing_path, load_table
from ..exceptions import CalibrationError, ModelFileError
from ..lifetables import LifeTable
from ._curves import PROGNOSTIC_SUBTYPES
from ._predictor import (
    apply_group_targets,
    complete_reference,
    load_predictor,
    model_features,
    subtype_weights,
)

TARGET_KINDS = (
    "median",
    "survival_at",
    "relative_survival_at",
    "zero_excess",
    "weibull_shape",
    "no_target",
    "group_median",
)
#: The embedded models (model files under data/models/, their targets in data/targets_<name>.csv).
BUILTIN_MODELS = ("lim2009", "mayo2025", "midostaurin", "mars2019")

_DRAWS_METHOD = (
    "calibrated: beta ~ N(log HR, SE from the published 95 % CI); each target "
    "drawn from its sampling distribution (median: log-normal with "
    "var(log median) = 1/events; survival: complementary log-log normal with "
    "Greenwood variance from n; assumption ranges: uniform); lambda_s re-solved "
    "per draw on the same reference cohort (a drawn target above what the matched "
    "population alone reaches gives zero excess in that draw); rho fixed (assumption)"
)


# --------------------------------------------------------------------------- target sets


def load_targets(name_or_path: str | os.PathLike | pd.DataFrame = "lim2009") -> pd.DataFrame:
    """A calibration target set: one row per subtype and kind, with source and evidence.

    Parameters
    ----------
    name_or_path : str, path or DataFrame
        ``"lim2009"`` (default), ``"mayo2025"``, ``"midostaurin"``, a CSV path, or a frame with the
        columns ``subtype, kind, value, time_months, n_patients, events, value_low, value_high,
        source, evidence``. Kinds: ``median`` (value in months), ``survival_at`` (value = S at
        ``time_months``), ``relative_survival_at`` (mean S / mean S_pop at ``time_months``),
        ``zero_excess`` (like the general population), ``weibull_shape`` (value = rho),
        ``no_target`` (no confirmed figure: predictions raise CalibrationError).

    Returns
    -------
    DataFrame
        The rows, with ``n_patients``, ``events``, ``value_low``, ``value_high`` added (NaN) when
        absent.

    Raises
    ------
    ModelFileError
        Naming the row and column that is wrong.

    References
    ----------
    The built-in sets cite their figures row by row (``source``, ``evidence`` columns), e.g.
    Lim KH et al., Blood 2009;113:5727-36 (median OS: ASM 41, SM-AHN 24, MCL 2 months).
    """
    if isinstance(name_or_path, pd.DataFrame):
        table, where = name_or_path.copy(), "targets frame"
    else:
        path = existing_path(
            name_or_path, BUILTIN_MODELS,
            type_message=f"The 'targets' parameter must be one of {list(BUILTIN_MODELS)}, a targets "
            "DataFrame or the path of a targets CSV. Got {got} instead.",
            missing_message="target set {got}: expected one of " + str(list(BUILTIN_MODELS))
            + " or an existing CSV file",
        )
        if path is None:
            table, where = load_table(f"targets_{name_or_path}.csv"), f"targets_{name_or_path}.csv"
        else:
            table, where = pd.read_csv(path), str(path)
    need = ["subtype", "kind", "value", "time_months", "source", "evidence"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise ModelFileError(f"{where}: missing column(s) {missing}")
    for c in ("n_patients", "events", "value_low", "value_high"):
        if c not in table.columns:
            table[c] = np.nan
    problems = []
    for i, r in table.iterrows():  # a target file has a few dozen rows: messages per line
        problems += _target_row_problems(i + 2, r)
    if problems:
        raise ModelFileError(f"{where}: " + "; ".join(problems))
    return table.reset_index(drop=True)


def _group_row_problems(line: int, r: pd.Series) -> list[str]:
    """A score-group median: advanced SM, a MARS group, a median in months and its deaths."""
    problems = []
    if r["subtype"] != "advanced":
        problems.append(f"line {line}, column 'subtype': got {r['subtype']!r}; "
                        "expected 'advanced' for a group_median")
    if r.get("group") not in ("low", "intermediate", "high"):
        problems.append(f"line {line}, column 'group': got {r.get('group')!r}; expected a MARS group "
                        "('low', 'intermediate', 'high')")
    if not (pd.to_numeric(r["value"], errors="coerce") > 0):
        problems.append(f"line {line}, column 'value': got {r['value']!r}; expected a median > 0 months")
    if not (pd.to_numeric(r.get("events"), errors="coerce") > 0):
        problems.append(f"line {line}, column 'events': got {r.get('events')!r}; "
                        "expected deaths > 0 (or an assumed count)")
    return problems


def _group_targets(st: dict, tg: pd.DataFrame, reference_cohort: Any, lt: LifeTable, n: int, seed: int,
                   set_name: str, random_state: int, draws: dict, d_beta: np.ndarray | None) -> None:
    """Score-group medians (kind ``group_median``, e.g. MARS): set the advanced-SM level
    (:func:`._predictor.apply_group_targets`); nothing when the target set has none. ``d_beta`` is
    None without parameter draws (then ``draws`` is not touched)."""
    groups = tg[tg["kind"] == "group_median"]
    if len(groups):
        apply_group_targets(
            st, groups, lambda s: _reference_for(reference_cohort, s, n, seed),
            _scenario_mix(reference_cohort), lt, set_name=set_name, random_state=random_state,
            draws=draws if d_beta is not None else None, d_beta=d_beta,
        )


def _reference_for(reference_cohort: Any, subtype: str, n: int, seed: int) -> pd.DataFrame:
    """The reference cohort of one subtype as calibrated on. A scenario has no blood counts, so
    they are drawn (:func:`._predictor.complete_reference`); a user's own cohort is taken as given
    (counts it lacks are unknown for everyone: centred at 0, i.e. read as normal counts)."""
    frame = reference_frame(reference_cohort, subtype, n, seed)
    return frame if isinstance(reference_cohort, Mapping) else complete_reference(frame, subtype, seed)


def _scenario_mix(reference_cohort: Any) -> dict[str, float]:
    """Subtype shares of the reference scenario (equal shares for a user mapping)."""
    if isinstance(reference_cohort, Mapping):
        return dict.fromkeys(reference_cohort, 1.0)
    from ..scenarios import load_scenario

    return {str(k): float(v) for k, v in load_scenario(reference_cohort).subtype_mix.items()}


def _target_row_problems(line: int, r: pd.Series) -> list[str]:
    if r["kind"] not in TARGET_KINDS:
        return [f"line {line}, column 'kind': got {r['kind']!r}; expected one of {list(TARGET_KINDS)}"]
    problems = []
    if r["kind"] == "group_median":
        return _group_row_problems(line, r)
    if r["subtype"] not in (*PROGNOSTIC_SUBTYPES, "MCS"):
        problems.append(
            f"line {line}, column 'subtype': got {r['subtype']!r}; expected one of "
            f"{[*PROGNOSTIC_SUBTYPES, 'MCS']}"
        )
    v = pd.to_numeric(r["value"], errors="coerce")
    tm = pd.to_numeric(r["time_months"], errors="coerce")
    if r["kind"] == "median" and not (v > 0):
        problems.append(f"line {line}, column 'value': got {r['value']!r}; expected a median > 0 months")
    if r["kind"] in ("survival_at", "relative_survival_at"):
        if not (0 < v < 1):
            problems.append(
                f"line {line}, column 'value': got {r['value']!r}; expected a probability in (0, 1)"
            )
        if not (tm > 0):
            problems.append(
                f"line {line}, column 'time_months': got {r['time_months']!r}; expected > 0 months"
            )
    if r["kind"] == "weibull_shape" and not (v > 0):
        problems.append(f"line {line}, column 'value': got {r['value']!r}; expected a Weibull shape > 0")
    return problems


# --------------------------------------------------------------------------- calibration


def calibrate_state(
    state: dict | None,
    targets: Any,
    reference_cohort: Any,
    *,
    life_table: LifeTable,
    n: int,
    seed: int,
    draws: bool,
    weibull_shapes: Mapping[str, float] | None,
    n_draws: int,
    random_state: int,
) -> dict:
    """A new model state calibrated to ``targets`` (see :meth:`SurvivalModel.calibrate`).

    ``state`` (the model's current state, or None for a fresh model) is not modified.
    """
    tg = load_targets(targets)
    st = json.loads(json.dumps(state if state is not None else _fresh_state()))  # deep copy
    if st["kind"] not in ("calibrated",) and "recalibrated" not in st["kind"]:
        st["kind"] = f"{st['kind']}, recalibrated"
    F = st["factors"]
    beta = np.array([st["beta"][f]["log_hr"] for f in F])
    rng = np.random.default_rng(random_state)
    D = int(n_draws)
    old_draws = st.get("draws")
    keep_old = bool(old_draws) and len(old_draws["beta"]) == D
    d_beta: np.ndarray | None = None  # parameter draws of beta (with draws=True)
    if draws:
        if keep_old:
            d_beta = np.asarray(old_draws["beta"], float)
        else:
            se = np.array([st["beta"][f].get("se_log_hr", 0.0) or 0.0 for f in F])
            d_beta = beta + se * rng.standard_normal((D, len(F)))
    # The name stored as each target's target_set: the built-in name or the path given.
    set_name = str(targets) if isinstance(targets, str | os.PathLike) else "targets frame"
    scenario_name = (
        reference_cohort
        if isinstance(reference_cohort, str | os.PathLike)
        else getattr(reference_cohort, "name", "user mapping")
    )
    new_draws: dict[str, dict[str, list[float]]] = {"log_lambda": {}, "log_rho": {}}
    residuals = [r for r in st.get("residuals", []) if r["subtype"] not in set(tg["subtype"])]
    shapes = {r["subtype"]: r for _, r in tg[tg["kind"] == "weibull_shape"].iterrows()}
    lt = life_table
    for _, r in tg[~tg["kind"].isin(["weibull_shape", "group_median"])].iterrows():
        s, kind = r["subtype"], r["kind"]
        prov = _provenance(r, set_name)
        if kind == "no_target":
            st["subtypes"][s] = {
                "excess": "uncalibrated",
                "source": prov["source"],
                "evidence": prov["evidence"],
                "target": prov,
                "reason": f"no confirmed survival target exists for {s} "
                f"({prov['note'] or prov['source']}); no calibrated curve",
            }
            continue
        if kind == "zero_excess":
            st["subtypes"][s] = {
                "excess": "none",
                "source": prov["source"],
                "evidence": prov["evidence"],
                "target": prov,
                "rho": None,
                "log_lambda": None,
            }
            residuals.append({"subtype": s, "kind": kind, "target": None, "achieved": None, "residual": 0.0})
            continue
        rho, rho_src = _weibull_shape(s, st["subtypes"].get(s, {}), weibull_shapes, shapes)
        cohort = _reference_for(reference_cohort, s, n, seed)
        center, Xc, bg = _reference_arrays(cohort, F, lt)
        w = subtype_weights(st, s)  # per-subtype effect weights (evidence predictor; else 1)
        lp = Xc @ (w * beta)
        value, tm = float(r["value"]), _num(r["time_months"])
        log_lambda = _solve_scale(lt, bg, lp, rho, kind, value, tm, s)
        achieved = _achieved(lt, bg, lp, rho, log_lambda, kind, tm)
        ref = {"scenario": str(scenario_name), "n": len(cohort), "seed": seed}
        residuals.append(
            {
                "subtype": s,
                "kind": kind,
                "target": value,
                "time_months": tm,
                "achieved": achieved,
                "residual": achieved - value,
                "reference_cohort": ref,
            }
        )
        st["subtypes"][s] = {
            "excess": "weibull",
            "log_lambda": float(log_lambda),
            "rho": rho,
            **rho_src,
            "center": {f: float(c) for f, c in zip(F, center, strict=True)},
            "weights": {f: float(x) for f, x in zip(F, w, strict=True)},
            "source": prov["source"],
            "evidence": prov["evidence"],
            "target": prov,
            "calibration": "population-averaged over the reference cohort",
            "reference_cohort": {
                "scenario": ref["scenario"],
                "subtype": s,
                "n": ref["n"],
                "seed": seed,
                "age_median": float(np.median(bg[0])),
                "feature_means": {f: float(c) for f, c in zip(F, center, strict=True)},
            },
        }
        if draws:
            values = _draw_target(r, rng, D)
            # A drawn median is met as "S = 0.5 at the drawn time" (same solver as survival_at).
            k2 = "survival_at" if kind == "median" else kind
            assert d_beta is not None  # drawn above whenever draws=True
            sols = [
                _solve_scale(
                    lt, bg, Xc @ (w * d_beta[d]), rho, k2,
                    0.5 if kind == "median" else values[d],
                    values[d] if kind == "median" else tm,
                    s, clip=True,
                )
                for d in range(D)
            ]
            new_draws["log_lambda"][s] = [float(v) for v in sols]
            new_draws["log_rho"][s] = [math.log(rho)] * D
    _group_targets(st, tg, reference_cohort, lt, n, seed, set_name, random_state,
                   new_draws["log_lambda"], d_beta)
    # Without draws, old draws would not match the re-solved scales: none are kept.
    st["draws"] = _merged_draws(d_beta, old_draws if keep_old else None, new_draws, random_state) \
        if d_beta is not None else None
    st["residuals"] = residuals
    st["life_table"] = lt.describe()
    st.setdefault("provenance", {})
    st["provenance"].setdefault("calibrations", []).append(
        {
            "targets": set_name,
            "subtypes": sorted(set(tg["subtype"])),
            "reference_cohort": str(scenario_name),
            "n": n,
            "seed": seed,
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        }
    )
    st["band_method"] = st["draws"]["method"] if st.get("draws") else "no parameter draws: no band"
    return st


def _merged_draws(d_beta: np.ndarray, old: dict | None, new: dict[str, dict[str, list[float]]],
                  random_state: int) -> dict:
    """The ``draws`` of a calibrated state: the new subtypes' draws over the kept old ones."""
    merged: dict[str, Any] = {"n": len(d_beta), "beta": d_beta.tolist(), "log_lambda": {},
                              "log_rho": {}, "method": _DRAWS_METHOD, "seed": random_state}
    for part in ("log_lambda", "log_rho"):
        if old is not None:
            merged[part].update(old[part])
        merged[part].update(new[part])
    return merged


def _fresh_state() -> dict:
    """A state with the published mastoprog log hazard ratios and no subtype yet."""
    pred = load_predictor()
    rec = pred.records.set_index("factor")
    return {
        "kind": "calibrated",
        "factors": list(pred.factors),
        "beta": {
            f: {
                "log_hr": float(rec.loc[f, "excess_log_hr"]),
                "se_log_hr": float(rec.loc[f, "excess_se"]),
                "source": str(rec.loc[f, "source"]),
                "evidence": str(rec.loc[f, "evidence"]),
                "assumption": str(rec.loc[f, "assumption"]).lower() == "true",
            }
            for f in pred.factors
        },

        "subtypes": {},
        "draws": None,
        "residuals": [],
        "assumptions": [],
    }


def _provenance(r: pd.Series, set_name: str) -> dict[str, Any]:
    """The target row as stored in the model (and shown in its card)."""
    return {
        "target_set": set_name,
        "kind": r["kind"],
        "value": _num(r["value"]),
        "time_months": _num(r["time_months"]),
        "n_patients": _num(r["n_patients"]),
        "events": _num(r["events"]),
        "source": str(r["source"]),
        "evidence": str(r["evidence"]),
        "note": str(r.get("note", "")) if pd.notna(r.get("note", np.nan)) else "",
        "era": str(r.get("era", "")) if pd.notna(r.get("era", np.nan)) else "",
        "figure_id": str(r.get("figure_id", "")) if pd.notna(r.get("figure_id", np.nan)) else "",
        # The target set the figure belongs to when this set borrows it (lim2009's SM-ALN row).
        "taken_from": str(r.get("taken_from", "")) if pd.notna(r.get("taken_from", np.nan)) else "",
    }


def _weibull_shape(
    s: str, prev: dict, overrides: Mapping[str, float] | None, shapes: dict[str, pd.Series]
) -> tuple[float, dict[str, str]]:
    """rho of subtype s and its provenance.

    Precedence: explicit override > the model's own (fitted or earlier) > the target set.
    """
    if overrides and s in overrides:
        rho = float(overrides[s])
        if not rho > 0:
            raise CalibrationError(f"weibull_shapes[{s!r}]: expected a shape > 0; got {rho!r}")
        return rho, {
            "rho_source": "user override (calibrate(weibull_shapes=...))",
            "rho_evidence": "assumption",
        }
    if prev.get("rho") is not None:
        return float(prev["rho"]), {k: prev[k] for k in ("rho_source", "rho_evidence") if k in prev}
    if s in shapes:
        return float(shapes[s]["value"]), {
            "rho_source": str(shapes[s]["source"]),
            "rho_evidence": str(shapes[s]["evidence"]),
        }
    raise CalibrationError(
        f"subtype {s}: no Weibull shape (kind 'weibull_shape') in the target "
        "set and none in the model; add one (it is an assumption)"
    )


def reference_frame(reference_cohort: Any, subtype: str, n: int, seed: int) -> pd.DataFrame:
    """The reference cohort of one subtype: from a user mapping, or drawn from a scenario."""
    if isinstance(reference_cohort, Mapping):
        if subtype not in reference_cohort:
            raise CalibrationError(
                f"no reference cohort for subtype {subtype}: the mapping has {sorted(reference_cohort)}"
            )
        frame = reference_cohort[subtype]
        return frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
    from ..scenarios import reference_cohort as draw

    return draw(reference_cohort, subtype, n=n, random_state=seed)


def _reference_arrays(
    cohort: pd.DataFrame, F: list[str], lt: LifeTable
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(center, centred features, (age, sex, year))`` of a reference cohort."""
    X = model_features(cohort, F)
    known = ~np.isnan(X)
    count = known.sum(axis=0)
    # Mean of the known values; a feature unknown for everyone is centred at 0.
    center = np.where(count > 0, np.where(known, X, 0.0).sum(axis=0) / np.maximum(count, 1), 0.0)
    Xc = np.where(np.isnan(X), 0.0, X - center)
    age = cohort["age"].to_numpy(float)
    sex = np.asarray(cohort["sex"].astype(object))
    year = (
        pd.to_numeric(cohort["diagnosis_year"], errors="coerce").to_numpy(float)
        if "diagnosis_year" in cohort.columns
        else np.full(len(cohort), float(lt.last_year))
    )
    year = np.where(np.isnan(year), float(lt.last_year), year)
    return center, Xc, (age, sex, year)


# --------------------------------------------------------------------------- solving


def _num(v: Any) -> float | None:
    x = pd.to_numeric(v, errors="coerce")
    return None if pd.isna(x) else float(x)


def _pop_mean(lt: LifeTable, bg: tuple, t: float) -> np.ndarray:
    return lt.survival(bg[0], bg[1], bg[2], np.full(len(bg[0]), t))


def _achieved(lt, bg, lp, rho, log_lambda, kind, tm):
    """The target statistic of the population-averaged curve with these parameters."""
    if kind == "median":
        from scipy.optimize import brentq

        def f(t):
            return (
                float(np.mean(_pop_mean(lt, bg, t) * np.exp(-np.exp(lp + rho * (math.log(t) - log_lambda)))))
                - 0.5
            )

        return float(brentq(f, 1e-9, 12 * 160, xtol=1e-12))
    s_pop = _pop_mean(lt, bg, tm)
    s = np.exp(-np.exp(lp + rho * (math.log(tm) - log_lambda))) * s_pop
    return float(s.mean() / s_pop.mean()) if kind == "relative_survival_at" else float(s.mean())


def _solve_scale(lt, bg, lp, rho, kind, value, tm, subtype, clip: bool = False) -> float:
    """log lambda solving the population-averaged target (monotone in log lambda: brentq).

    With ``clip`` (uncertainty draws only), a drawn target at or above what the matched population
    alone reaches gives (practically) zero excess hazard instead of an error.
    """
    from scipy.optimize import brentq

    t = value if kind == "median" else tm
    goal = 0.5 if kind == "median" else value
    s_pop = _pop_mean(lt, bg, t)
    denom = s_pop.mean() if kind == "relative_survival_at" else 1.0
    ceiling = s_pop.mean() / denom
    log_t = math.log(t)
    lo, hi = log_t - 60.0 / rho, log_t + 60.0 / rho
    if ceiling <= goal and clip:
        return hi
    if ceiling <= goal:
        raise CalibrationError(
            f"{subtype}: target {kind}={value:g} cannot be met: the matched general population of the "
            f"reference cohort alone gives {ceiling:.4f} at {t:g} months (the excess hazard cannot "
            "be negative)"
        )

    def f(u):
        return float(np.mean(s_pop * np.exp(-np.exp(lp + rho * (log_t - u))))) / denom - goal

    if clip and f(hi) <= 0:
        return hi
    return float(brentq(f, lo, hi, xtol=1e-12, rtol=1e-14, maxiter=500))


def _draw_target(r: pd.Series, rng: np.random.Generator, D: int) -> np.ndarray:
    """D draws of a target value from its sampling distribution (see ``calibrate`` docs)."""
    kind, v = r["kind"], float(r["value"])
    lo, hi = _num(r.get("value_low")), _num(r.get("value_high"))
    if lo is not None and hi is not None:
        return rng.uniform(lo, hi, D)
    if kind == "median":
        events = _num(r.get("events"))
        if events is None or events <= 0:
            raise CalibrationError(
                f"{r['subtype']}: the median target needs 'events' (or an assumed "
                "count) for its uncertainty draws"
            )
        return np.exp(math.log(v) + rng.standard_normal(D) / math.sqrt(events))
    n = _num(r.get("n_patients"))
    if n is None or n <= 0:
        raise CalibrationError(
            f"{r['subtype']}: the {kind} target needs 'n_patients' or value_low/value_high"
        )
    se = math.sqrt(v * (1 - v) / n) / (v * abs(math.log(v)))  # delta method on log(-log S)
    return np.exp(-np.exp(math.log(-math.log(v)) + se * rng.standard_normal(D)))

