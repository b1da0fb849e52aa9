"""Time-dependent (cumulative/dynamic) AUC with IPCW weights and a bootstrap interval."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import MetricInputError, Problem
from ._checks import _check_times, _per_horizon, check_outcome, normal_quantile
from ._nonparametric import (
    censoring_left,
    score_ranks,
    shares_cohort_results,
    stable_argsort_int,
    time_index,
    time_order,
)

ArrayLike = Any

# --------------------------------------------------------------------------- time-dependent AUC


@dataclass(frozen=True)
class TimeDependentAUC:
    """Cumulative/dynamic AUC per horizon (``table``, with bootstrap ``se``/``ci_low``/``ci_high``)
    and its KM-weighted mean over the horizons (``mean_auc``, percentile interval ``mean_auc_ci``)."""

    table: pd.DataFrame
    mean_auc: float
    mean_auc_ci: tuple[float, float] = (float("nan"), float("nan"))


def _weighted_auc_boot(t: np.ndarray, e: np.ndarray, p: np.ndarray, ts: np.ndarray,
                       counts: np.ndarray, by_score: list[np.ndarray] | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """AUC(t) per horizon and the KM-weighted mean AUC for each row of bootstrap ``counts``.

    A resample is represented by how often each patient was drawn (a row of ``counts``, shape
    (B, n)), so the censoring Kaplan-Meier, the IPC weights and the case/control sums of every
    resample are computed at once with cumulative sums (no loop over resamples or patients).
    Returns ``(auc, mean_auc)`` of shapes (B, len(ts)) and (B,). ``by_score`` (optional): per
    horizon, ``np.argsort(p[k], kind="stable")``, when the caller has it already.
    """
    # any order by time will do (the per-time sums of whole-number counts do not depend on the
    # order within a time): the cohort's cached one
    order = time_order(t, e)
    uniq, inv, first = time_index(t, e)  # distinct times, each patient's among them, run starts
    c_sorted = counts[:, order]
    ev_sorted = e[order]
    dev = np.add.reduceat(c_sorted * ev_sorted, first, axis=1)   # deaths per distinct time
    cen = np.add.reduceat(c_sorted * ~ev_sorted, first, axis=1)  # censorings per distinct time
    at_risk = np.cumsum((dev + cen)[:, ::-1], axis=1)[:, ::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        # censoring KM: deaths leave the risk set before censorings at the same time
        g = np.cumprod(1.0 - np.where(cen > 0, cen / (at_risk - dev), 0.0), axis=1)
        km = np.cumprod(1.0 - np.where(dev > 0, dev / at_risk, 0.0), axis=1)
    g_left = np.concatenate([np.ones((counts.shape[0], 1)), g[:, :-1]], axis=1)[:, inv]  # G(T_i-)
    b = counts.shape[0]
    auc = np.empty((b, ts.size))
    for k, h in enumerate(ts):  # loop over horizons only
        case = e & (t <= h)
        order_k = stable_argsort_int(score_ranks(p[k])) if by_score is None else by_score[k]
        ctrl_order = order_k[t[order_k] > h]  # the controls in the order of their scores
        cum = np.concatenate([np.zeros((b, 1)), np.cumsum(counts[:, ctrl_order], axis=1)], axis=1)
        n_ctrl = cum[:, -1]
        # controls below / up to each case's score, counted per rank (no search)
        below, upto = _rank_counts(score_ranks(p[k]), t > h)
        left, right = below[case], upto[case]
        above = n_ctrl[:, None] - cum[:, right]
        ties = cum[:, right] - cum[:, left]
        with np.errstate(divide="ignore", invalid="ignore"):
            wc = counts[:, case] / g_left[:, case]
            auc[:, k] = np.sum(wc * (above + 0.5 * ties), axis=1) / (np.sum(wc, axis=1) * n_ctrl)
    idx = np.searchsorted(uniq, ts, side="right") - 1
    s = np.where(idx >= 0, km[:, np.clip(idx, 0, None)], 1.0)
    d = -np.diff(np.concatenate([np.ones((b, 1)), s], axis=1), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_auc = np.sum(auc * d, axis=1) / (1.0 - s[:, -1])
    return auc, mean_auc


def _rank_counts(rank: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per patient, how many patients in ``mask`` have a lower rank, and a lower or equal one:
    ``np.searchsorted(sorted scores of mask, score, "left" / "right")``, the same integers, by
    counting per rank (``rank`` = :func:`score_ranks` of the scores)."""
    per_rank = np.bincount(rank[mask], minlength=int(rank.max(initial=-1)) + 1)
    through = np.cumsum(per_rank)
    return (through - per_rank)[rank], through[rank]


