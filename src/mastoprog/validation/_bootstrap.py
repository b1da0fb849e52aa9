"""Internal validation: Harrell's bootstrap optimism correction of C, calibration slope and Brier.

Works with any estimator following a minimal protocol (see :class:`SurvivalEstimator`), so a
statistician can validate mastoprog's model or their own.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..exceptions import MetricInputError, Problem
from ..metrics import (
    KaplanMeier,
    brier_score,
    brier_terms,
    calibration_intercept,
    calibration_slope,
    censoring_survival,
    check_horizon,
    check_outcome,
    concordance_index,
    integrated_brier_terms,
)

__all__ = ["OptimismResult", "SurvivalEstimator", "bootstrap_optimism", "metrics_at_horizon"]

_METRICS = ("c_index", "calibration_slope", "calibration_intercept", "brier")
_LOOB_COLUMNS = ["horizon", "metric", "apparent", "loob", "no_information", "relative_overfitting",
                 "weight_632plus", "estimate_632", "estimate_632plus", "n_bootstrap", "n_never_oob"]
_FAILURE_COLUMNS = ["replicate", "stage", "error", "message"]


@runtime_checkable
class FittedSurvivalModel(Protocol):
    def predict_survival_at(self, data: pd.DataFrame, t: float) -> Any: ...


@runtime_checkable
class SurvivalEstimator(Protocol):
    """``fit(df)`` returns a fitted object with ``predict_survival_at(df, t)``.

    ``predict_survival_at`` returns one predicted probability of surviving beyond ``t`` (months)
    per row of ``df`` (array-like or Series, in row order).
    """

    def fit(self, data: pd.DataFrame) -> FittedSurvivalModel: ...


def metrics_at_horizon(time: np.ndarray, event: np.ndarray, s_at_t: np.ndarray, t: float) -> dict[str, float]:
    """Harrell's C of S(t), the calibration slope and intercept at t and the IPCW Brier score at t."""
    c = concordance_index(time, event, s_at_t).estimate
    slope = calibration_slope(time, event, s_at_t, t).estimate
    intercept = calibration_intercept(time, event, s_at_t, t).estimate
    brier = brier_score(time, event, s_at_t, t).estimate
    return {"c_index": c, "calibration_slope": slope, "calibration_intercept": intercept, "brier": brier}


