"""``simulation_study``: generate -> fit/score -> validate, replicated, with a known truth.

Each replicate draws a cohort from a scenario with :func:`mastoprog.synthetic.simulate_cohort`
(survival times drawn exactly from the generating model), then

* ``"km"``: Kaplan-Meier median per subtype with its 95 % Brookmeyer-Crowley interval;
* every *estimator*: either the generating model itself (``"truth"``) scored as it is, or an
  object with ``fit(df)`` refitted on the replicate; each is scored by Harrell's C, AUC, Brier,
  calibration slope, O/E and ICI at the horizons, and by its subtype medians (median of the
  subtype's mean predicted curve over the replicate's patients).

The truth: each subtype's marginal median is the median of the generating model's
population-averaged curve over a large draw (``truth_n`` patients per subtype) of the scenario's
patients of that subtype; the calibration slope and O/E of the generating model are 1.

Determinism: replicate r uses ``SeedSequence(seed).spawn(n_replicates)[r]`` whatever the backend or
number of workers, so results are identical serially, with joblib and on a Dask cluster.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["SimulationResult", "simulation_study"]

DEFAULT_CENSORING = {"dropout_per_year": 0.02, "max_followup_months": 480.0}
_MEDIAN_GRID = np.unique(np.concatenate([np.arange(0.0, 24.0, 0.25), np.arange(24.0, 721.0)]))
_RESULT_COLUMNS = ["replicate", "estimator", "quantity", "group", "horizon", "estimate", "ci_low",
                   "ci_high"]


@cache
def _builtin_model(name: str) -> Any:
    # one load per worker process: loading a calibrated model takes about a second
    from .survival import load_model

    return load_model(name)


def _resolve_model(model: Any) -> Any:
    return _builtin_model(model) if isinstance(model, str) else model


def _group_mean_curves(model: Any, frame: pd.DataFrame, groups: np.ndarray, grid: np.ndarray,
                       chunk: int = 4000) -> dict[Any, np.ndarray]:
    labels = list(pd.unique(pd.Series(groups)))
    sums = {g: np.zeros(grid.size) for g in labels}
    for start in range(0, len(frame), chunk):
        part = model.predict_survival(frame.iloc[start:start + chunk], grid).to_numpy(float)
        lab = groups[start:start + chunk]
        for g in labels:
            sums[g] += part[:, lab == g].sum(axis=1)
    counts = pd.Series(groups).value_counts()
    return {g: sums[g] / counts[g] for g in labels}


@cache
def _cached_truth(scenario: str, model: str, n: int, seed: int) -> pd.Series:
    return _true_subtype_medians(scenario, model, n, seed)


def true_subtype_medians(scenario: Any, model: Any, n: int = 20000, seed: int = 20240101) -> pd.Series:
    """Median (months) of the generating model's population-averaged curve per subtype (cached
    per process for built-in scenario and model names; see :func:`_true_subtype_medians`)."""
    if isinstance(scenario, str) and isinstance(model, str):
        return _cached_truth(scenario, model, int(n), int(seed)).copy()
    return _true_subtype_medians(scenario, model, n, seed)


def _true_subtype_medians(scenario: Any, model: Any, n: int, seed: int) -> pd.Series:
    """Median (months) of the generating model's population-averaged curve per subtype.

    Subtype s's patients are ``n`` draws of the scenario restricted to s (its strata mixed by their
    weights); the curve is the mean of their model curves, solved on a fine grid (0.25 months
    below 2 years, then monthly) with linear interpolation.
    """
    from .scenarios import load_scenario
    from .synthetic import simulate_cohort
    from .validation import _curve_median

    scn = load_scenario(scenario)
    model = _resolve_model(model)
    subtypes = sorted({s.who_subtype for s in scn.strata if s.weight > 0})
    out = {}
    seeds = np.random.SeedSequence(seed).spawn(len(subtypes))
    for sub, ss in zip(subtypes, seeds, strict=True):
        frame = simulate_cohort(n, scn, seed=ss, subtype=sub, survival=False, assign_subtype=True)
        curve = _group_mean_curves(model, frame, np.full(n, sub, dtype=object), _MEDIAN_GRID)[sub]
        out[sub] = _curve_median(_MEDIAN_GRID, curve)
    return pd.Series(out, name="true_median_months")


def _score(name: str, fitted: Any, df: pd.DataFrame, time: np.ndarray, event: np.ndarray,
           subtype: np.ndarray, horizons: tuple[float, ...], rep: int) -> list[tuple]:
    from .validation import (
        _curve_median,
        brier_score,
        calibration_at,
        concordance_index,
        time_dependent_auc,
    )

    rows: list[tuple] = []
    hs = [h for h in horizons if h < time.max() and np.any(event & (time <= h))]
    if hs:
        grid = np.asarray(hs, dtype=float)
        pred = fitted.predict_survival(df, grid).to_numpy(float)
        for k, h in enumerate(hs):
            s = pred[k]
            c = concordance_index(time, event, s, tau=h)
            b = brier_score(time, event, s, h)
            cal = calibration_at(time, event, s, h)
            auc = time_dependent_auc(time, event, s, [h]).table["auc"].iloc[0]
            rows += [(rep, name, "c_harrell", "all", h, c.estimate, c.ci_low, c.ci_high),
                     (rep, name, "auc", "all", h, auc, np.nan, np.nan),
                     (rep, name, "brier", "all", h, b.estimate, b.ci_low, b.ci_high),
                     (rep, name, "calibration_slope", "all", h, cal.slope, cal.slope_low, cal.slope_high),
                     (rep, name, "oe_ratio", "all", h, cal.oe_ratio, cal.oe_low, cal.oe_high),
                     (rep, name, "ici", "all", h, cal.ici, np.nan, np.nan)]
    means = _group_mean_curves(fitted, df, subtype, _MEDIAN_GRID)
    for g, curve in means.items():
        rows.append((rep, name, "median", g, np.nan, _curve_median(_MEDIAN_GRID, curve), np.nan, np.nan))
    return rows


def _one_replicate(rep: int, seed: np.random.SeedSequence, spec: dict[str, Any]) -> pd.DataFrame:
    """One replicate: simulate, then KM medians and every estimator's scores (a pure function of
    ``seed`` and ``spec``)."""
    from ._survstats import kaplan_meier
    from .synthetic import simulate_cohort

    truth_model = _resolve_model(spec["model"])
    df = simulate_cohort(spec["n_patients"], spec["scenario"], seed=seed, model=truth_model,
                         censoring=spec["censoring"], assign_subtype=True)
    time = df["time"].to_numpy(float)
    event = df["event"].to_numpy(float).astype(bool)
    subtype = np.asarray(df["true_subtype"].astype(object))
    rows: list[tuple] = []
    for g in pd.unique(pd.Series(subtype)):
        m = subtype == g
        med, lo, hi = kaplan_meier(time[m], event[m], conf_level=spec["conf_level"]).quantile(0.5)
        rows.append((rep, "km", "median", g, np.nan, med, lo, hi))
    for name, est in spec["estimators"].items():
        if isinstance(est, str) and est == "truth":
            fitted = truth_model
        else:
            fitted = copy.deepcopy(_resolve_model(est)).fit(df)
        rows += _score(name, fitted, df, time, event, subtype, spec["horizons"], rep)
    out = pd.DataFrame(rows, columns=_RESULT_COLUMNS)
    out["n_in_group"] = out["group"].map(pd.Series(subtype).value_counts()).fillna(len(df)).astype(int)
    return out


@dataclass(frozen=True)
class SimulationResult:
    """Per-replicate results and their summary.

    Attributes
    ----------
    replicates : DataFrame
        One row per replicate, estimator, quantity, group (subtype or ``all``) and horizon:
        ``estimate``, ``ci_low``, ``ci_high``, ``truth``, ``n_in_group``.
    summary : DataFrame
        Per estimator, quantity, group and horizon: ``n_replicates``, ``n_finite``, ``truth``,
        ``mean``, ``bias``, ``relative_bias``, ``empirical_se``, ``mean_model_se`` (CI width / 2z),
        ``coverage`` (share of intervals containing the truth; infinite upper limits count as
        covering), ``coverage_mcse``, ``q05``/``median``/``q95`` (the distribution).
    truth : Series
        True marginal median (months) per subtype.
    """

    replicates: pd.DataFrame
    summary: pd.DataFrame
    truth: pd.Series
    seed: Any
    n_requested: int
    interrupted: bool


def _summarise(reps: pd.DataFrame, z: float) -> pd.DataFrame:
    rows = []
    keys = ["estimator", "quantity", "group", "horizon"]
    for key, g in reps.groupby(keys, dropna=False, sort=True):
        est = g["estimate"].to_numpy(float)
        fin = np.isfinite(est)
        truth = float(g["truth"].iloc[0])
        mean = float(est[fin].mean()) if fin.any() else np.nan
        has_ci = np.isfinite(g["ci_low"].to_numpy(float))
        cover = np.nan
        mcse = np.nan
        if np.isfinite(truth) and has_ci.any():
            lo = g["ci_low"].to_numpy(float)[has_ci]
            hi = g["ci_high"].to_numpy(float)[has_ci]
            hit = (lo <= truth) & (truth <= hi)
            cover = float(hit.mean())
            mcse = float(np.sqrt(cover * (1 - cover) / hit.size))
        width = (g["ci_high"] - g["ci_low"]).to_numpy(float)
        wfin = np.isfinite(width)
        rows.append((*key, len(g), int(fin.sum()), truth, mean,
                     mean - truth if np.isfinite(truth) else np.nan,
                     (mean - truth) / truth if np.isfinite(truth) and truth != 0 else np.nan,
                     float(est[fin].std(ddof=1)) if fin.sum() > 1 else np.nan,
                     float(np.mean(width[wfin]) / (2 * z)) if wfin.any() else np.nan,
                     cover, mcse,
                     *(np.quantile(est[fin], [0.05, 0.5, 0.95]) if fin.any() else [np.nan] * 3)))
    return pd.DataFrame(rows, columns=[*keys, "n_replicates", "n_finite", "truth", "mean", "bias",
                                       "relative_bias", "empirical_se", "mean_model_se", "coverage",
                                       "coverage_mcse", "q05", "median", "q95"])


def simulation_study(scenario: str = "lim2009", n_patients: int = 2000, n_replicates: int = 200, *,
                     estimators: Mapping[str, Any] | None = None, seed: int = 0,
                     model: Any = "lim2009", censoring: Any = "default",
                     horizons: tuple[float, ...] = (12.0, 60.0, 120.0), backend: str = "joblib",
                     n_jobs: int = 1, client: Any = None, truth_n: int = 20000,
                     conf_level: float = 0.95, progress: bool = True) -> SimulationResult:
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
    seed : int
        Root of the ``SeedSequence``; replicate r uses its r-th spawned child.
    model : str or SurvivalModel
        Generating model (default the calibrated ``lim2009`` model).
    censoring : "default", None, "scenario" or mapping
        ``"default"``: independent censoring, 2 % drop-out per year and at most 40 years of
        follow-up, so the Kaplan-Meier estimates the marginal curve. ``"scenario"`` uses the
        scenario's study end: censoring then depends on the calendar year of diagnosis, which also
        drives background mortality, so late in follow-up the Kaplan-Meier need not estimate the
        marginal curve of the whole scenario population.
    horizons : tuple of float
        Months at which discrimination and calibration are scored.
    backend : {"joblib", "dask"}
        ``joblib``: ``n_jobs`` processes on this machine (``n_jobs=1``: in this process).
        ``dask``: ``dask.distributed``; uses ``client`` if given, else the current client, else
        starts a ``LocalCluster`` with ``n_jobs`` worker processes for this call.
    truth_n : int
        Patients per subtype in the draw that defines the true marginal medians.
    progress : bool
        tqdm progress bar. Ctrl-C stops the study and returns the finished replicates (with a
        ``RuntimeWarning``).

    Returns
    -------
    SimulationResult
    """
    from scipy.stats import norm
    from tqdm.auto import tqdm

    from .exceptions import Problem
    from .validation import MetricInputError

    problems = []
    if int(n_replicates) < 1:
        problems.append(Problem(None, "n_replicates", n_replicates, "an integer >= 1"))
    if int(n_patients) < 10:
        problems.append(Problem(None, "n_patients", n_patients, "an integer >= 10"))
    if backend not in ("joblib", "dask"):
        problems.append(Problem(None, "backend", backend, "'joblib' or 'dask'"))
    if int(n_jobs) < 1:
        problems.append(Problem(None, "n_jobs", n_jobs, "an integer >= 1"))
    if problems:
        raise MetricInputError(problems)
    estimators = dict(estimators) if estimators is not None else {"truth": "truth"}
    if "km" in estimators:
        raise MetricInputError([Problem(None, "estimators", "km", "a name other than 'km' (reserved "
                                        "for the Kaplan-Meier medians)")])
    spec = {"scenario": scenario, "n_patients": int(n_patients), "model": model,
            "censoring": DEFAULT_CENSORING if isinstance(censoring, str) and censoring == "default"
            else censoring, "estimators": estimators,
            "horizons": tuple(float(h) for h in horizons), "conf_level": conf_level}
    children = np.random.SeedSequence(seed).spawn(int(n_replicates))
    truth = true_subtype_medians(scenario, model, n=truth_n, seed=seed + 1_000_003)

    results: list[pd.DataFrame] = []
    interrupted = False
    bar = tqdm(total=int(n_replicates), desc="simulation study", disable=not progress)
    try:
        if backend == "dask":
            _run_dask(spec, children, results, bar, n_jobs, client)
        elif int(n_jobs) == 1:
            for r, child in enumerate(children):
                results.append(_one_replicate(r, child, spec))
                bar.update(1)
        else:
            from joblib import Parallel, delayed

            par = Parallel(n_jobs=int(n_jobs), return_as="generator_unordered")
            for out in par(delayed(_one_replicate)(r, c, spec) for r, c in enumerate(children)):
                results.append(out)
                bar.update(1)
    except KeyboardInterrupt:
        if not results:
            raise
        interrupted = True
        warnings.warn(f"simulation study interrupted after {len(results)} of {n_replicates} "
                      "replicates; the summary uses those", RuntimeWarning, stacklevel=2)
    finally:
        bar.close()

    reps = pd.concat(results, ignore_index=True).sort_values(
        ["replicate", "estimator", "quantity", "group", "horizon"], kind="stable").reset_index(drop=True)
    reps["truth"] = np.nan
    med = reps["quantity"] == "median"
    reps.loc[med, "truth"] = reps.loc[med, "group"].map(truth).astype(float)
    # the generating model is calibrated by construction: slope 1 and O/E 1 are its truth
    generating = [k for k, v in estimators.items() if isinstance(v, str) and v == "truth"]
    calib = reps["estimator"].isin(generating) & reps["quantity"].isin(["calibration_slope", "oe_ratio"])
    reps.loc[calib, "truth"] = 1.0
    z = float(norm.ppf(0.5 + conf_level / 2))
    return SimulationResult(reps, _summarise(reps, z), truth, seed, int(n_replicates), interrupted)


def _run_dask(spec: dict, children: list, results: list, bar: Any, n_jobs: int, client: Any) -> None:
    from dask.distributed import Client, LocalCluster, as_completed

    own = None
    if client is None:
        try:
            from dask.distributed import get_client

            client = get_client()
        except ValueError:
            cluster = LocalCluster(n_workers=int(n_jobs), threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = own = Client(cluster)
    futures = [client.submit(_one_replicate, r, c, spec, pure=False) for r, c in enumerate(children)]
    try:
        for fut in as_completed(futures):
            results.append(fut.result())
            bar.update(1)
    except KeyboardInterrupt:
        client.cancel(futures)
        raise
    finally:
        if own is not None:
            cluster = own.cluster
            own.close()
            cluster.close()