def auc_influence(t: np.ndarray, e: np.ndarray, p: np.ndarray, h: float, g_left: np.ndarray,
                  by_score: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """AUC(h) and each patient's infinitesimal-jackknife influence, IPC weights held fixed.

    AUC = N / (W C) with N = n^-2 sum_ij w_i I(case_i) I(ctrl_j) K(p_i, p_j), W = mean of
    w_i I(case_i), C = mean of I(ctrl_j), K = 1 if p_i < p_j, 1/2 if tied; w_i = 1 / G(T_i-).
    The influence of patient k is ``[IF_N / (W C) - AUC (IF_W / W + IF_C / C)] / n`` with the
    V-statistic projection IF_N(k) = mean_j h(k, j) + mean_i h(i, k) - 2 N; the variance is the
    sum of squared influences (the construction of R ``survival::concordance``'s IJ variance).
    ``t``, ``e``, ``p`` are clean arrays; ``g_left`` is G(T_i-) per patient; ``by_score``
    (optional) is ``np.argsort(p, kind="stable")`` if the caller has it (one sort serves all).
    """
    n = t.size
    case = e & (t <= h)
    ctrl = t > h
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(case, 1.0 / g_left, 0.0)
    rank = score_ranks(p)
    if by_score is None:
        by_score = stable_argsort_int(rank)
    # controls above / tied with each patient's score, and weighted cases below / tied, counted
    # per rank of the scores (no search)
    left_c, right_c = _rank_counts(rank, ctrl)
    n_ctrl = int(ctrl.sum())
    above = n_ctrl - right_c
    tied_c = right_c - left_c
    cases_by_score = by_score[case[by_score]]  # the cases in the order of their scores
    cw = np.concatenate(([0.0], np.cumsum(w[cases_by_score])))
    left_w, right_w = _rank_counts(rank, case)
    below_w = cw[left_w]
    tied_w = cw[right_w] - below_w
    h1 = w * (above + 0.5 * tied_c) / n
    h2 = np.where(ctrl, below_w + 0.5 * tied_w, 0.0) / n
    big_n = float(h1.sum()) / n
    big_w = float(w.mean())
    big_c = n_ctrl / n
    auc = big_n / (big_w * big_c)
    inf_n = h1 + h2 - 2.0 * big_n
    inf = (inf_n / (big_w * big_c) - auc * ((w - big_w) / big_w + (ctrl - big_c) / big_c)) / n
    return auc, inf


@shares_cohort_results
def time_dependent_auc(time: ArrayLike, event: ArrayLike, predicted: ArrayLike,
                       times: Sequence[float], *, conf_level: float = 0.95, n_bootstrap: int = 200,
                       random_state: int | np.random.Generator | np.random.RandomState | None = 0,
                       interval: str = "bootstrap") -> TimeDependentAUC:
    """Cumulative/dynamic time-dependent AUC with IPCW (Uno et al. 2007; Hung & Chiang 2010),
    with bootstrap confidence intervals.

    At horizon t, cases are patients who died by t (T_i <= t, weighted 1/G(T_i-)) and controls
    are patients still at risk after t (T_j > t). AUC(t) is the weighted probability that a case
    has a **lower** ``predicted`` value than a control (higher = longer survival, lifelines'
    convention); ties count one half. Equivalent to scikit-survival's
    ``cumulative_dynamic_auc`` with ``estimate = -predicted``.

    **Uncertainty: nonparametric bootstrap** (``n_bootstrap`` resamples of patients, drawn with
    replacement). In every resample the censoring distribution G is re-estimated, so the interval
    includes the variability of the IPC weights (an influence-function variance that treats the
    weights as fixed would not). The interval is the percentile interval; ``se`` is the standard
    deviation of the bootstrap estimates. The predictions are held fixed (the model is not
    refitted): this is the uncertainty of AUC(t) for *this* model on patients like these. The
    resamples are evaluated at once from the draw counts (vectorised; memory about
    ``8 * min(n_bootstrap, 64) * n`` bytes at a time).

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Follow-up (months) and event indicator.
    predicted : array-like, shape (n,) or (len(times), n)
        One score per patient, or one per horizon and patient (rows: horizons, columns: patients,
        e.g. ``model.predict_survival_function(cohort, times).to_numpy()``).
    times : sequence of float
        Increasing horizons (months) inside the follow-up range.
    conf_level : float
        Level of the percentile intervals.
    n_bootstrap : int
        Bootstrap resamples (0: no interval; ``ci_low``/``ci_high``/``se`` are NaN).
    random_state : None, int, numpy Generator or RandomState
        Seeds the resampling. The default 0 makes repeated calls give the same interval; None
        draws fresh entropy.
    interval : {"bootstrap", "influence"}
        ``"influence"``: Wald interval from the infinitesimal-jackknife SE with the IPC weights
        held fixed (:func:`auc_influence`; O(n log n), for large cohorts where the bootstrap is
        slow and its extra accuracy immaterial); ``n_bootstrap`` is then ignored and
        ``mean_auc_ci`` is NaN. Intervals are clipped to [0, 1].

    Returns
    -------
    TimeDependentAUC
        ``table`` with columns ``time``, ``auc``, ``se``, ``ci_low``, ``ci_high``, ``n_cases``,
        ``n_controls``, ``n_bootstrap`` (resamples with a defined AUC); ``mean_auc`` (the mean
        weighted by the KM decrements over the horizons, scikit-survival's definition) with
        ``mean_auc_ci``.

    References
    ----------
    Uno H, Cai T, Tian L, Wei LJ. Evaluating prediction rules for t-year survivors with censored
    regression models. JASA 2007;102:527-37. doi:10.1198/016214507000000149.
    Hung H, Chiang CT. Estimation methods for time-dependent AUC models with survival data.
    Can J Stat 2010;38:8-26. doi:10.1002/cjs.10046.
    Efron B, Tibshirani RJ. An Introduction to the Bootstrap. Chapman & Hall, 1993 (ch. 13).
    """
    t, e = check_outcome(time, event)
    ts = _check_times(times, t)
    p = _per_horizon(predicted, t.size, ts, "predicted", probability=False)
    if int(n_bootstrap) < 0:
        raise MetricInputError([Problem(None, "n_bootstrap", n_bootstrap, "an integer >= 0")])
    if interval not in ("bootstrap", "influence"):
        raise MetricInputError([Problem(None, "interval", interval, "'bootstrap' or 'influence'")])
    z = normal_quantile(conf_level)  # validates conf_level
    for h in ts:
        if not np.any(e & (t <= h)):
            raise MetricInputError([Problem(None, "times", h, "a horizon after the first death")])
    # per horizon, the stable order of the scores, from their (cached) ranks by radix passes
    by_score = [stable_argsort_int(score_ranks(row)) for row in p]
    auc0, mean0 = _weighted_auc_boot(t, e, p, ts, np.ones((1, t.size)), by_score)
    n_b = int(n_bootstrap) if interval == "bootstrap" else 0
    se = lo = hi = np.full(ts.size, np.nan)
    n_ok = np.zeros(ts.size, dtype=int)
    mean_ci = (float("nan"), float("nan"))
    if interval == "influence":
        g_left = censoring_left(t, e)
        se = np.array([np.sqrt(np.sum(np.square(auc_influence(t, e, p[k], h, g_left, by_score[k])[1])))
                       for k, h in enumerate(ts)])
        lo = np.clip(auc0[0] - z * se, 0.0, 1.0)
        hi = np.clip(auc0[0] + z * se, 0.0, 1.0)
    if n_b > 0:
        if isinstance(random_state, np.random.RandomState):  # scikit-learn's legacy generator
            random_state = int(random_state.randint(0, 2**31 - 1))
        rng = np.random.default_rng(random_state)
        chunks_auc, chunks_mean = [], []
        for start in range(0, n_b, 64):  # bounded memory: 64 resamples x n at a time
            size = min(64, n_b - start)
            counts = rng.multinomial(t.size, np.full(t.size, 1.0 / t.size), size=size).astype(float)
            a, m = _weighted_auc_boot(t, e, p, ts, counts, by_score)
            chunks_auc.append(a)
            chunks_mean.append(m)
        boot = np.vstack(chunks_auc)
        boot_mean = np.concatenate(chunks_mean)
        alpha = (1.0 - conf_level) / 2.0
        # a resample without cases or controls at a horizon has no AUC there: left out, counted
        n_ok = np.isfinite(boot).sum(axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column -> NaN, on purpose
            se = np.nanstd(boot, axis=0, ddof=1)
            lo, hi = np.nanquantile(boot, [alpha, 1.0 - alpha], axis=0)
            mlo, mhi = np.nanquantile(boot_mean, [alpha, 1.0 - alpha])
        mean_ci = (float(mlo), float(mhi))
    table = pd.DataFrame({"time": ts, "auc": auc0[0], "se": se, "ci_low": lo, "ci_high": hi,
                          "n_cases": [int(np.sum(e & (t <= h))) for h in ts],
                          "n_controls": [int(np.sum(t > h)) for h in ts], "n_bootstrap": n_ok})
    return TimeDependentAUC(table, float(mean0[0]), mean_ci)