@dataclass(frozen=True)
class OptimismResult:
    """Bootstrap optimism correction.

    Attributes
    ----------
    table : DataFrame
        One row per horizon and metric: ``horizon`` (months), ``metric``, ``apparent``,
        ``optimism``, ``corrected``, ``ci_low``, ``ci_high``, ``n_bootstrap`` (resamples used),
        ``n_failed`` (resamples skipped because the refit or scoring failed; see ``failures``).
    replicates : DataFrame
        One row per replicate, horizon and metric: ``replicate``, ``horizon``, ``metric``,
        ``bootstrap`` (performance of the replicate's model on its own resample),
        ``original`` (on the original data),
        ``optimism`` (their difference).
    interrupted : bool
        True when the run was stopped (Ctrl-C) and the table uses the finished replicates.
    failures : DataFrame
        One row per resample skipped because fitting or scoring failed: ``replicate``, ``stage``
        (``"fit"`` or ``"score"``), ``error`` (exception type) and ``message``. A resample on which
        the model cannot be fitted (e.g. ``SurvivalModel.fit`` needs >= 10 deaths per subtype, and
        a resample of a cohort with few MCL deaths may have fewer) is skipped and counted, never
        silently dropped.
    n_requested : int
        Resamples requested (``n_bootstrap``); ``n_bootstrap`` in the table counts those used.
    loob : DataFrame
        Leave-one-out bootstrap and .632 / .632+ estimates (Efron & Tibshirani 1997), one row per
        horizon for ``c_index`` and ``brier``: ``apparent``, ``loob`` (Brier: each patient's IPCW
        term averaged over the resamples that left them out, then over patients, the whole
        cohort's censoring weights, as riskRegression ``Score(split.method = "loob")``; C: mean
        over resamples of Harrell's C on the out-of-bag patients), ``no_information`` (Brier:
        every patient's outcome against every patient's prediction; C: 0.5),
        ``relative_overfitting`` R, ``weight_632plus`` 0.632 / (1 - 0.368 R), ``estimate_632``,
        ``estimate_632plus`` (C through its loss 1 - C), ``n_bootstrap``, ``n_never_oob``
        (patients in every resample, left out of the Brier average). When the fitted models have
        ``predict_survival_function(df, times)`` (as ``SurvivalModel``) a row ``integrated_brier``
        (horizon = the last grid month) does the same for the integrated Brier score over
        months 1 to max(t) (trapezoid; no-information curve: every outcome against every
        prediction at each month).
    """

    table: pd.DataFrame
    replicates: pd.DataFrame
    horizons: tuple[float, ...]
    interrupted: bool
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_FAILURE_COLUMNS))
    n_requested: int = 0
    loob: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_LOOB_COLUMNS))

    @property
    def n_failed(self) -> int:
        """Number of resamples skipped because the estimator (or scoring) failed."""
        return len(self.failures)

    def summary(self) -> str:
        """One paragraph: replicates used, failed (with the commonest error) and interruption."""
        used = int(self.table["n_bootstrap"].iloc[0]) if len(self.table) else 0
        text = f"{used} of {self.n_requested} bootstrap resamples used"
        if self.n_failed:
            top = self.failures["message"].value_counts().index[0]
            text += (f"; {self.n_failed} skipped because the refit or scoring failed (e.g. "
                     f"{top!r}). Skipping conditions on resamples where the model can be fitted, "
                     "so the optimism describes those")
        if self.interrupted:
            text += "; interrupted (Ctrl-C) before the requested number ran"
        return text + "."


def _predict(fitted: Any, data: pd.DataFrame, t: float) -> np.ndarray:
    out = fitted.predict_survival_at(data, t)
    arr = np.asarray(out.to_numpy() if isinstance(out, pd.Series | pd.DataFrame) else out, dtype=float)
    return arr.reshape(-1)


def _check_bootstrap_arguments(estimator: Any, data: Any, duration_col: str, event_col: str,
                               n_bootstrap: int, on_error: str) -> None:
    if not isinstance(data, pd.DataFrame):
        raise MetricInputError([Problem(None, "data", type(data).__name__, "a pandas DataFrame")])
    missing = [c for c in (duration_col, event_col) if c not in data.columns]
    if missing:
        raise MetricInputError([Problem(None, c, "missing column",
                                        "a column of follow-up times (months) / events (0/1)")
                                for c in missing])
    if not hasattr(estimator, "fit"):
        raise MetricInputError([Problem(None, "estimator", type(estimator).__name__,
                                        "an object with fit(df) -> fitted with predict_survival_at")])
    if int(n_bootstrap) < 2:
        raise MetricInputError([Problem(None, "n_bootstrap", n_bootstrap, "an integer >= 2")])
    if on_error not in ("skip", "raise"):
        raise MetricInputError([Problem(None, "on_error", on_error, "'skip' or 'raise'")])


