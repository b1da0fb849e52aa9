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
from ..metrics import brier_score, calibration_slope, check_horizon, check_outcome, concordance_index

__all__ = ["OptimismResult", "SurvivalEstimator", "bootstrap_optimism", "metrics_at_horizon"]

_METRICS = ("c_index", "calibration_slope", "brier")
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
    """Harrell's C of S(t), the calibration slope at t and the IPCW Brier score at t."""
    c = concordance_index(time, event, s_at_t).estimate
    slope = calibration_slope(time, event, s_at_t, t).estimate
    brier = brier_score(time, event, s_at_t, t).estimate
    return {"c_index": c, "calibration_slope": slope, "brier": brier}


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
    """

    table: pd.DataFrame
    replicates: pd.DataFrame
    horizons: tuple[float, ...]
    interrupted: bool
    failures: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_FAILURE_COLUMNS))
    n_requested: int = 0

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


def bootstrap_optimism(estimator: SurvivalEstimator, data: pd.DataFrame, t: float | Sequence[float], *,
                       duration_col: str = "time", event_col: str = "event",
                       n_bootstrap: int = 200, conf_level: float = 0.95,
                       random_state: int | np.random.Generator | np.random.SeedSequence
                       | np.random.RandomState | None = None,
                       progress: bool = True, on_error: str = "skip",
                       max_failed_fraction: float = 0.05) -> OptimismResult:
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
    horizons = [check_horizon(h) for h in np.atleast_1d(np.asarray(t, dtype=float))]
    time, event = check_outcome(data[duration_col], data[event_col])
    if isinstance(random_state, np.random.RandomState):  # scikit-learn's legacy generator
        random_state = int(random_state.randint(0, 2**31 - 1))
    rng = np.random.default_rng(random_state)
    n = len(data)

    full = copy.deepcopy(estimator).fit(data)
    apparent = {h: metrics_at_horizon(time, event, _predict(full, data, h), h) for h in horizons}

    rows: list[tuple[int, float, str, float, float]] = []
    failures: list[tuple[int, str, str, str]] = []
    done = 0
    interrupted = False
    bar = tqdm(total=int(n_bootstrap), desc="bootstrap", disable=not progress, leave=False)
    try:
        for b in range(int(n_bootstrap)):
            # the resample is drawn before anything can fail, so a skipped resample does not
            # shift the later ones: results stay reproducible per random_state
            idx = rng.integers(0, n, size=n)
            boot = data.iloc[idx].reset_index(drop=True)
            stage = "fit"
            try:
                fitted = copy.deepcopy(estimator).fit(boot)
                stage = "score"
                new = []
                for h in horizons:
                    m_boot = metrics_at_horizon(time[idx], event[idx], _predict(fitted, boot, h), h)
                    m_orig = metrics_at_horizon(time, event, _predict(fitted, data, h), h)
                    new.extend((b, h, k, m_boot[k], m_orig[k]) for k in _METRICS)
            except Exception as exc:  # any estimator failure is counted (see on_error), not hidden
                if on_error == "raise":
                    raise
                failures.append((b, stage, type(exc).__name__, str(exc)[:300]))
            else:
                rows.extend(new)
                done += 1
            bar.update(1)
    except KeyboardInterrupt:
        if done < 2:
            raise
        interrupted = True
        warnings.warn(f"bootstrap interrupted after {done} of {n_bootstrap} replicates; the "
                      "optimism uses those", RuntimeWarning, stacklevel=2)
    finally:
        bar.close()

    fails = pd.DataFrame(failures, columns=_FAILURE_COLUMNS)
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
                      RuntimeWarning, stacklevel=2)

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
    return OptimismResult(table, reps, tuple(horizons), interrupted, fails, int(n_bootstrap))
