"""``simulation_study``: generate -> fit/score -> validate, replicated, with a known truth.

Each replicate draws a cohort from a scenario with :func:`mastoprog.synthetic.simulate_cohort`
(survival times drawn exactly from the generating model), then

* ``"km"``: Kaplan-Meier median per subtype with its 95 % Brookmeyer-Crowley interval;
* every *estimator*: either the generating model itself (``"truth"``) scored as it is, or an
  object with ``fit(df)`` refitted on the replicate; each is scored by Harrell's C, AUC (with a
  bootstrap interval), Brier, calibration slope, O/E and ICI at the horizons, and by its subtype
  medians (median of the subtype's mean predicted curve over the replicate's patients). An
  estimator that fails in a replicate is skipped there and counted (``failures``, ``n_failed``).

The truth: each subtype's marginal median is the median of the generating model's
population-averaged curve over a large draw (``truth_n`` patients per subtype) of the scenario's
patients of that subtype; the calibration slope and O/E of the generating model are 1.

Interrupts: a KeyboardInterrupt inside a replicate is turned into a marker by :func:`_guarded`, so
the serial loop, joblib's pool and Dask workers all stop the same way (queued work cancelled, the
finished replicates returned).

Determinism: replicate r uses ``SeedSequence(random_state).spawn(n_replicates)[r]`` whatever the backend or
number of workers, so results are identical serially, with joblib and on a Dask cluster.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..exceptions import MetricInputError, Problem
from ..metrics import (
    brier_score,
    calibration_at,
    calibration_slope,
    concordance_index,
    curve_median,
    kaplan_meier,
    normal_quantile,
    time_dependent_auc,
)
from ..scenarios import load_scenario
from ..survival import load_model
from ..synthetic import simulate_cohort

__all__ = ["SimulationResult", "performance_measures", "simulation_study"]

DEFAULT_CENSORING = {"dropout_per_year": 0.02, "max_followup_months": 480.0}
_MEDIAN_GRID = np.unique(np.concatenate([np.arange(0.0, 24.0, 0.25), np.arange(24.0, 721.0)]))
_RESULT_COLUMNS = ["replicate", "estimator", "quantity", "group", "horizon", "estimate", "ci_low",
                   "ci_high"]
_FAILURE_COLUMNS = ["replicate", "estimator", "stage", "error", "message"]


@cache
def _builtin_model(name: str) -> Any:
    # one load per worker process: loading a calibrated model takes about a second
    return load_model(name)


def _resolve_model(model: Any) -> Any:
    return _builtin_model(model) if isinstance(model, str) else model


def _group_mean_curves(model: Any, frame: pd.DataFrame, groups: np.ndarray, grid: np.ndarray,
                       chunk: int = 4000) -> dict[Any, np.ndarray]:
    labels = list(pd.unique(pd.Series(groups)))
    sums = {g: np.zeros(grid.size) for g in labels}
    for start in range(0, len(frame), chunk):
        part = model.predict_survival_function(frame.iloc[start:start + chunk], grid).to_numpy(float)
        lab = groups[start:start + chunk]
        for g in labels:
            sums[g] += part[:, lab == g].sum(axis=1)
    counts = pd.Series(groups).value_counts()
    return {g: sums[g] / counts[g] for g in labels}


@cache
def _cached_truth(scenario: str, model: str, n: int, random_state: int) -> pd.Series:
    return _true_subtype_medians(scenario, model, n, random_state)


def true_subtype_medians(scenario: Any, model: Any, n: int = 20000, random_state: int = 20240101
                         ) -> pd.Series:
    """Median (months) of the generating model's population-averaged curve per subtype (cached
    per process for built-in scenario and model names; see :func:`_true_subtype_medians`)."""
    if isinstance(scenario, str) and isinstance(model, str):
        return _cached_truth(scenario, model, int(n), int(random_state)).copy()
    return _true_subtype_medians(scenario, model, n, random_state)


def _true_subtype_medians(scenario: Any, model: Any, n: int, random_state: int) -> pd.Series:
    """Median (months) of the generating model's population-averaged curve per subtype.

    Subtype s's patients are ``n`` draws of the scenario restricted to s (its strata mixed by their
    weights); the curve is the mean of their model curves, solved on a fine grid (0.25 months
    below 2 years, then monthly) with linear interpolation.
    """
    scn = load_scenario(scenario)
    model = _resolve_model(model)
    subtypes = sorted({s.who_subtype for s in scn.strata if s.weight > 0})
    out = {}
    seeds = np.random.SeedSequence(random_state).spawn(len(subtypes))
    for sub, ss in zip(subtypes, seeds, strict=True):
        frame = simulate_cohort(n, scn, random_state=ss, subtype=sub, survival=False, assign_subtype=True)
        curve = _group_mean_curves(model, frame, np.full(n, sub, dtype=object), _MEDIAN_GRID)[sub]
        out[sub] = curve_median(_MEDIAN_GRID, curve)
    return pd.Series(out, name="true_median_months")


def true_calibration_slopes(spec: Mapping[str, Any], n: int, random_state: Any) -> pd.DataFrame:
    """The generating model's calibration slope per horizon in one large draw of the study's design.

    The slope (:func:`~mastoprog.metrics.calibration_slope`: Cox coefficient of log(-log S(h)),
    follow-up censored at h) is 1 for a perfectly calibrated model only when the true hazards are
    proportional in log(-log S). The generating model is a relative-survival model (background
    hazard by age plus a subtype's Weibull excess hazard) whose hazards are not proportional, so its
    slope is close to, but not exactly, 1: measured on 200,000 patients, 1.01-1.02 in ``lim2009``
    and 1.02-1.05 in ``referral_advanced`` at 1-10 years. The estimand of a simulation study is
    therefore the slope's value in the population, estimated here on ``n`` patients drawn with the
    replicates' own scenario, model and censoring (a slope under non-proportional hazards depends
    on censoring), with its standard error.

    Returns
    -------
    DataFrame
        One row per horizon: ``horizon``, ``slope``, ``se``, ``n``.
    """
    model = _resolve_model(spec["model"])
    df = simulate_cohort(int(n), spec["scenario"], random_state=random_state, model=model,
                         censoring=spec["censoring"], assign_subtype=True)
    time = df["time"].to_numpy(float)
    event = df["event"].to_numpy(float).astype(bool)
    hs = [float(h) for h in spec["horizons"] if h < time.max() and np.any(event & (time <= h))]
    pred = model.predict_survival_function(df, np.asarray(hs, dtype=float)).to_numpy(float)
    fits = [calibration_slope(time, event, pred[k], h) for k, h in enumerate(hs)]
    rows = [(h, f.estimate, (f.ci_high - f.ci_low) / (2 * normal_quantile(0.95)), int(n))
            for h, f in zip(hs, fits, strict=True)]
    return pd.DataFrame(rows, columns=["horizon", "slope", "se", "n"])


def _score(name: str, fitted: Any, df: pd.DataFrame, time: np.ndarray, event: np.ndarray,
           subtype: np.ndarray, horizons: tuple[float, ...], rep: int, n_auc_boot: int = 0,
           auc_seed: Any = None) -> list[tuple]:
    rows: list[tuple] = []
    hs = [h for h in horizons if h < time.max() and np.any(event & (time <= h))]
    if hs:
        grid = np.asarray(hs, dtype=float)
        pred = fitted.predict_survival_function(df, grid).to_numpy(float)
        # all horizons in one call: the resamples' censoring weights are computed once
        aucs = time_dependent_auc(time, event, pred, hs, n_bootstrap=n_auc_boot,
                                  random_state=auc_seed).table
        for k, h in enumerate(hs):
            s = pred[k]
            c = concordance_index(time, event, s, tau=h)
            b = brier_score(time, event, s, h)
            cal = calibration_at(time, event, s, h)
            auc = aucs.iloc[k]
            rows += [(rep, name, "c_harrell", "all", h, c.estimate, c.ci_low, c.ci_high),
                     (rep, name, "auc", "all", h, auc["auc"], auc["ci_low"], auc["ci_high"]),
                     (rep, name, "brier", "all", h, b.estimate, b.ci_low, b.ci_high),
                     (rep, name, "calibration_slope", "all", h, cal.slope, cal.slope_low, cal.slope_high),
                     (rep, name, "oe_ratio", "all", h, cal.oe_ratio, cal.oe_low, cal.oe_high),
                     (rep, name, "ici", "all", h, cal.ici, np.nan, np.nan)]
    means = _group_mean_curves(fitted, df, subtype, _MEDIAN_GRID)
    for g, curve in means.items():
        rows.append((rep, name, "median", g, np.nan, curve_median(_MEDIAN_GRID, curve), np.nan, np.nan))
    return rows


class _Interrupted:
    """Returned instead of a replicate's results when Ctrl-C (KeyboardInterrupt) hit it.

    A KeyboardInterrupt raised inside a task kills a Dask worker (the scheduler then retries the
    task on other workers until it gives up with ``KilledWorker``) and is re-raised by joblib;
    returning this marker instead lets every backend stop the same way: the caller cancels what
    is still queued and keeps the finished replicates.
    """

    def __init__(self, rep: int) -> None:
        self.rep = rep


def _guarded(func: Any, rep: int, seed: np.random.SeedSequence, spec: dict[str, Any]) -> Any:
    # ``func`` is passed in (not looked up in the worker) so the caller decides what runs
    try:
        return func(rep, seed, spec)
    except KeyboardInterrupt:
        return _Interrupted(rep)


def _one_replicate(rep: int, seed: np.random.SeedSequence, spec: dict[str, Any]
                   ) -> tuple[pd.DataFrame, list[tuple]]:
    """One replicate: simulate, then KM medians and every estimator's scores (a pure function of
    ``seed`` and ``spec``). Returns the rows and the estimators that failed (``on_error="skip"``):
    ``(replicate, estimator, stage, error type, message)``."""
    truth_model = _resolve_model(spec["model"])
    df = simulate_cohort(spec["n_patients"], spec["scenario"], random_state=seed, model=truth_model,
                         censoring=spec["censoring"], assign_subtype=True)
    time = df["time"].to_numpy(float)
    event = df["event"].to_numpy(float).astype(bool)
    subtype = np.asarray(df["true_subtype"].astype(object))
    rows: list[tuple] = []
    for g in pd.unique(pd.Series(subtype)):
        m = subtype == g
        med, lo, hi = kaplan_meier(time[m], event[m], conf_level=spec["conf_level"]).quantile(0.5)
        rows.append((rep, "km", "median", g, np.nan, med, lo, hi))
    failures: list[tuple] = []
    # the AUC's bootstrap stream is a child of the replicate's seed: deterministic per replicate
    # (built from the key, not seed.spawn(), which would mutate the caller's SeedSequence)
    auc_seed = (np.random.default_rng(np.random.SeedSequence(seed.entropy,
                                                             spawn_key=(*seed.spawn_key, 0xA0C)))
                if spec["auc_bootstrap"] else None)
    for name, est in spec["estimators"].items():
        stage = "fit"
        try:
            if isinstance(est, str) and est == "truth":
                fitted = truth_model
            else:
                fitted = copy.deepcopy(_resolve_model(est)).fit(df)
            stage = "score"
            rows += _score(name, fitted, df, time, event, subtype, spec["horizons"], rep,
                           spec["auc_bootstrap"], auc_seed)
        except Exception as exc:  # any estimator failure is counted (see on_error), not hidden
            if spec["on_error"] == "raise":
                raise
            failures.append((rep, name, stage, type(exc).__name__, str(exc)[:300]))
    out = pd.DataFrame(rows, columns=_RESULT_COLUMNS)
    out["n_in_group"] = out["group"].map(pd.Series(subtype).value_counts()).fillna(len(df)).astype(int)
    return out, failures


@dataclass(frozen=True)
class SimulationResult:
    """Per-replicate results, their ADEMP performance summary and the study's design.

    Attributes
    ----------
    replicates : DataFrame
        One row per replicate, estimator, quantity, group (subtype or ``all``) and horizon:
        ``estimate``, ``ci_low``, ``ci_high``, ``truth``, ``n_in_group``.
    summary : DataFrame
        Per estimator (method), quantity (estimand), group and horizon: ``n_replicates``
        (replicates with a result), ``n_failed``, ``n_finite``, ``n_reached`` (medians only),
        ``truth``, ``mean``, then every performance measure of :func:`performance_measures` with
        its Monte Carlo SE in the ``<measure>_mcse`` column (``bias``, ``relative_bias``,
        ``empirical_se``, ``model_se``, ``model_se_relative_error``, ``coverage``,
        ``bias_eliminated_coverage``, ``power``), ``mean_model_se`` (mean CI width / 2z),
        ``q05``/``median``/``q95`` and ``note``. For medians the measures are over the replicates
        that reached the median only, and ``note`` says so whenever some did not.
    truth : Series
        True marginal median (months) per subtype.
    random_state : int or SeedSequence
        Root of the replicates' seeds.
    failures : DataFrame
        One row per replicate and estimator that failed (fit or scoring raised): ``replicate``,
        ``estimator``, ``stage``, ``error``, ``message``.
    notes : tuple of str
        Plain-language caveats: failed replicates, medians not reached, interruption.
    design : dict
        The ADEMP statement (Morris, White & Crowther 2019): ``aims``, ``data_generating_mechanism``
        (scenario, generating model, n, censoring, replicates), ``estimands`` (quantity ->
        definition and true value), ``methods`` and ``performance_measures``.
    """

    replicates: pd.DataFrame
    summary: pd.DataFrame
    truth: pd.Series
    random_state: Any
    n_requested: int
    interrupted: bool
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_FAILURE_COLUMNS))
    notes: tuple[str, ...] = ()
    design: dict[str, Any] = field(default_factory=dict)

    @property
    def n_completed(self) -> int:
        """Replicates that finished (whatever their estimators did)."""
        return int(self.replicates["replicate"].nunique())

    def describe(self) -> str:
        """The ADEMP design as plain text (aims, data-generating mechanism, estimands, methods,
        performance measures)."""
        d = self.design
        lines = [f"Aims: {d.get('aims', '')}", "Data-generating mechanism: " + ", ".join(
            f"{k} = {v}" for k, v in d.get("data_generating_mechanism", {}).items())]
        lines += ["Estimands:"] + [f"  - {k}: {v}" for k, v in d.get("estimands", {}).items()]
        lines += ["Methods: " + ", ".join(d.get("methods", [])),
                  "Performance measures: " + ", ".join(d.get("performance_measures", []))]
        return "\n".join(lines)


# value whose exclusion by the interval counts as "power" (H0), per quantity
_NULL = {"c_harrell": 0.5, "auc": 0.5}
_MEASURES = ("bias", "relative_bias", "empirical_se", "model_se", "model_se_relative_error",
             "coverage", "bias_eliminated_coverage", "power")


def performance_measures(estimates: np.ndarray, truth: float, se: np.ndarray | None = None,
                         ci_low: np.ndarray | None = None, ci_high: np.ndarray | None = None,
                         null: float = 0.0) -> dict[str, float]:
    """ADEMP performance measures of one method for one estimand, each with its Monte Carlo SE.

    The definitions and Monte Carlo SEs of Morris, White & Crowther (2019, table 6), as R
    ``rsimsum`` computes them, over n_sim replicates with estimates theta_i, SEs s_i and
    intervals [l_i, u_i]:

    * ``bias`` = mean(theta) - truth; MCSE = empirical_se / sqrt(n_sim)
    * ``relative_bias`` = bias / truth; MCSE = bias MCSE / ``|truth|``
    * ``empirical_se`` = sd(theta) (divisor n_sim - 1); MCSE = empirical_se / sqrt(2 (n_sim - 1))
    * ``model_se`` = sqrt(mean(s^2)); MCSE = sqrt(var(s^2) / (4 n_sim model_se^2))
    * ``model_se_relative_error`` = model_se / empirical_se - 1 (a fraction, not %); MCSE =
      (model_se / empirical_se) sqrt(var(s^2) / (4 n_sim model_se^4) + 1 / (2 (n_sim - 1)))
    * ``coverage`` = mean(l <= truth <= u); ``bias_eliminated_coverage`` = mean(l <= mean(theta)
      <= u); ``power`` = mean(interval excludes ``null``); each MCSE = sqrt(p (1 - p) / n_sim)

    Parameters
    ----------
    estimates : array of float, shape (n_sim,)
        Finite estimates (the caller drops non-finite ones and says so).
    truth : float
        The estimand's true value.
    se : array of float, optional
        Model-based standard errors; without them (and without an interval) the SE-based
        measures are NaN.
    ci_low, ci_high : array of float, optional
        Interval limits (coverage, bias-eliminated coverage, power). ``se`` defaults to the
        interval's half-width / 1.96 when only the interval is given (done by the caller).
    null : float
        Value under the null hypothesis for ``power`` (0.5 for a C-index or AUC).

    Returns
    -------
    dict
        Each measure and ``<measure>_mcse``.

    References
    ----------
    Morris TP, White IR, Crowther MJ. Using simulation studies to evaluate statistical methods.
    Stat Med 2019;38:2074-102. doi:10.1002/sim.8086.
    Gasparini A. rsimsum: summarise results from Monte Carlo simulation studies. JOSS 2018;3:739.
    doi:10.21105/joss.00739.

    Examples
    --------
    >>> import numpy as np
    >>> m = performance_measures(np.array([1.0, 2.0, 3.0, 4.0]), 2.0)
    >>> round(m["bias"], 3), round(m["bias_mcse"], 4), round(m["empirical_se"], 4)
    (0.5, 0.6455, 1.291)
    """
    theta = np.asarray(estimates, dtype=float)
    n = theta.size
    nan = float("nan")
    out = dict.fromkeys([k for m in _MEASURES for k in (m, f"{m}_mcse")], nan)
    if n == 0:
        return out
    mean = float(theta.mean())
    emp = float(theta.std(ddof=1)) if n > 1 else nan
    out["bias"], out["bias_mcse"] = mean - truth, emp / np.sqrt(n)
    if np.isfinite(truth) and truth != 0:
        out["relative_bias"] = (mean - truth) / truth
        out["relative_bias_mcse"] = out["bias_mcse"] / abs(truth)
    out["empirical_se"] = emp
    out["empirical_se_mcse"] = emp / np.sqrt(2.0 * (n - 1)) if n > 1 else nan
    if se is not None and np.size(se) == n:
        out.update(_model_se_measures(np.asarray(se, dtype=float), emp, n))
    if ci_low is not None and ci_high is not None:
        lo, hi = np.asarray(ci_low, dtype=float), np.asarray(ci_high, dtype=float)
        for name, hit in (("coverage", (lo <= truth) & (truth <= hi)),
                          ("bias_eliminated_coverage", (lo <= mean) & (mean <= hi)),
                          ("power", (null < lo) | (hi < null))):
            p = float(hit.mean())
            out[name], out[f"{name}_mcse"] = p, float(np.sqrt(p * (1.0 - p) / n))
    return out


def _model_se_measures(se: np.ndarray, emp: float, n: int) -> dict[str, float]:
    var = np.square(se)
    mod = float(np.sqrt(var.mean()))
    var_var = float(var.var(ddof=1)) if n > 1 else float("nan")
    out = {"model_se": mod, "model_se_mcse": float(np.sqrt(var_var / (4.0 * n * mod**2)))
           if mod > 0 else float("nan")}
    if emp > 0 and mod > 0:
        ratio = mod / emp
        out["model_se_relative_error"] = ratio - 1.0
        out["model_se_relative_error_mcse"] = float(
            ratio * np.sqrt(var_var / (4.0 * n * mod**4) + 1.0 / (2.0 * (n - 1))))
    return out


def _median_note(n_finite: int, n_all: int) -> str:
    if n_finite == n_all:
        return ""
    return (f"median reached in {n_finite} of {n_all} replicates; "
            + (f"mean, bias, SE and coverage over those {n_finite} only (conditional on reaching "
               "the median, which favours replicates with earlier deaths)" if n_finite else
               "no bias or coverage"))


def _summary_row(key: tuple, g: pd.DataFrame, z: float, n_failed: int) -> tuple:
    est = g["estimate"].to_numpy(float)
    is_median = key[1] == "median"
    # medians: only replicates that reached the median count (see SimulationResult.summary)
    fin = np.isfinite(est)
    truth = float(g["truth"].iloc[0])
    lo, hi = g["ci_low"].to_numpy(float)[fin], g["ci_high"].to_numpy(float)[fin]
    with np.errstate(invalid="ignore"):  # inf - inf (median and its CI not reached)
        width = hi - lo
    has_ci = np.isfinite(lo)
    wfin = np.isfinite(width)
    se = np.where(wfin, width / (2.0 * z), np.nan)
    perf = performance_measures(est[fin], truth, se if wfin.all() and wfin.any() else None,
                                lo if has_ci.all() and has_ci.any() else None,
                                hi if has_ci.all() and has_ci.any() else None, _NULL.get(key[1], 0.0))
    if not np.isfinite(truth):
        for m in ("bias", "relative_bias", "coverage", "model_se_relative_error"):
            perf[m] = perf[f"{m}_mcse"] = float("nan")
    mean = float(est[fin].mean()) if fin.any() else np.nan
    return (*key, len(g), n_failed, int(fin.sum()), int(fin.sum()) if is_median else pd.NA, truth, mean,
            *[perf[k] for m in _MEASURES for k in (m, f"{m}_mcse")],
            float(np.mean(width[wfin]) / (2 * z)) if wfin.any() else np.nan,
            *(np.quantile(est[fin], [0.05, 0.5, 0.95]) if fin.any() else [np.nan] * 3),
            _median_note(int(fin.sum()), len(g)) if is_median else "")


def _summarise(reps: pd.DataFrame, z: float, failed: Mapping[str, int] | None = None) -> pd.DataFrame:
    keys = ["estimator", "quantity", "group", "horizon"]
    failed = failed or {}
    rows = [_summary_row(key, g, z, int(failed.get(key[0], 0)))
            for key, g in reps.groupby(keys, dropna=False, sort=True)]
    out = pd.DataFrame(rows, columns=[*keys, "n_replicates", "n_failed", "n_finite", "n_reached",
                                      "truth", "mean",
                                      *[k for m in _MEASURES for k in (m, f"{m}_mcse")],
                                      "mean_model_se", "q05", "median", "q95", "note"])
    out["n_reached"] = out["n_reached"].astype("Int64")
    return out


def simulation_study(scenario: str = "lim2009", n_patients: int = 2000, n_replicates: int = 200, *,
                     estimators: Mapping[str, Any] | None = None,
                     random_state: int | np.random.SeedSequence | None = 0,
                     model: Any = "lim2009", censoring: Any = "default",
                     horizons: tuple[float, ...] = (12.0, 60.0, 120.0), backend: str = "joblib",
                     n_jobs: int = 1, client: Any = None, truth_n: int = 20000,
                     conf_level: float = 0.95, progress: bool = True, on_error: str = "skip",
                     max_failed_fraction: float = 0.05, auc_bootstrap: int = 100
                     ) -> SimulationResult:
    """Repeat generate -> fit/score -> validate with a known truth.

    Parameters
    ----------
    scenario : str
        Scenario the cohorts are drawn from (``mastoprog.load_scenario``).
    n_patients, n_replicates : int
        Cohort size and number of replicates.
    estimators : mapping name -> "truth" | model name | object with ``fit(df)``
        ``"truth"`` scores the generating model as is; anything else is deep-copied and refitted on
        every replicate (e.g. ``{"refit": "lim2009"}`` refits the excess-hazard model by maximum
        likelihood). Default ``{"truth": "truth"}``. The Kaplan-Meier median (``"km"``) is always
        computed.
    random_state : int, SeedSequence or None
        Root of the ``SeedSequence``; replicate r uses its r-th spawned child (None: fresh
        entropy, recorded in ``SimulationResult.random_state``). Renamed from ``seed``.
    model : str or SurvivalModel
        Generating model (default the calibrated ``lim2009`` model).
    censoring : "default", None, "scenario" or mapping
        ``"default"``: independent censoring, 2 % drop-out per year and at most 40 years of
        follow-up, so the Kaplan-Meier estimates the marginal curve. ``"scenario"`` uses the
        scenario's study end: censoring then depends on the calendar year of diagnosis, which also
        drives background mortality, so late in follow-up the Kaplan-Meier need not estimate the
        marginal curve of the whole scenario population. Follow-up is then short for subtypes
        with long survival (ISM's median is about 386 months), so their Kaplan-Meier median is
        reached in only some replicates: the summary counts them (``n_reached``) and computes
        bias and coverage over those only, saying so in its ``note`` column.
    horizons : tuple of float
        Months at which discrimination and calibration are scored.
    backend : {"joblib", "dask"}
        ``joblib``: ``n_jobs`` processes on this machine (``n_jobs=1``: in this process).
        ``dask``: ``dask.distributed``; uses ``client`` if given, else the current client, else
        starts a ``LocalCluster`` with ``n_jobs`` worker processes for this call.
    truth_n : int
        Patients per subtype in the draw that defines the true marginal medians; the generating
        model's population calibration slope is computed on ``max(10 * truth_n, 50_000)``
        patients of the study's design (:func:`true_calibration_slopes`).
    progress : bool
        tqdm progress bar. Ctrl-C stops the study and returns the finished replicates (with a
        ``RuntimeWarning``) on every backend: queued replicates are cancelled (joblib's pool is
        aborted; Dask futures are cancelled), and a KeyboardInterrupt raised inside a replicate
        (Ctrl-C reaching a worker process) is caught there and reported back instead of killing
        the worker. Raises KeyboardInterrupt if no replicate had finished.
    on_error : {"skip", "raise"}
        An estimator whose fit or scoring raises an ``Exception`` in a replicate (e.g. too few
        deaths in a subtype for ``SurvivalModel.fit``): ``"skip"`` leaves that estimator out of
        that replicate, records it in ``failures`` and counts it in the summary's ``n_failed``
        (with a ``RuntimeWarning`` when more than ``max_failed_fraction`` of the replicates fail
        for an estimator); ``"raise"`` stops the study. Failures of the data generation itself
        always raise.
    max_failed_fraction : float
        Share of failed replicates (per estimator) above which a warning is issued (5 %).
    auc_bootstrap : int
        Bootstrap resamples for each AUC(t)'s interval (0: no interval), so the summary's
        ``coverage`` and ``mean_model_se`` of ``auc`` can be set against its empirical SE.

    Returns
    -------
    SimulationResult
        ``summary`` holds every ADEMP performance measure with its Monte Carlo SE
        (:func:`performance_measures`); ``design`` and ``describe()`` state the aims,
        data-generating mechanism, estimands, methods and performance measures.

    References
    ----------
    Morris TP, White IR, Crowther MJ. Using simulation studies to evaluate statistical methods.
    Stat Med 2019;38:2074-102. doi:10.1002/sim.8086.
    """
    _check_study_arguments(n_replicates, n_patients, backend, n_jobs, on_error, auc_bootstrap)
    estimators = dict(estimators) if estimators is not None else {"truth": "truth"}
    if "km" in estimators:
        raise MetricInputError([Problem(None, "estimators", "km", "a name other than 'km' (reserved "
                                        "for the Kaplan-Meier medians)")])
    spec = {"scenario": scenario, "n_patients": int(n_patients), "model": model,
            "censoring": DEFAULT_CENSORING if isinstance(censoring, str) and censoring == "default"
            else censoring, "estimators": estimators,
            "horizons": tuple(float(h) for h in horizons), "conf_level": conf_level,
            "on_error": on_error, "auc_bootstrap": int(auc_bootstrap)}
    root = (random_state if isinstance(random_state, np.random.SeedSequence)
            else np.random.SeedSequence(random_state))
    entropy = int(root.entropy) if isinstance(root.entropy, int | np.integer) else 0
    children = root.spawn(int(n_replicates))
    truth = true_subtype_medians(scenario, model, n=truth_n, random_state=entropy + 1_000_003)
    # 10 x truth_n patients (200,000 by default: SE 0.003-0.005, a tenth of a 2,000-patient
    # replicate's); at least 50,000
    slopes = true_calibration_slopes(spec, max(10 * int(truth_n), 50_000), entropy + 2_000_003)

    results: list[pd.DataFrame] = []
    failures: list[tuple] = []
    with tqdm(total=int(n_replicates), desc="simulation study", disable=not progress) as bar:
        interrupted = _run_replicates(spec, children, backend, n_jobs, client, results, failures, bar)
    if interrupted:
        warnings.warn(f"simulation study interrupted after {len(results)} of {n_replicates} "
                      "replicates; the summary uses those", RuntimeWarning, stacklevel=2)
    reps = _with_truth(pd.concat(results, ignore_index=True), truth, estimators, slopes)
    fails = pd.DataFrame(sorted(failures), columns=_FAILURE_COLUMNS)
    notes = _failure_notes(fails, len(results), max_failed_fraction)
    summary = _summarise(reps, normal_quantile(conf_level), fails["estimator"].value_counts().to_dict())
    notes += [f"{r.estimator} {r.group}: {r.note}" for r in summary.itertuples() if r.note]
    if interrupted:
        notes.append(f"interrupted after {len(results)} of {n_replicates} replicates")
    return SimulationResult(reps, summary, truth, random_state if random_state is not None else entropy,
                            int(n_replicates), interrupted, fails, tuple(notes),
                            _design(spec, int(n_replicates), truth, slopes))


def _check_study_arguments(n_replicates: int, n_patients: int, backend: str, n_jobs: int, on_error: str,
                           auc_bootstrap: int) -> None:
    checks = [(int(n_replicates) >= 1, "n_replicates", n_replicates, "an integer >= 1"),
              (int(n_patients) >= 10, "n_patients", n_patients, "an integer >= 10"),
              (backend in ("joblib", "dask"), "backend", backend, "'joblib' or 'dask'"),
              (int(n_jobs) >= 1, "n_jobs", n_jobs, "an integer >= 1"),
              (on_error in ("skip", "raise"), "on_error", on_error, "'skip' or 'raise'"),
              (int(auc_bootstrap) >= 0, "auc_bootstrap", auc_bootstrap, "an integer >= 0")]
    problems = [Problem(None, name, value, expected) for ok, name, value, expected in checks if not ok]
    if problems:
        raise MetricInputError(problems)


def _run_replicates(spec: dict, children: list, backend: str, n_jobs: int, client: Any,
                    results: list, failures: list, bar: Any) -> bool:
    """Run every replicate on the chosen backend, filling ``results``/``failures``; True when
    interrupted (Ctrl-C here or inside a task) after at least one replicate finished."""
    stopped: list[int] = []  # replicates a KeyboardInterrupt hit inside the task

    def collect(out: Any) -> bool:
        """Store one finished task; False when it reports an interrupt (stop the study)."""
        if isinstance(out, _Interrupted):
            stopped.append(out.rep)
            return False
        frame, failed = out
        results.append(frame)
        failures.extend(failed)
        bar.update(1)
        return True

    try:
        # _one_replicate is looked up here, at call time, and handed to the workers
        func = _one_replicate
        if backend == "dask":
            _run_dask(spec, children, collect, n_jobs, client, func)
        elif int(n_jobs) == 1:
            for r, child in enumerate(children):
                if not collect(_guarded(func, r, child, spec)):
                    break
        else:
            _run_joblib(spec, children, collect, n_jobs, func)
        if stopped:
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        if not results:
            raise
        return True
    return False


def _run_joblib(spec: dict, children: list, collect: Any, n_jobs: int, func: Any) -> None:
    from joblib import Parallel, delayed  # joblib: only when several processes are asked for

    par = Parallel(n_jobs=int(n_jobs), return_as="generator_unordered")
    gen = par(delayed(_guarded)(func, r, c, spec) for r, c in enumerate(children))
    try:
        for out in gen:
            if not collect(out):
                break
    finally:
        # aborts the pool's queued and running tasks if we stopped early; joblib's own
        # "tasks ... have been cancelled" warning is replaced by ours
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*tasks which were still being "
                                    "processed by the workers have been cancelled",
                                    category=UserWarning)
            gen.close()


def _with_truth(reps: pd.DataFrame, truth: pd.Series, estimators: Mapping[str, Any],
                slopes: pd.DataFrame) -> pd.DataFrame:
    reps = reps.sort_values(["replicate", "estimator", "quantity", "group", "horizon"],
                            kind="stable").reset_index(drop=True)
    reps["truth"] = np.nan
    med = reps["quantity"] == "median"
    reps.loc[med, "truth"] = reps.loc[med, "group"].map(truth).astype(float)
    # the generating model is calibrated by construction: O/E is 1 in expectation; its slope is
    # the population value of the slope estimator (not exactly 1: see true_calibration_slopes)
    names = [k for k, v in estimators.items() if isinstance(v, str) and v == "truth"]
    generating = reps["estimator"].isin(names)
    reps.loc[generating & (reps["quantity"] == "oe_ratio"), "truth"] = 1.0
    slope = generating & (reps["quantity"] == "calibration_slope")
    by_horizon = slopes.set_index("horizon")["slope"]
    reps.loc[slope, "truth"] = reps.loc[slope, "horizon"].map(by_horizon).astype(float)
    return reps


def _failure_notes(fails: pd.DataFrame, n_done: int, max_failed_fraction: float) -> list[str]:
    notes: list[str] = []
    for name, n_fail in fails["estimator"].value_counts().sort_index().items():
        first = fails[fails["estimator"] == name].iloc[0]
        text = (f"estimator {name!r} failed in {n_fail} of {n_done} replicates (e.g. "
                f"{first['error']}: {first['message']}); its summary uses the other "
                f"{n_done - n_fail}, a possibly selected subset")
        notes.append(text)
        if n_fail > max_failed_fraction * n_done:
            warnings.warn(text, RuntimeWarning, stacklevel=2)
    return notes


def _design(spec: dict, n_replicates: int, truth: pd.Series, slopes: pd.DataFrame) -> dict[str, Any]:
    """The ADEMP statement of a study (Morris, White & Crowther 2019, table 1)."""
    model = spec["model"] if isinstance(spec["model"], str) else type(spec["model"]).__name__
    hs = ", ".join(f"{h:g}" for h in spec["horizons"])
    return {
        "aims": "bias, precision and interval coverage of the Kaplan-Meier subtype medians and of "
                "each method's discrimination and calibration, against a known truth",
        "data_generating_mechanism": {
            "scenario": spec["scenario"] if isinstance(spec["scenario"], str) else "user scenario",
            "generating_model": model, "n_patients": spec["n_patients"],
            "censoring": spec["censoring"], "n_replicates": n_replicates},
        "estimands": {
            "median": "marginal median survival (months) per subtype: the median of the generating "
                      "model's population-averaged curve; truth " + ", ".join(
                          f"{k} {v:.1f}" for k, v in truth.items()),
            "c_harrell": f"Harrell's C of S(h) truncated at h = {hs} months (truth not known: no "
                         "coverage)",
            "auc": f"cumulative/dynamic AUC(h), h = {hs} months (truth not known)",
            "brier": f"IPCW Brier score at h = {hs} months (truth not known)",
            "calibration_slope": "calibration slope (Cox coefficient of log(-log S(h))) at each "
                                 "horizon; for the generating model its population value, not 1 "
                                 "(hazards are not proportional): " + "; ".join(
                                     f"{r.slope:.3f} (SE {r.se:.3f}) at {r.horizon:g} months on "
                                     f"{r.n:,} patients" for r in slopes.itertuples()),
            "oe_ratio": "observed/expected risk at each horizon; truth 1 for the generating model",
            "ici": "integrated calibration index at each horizon (no interval)"},
        "methods": ["km (Kaplan-Meier medians)", *spec["estimators"]],
        "performance_measures": [*_MEASURES, "each with its Monte Carlo SE (rsimsum's formulas)"],
    }


def _run_dask(spec: dict, children: list, collect: Any, n_jobs: int, client: Any, func: Any) -> None:
    # dask: optional dependency, imported only for backend="dask"
    from dask.distributed import Client, LocalCluster, as_completed

    own: Any = None
    if client is None:
        try:
            from dask.distributed import get_client

            client = get_client()
        except ValueError:
            local = LocalCluster(n_workers=int(n_jobs), threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = own = Client(local)
    futures = [client.submit(_guarded, func, r, c, spec, pure=False) for r, c in enumerate(children)]
    try:
        for fut in as_completed(futures):
            if not collect(fut.result()):
                break
    finally:
        # stopped early (interrupt inside a task or Ctrl-C here) or failed: nothing left should run
        client.cancel([f for f in futures if not f.done()])
        if own is not None:
            cluster = own.cluster
            own.close()
            cluster.close()