@dataclass
class _Run:
    """The state of a bootstrap run: finished rows, failures, counts."""

    estimator: Any
    data: pd.DataFrame
    time: np.ndarray
    event: np.ndarray
    horizons: list[float]
    on_error: str
    censoring: KaplanMeier
    rows: list[tuple[int, float, str, float, float]] = field(default_factory=list)
    failures: list[tuple[int, str, str, str]] = field(default_factory=list)
    done: int = 0
    interrupted: bool = False
    # out-of-bag bookkeeping for the leave-one-out bootstrap: per horizon, the sum of each
    # patient's Brier terms over the resamples leaving them out, and Harrell's C on those patients
    oob_terms: dict[float, np.ndarray] = field(default_factory=dict)
    oob_count: np.ndarray = field(default_factory=lambda: np.zeros(0))
    oob_c: list[tuple[float, float]] = field(default_factory=list)
    # integrated Brier over ``ibs_grid`` (months 1..max horizon) when the fitted models have
    # predict_survival_function: per-patient out-of-bag sums
    ibs_grid: np.ndarray | None = None
    oob_ibs: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def replicate(self, b: int, idx: np.ndarray) -> None:
        """Refit on resample ``idx`` and score it there and on the original data."""
        boot = self.data.iloc[idx].reset_index(drop=True)
        stage = "fit"
        try:
            fitted = copy.deepcopy(self.estimator).fit(boot)
            stage = "score"
            new: list[tuple[int, float, str, float, float]] = []
            oob = np.ones(self.time.size, dtype=bool)
            oob[idx] = False
            terms, c_oob = {}, []
            for h in self.horizons:
                s_orig = _predict(fitted, self.data, h)
                m_boot = metrics_at_horizon(self.time[idx], self.event[idx], _predict(fitted, boot, h), h)
                m_orig = metrics_at_horizon(self.time, self.event, s_orig, h)
                new.extend((b, h, k, m_boot[k], m_orig[k]) for k in _METRICS)
                terms[h] = np.where(oob, brier_terms(self.time, self.event, s_orig, h, self.censoring), 0.0)
                c_oob.append((h, _oob_concordance(self.time[oob], self.event[oob], s_orig[oob])))
            ibs = self._ibs_terms(fitted, oob)
        except Exception as exc:  # any estimator failure is counted (see on_error), not hidden
            if self.on_error == "raise":
                raise
            self.failures.append((b, stage, type(exc).__name__, str(exc)[:300]))
        else:
            self.rows.extend(new)
            self.done += 1
            self.oob_count = self.oob_count + oob if self.oob_count.size else oob.astype(float)
            for h in self.horizons:
                self.oob_terms[h] = self.oob_terms.get(h, 0.0) + terms[h]
            self.oob_c.extend(c_oob)
            if ibs is not None:
                self.oob_ibs = self.oob_ibs + ibs if self.oob_ibs.size else ibs

    def _ibs_terms(self, fitted: Any, oob: np.ndarray) -> np.ndarray | None:
        """Out-of-bag patients' integrated Brier terms (0 for the others), or None."""
        if self.ibs_grid is None:
            return None
        curves = _curves(fitted, self.data, self.ibs_grid)
        return np.where(oob, integrated_brier_terms(self.time, self.event, curves, self.ibs_grid,
                                                    self.censoring), 0.0)


def _oob_concordance(time: np.ndarray, event: np.ndarray, s_at: np.ndarray) -> float:
    """Harrell's C on the out-of-bag patients, NaN when they have no comparable pair."""
    try:
        return concordance_index(time, event, s_at).estimate
    except MetricInputError:
        return float("nan")


def _plus632(apparent: float, loob: float, no_information: float) -> tuple[float, float, float, float]:
    """(R, w, .632, .632+) for an error (lower is better), Efron & Tibshirani (1997) eq. 27-32."""
    loob_capped = min(loob, no_information)
    if loob_capped > apparent and no_information > apparent:
        r = (loob_capped - apparent) / (no_information - apparent)
    else:
        r = 0.0
    w = 0.632 / (1.0 - 0.368 * r)
    return r, w, 0.368 * apparent + 0.632 * loob, (1.0 - w) * apparent + w * loob_capped


def _brier_no_information(time: np.ndarray, event: np.ndarray, s_at: np.ndarray, h: float,
                          censoring: KaplanMeier) -> float:
    """Brier score of every patient's outcome against every patient's prediction, in O(n):
    mean_i w_i mean_j (Y_i - S_j)^2 with Y_i = 1{T_i > h} and the IPCW weight w_i."""
    w = brier_terms(time, event, np.zeros_like(s_at), h, censoring)  # w_i * Y_i (cases 0)
    w_case = brier_terms(time, event, np.ones_like(s_at), h, censoring)  # w_i * (1 - Y_i)
    m1, m2 = float(np.mean(s_at)), float(np.mean(np.square(s_at)))
    # (Y - S)^2 = 1 - 2 S + S^2 for controls (Y = 1), S^2 for cases (Y = 0)
    return float(np.mean(w * (1.0 - 2.0 * m1 + m2) + w_case * m2))


