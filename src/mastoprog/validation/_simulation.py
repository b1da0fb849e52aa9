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

Determinism: replicate r uses ``SeedSequence(seed).spawn(n_replicates)[r]`` whatever the backend or
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

__all__ = ["SimulationResult", "simulation_study"]

DEFAULT_CENSORING = {"dropout_per_year": 0.02, "max_followup_months": 480.0}
_MEDIAN_GRID = np.unique(np.concatenate([np.arange(0.0, 24.0, 0.25), np.arange(24.0, 721.0)]))
_RESULT_COLUMNS = ["replicate", "estimator", "quantity", "group", "horizon", "estimate", "ci_low",
                   "ci_high"]
_FAILURE_COLUMNS = ["replicate", "estimator", "stage", "error", "message"]


@cache
def _builtin_model(name: str) -> Any:
    # one load per worker process: loading a calibrated model takes about a second
    from ..survival import load_model

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
    from ..metrics import curve_median
    from ..scenarios import load_scenario
    from ..synthetic import simulate_cohort

    scn = load_scenario(scenario)
    model = _resolve_model(model)
    subtypes = sorted({s.who_subtype for s in scn.strata if s.weight > 0})
    out = {}
    seeds = np.random.SeedSequence(seed).spawn(len(subtypes))
    for sub, ss in zip(subtypes, seeds, strict=True):
        frame = simulate_cohort(n, scn, random_state=ss, subtype=sub, survival=False, assign_subtype=True)
        curve = _group_mean_curves(model, frame, np.full(n, sub, dtype=object), _MEDIAN_GRID)[sub]
        out[sub] = curve_median(_MEDIAN_GRID, curve)
    return pd.Series(out, name="true_median_months")


def _score(name: str, fitted: Any, df: pd.DataFrame, time: np.ndarray, event: np.ndarray,
           subtype: np.ndarray, horizons: tuple[float, ...], rep: int, n_auc_boot: int = 0,
           auc_seed: Any = None) -> list[tuple]:
    from ..metrics import (
        brier_score,
        calibration_at,
        concordance_index,
        curve_median,
        time_dependent_auc,
    )

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
    from ..metrics import kaplan_meier
    from ..synthetic import simulate_cohort

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
    """Per-replicate results and their summary.

    Attributes
    ----------
    replicates : DataFrame
        One row per replicate, estimator, quantity, group (subtype or ``all``) and horizon:
        ``estimate``, ``ci_low``, ``ci_high``, ``truth``, ``n_in_group``.
    summary : DataFrame
        Per estimator, quantity, group and horizon: ``n_replicates`` (replicates with a result),
        ``n_failed`` (replicates in which that estimator failed and was skipped), ``n_finite``,
        ``n_reached`` (medians only: replicates in which the median was reached, i.e. finite;
        <NA> for other quantities), ``truth``, ``mean``, ``bias``, ``relative_bias``,
        ``empirical_se``, ``mean_model_se`` (CI width / 2z), ``coverage`` (share of intervals
        containing the truth; infinite upper limits count as covering), ``coverage_mcse``,
        ``q05``/``median``/``q95`` (the distribution) and ``note``. For medians, mean, bias, SE
        and coverage are over the replicates that reached the median only, and ``note`` says so
        whenever some did not: that is an estimate conditional on reaching the median (such
        replicates had earlier deaths), stated rather than averaged in silently.
    truth : Series
        True marginal median (months) per subtype.
    failures : DataFrame
        One row per replicate and estimator that failed (fit or scoring raised): ``replicate``,
        ``estimator``, ``stage``, ``error``, ``message``.
    notes : tuple of str
        Plain-language caveats: failed replicates, medians not reached, interruption.
    """

    replicates: pd.DataFrame
    summary: pd.DataFrame
    truth: pd.Series
    seed: Any
    n_requested: int
    interrupted: bool
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_FAILURE_COLUMNS))
    notes: tuple[str, ...] = ()

    @property
    def n_completed(self) -> int:
        """Replicates that finished (whatever their estimators did)."""
        return int(self.replicates["replicate"].nunique())


def _summarise(reps: pd.DataFrame, z: float, failed: Mapping[str, int] | None = None) -> pd.DataFrame:
    rows = []
    keys = ["estimator", "quantity", "group", "horizon"]
    failed = failed or {}
    for key, g in reps.groupby(keys, dropna=False, sort=True):
        est = g["estimate"].to_numpy(float)
        fin = np.isfinite(est)
        is_median = key[1] == "median"
        truth = float(g["truth"].iloc[0])
        mean = float(est[fin].mean()) if fin.any() else np.nan
        lo_all = g["ci_low"].to_numpy(float)
        hi_all = g["ci_high"].to_numpy(float)
        # medians: only replicates that reached the median count (see SimulationResult.summary)
        has_ci = np.isfinite(lo_all) & (fin if is_median else True)
        cover = np.nan
        mcse = np.nan
        if np.isfinite(truth) and has_ci.any():
            hit = (lo_all[has_ci] <= truth) & (truth <= hi_all[has_ci])
            cover = float(hit.mean())
            mcse = float(np.sqrt(cover * (1 - cover) / hit.size))
        with np.errstate(invalid="ignore"):  # inf - inf (median and its CI not reached)
            width = hi_all - lo_all
        wfin = np.isfinite(width)
        n_reached = int(fin.sum()) if is_median else pd.NA
        note = ""
        if is_median and fin.sum() < len(g):
            note = (f"median reached in {int(fin.sum())} of {len(g)} replicates; "
                    + (f"mean, bias, SE and coverage over those {int(fin.sum())} only (conditional "
                       "on reaching the median, which favours replicates with earlier deaths)"
                       if fin.any() else "no bias or coverage"))
        rows.append((*key, len(g), int(failed.get(key[0], 0)), int(fin.sum()), n_reached, truth, mean,
                     mean - truth if np.isfinite(truth) else np.nan,
                     (mean - truth) / truth if np.isfinite(truth) and truth != 0 else np.nan,
                     float(est[fin].std(ddof=1)) if fin.sum() > 1 else np.nan,
                     float(np.mean(width[wfin & (fin if is_median else True)]) / (2 * z))
                     if (wfin & (fin if is_median else True)).any() else np.nan,
                     cover, mcse,
                     *(np.quantile(est[fin], [0.05, 0.5, 0.95]) if fin.any() else [np.nan] * 3),
                     note))
    out = pd.DataFrame(rows, columns=[*keys, "n_replicates", "n_failed", "n_finite", "n_reached",
                                      "truth", "mean", "bias", "relative_bias", "empirical_se",
                                      "mean_model_se", "coverage", "coverage_mcse", "q05", "median",
                                      "q95", "note"])
    out["n_reached"] = out["n_reached"].astype("Int64")
    return out


