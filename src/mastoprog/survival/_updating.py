"""Updating a published (calibrated or fitted) model to local data: Steyerberg's ladder.

With the published model's linear predictor ``lp_i = (x_i - c_s) @ beta`` and baselines
``(lambda_s, rho_s)`` held fixed, the local excess cumulative hazard is modelled as

0. ``original``: ``exp(lp_i) (t / lambda_s) ** rho_s`` (no parameter);
1. ``large`` (recalibration in the large): ``exp(alpha + lp_i) ...`` - one factor ``exp(alpha)`` on
   every subtype's excess hazard;
2. ``slope`` (logistic-style recalibration): ``exp(alpha + gamma lp_i) ...`` - the relative effects
   shrunk or stretched by ``gamma``;
3. ``refit`` (model revision of chosen effects): ``exp(alpha + gamma lp_i + delta @ (x_i,J - c_s,J))``
   - the chosen factors ``J`` get their own correction, so their log-HR becomes
   ``gamma beta_j + delta_j``.

Each step nests the one before, so a likelihood-ratio test (chi-square, df = added parameters)
says whether the local data ask for it. Delayed entry and the life-table background are handled as
in the fit (:mod:`._excess_fitter`). Every updated model keeps the published model's provenance and
parameters' sources, plus an ``update`` record (step, estimates, standard errors, tests, data size).

References
----------
Steyerberg EW. Clinical Prediction Models. 2nd ed. Springer 2019, ch. 20 (updating ladder).
Vergouwe Y, Nieboer D, Oostenbrink R et al. A closed testing procedure to select an appropriate
method for updating prediction models. Stat Med 2017;36:4529-39. doi:10.1002/sim.7179
van Houwelingen HC. Validation, calibration, revision and combination of prognostic survival
models. Stat Med 2000;19:3401-15.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import FindingsError
from ..findings import to_frame
from ._curves import PROGNOSTIC_SUBTYPES
from ._excess_data import ExcessData
from ._state import ModelState

__all__ = ["UPDATE_STEPS", "UpdateResult", "update_model"]

UPDATE_STEPS = ("original", "large", "slope", "refit")


@dataclass(frozen=True)
class UpdateResult:
    """The updating ladder on one local cohort.

    Attributes
    ----------
    models : dict
        ``{step: SurvivalModel}`` for ``large``, ``slope`` and (with ``refit``) ``refit``.
    steps : DataFrame
        One row per step: ``parameters`` (added so far), ``log_likelihood``, ``lr_statistic`` and
        ``df`` and ``p_value`` of the likelihood-ratio test against the step before.
    estimates : DataFrame
        Per step and parameter (``alpha``, ``gamma``, ``delta[<factor>]``): estimate, standard
        error, 95 % interval.
    n, events : int
        Local patients and deaths used (zero-excess subtypes such as CM left out).
    dropped : int
        Local patients left out because a finding the model's linear predictor needs is unknown
        (complete-case updating; the linear predictor of such a patient is a range, not a value).
    """

    models: dict[str, Any]
    steps: pd.DataFrame
    estimates: pd.DataFrame
    n: int
    events: int
    dropped: int = 0


def _local_rows(model: Any, df: Any, duration_col: str, event_col: str, entry_col: str | None):
    raw = to_frame(df)
    missing = [c for c in (duration_col, event_col) if c not in raw.columns]
    if missing:
        raise FindingsError(f"column(s) {missing} missing: updating needs the follow-up time "
                            f"({duration_col!r}, months) and the event ({event_col!r}, 0/1)")
    T = pd.to_numeric(raw[duration_col], errors="coerce").to_numpy(float)
    E = pd.to_numeric(raw[event_col], errors="coerce").to_numpy(float)
    bad = np.isnan(T) | (T <= 0) | ~np.isin(E, (0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FindingsError(f"row {raw.index[i]!r}: updating needs {duration_col} > 0 months and "
                            f"{event_col} 0/1; got {T[i]!r}, {E[i]!r}")
    P = model._prepare(raw, require_sex=True)
    if (P["cand"].sum(axis=1) > 1).any():
        raise FindingsError(f"updating needs one subtype per patient; row(s) "
                            f"{list(P['labels'][P['cand'].sum(axis=1) > 1][:5])} are undecided")
    entry = np.zeros(len(T)) if entry_col is None else pd.to_numeric(raw[entry_col]).to_numpy(float)
    return raw, P, T, E, entry


def _ladder_data(model: Any, P: dict, T, E, entry) -> tuple[ExcessData, np.ndarray, np.ndarray, np.ndarray]:
    arr = model._arrays()
    k = P["cand"].argmax(axis=1)
    # Complete cases: an unknown finding leaves the patient's linear predictor a range.
    keep = arr.excess[k] & ~np.isnan(P["X"]).any(axis=1)
    lt = model.life_table_
    age, sex, year = P["age"][keep], P["sex"][keep], P["year"][keep]
    t, e, t0 = T[keep], E[keep], entry[keep]
    bg_dH = lt.cumulative_hazard(age, sex, year, t) - np.where(
        t0 > 0, lt.cumulative_hazard(age, sex, year, t0), 0.0)
    kk = k[keep]
    d = ExcessData.from_hazard(t, e, t0, lt.hazard(age, sex, year, t), bg_dH,
                               log_lambda_offset=arr.log_lambda[kk], log_rho_offset=np.log(arr.rho[kk]))
    lp = P["lp_mid"][keep, kk]
    return d, lp, P["X"][keep], kk


def _step_fit(d: ExcessData, Xb: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    from ._excess_fitter import excess_loglik, maximise  # lifelines: only when updating

    empty = np.zeros((len(d.T), 0))
    blocks = (Xb, empty, empty)
    theta, ll, info = maximise(lambda th: excess_loglik(th, blocks, d), np.zeros(Xb.shape[1]))
    return theta, np.linalg.inv(info), ll


def update_model(
    model: Any,
    df: Any,
    duration_col: str = "time",
    event_col: str = "event",
    *,
    refit: tuple[str, ...] = (),
    entry_col: str | None = None,
    alpha: float = 0.05,
) -> UpdateResult:
    """Update ``model`` to a local cohort along Steyerberg's ladder (in the large, slope, refit).

    Parameters
    ----------
    model : SurvivalModel
        A calibrated (e.g. ``load_model("lim2009")``) or fitted model; it is not changed.
    df : DataFrame or path
        Local findings with follow-up (``time`` months, ``event`` 0/1), ``age``, ``sex``,
        ``who_subtype`` (or findings the classifier decides) and the risk findings. Patients with
        an unknown finding of the model are left out (complete cases; counted in ``dropped``).
    duration_col, event_col : str
        Names of the follow-up columns.
    refit : tuple of str
        Risk factors whose effects get their own local correction (step ``refit``); empty: no step 3.
    entry_col : str, optional
        Months from diagnosis to study entry (delayed entry).
    alpha : float
        1 - level of the intervals in ``estimates``.

    Returns
    -------
    UpdateResult

    Raises
    ------
    FindingsError
        Bad follow-up, undecided subtypes, or no local patient in a subtype with an excess hazard.

    References
    ----------
    Steyerberg EW. Clinical Prediction Models. 2nd ed. Springer 2019, ch. 20; Vergouwe Y et al.
    Stat Med 2017;36:4529-39. doi:10.1002/sim.7179
    """
    from scipy.stats import chi2, norm  # heavy bit of scipy: only when updating

    _, P, T, E, entry = _local_rows(model, df, duration_col, event_col, entry_col)
    d, lp, X, k = _ladder_data(model, P, T, E, entry)
    dropped = int((model._arrays().excess[P["cand"].argmax(axis=1)] & np.isnan(P["X"]).any(axis=1)).sum())
    if len(d.T) == 0:
        raise FindingsError("no local patient with complete findings in a subtype with an excess hazard: "
                            f"nothing to update ({dropped} left out for unknown findings)")
    factors = list(model.factors_)
    unknown = sorted(set(refit) - set(factors))
    if unknown:
        raise ValueError(f"refit: {unknown} are not factors of the model {factors}")
    centers = model._arrays().center[k]
    J = [factors.index(f) for f in refit]
    designs = {"large": np.ones((len(lp), 1)), "slope": np.column_stack([np.ones(len(lp)), lp])}
    names = {"large": ["alpha"], "slope": ["alpha", "gamma"]}
    if J:
        designs["refit"] = np.column_stack([designs["slope"], X[:, J] - centers[:, J]])
        names["refit"] = ["alpha", "gamma", *[f"delta[{f}]" for f in refit]]
    from ._excess_fitter import excess_loglik  # lifelines: only when updating

    ll0 = excess_loglik(np.zeros(0), (np.zeros((len(lp), 0)),) * 3, _with_offset(d, lp))[0]
    rows, est_rows, models = [_step_row("original", 0, ll0, None)], [], {}
    z = norm.ppf(1 - alpha / 2)
    prev_ll, prev_p = ll0, 0
    for step, Xb in designs.items():
        theta, cov, ll = _step_fit(_with_offset(d, lp if step == "large" else np.zeros(len(lp))), Xb)
        se = np.sqrt(np.diag(cov))
        lr = 2 * (ll - prev_ll)
        df_ = Xb.shape[1] - prev_p
        rows.append(_step_row(step, Xb.shape[1], ll, (lr, df_, float(chi2.sf(max(lr, 0.0), df_)))))
        est_rows += [{"step": step, "parameter": n, "estimate": th, "se": s, "lower": th - z * s,
                      "upper": th + z * s} for n, th, s in zip(names[step], theta, se, strict=True)]
        models[step] = _updated(model, step, dict(zip(names[step], theta, strict=True)), cov, names[step],
                                refit, rows[-1], len(d.T), int(d.E.sum()))
        prev_ll, prev_p = ll, Xb.shape[1]
    return UpdateResult(models, pd.DataFrame(rows).set_index("step"), pd.DataFrame(est_rows),
                        len(d.T), int(d.E.sum()), dropped)


def _with_offset(d: ExcessData, offset: np.ndarray) -> ExcessData:

    return ExcessData(d.T, d.E, d.entry, d.bg_log_h, d.bg_dH, d.W, offset, d.log_lambda_offset,
                      d.log_rho_offset)


def _step_row(step: str, p: int, ll: float, test: tuple[float, int, float] | None) -> dict[str, Any]:
    lr, df_, pv = test if test is not None else (np.nan, 0, np.nan)
    return {"step": step, "parameters": p, "log_likelihood": float(ll), "lr_statistic": float(lr),
            "df": int(df_), "p_value": float(pv)}


def _transform(st: dict, params: dict[str, float], refit: tuple[str, ...]) -> None:
    """Apply one set of update parameters to a state (in place)."""
    a, g = params["alpha"], params.get("gamma", 1.0)
    for f, b in st["beta"].items():
        b["log_hr"] = g * b["log_hr"] + params.get(f"delta[{f}]", 0.0)
    for p in st["subtypes"].values():
        if p.get("excess") == "weibull":
            p["log_lambda"] = p["log_lambda"] - a / p["rho"]


def _updated(model: Any, step: str, params: dict[str, float], cov: np.ndarray, names: list[str],
             refit: tuple[str, ...], test: dict[str, Any], n: int, events: int) -> Any:
    """A new model: the published state with the update applied (draws too) and its record."""
    st = model._check_ready().to_dict()  # a fresh, mutable copy
    _transform(st, params, refit)
    for f in (f for f in refit if f"delta[{f}]" in names):
        st["beta"][f]["source"] = f"{st['beta'][f].get('source', '')}; revised on local data ({step})"
    _update_draws(st, model._check_ready().to_dict(), params, cov, names, refit)
    st["kind"] = f"{st.get('kind', 'calibrated')}, updated ({step})"
    st.setdefault("provenance", {})
    st["provenance"] = {**st["provenance"], "update": {
        "step": step, "method": "Steyerberg's updating ladder (mastoprog.survival._updating)",
        "parameters": {k: float(v) for k, v in params.items()},
        "se": dict(zip(names, np.sqrt(np.diag(cov)).tolist(), strict=True)),
        "lr_test": {k: test[k] for k in ("lr_statistic", "df", "p_value")},
        "local_n": n, "local_events": events,
    }}
    out = type(model)(life_table=model.life_table, edition=model.edition, n_draws=model.n_draws,
                      random_state=model.random_state)
    out._set_state(ModelState.from_dict(st))
    return out


def _update_draws(st: dict, original: dict, params, cov, names, refit) -> None:
    """Band draws: the published draws, each updated with a draw of the update parameters."""
    draws = st.get("draws")
    if not draws:
        return
    rng = np.random.default_rng(draws.get("seed", 0))
    mean = np.array([params[nm] for nm in names])
    upd = rng.multivariate_normal(mean, (cov + cov.T) / 2, size=draws["n"], method="eigh",
                                  check_valid="ignore")
    F = st["factors"]
    d_beta = np.asarray(original["draws"]["beta"], float)
    gamma = upd[:, names.index("gamma")] if "gamma" in names else np.ones(len(upd))
    delta = np.zeros_like(d_beta)
    for f in (f for f in refit if f"delta[{f}]" in names):
        delta[:, F.index(f)] = upd[:, names.index(f"delta[{f}]")]
    draws["beta"] = (gamma[:, None] * d_beta + delta).tolist()
    for s, values in original["draws"]["log_lambda"].items():
        rho = np.exp(np.asarray(original["draws"]["log_rho"][s], float))
        draws["log_lambda"][s] = (np.asarray(values, float) - upd[:, 0] / rho).tolist()
    draws["method"] = f"{draws.get('method', '')}; updated to local data with draws of {names}"


_ = PROGNOSTIC_SUBTYPES  # the subtype order the arrays above follow (model._arrays())
