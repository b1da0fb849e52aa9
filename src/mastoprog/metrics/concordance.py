"""Harrell's and Uno's concordance index with the infinitesimal-jackknife standard error."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..exceptions import MetricInputError, Problem
from ._checks import _check_predicted, check_horizon, check_outcome, normal_quantile
from ._nonparametric import censoring_left, dominance_pairs, score_ranks, shares_cohort_results, time_order

ArrayLike = Any

# --------------------------------------------------------------------------- concordance


@dataclass(frozen=True)
class Concordance:
    """A concordance index with its infinitesimal-jackknife standard error.

    ``float(result)`` gives the estimate. Counts are IPC-weighted for Uno's C. ``influence`` holds
    each patient's infinitesimal-jackknife influence (``se`` is the square root of its sum of
    squares), so two indices on the same patients have the joint covariance
    ``influence_a @ influence_b`` (R ``survival::concordance`` with several predictors).
    ``note`` says when the interval is degenerate (a zero SE, e.g. every pair concordant) or rests
    on few comparable pairs; empty otherwise.
    """

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    conf_level: float
    method: str
    tau: float | None
    n_comparable: float
    n_concordant: float
    n_discordant: float
    n_tied_predicted: float
    influence: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False, compare=False)
    note: str = ""

    def __float__(self) -> float:
        return self.estimate


# fewer comparable pairs than this: the Wald interval is flagged as unreliable (``note``)
_FEW_PAIRS = 50


def _rank_sums(point_val: np.ndarray, point_w: np.ndarray, query_val: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """1-D version of :func:`~._nonparametric.dominance_sums` (every point counts): per query, the
    sums of the weights of the points with a smaller value, an equal value, and any value.

    The values are ranks (whole numbers from 0), so the weights are summed per rank by counting,
    without a sort (O(n + number of ranks))."""
    size = int(max(point_val.max(initial=-1), query_val.max(initial=-1))) + 1
    columns = point_w.reshape(point_w.shape[0], int(np.prod(point_w.shape[1:], dtype=int)))
    per_rank = np.column_stack([np.bincount(point_val, weights=columns[:, j], minlength=size)
                                for j in range(columns.shape[1])])  # loop over weightings (1 or 2)
    below = np.concatenate((np.zeros((1, columns.shape[1])), np.cumsum(per_rank, axis=0)))
    shape = (query_val.size, *point_w.shape[1:])
    return (below[query_val].reshape(shape), per_rank[query_val].reshape(shape),
            np.broadcast_to(below[-1].reshape(point_w.shape[1:]), shape))


def _last_tied_death(sorted_time: np.ndarray, sorted_event: np.ndarray) -> np.ndarray:
    """Per sorted position (time ascending, deaths first at ties), the last sorted position of
    the deaths at that time (for a death: everything after it is comparable with it). By
    counting deaths per distinct time, O(n), no search."""
    starts_time = np.r_[True, sorted_time[1:] != sorted_time[:-1]]
    group = np.cumsum(starts_time) - 1
    first = np.flatnonzero(starts_time)
    deaths = np.bincount(group, weights=sorted_event, minlength=first.size).astype(np.int64)
    return (first + deaths - 1)[group]


def _concordance_parts(time: np.ndarray, event: np.ndarray, pred: np.ndarray, w_event: np.ndarray):
    """Per-patient weighted pair counts for k weightings at once (vectorised, O(n log^2 n)).

    ``w_event`` is (n, k): one column of death weights per index (Harrell, Uno); the sorting is
    shared. Returns ``(num, den, a, b, counts)``: per index (k,) the weighted concordance
    numerator and denominator, the (n, k) per-patient numerator/denominator contributions (each
    pair counted for both members), and (concordant, discordant, tied) totals, each (k,).

    Patients followed beyond the last anchoring death (all of them past ``tau`` when truncated)
    are later members of every pair they belong to, so their counts are 1-D (sort and search);
    only the patients before it go through the 2-D dominance sums.
    """
    n = time.size
    order = time_order(time, event)  # time ascending, deaths before censorings at ties
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    rank = score_ranks(pred)
    ev_idx = np.flatnonzero(event & np.any(w_event > 0, axis=1))
    g = _last_tied_death(time[order], event[order])[pos[ev_idx]]
    w = w_event[ev_idx]
    cut = int(g.max()) if g.size else -1  # sorted positions > cut: after every anchoring death
    head = pos <= cut
    tail = ~head
    # the pairs (death i, head patient k) with g_i < pos_k, counted once for both members: k as
    # the later member (deaths before it, weighted by w_i) and i as the earlier one (unweighted)
    (lt2, eq2, tot2), (lt1, eq1, tot1) = dominance_pairs(g, rank[ev_idx], w, pos[head], rank[head])
    # i as the earlier member: the tail is comparable with every i
    lt_t, eq_t, tot_t = _rank_sums(rank[tail], np.ones(int(tail.sum())), rank[ev_idx])
    lt1, eq1, tot1 = lt1 + lt_t, eq1 + eq_t, tot1 + tot_t
    conc1 = tot1 - lt1 - eq1  # later patient predicted to live longer: concordant
    # k as the later member: deaths i with g_i < pos_k, weighted by w_i
    a = np.zeros((n, w.shape[1]))
    b = np.zeros((n, w.shape[1]))
    a[head] = lt2 + 0.5 * eq2
    b[head] = tot2
    lt2, eq2, tot2 = _rank_sums(rank[ev_idx], w, rank[tail])
    a[tail] = lt2 + 0.5 * eq2
    b[tail] = tot2
    a[ev_idx] += w * (conc1 + 0.5 * eq1)[:, None]
    b[ev_idx] += w * tot1[:, None]
    num = np.sum(w * (conc1 + 0.5 * eq1)[:, None], axis=0)
    den = np.sum(w * tot1[:, None], axis=0)
    counts = (np.sum(w * conc1[:, None], axis=0), np.sum(w * lt1[:, None], axis=0),
              np.sum(w * eq1[:, None], axis=0))
    return num, den, a, b, counts


def _event_weights(t: np.ndarray, e: np.ndarray, method: str, tau: float | None) -> np.ndarray:
    """Weight of each death as the earlier member of a pair: 1 (Harrell) or G(T-)^-2 (Uno)."""
    w = np.where(e, 1.0, 0.0)
    if tau is not None:
        w[t >= tau] = 0.0
    if method == "uno":
        g = censoring_left(t, e)
        with np.errstate(divide="ignore"):
            w = np.where(e, w / np.square(g), 0.0)
    return w


def _interval_note(c: float, se: float, n_pairs: float) -> str:
    if se <= 0:
        return (f"degenerate interval: SE 0 (C = {c:g} on {n_pairs:g} comparable pairs); too few "
                "patients or deaths to estimate its uncertainty")
    if n_pairs < _FEW_PAIRS:
        return f"only {n_pairs:g} comparable pairs: the Wald interval is unreliable"
    return ""


@shares_cohort_results
def concordance_indices(time: ArrayLike, event: ArrayLike, predicted: ArrayLike,
                        methods: Sequence[str] = ("harrell", "uno"), tau: float | None = None,
                        conf_level: float = 0.95) -> dict[str, Concordance]:
    """Several concordance indices of one prediction in one pass (the pair counting is shared).

    Same definitions, parameters and errors as :func:`concordance_index`; ``methods`` lists any of
    ``"harrell"`` and ``"uno"``. Computing both costs about 10 % more than one.

    Returns
    -------
    dict of str -> Concordance
        One result per method, in the order given.

    References
    ----------
    Harrell FE et al. JAMA 1982;247:2543-6. doi:10.1001/jama.1982.03320430047030.
    Uno H et al. Stat Med 2011;30:1105-17. doi:10.1002/sim.4154.

    Examples
    --------
    >>> res = concordance_indices([5, 10, 15, 20], [1, 1, 0, 1], [4.0, 12.0, 20.0, 9.0])
    >>> {k: round(v.estimate, 3) for k, v in res.items()}
    {'harrell': 0.8, 'uno': 0.8}
    """
    t, e = check_outcome(time, event)
    p = _check_predicted(predicted, t.size, "predicted")
    methods = list(methods)
    if not methods or any(m not in ("harrell", "uno") for m in methods):
        raise MetricInputError([Problem(None, "method", methods, "one of {'harrell', 'uno'}")])
    z = normal_quantile(conf_level)
    if tau is not None:
        tau = check_horizon(tau, "tau")
    w = np.column_stack([_event_weights(t, e, m, tau) for m in methods])
    num, den, a, b, (nc, nd, nt) = _concordance_parts(t, e, p, w)
    if np.any(den <= 0):
        raise MetricInputError([Problem(None, "time/event", "no comparable pair",
                                        "at least one death before another patient's follow-up "
                                        "ends" + (" and before tau" if tau is not None else ""))])
    out = {}
    for k, method in enumerate(methods):
        c = float(num[k] / den[k])
        influence = (a[:, k] - c * b[:, k]) / den[k]
        se = float(np.sqrt(np.sum(np.square(influence))))
        out[method] = Concordance(c, se, max(0.0, c - z * se), min(1.0, c + z * se), conf_level,
                                  method, tau, float(den[k]), float(nc[k]), float(nd[k]), float(nt[k]),
                                  influence, _interval_note(c, se, float(den[k])))
    return out


def concordance_index(time: ArrayLike, event: ArrayLike, predicted: ArrayLike,
                      method: str = "harrell", tau: float | None = None,
                      conf_level: float = 0.95) -> Concordance:
    """Harrell's or Uno's concordance index (C-statistic) of survival predictions.

    .. warning:: **Higher** ``predicted`` **= longer survival** (lifelines' convention: pass a
       predicted median or a survival probability as is). scikit-survival and R's
       ``concordance(..., reverse=TRUE)`` use the opposite: pass ``-risk`` for a risk score.

    A pair (i, j) is comparable when patient i died first (T_i < T_j, or T_i == T_j with j
    censored) and, if ``tau`` is given, T_i < tau. It is concordant when ``predicted[i] <
    predicted[j]``; ties in ``predicted`` count one half; pairs of tied deaths are not comparable.

    Parameters
    ----------
    time : array-like of float, shape (n,)
        Follow-up time (months), >= 0.
    event : array-like of {0, 1} or bool, shape (n,)
        1 if the death/event was observed at ``time``, 0 if censored.
    predicted : array-like of float, shape (n,)
        Prediction; higher means longer survival.
    method : {"harrell", "uno"}
        ``"harrell"``: every comparable pair weighs 1 (Harrell et al. 1982). ``"uno"``: pairs are
        weighted by G(T_i-)^-2, the inverse squared Kaplan-Meier probability of remaining uncensored,
        which makes the estimate consistent for the population C truncated at ``tau`` whatever the
        censoring (Uno et al. 2011).
    tau : float, optional
        Truncation time (months): only deaths before ``tau`` anchor comparable pairs. Recommended
        for Uno's C (choose tau where the censoring survival is still well above 0).
    conf_level : float
        Level of the Wald interval.

    Returns
    -------
    Concordance
        ``estimate``, ``se`` (infinitesimal jackknife: the square root of the sum over patients of
        their squared influence ``(a_k - C b_k) / D``, as R's ``survival::concordance``; for Uno's C
        the estimated weights are treated as fixed), Wald ``ci_low``/``ci_high`` clipped to [0, 1],
        and the (weighted) numbers of comparable, concordant, discordant and tied pairs.

    Raises
    ------
    MetricInputError
        Negative/non-finite times, events other than 0/1, non-finite predictions, unequal lengths,
        or no comparable pair.

    References
    ----------
    Harrell FE et al. Evaluating the yield of medical tests. JAMA 1982;247:2543-6.
    doi:10.1001/jama.1982.03320430047030.
    Uno H et al. On the C-statistics for evaluating overall adequacy of risk prediction procedures
    with censored survival data. Stat Med 2011;30:1105-17. doi:10.1002/sim.4154.

    Examples
    --------
    >>> from mastoprog.metrics import concordance_index
    >>> round(concordance_index([5, 10, 15], [1, 1, 0], [4.0, 12.0, 20.0]).estimate, 3)
    1.0
    """
    if method not in ("harrell", "uno"):
        raise MetricInputError([Problem(None, "method", method, "one of {'harrell', 'uno'}")])
    return concordance_indices(time, event, predicted, (method,), tau, conf_level)[method]