def _curves(fitted: Any, data: pd.DataFrame, grid: np.ndarray) -> np.ndarray:
    """(len(grid), n) predicted survival curves of a fitted model."""
    out = fitted.predict_survival_function(data, grid)
    return np.asarray(out.to_numpy() if isinstance(out, pd.DataFrame) else out, dtype=float)


def _ibs_grid(full: Any, horizons: list[float]) -> np.ndarray | None:
    """Months 1..max(horizons) plus the horizons, when the model predicts whole curves."""
    if not callable(getattr(full, "predict_survival_function", None)):
        return None
    hmax = max(horizons)
    grid = np.unique(np.concatenate([np.arange(1.0, hmax + 1.0), horizons]))
    grid = grid[(grid >= 1.0) & (grid <= hmax)]
    return grid if grid.size >= 2 else None


def _ibs_row(run: _Run, full: Any) -> tuple | None:
    """The integrated-Brier row of the LOOB table (apparent, LOOB, no-information, .632(+))."""
    if run.ibs_grid is None or not run.oob_ibs.size:
        return None
    grid, cens = run.ibs_grid, run.censoring
    curves = _curves(full, run.data, grid)
    apparent = float(np.mean(integrated_brier_terms(run.time, run.event, curves, grid, cens)))
    seen = run.oob_count > 0
    loob = float(np.mean(run.oob_ibs[seen] / run.oob_count[seen]))
    noinf_t = [_brier_no_information(run.time, run.event, curves[k], t, cens) for k, t in enumerate(grid)]
    noinf = float(np.trapezoid(noinf_t, grid) / (grid[-1] - grid[0]))
    r, w, e632, e632p = _plus632(apparent, loob, noinf)
    return (float(grid[-1]), "integrated_brier", apparent, loob, noinf, r, w, e632, e632p)


def _loob_table(run: _Run, apparent: dict[float, dict[str, float]], full: dict[float, np.ndarray],
                full_model: Any = None
                ) -> pd.DataFrame:
    rows = []
    seen = run.oob_count > 0
    c_by_h = pd.DataFrame(run.oob_c, columns=["horizon", "c"]).groupby("horizon")["c"].mean()
    for h in run.horizons:  # loop over horizons
        brier_loob = float(np.mean(run.oob_terms[h][seen] / run.oob_count[seen]))
        noinf = _brier_no_information(run.time, run.event, full[h], h, run.censoring)
        r, w, e632, e632p = _plus632(apparent[h]["brier"], brier_loob, noinf)
        rows.append((h, "brier", apparent[h]["brier"], brier_loob, noinf, r, w, e632, e632p))
        c_app, c_loob = apparent[h]["c_index"], float(c_by_h.get(h, np.nan))
        r, w, e632, e632p = _plus632(1.0 - c_app, 1.0 - c_loob, 0.5)
        rows.append((h, "c_index", c_app, c_loob, 0.5, r, w, 1.0 - e632, 1.0 - e632p))
    ibs = _ibs_row(run, full_model)
    if ibs is not None:
        rows.append(ibs)
    out = pd.DataFrame(rows, columns=_LOOB_COLUMNS[:-2])
    out["n_bootstrap"] = run.done
    out["n_never_oob"] = int(np.sum(~seen))
    return out