def simulation_study(scenario: str = "lim2009", n_patients: int = 2000, n_replicates: int = 200, *,
                     estimators: Mapping[str, Any] | None = None, seed: int = 0,
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
    seed : int
        Root of the ``SeedSequence``; replicate r uses its r-th spawned child.
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
        Patients per subtype in the draw that defines the true marginal medians.
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
    """
    from scipy.stats import norm
    from tqdm.auto import tqdm

    from ..exceptions import MetricInputError, Problem

    problems = []
    if int(n_replicates) < 1:
        problems.append(Problem(None, "n_replicates", n_replicates, "an integer >= 1"))
    if int(n_patients) < 10:
        problems.append(Problem(None, "n_patients", n_patients, "an integer >= 10"))
    if backend not in ("joblib", "dask"):
        problems.append(Problem(None, "backend", backend, "'joblib' or 'dask'"))
    if int(n_jobs) < 1:
        problems.append(Problem(None, "n_jobs", n_jobs, "an integer >= 1"))
    if on_error not in ("skip", "raise"):
        problems.append(Problem(None, "on_error", on_error, "'skip' or 'raise'"))
    if int(auc_bootstrap) < 0:
        problems.append(Problem(None, "auc_bootstrap", auc_bootstrap, "an integer >= 0"))
    if problems:
        raise MetricInputError(problems)
    estimators = dict(estimators) if estimators is not None else {"truth": "truth"}
    if "km" in estimators:
        raise MetricInputError([Problem(None, "estimators", "km", "a name other than 'km' (reserved "
                                        "for the Kaplan-Meier medians)")])
    spec = {"scenario": scenario, "n_patients": int(n_patients), "model": model,
            "censoring": DEFAULT_CENSORING if isinstance(censoring, str) and censoring == "default"
            else censoring, "estimators": estimators,
            "horizons": tuple(float(h) for h in horizons), "conf_level": conf_level,
            "on_error": on_error, "auc_bootstrap": int(auc_bootstrap)}
    children = np.random.SeedSequence(seed).spawn(int(n_replicates))
    truth = true_subtype_medians(scenario, model, n=truth_n, seed=seed + 1_000_003)

    results: list[pd.DataFrame] = []
    failures: list[tuple] = []
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

    interrupted = False
    bar = tqdm(total=int(n_replicates), desc="simulation study", disable=not progress)
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
            from joblib import Parallel, delayed

            par = Parallel(n_jobs=int(n_jobs), return_as="generator_unordered")
            gen = par(delayed(_guarded)(func, r, c, spec) for r, c in enumerate(children))
            try:
                for out in gen:
                    if not collect(out):
                        break
            finally:
                # aborts the pool's queued and running tasks if we stopped early; joblib's own
                # "tasks ... have been cancelled" warning is replaced by ours below
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=r".*tasks which were still being "
                                            "processed by the workers have been cancelled",
                                            category=UserWarning)
                    gen.close()
        if stopped:
            raise KeyboardInterrupt
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

    fails = pd.DataFrame(sorted(failures), columns=_FAILURE_COLUMNS)
    notes: list[str] = []
    n_done = len(results)
    for name, n_fail in fails["estimator"].value_counts().sort_index().items():
        first = fails[fails["estimator"] == name].iloc[0]
        text = (f"estimator {name!r} failed in {n_fail} of {n_done} replicates (e.g. "
                f"{first['error']}: {first['message']}); its summary uses the other "
                f"{n_done - n_fail}, a possibly selected subset")
        notes.append(text)
        if n_fail > max_failed_fraction * n_done:
            warnings.warn(text, RuntimeWarning, stacklevel=2)
    summary = _summarise(reps, z, fails["estimator"].value_counts().to_dict())
    notes += [f"{r.estimator} {r.group}: {r.note}" for r in summary.itertuples() if r.note]
    if interrupted:
        notes.append(f"interrupted after {n_done} of {n_replicates} replicates")
    return SimulationResult(reps, summary, truth, seed, int(n_replicates), interrupted, fails,
                            tuple(notes))


def _run_dask(spec: dict, children: list, collect: Any, n_jobs: int, client: Any, func: Any) -> None:
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