def _check_failures(fails: pd.DataFrame, done: int, max_failed_fraction: float) -> None:
    if done < 2:
        raise MetricInputError([Problem(None, "estimator", f"{len(fails)} of {len(fails) + done} "
                                        "resamples failed" + (f" (e.g. {fails['message'].iloc[0]!r})"
                                                               if len(fails) else ""),
                                        "an estimator that can be fitted on at least two resamples")])
    attempted = done + len(fails)
    if len(fails) > max_failed_fraction * attempted:
        warnings.warn(f"bootstrap: {len(fails)} of {attempted} resamples failed and were skipped "
                      f"(e.g. {fails['error'].iloc[0]}: {fails['message'].iloc[0]}); the optimism "
                      f"uses the {done} that succeeded, a possibly selected subset",
                      RuntimeWarning, stacklevel=3)


def _given_resamples(resamples: Any, n: int) -> np.ndarray | None:
    if resamples is None:
        return None
    draws = np.asarray(resamples)
    if draws.ndim != 2 or draws.shape[1] != n or not np.issubdtype(draws.dtype, np.integer) \
            or draws.min() < 0 or draws.max() >= n:
        raise MetricInputError([Problem(None, "resamples", f"array of shape {draws.shape}",
                                        f"integer row positions in [0, {n - 1}], shape (B, {n})")])
    return draws


def bootstrap_optimism(estimator: SurvivalEstimator, data: pd.DataFrame, t: float | Sequence[float], *,
                       duration_col: str = "time", event_col: str = "event",
                       n_bootstrap: int = 200, conf_level: float = 0.95,
                       random_state: int | np.random.Generator | np.random.SeedSequence
                       | np.random.RandomState | None = None,
                       progress: bool = True, on_error: str = "skip",
                       max_failed_fraction: float = 0.05, resamples: Any = None) -> OptimismResult:
    """Harrell's bootstrap estimate of optimism for C, calibration slope and Brier at ``t``.

    1. Fit on all of ``data``; its performance on ``data`` is the *apparent* performance.
    2. For each of ``n_bootstrap`` resamples (drawn with replacement): fit a fresh copy of the
       estimator on the resample, score it on the resample and on the original data; the
       difference is that replicate's optimism.
    3. Corrected = apparent - mean optimism.

    The interval is the percentile interval of the replicates' apparent performance, shifted by
    the mean optimism (re-centred on the corrected estimate). It reflects sampling variability of
    the performance measure; Noma et al. (2021) show that it tends to be somewhat narrow for small
    samples (their nested bootstrap is more accurate and ``n_bootstrap`` times slower).

    Parameters
    ----------
    estimator : object with ``fit(df)``
        ``fit`` returns a fitted object with ``predict_survival_at(df, t)``. The estimator is
        deep-copied before every fit, so it is never mutated.
    data : DataFrame
        Covariates plus ``duration_col`` (months) and ``event_col`` (0/1).
    t : float or sequence of float
        Horizon(s) (months) of the survival probabilities scored (C uses S(t) as the score).
        Every replicate's model is fitted once and scored at each horizon.
    n_bootstrap : int
        Number of resamples (Harrell suggests 200 or more).
    random_state : None, int, SeedSequence, numpy Generator or RandomState
        Seeds the resampling (scikit-learn's convention: an int gives reproducible results, None
        fresh entropy; a Generator is used as is, so repeated calls continue its stream).
    progress : bool
        Show a tqdm progress bar.
    on_error : {"skip", "raise"}
        What to do when refitting or scoring a resample raises an ``Exception`` (e.g. too few
        deaths in a subtype for ``SurvivalModel.fit``). ``"skip"`` (default): the resample is left
        out, recorded in ``OptimismResult.failures`` and counted in the table's ``n_failed``; a
        ``RuntimeWarning`` is issued when more than ``max_failed_fraction`` of the resamples fail
        (the optimism then describes only resamples on which the model could be fitted, which
        can be a selected subset). ``"raise"``: the first failure propagates. The fit on the full
        data is never skipped: its failure always raises.
    max_failed_fraction : float
        Share of failed resamples above which a warning is issued (default 5 %).
    resamples : array-like of int, shape (B, n), optional
        The resamples themselves: row positions (0-based) of ``data`` drawn into each, e.g. the
        indices R drew (``riskRegression::Score(keep = "splitindex")``, minus 1). Overrides
        ``n_bootstrap`` and ``random_state``.

    Returns
    -------
    OptimismResult
        Ctrl-C stops after the current replicate and returns what was done (with a
        ``RuntimeWarning``) when at least two replicates finished.

    Raises
    ------
    MetricInputError
        Bad input, or fewer than two resamples succeeded.

    References
    ----------
    Harrell FE, Lee KL, Mark DB. Multivariable prognostic models. Stat Med 1996;15:361-87.
    doi:10.1002/(SICI)1097-0258(19960229)15:4<361::AID-SIM168>3.0.CO;2-4.
    Noma H et al. Confidence intervals of prediction accuracy measures for multivariable prediction
    models based on the bootstrap-based optimism correction methods. Stat Med 2021;40:5691-701.
    doi:10.1002/sim.9148.
    """
    draws = _given_resamples(resamples, len(data))
    if draws is not None:
        n_bootstrap = draws.shape[0]
    _check_bootstrap_arguments(estimator, data, duration_col, event_col, n_bootstrap, on_error)
    horizons = [check_horizon(h) for h in np.atleast_1d(np.asarray(t, dtype=float))]
    time, event = check_outcome(data[duration_col], data[event_col])
    if isinstance(random_state, np.random.RandomState):  # scikit-learn's legacy generator
        random_state = int(random_state.randint(0, 2**31 - 1))
    rng = np.random.default_rng(random_state)

    full = copy.deepcopy(estimator).fit(data)
    full_pred = {h: _predict(full, data, h) for h in horizons}
    apparent = {h: metrics_at_horizon(time, event, full_pred[h], h) for h in horizons}

    run = _Run(estimator, data, time, event, horizons, on_error, censoring_survival(time, event),
               ibs_grid=_ibs_grid(full, horizons))
    with tqdm(total=int(n_bootstrap), desc="bootstrap", disable=not progress, leave=False) as bar:
        try:
            for b in range(int(n_bootstrap)):
                # the resample is drawn before anything can fail, so a skipped resample does not
                # shift the later ones: results stay reproducible per random_state
                idx = draws[b] if draws is not None else rng.integers(0, len(data), size=len(data))
                run.replicate(b, idx)
                bar.update(1)
        except KeyboardInterrupt:
            if run.done < 2:
                raise
            run.interrupted = True
            warnings.warn(f"bootstrap interrupted after {run.done} of {n_bootstrap} replicates; the "
                          "optimism uses those", RuntimeWarning, stacklevel=2)
    rows, done, interrupted = run.rows, run.done, run.interrupted
    fails = pd.DataFrame(run.failures, columns=_FAILURE_COLUMNS)
    _check_failures(fails, done, max_failed_fraction)

    reps = pd.DataFrame(rows, columns=["replicate", "horizon", "metric", "bootstrap", "original"])
    reps["optimism"] = reps["bootstrap"] - reps["original"]
    alpha = (1.0 - conf_level) / 2.0
    out = []
    for h in horizons:
        for k in _METRICS:
            r = reps[(reps["metric"] == k) & (reps["horizon"] == h)]
            opt = float(np.nanmean(r["optimism"]))
            corrected = apparent[h][k] - opt
            boot = r["bootstrap"].to_numpy()
            centre = float(np.nanmean(boot))
            lo, hi = np.nanquantile(boot, [alpha, 1.0 - alpha])
            out.append((h, k, apparent[h][k], opt, corrected, corrected + lo - centre,
                        corrected + hi - centre, done, len(fails)))
    table = pd.DataFrame(out, columns=["horizon", "metric", "apparent", "optimism", "corrected",
                                       "ci_low", "ci_high", "n_bootstrap", "n_failed"])
    return OptimismResult(table, reps, tuple(horizons), interrupted, fails, int(n_bootstrap),
                          _loob_table(run, apparent, full_pred, full))
