"""Low-level, vectorised survival statistics shared by the validation metrics.

Private module: Kaplan-Meier with Greenwood variance, the censoring distribution for IPCW, and
weighted 2-D dominance counts (the O(n log^2 n) engine behind the concordance indices).
Everything here takes clean numpy arrays; input checking lives in :mod:`mastoprog.validation`.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, ParamSpec, TypeVar

import numpy as np

__all__ = ["KaplanMeier", "censoring_left", "censoring_survival", "cohort_kaplan_meier", "dominance_pairs",
           "dominance_sums", "kaplan_meier", "per_cohort", "score_ranks", "search_sorted",
           "shared_cohort_results", "shares_cohort_results",
           "stable_argsort_int", "time_index", "time_order"]

Params = ParamSpec("Params")
Result = TypeVar("Result")

# needles above this many are searched in sorted order (below it the sort costs more than it saves)
_SORT_NEEDLES_ABOVE = 4096


def search_sorted(haystack: np.ndarray, needles: np.ndarray, side: str = "left") -> np.ndarray:
    """``np.searchsorted(haystack, needles, side)``, the same integers, faster on many unsorted needles.

    A binary search per needle in patient order jumps all over a large ``haystack`` (a cache miss
    per step); searched in sorted order the successive searches stay in cache, which is about
    three times faster for a million needles, sort included (benchmarks/bench_metrics_scale.py).

    Examples
    --------
    >>> search_sorted(np.array([1.0, 2.0, 3.0]), np.array([2.5, 0.0, 2.0]), side="right").tolist()
    [2, 0, 2]
    """
    needles = np.asarray(needles)
    if needles.ndim != 1 or needles.size <= _SORT_NEEDLES_ABOVE or bool(np.all(needles[1:] >= needles[:-1])):
        return np.searchsorted(haystack, needles, side=side)  # type: ignore[call-overload]
    order = np.argsort(needles)
    out = np.empty(needles.size, dtype=np.intp)
    out[order] = np.searchsorted(haystack, needles[order], side=side)  # type: ignore[call-overload]
    return out


def stable_argsort_int(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, kind="stable")`` for non-negative integers, by 8- or 16-bit radix passes.

    numpy radix-sorts only 8- and 16-bit keys and merge-sorts wider ones (about five times slower
    for a million ranks). Values below 2^32 are sorted least significant half first, each pass a
    stable 16-bit radix sort: the same permutation (LSD radix sort), ties in their order.

    Examples
    --------
    >>> stable_argsort_int(np.array([70000, 3, 70000, 0, 3])).tolist()
    [3, 1, 4, 0, 2]
    """
    values = np.asarray(values)
    top = int(values.max()) if values.size else 0
    if top < 256:
        return np.argsort(values.astype(np.uint8), kind="stable")
    if top < 65536:
        return np.argsort(values.astype(np.uint16), kind="stable")
    if top >= 2**32 or int(values.min()) < 0:
        return np.argsort(values, kind="stable")
    low_first = np.argsort((values & 0xFFFF).astype(np.uint16), kind="stable")
    return low_first[np.argsort((values[low_first] >> 16).astype(np.uint16), kind="stable")]


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan-Meier curve on its distinct observed times (months or whatever unit came in).

    ``survival[k]`` is S(t) on ``[times[k], times[k+1])``; ``var_log`` is the Greenwood variance
    of log S (sum d / (n (n - d))); ``lower``/``upper`` the pointwise confidence band.
    """

    times: np.ndarray
    n_at_risk: np.ndarray
    n_events: np.ndarray
    n_censored: np.ndarray
    survival: np.ndarray
    var_log: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    conf_level: float
    conf_type: str

    def at(self, t: np.ndarray | float, *, left: bool = False) -> np.ndarray:
        """S(t) (right-continuous), or S(t-) with ``left=True``; 1 before the first time."""
        t = np.asarray(t, dtype=float)
        idx = search_sorted(self.times, t, side="left" if left else "right") - 1
        out = np.where(idx >= 0, self.survival[np.clip(idx, 0, None)], 1.0)
        return out

    def _band_at(self, arr: np.ndarray, t: np.ndarray | float) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        idx = search_sorted(self.times, t, side="right") - 1
        return np.where(idx >= 0, arr[np.clip(idx, 0, None)], 1.0)

    def se_at(self, t: np.ndarray | float) -> np.ndarray:
        """Greenwood standard error of S(t) (delta method: S * sqrt(var log S))."""
        t = np.asarray(t, dtype=float)
        idx = search_sorted(self.times, t, side="right") - 1
        s = np.where(idx >= 0, self.survival[np.clip(idx, 0, None)], 1.0)
        v = np.where(idx >= 0, self.var_log[np.clip(idx, 0, None)], 0.0)
        return s * np.sqrt(v)

    def ci_at(self, t: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise confidence interval of S(t)."""
        return self._band_at(self.lower, t), self._band_at(self.upper, t)

    def quantile(self, p: float = 0.5) -> tuple[float, float, float]:
        """Time at which S first drops to ``<= 1 - p`` (median for p = 0.5), with its CI.

        The CI is read off the pointwise band (Brookmeyer & Crowley 1982, the lifelines and
        R ``survfit`` construction): lower limit = first time the lower band is ``<= 1 - p``,
        upper limit = first time the upper band is ``<= 1 - p``; ``inf`` if never reached.
        R's survfit takes the midpoint of a flat stretch where S equals 1 - p exactly; this does not.
        """
        level = 1.0 - p

        def first(arr: np.ndarray) -> float:
            hit = np.flatnonzero(arr <= level + 1e-12)
            return float(self.times[hit[0]]) if hit.size else float("inf")

        return first(self.survival), first(self.lower), first(self.upper)


# ---------------------------------------------------------------- per-cohort results, computed once
# validate() scores one cohort with a dozen metric calls (three horizons), each of which used to
# recompute the same censoring Kaplan-Meier, Kaplan-Meier and time order (a sort of a million
# times each), and the ranks of each horizon's predictions (a sort each, for the C indices and the
# AUC). Inside a shared_cohort_results() block they are computed once (for the few most recent
# cohorts: the cohort itself, its versions censored at each horizon for the calibration fits, the
# predictions), keyed by a SHA-256 digest of the arrays' bytes: a different or modified array is a
# miss, never a stale hit. The block is the scope (a context variable: this thread or task), so
# nothing is kept once it ends. The arrays returned are read-only, inside a block or not. Memory
# inside a block: about 130 bytes per patient for the cohort, 16 for each censored version, 8 for
# each prediction.
_COHORTS_KEPT = 8
_SHARED: ContextVar[tuple[OrderedDict[bytes, dict[str, Any]], threading.Lock] | None] = ContextVar(
    "mastoprog_metrics_shared", default=None)


@contextmanager
def shared_cohort_results() -> Iterator[None]:
    """Inside the block, results that depend only on a cohort are computed once for every metric.

    The Kaplan-Meier and censoring curves, the time order of a cohort and the ranks of a
    prediction are shared by the metric calls made in the block (this thread or task), e.g. the
    dozen calls :func:`mastoprog.validation.validate` makes on one cohort; they are dropped when
    the block ends. Nested blocks share the outermost one. The public metric functions whose
    parts share results open one for themselves (:func:`shares_cohort_results`); otherwise each
    call outside a block computes its own (the same numbers).

    Examples
    --------
    >>> t, e = np.array([3.0, 5.0, 8.0]), np.array([True, False, True])
    >>> with shared_cohort_results():
    ...     first = censoring_survival(t, e)
    ...     again = censoring_survival(t, e)  # the same object: computed once in the block
    >>> again is first, censoring_survival(t, e) is first
    (True, False)
    """
    if _SHARED.get() is not None:
        yield
        return
    token = _SHARED.set((OrderedDict(), threading.Lock()))
    try:
        yield
    finally:
        _SHARED.reset(token)


def shares_cohort_results(fn: Callable[Params, Result]) -> Callable[Params, Result]:
    """Decorator for a public metric function: its body runs inside :func:`shared_cohort_results`,
    so its own parts (e.g. Harrell's and Uno's C, or the calibration slope and curve) share the
    cohort's results even when called alone."""

    @functools.wraps(fn)
    def inside_a_block(*args: Params.args, **kwargs: Params.kwargs) -> Result:
        with shared_cohort_results():
            return fn(*args, **kwargs)

    return inside_a_block


def _cohort_key(time: np.ndarray, event: np.ndarray) -> bytes:
    digest = hashlib.sha256(repr((time.dtype.str, time.shape, event.dtype.str, event.shape)).encode())
    digest.update(np.ascontiguousarray(time).data)
    digest.update(np.ascontiguousarray(event).data)
    return digest.digest()


def _read_only(value: Any) -> Any:
    """``value`` with its arrays (also inside a tuple or a KaplanMeier) made read-only."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, tuple):
        for part in value:
            _read_only(part)
    elif isinstance(value, KaplanMeier):
        _read_only(tuple(vars(value).values()))
    return value


def per_cohort(kind: str, time: np.ndarray, event: np.ndarray, compute: Callable[[], Any]) -> Any:
    """``compute()`` for this cohort (``time``, ``event``); inside :func:`shared_cohort_results`,
    from the block's results when computed there before.

    ``kind`` names what is computed; ``compute`` must depend on nothing but the two arrays.
    """
    shared = _SHARED.get()
    if shared is None:
        return _read_only(compute())
    cohorts, lock = shared
    key = _cohort_key(time, event)
    with lock:
        entry = cohorts.get(key)
        if entry is not None and kind in entry:
            cohorts.move_to_end(key)
            return entry[kind]
    value = _read_only(compute())
    with lock:
        cohorts.setdefault(key, {})[kind] = value
        cohorts.move_to_end(key)
        while len(cohorts) > _COHORTS_KEPT:
            cohorts.popitem(last=False)
    return value


def score_ranks(score: np.ndarray) -> np.ndarray:
    """Dense ranks of a score (0 for the lowest; ties share a rank): ``np.unique(score,
    return_inverse=True)[1]`` as int64 (once per score array inside :func:`shared_cohort_results`).

    ``stable_argsort_int(score_ranks(score))`` is ``np.argsort(score, kind="stable")``.

    Examples
    --------
    >>> score_ranks(np.array([0.5, 0.2, 0.5, 0.9])).tolist()
    [1, 0, 1, 2]
    """
    score = np.asarray(score, dtype=float)
    return per_cohort("score ranks", score, np.zeros(0, dtype=bool),
                      lambda: np.unique(score, return_inverse=True)[1].astype(np.int64).reshape(-1))


def time_order(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Indices sorting patients by time, deaths before censorings at tied times (shared per cohort
    inside :func:`shared_cohort_results`).

    Examples
    --------
    >>> time_order(np.array([3.0, 1.0, 3.0]), np.array([False, True, True])).tolist()
    [1, 2, 0]
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    return per_cohort("time_order", time, event, lambda: np.lexsort((~event, time)))


def time_index(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(distinct times, index of each patient's time among them, first position of each
    distinct time in the order of time_order)``: ``np.unique(time, return_inverse=True)`` and the
    run starts, read off the time order in O(n) (shared per cohort inside a block).

    Examples
    --------
    >>> [a.tolist() for a in time_index(np.array([3.0, 1.0, 3.0]), np.array([False, True, True]))]
    [[1.0, 3.0], [1, 0, 1], [0, 1]]
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)

    def compute() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        order = time_order(time, event)
        sorted_time = time[order]
        new_time = np.r_[True, sorted_time[1:] != sorted_time[:-1]]
        first = np.flatnonzero(new_time)
        inv = np.empty(time.size, dtype=np.intp)
        inv[order] = np.cumsum(new_time) - 1
        return sorted_time[first], inv, first
    return per_cohort("time index", time, event, compute)


def cohort_kaplan_meier(time: np.ndarray, event: np.ndarray, conf_level: float = 0.95) -> KaplanMeier:
    """:func:`kaplan_meier` (log-log band) of a whole cohort (once per cohort and level inside
    :func:`shared_cohort_results`).

    For the metrics that each need the same cohort's curve; subsets (groups) go to
    :func:`kaplan_meier` directly, so they do not displace the cohort's entry.
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    return per_cohort(f"kaplan_meier {conf_level!r}", time, event,
                      lambda: _kaplan_meier_on(*time_index(time, event)[:2], event, conf_level, "log-log"))


def kaplan_meier(time: np.ndarray, event: np.ndarray, conf_level: float = 0.95,
                 conf_type: str = "log-log") -> KaplanMeier:
    """Kaplan-Meier estimate with Greenwood variance and a ``log-log`` (default) or ``log`` band.

    Events at a time are counted before censorings at the same time (the usual convention).
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    uniq, inv = np.unique(time, return_inverse=True)
    return _kaplan_meier_on(uniq, inv.reshape(-1), event, conf_level, conf_type)


def _kaplan_meier_on(uniq: np.ndarray, inv: np.ndarray, event: np.ndarray, conf_level: float,
                     conf_type: str) -> KaplanMeier:
    """:func:`kaplan_meier` from the distinct times and each patient's index among them."""
    d = np.bincount(inv, weights=event, minlength=uniq.size)
    c = np.bincount(inv, weights=~event, minlength=uniq.size)
    total = d + c
    # at risk at uniq[k] = number with time >= uniq[k]
    n = np.cumsum(total[::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - d / n)
        inc = np.where(n > d, d / (n * (n - d)), np.where(d > 0, np.inf, 0.0))
    var_log = np.cumsum(inc)
    z = NormalDist().inv_cdf(0.5 + conf_level / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if conf_type == "log-log":
            # CI for log(-log S): se = sqrt(var_log) / |log S|
            log_s = np.log(surv)
            se = np.sqrt(var_log) / np.abs(log_s)
            lower = np.exp(-np.exp(np.log(-log_s) + z * se))
            upper = np.exp(-np.exp(np.log(-log_s) - z * se))
            # S == 1 (no events yet): band collapses to 1; S == 0: band collapses to 0
            lower = np.where(surv >= 1.0, 1.0, np.where(surv <= 0.0, 0.0, lower))
            upper = np.where(surv >= 1.0, 1.0, np.where(surv <= 0.0, 0.0, upper))
        elif conf_type == "log":
            se = np.sqrt(var_log)
            lower = np.where(surv > 0, surv * np.exp(-z * se), 0.0)
            upper = np.minimum(np.where(surv > 0, surv * np.exp(z * se), 0.0), 1.0)
        else:
            raise ValueError(f"conf_type must be 'log-log' or 'log'; got {conf_type!r}")
    lower = np.nan_to_num(lower, nan=0.0)
    upper = np.nan_to_num(upper, nan=0.0)
    return KaplanMeier(uniq, n, d, c, surv, var_log, lower, upper, conf_level, conf_type)


def censoring_survival(time: np.ndarray, event: np.ndarray) -> KaplanMeier:
    """Kaplan-Meier of the censoring distribution G(t) = P(C > t) ("reverse" KM).

    Censorings are the events; at tied times events of interest leave the risk set first (they
    are observed before the censoring), the convention of Graf et al. 1999 and scikit-survival.
    Its arrays are read-only (inside :func:`shared_cohort_results` it is computed once per cohort).
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    return per_cohort("censoring", time, event, lambda: _censoring_parts(time, event))[0]


def censoring_left(time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """G(T_i-) for every patient: ``censoring_survival(time, event).at(time, left=True)``, the same
    numbers, read off the Kaplan-Meier's own index of each time (no search; shared per cohort inside a block).

    Examples
    --------
    >>> censoring_left(np.array([2.0, 4.0, 6.0]), np.array([True, False, True])).tolist()
    [1.0, 1.0, 0.5]
    """
    time = np.asarray(time, dtype=float)
    event = np.asarray(event, dtype=bool)
    return per_cohort("censoring", time, event, lambda: _censoring_parts(time, event))[1]


def _censoring_parts(time: np.ndarray, event: np.ndarray) -> tuple[KaplanMeier, np.ndarray]:
    uniq, inv, _ = time_index(time, event)
    d = np.bincount(inv, weights=event, minlength=uniq.size)
    c = np.bincount(inv, weights=~event, minlength=uniq.size)
    n = np.cumsum((d + c)[::-1])[::-1] - d
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(c > 0, c / n, 0.0)
    g = np.cumprod(1.0 - ratio)
    zeros = np.zeros_like(g)
    # G just before each patient's time: the value at the previous distinct time (1 before the first)
    left = np.concatenate(([1.0], g[:-1]))[inv]
    return KaplanMeier(uniq, n, c, d, g, zeros, g, g, 0.0, "none"), left


def dominance_sums(point_pos: np.ndarray, point_val: np.ndarray, point_w: np.ndarray,
                   query_pos: np.ndarray, query_val: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted 2-D dominance sums for every query, vectorised over queries.

    For each query q returns ``(sum of w over points with pos < query_pos[q] and val <
    query_val[q], same with val == query_val[q], same with any val)``. ``point_w`` may be (n,) or
    (n, k): k weightings share one pass (the sorting dominates the cost), and each output is then
    (n_queries, k).

    Positions and values are non-negative integers. The prefix ``[0, query_pos)`` is split into
    at most ``log2(n)`` aligned dyadic blocks (the binary digits of ``query_pos``, as in a
    Fenwick tree); within each level the points are sorted by ``(block, val)`` so one
    ``searchsorted`` answers every query at that level: O(n log^2 n) time, O(n k) memory, no
    Python loop over rows.
    """
    return dominance_pairs(point_pos, point_val, point_w, query_pos, query_val, point_counts=False)[0]


def dominance_pairs(point_pos: np.ndarray, point_val: np.ndarray, point_w: np.ndarray,
                    query_pos: np.ndarray, query_val: np.ndarray, *, point_counts: bool = True
                    ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray],
                               tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`dominance_sums` for the queries and, from the same sorted levels, the transposed
    counts for the points.

    Returns ``(query_sums, point_counts)``: ``query_sums`` is what :func:`dominance_sums`
    returns; ``point_counts`` is, for each point p, ``(number of queries with query_pos >
    point_pos[p] and query_val < point_val[p], same with ==, same with any val)`` (unweighted;
    three (n_points,) float arrays of whole numbers, exact; zeros when ``point_counts=False``).
    Both directions count the same pairs ``point_pos < query_pos``, each at the one dyadic level
    where it falls, so the points' counts come from the queries' searches instead of a second
    pass. The totals ignore the values: they are 1-D prefix sums over positions (the same
    pairs, summed in position order: equal to the level-by-level sums up to rounding).
    """
    point_pos = np.asarray(point_pos, dtype=np.int64)
    point_val = np.asarray(point_val, dtype=np.int64)
    point_w = np.asarray(point_w, dtype=float)
    query_pos = np.asarray(query_pos, dtype=np.int64)
    query_val = np.asarray(query_val, dtype=np.int64)
    nq = query_pos.size
    # weights as contiguous rows (k, n): gathering and scattering 1-D columns is ~10x faster than
    # fancy-indexing (n, k) arrays
    k = int(np.prod(point_w.shape[1:], dtype=int))
    columns = np.ascontiguousarray(point_w.reshape(point_w.shape[0], k).T)
    lt, eq = np.zeros((k, nq)), np.zeros((k, nq))
    rev = (np.zeros(point_pos.size), np.zeros(point_pos.size))
    if point_pos.size and nq:
        _dominance_levels(point_pos, point_val, columns, query_pos, query_val, (lt, eq),
                          rev if point_counts else None)
    # the totals ignore the values: 1-D prefix sums over positions, no dyadic levels needed
    by_pos = stable_argsort_int(point_pos)
    cw = np.concatenate((np.zeros((k, 1)), np.cumsum(columns[:, by_pos], axis=1)), axis=1)
    tot = cw[:, search_sorted(point_pos[by_pos], query_pos, side="left")]
    rev_tot = np.zeros(point_pos.size)
    if point_counts:
        rev_tot = nq - search_sorted(np.sort(query_pos), point_pos, side="right").astype(float)
    shape = (nq, *point_w.shape[1:])
    return (lt.T.reshape(shape), eq.T.reshape(shape), tot.T.reshape(shape)), (*rev, rev_tot)


def _dominance_levels(point_pos: np.ndarray, point_val: np.ndarray, columns: np.ndarray,
                      query_pos: np.ndarray, query_val: np.ndarray,
                      out: tuple[np.ndarray, np.ndarray],
                      rev: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """The dyadic levels of :func:`dominance_pairs`: the ``lt`` and ``eq`` sums written into
    ``out`` (each (k, n_queries)) and, if given, the points' ``lt`` and ``eq`` counts into ``rev``.

    Points and queries are sorted by value once and kept in that order ("value coordinates")
    through the levels: each level then needs a stable sort by block only (a 16-bit radix sort
    while the blocks are few), and the results go back to the callers' order once at the end.
    """
    span = int(max(point_pos.max(), query_pos.max())) + 1
    m = int(max(point_val.max(), query_val.max())) + 2  # key stride: values live in [0, m - 1)
    levels = max(1, int(np.ceil(np.log2(span + 1))) + 1)
    points_by_val = stable_argsort_int(point_val)
    queries_by_val = stable_argsort_int(query_val)
    ppos, pval, pw = point_pos[points_by_val], point_val[points_by_val], columns[:, points_by_val]
    qpos, qval = query_pos[queries_by_val], query_val[queries_by_val]
    lt, eq = np.zeros(out[0].shape), np.zeros(out[1].shape)
    counts = np.zeros(ppos.size, dtype=np.int64)  # per point: (lt count << 32) + eq count
    # weightings of all ones (Harrell's C; Uno's without censoring) are counts: the running sum
    # of ones is the position itself, and both counts fit one packed integer per query
    unit = [j for j in range(pw.shape[0]) if bool(np.all(pw[j] == 1.0))]
    weighted = [j for j in range(pw.shape[0]) if j not in unit]
    unit_counts = np.zeros(qpos.size, dtype=np.int64)
    for level in range(levels):
        qsel = np.flatnonzero((qpos >> level) & 1)
        if not qsel.size:
            continue
        n_blocks = span >> level
        # a query's block, (qpos >> level) - 1, is even: with counts only, the points of odd blocks
        # are left out (half the points; weighted sums keep them, as their running sums' rounding
        # depends on every point before)
        perm = _points_in_order(ppos, level, keep_odd=bool(weighted))
        pblock = ppos >> level
        sblock = pblock[perm]
        skeys = sblock * m + pval[perm]
        # block boundaries in the sorted keys come from counts; no search needed
        starts = np.concatenate(([0], np.cumsum(np.bincount(sblock, minlength=n_blocks + 2))))
        qblock = (qpos[qsel] >> level) - 1
        qperm = stable_argsort_int(qblock)
        q, block = qsel[qperm], qblock[qperm]
        qkeys = block * m + qval[q]
        lo = starts[block]
        below = np.searchsorted(skeys, qkeys, side="left")
        upto = np.searchsorted(skeys, qkeys, side="right")
        if unit:
            unit_counts[q] += ((below - lo) << 32) + (upto - below)
        cw = np.zeros(ppos.size + 1)
        for j in weighted:  # loop over weightings (1 or 2), not patients
            np.cumsum(pw[j][perm], out=cw[1:])
            at_below = cw[below]
            lt[j][q] += at_below - cw[lo]
            eq[j][q] += cw[upto] - at_below
        if rev is not None:
            _transposed_counts((below, upto), sblock, block, n_blocks, perm, counts)
    lt[unit] = unit_counts >> 32
    eq[unit] = unit_counts & 0xFFFFFFFF
    out[0][:, queries_by_val] = lt
    out[1][:, queries_by_val] = eq
    if rev is not None:
        rev[0][points_by_val] = counts >> 32
        rev[1][points_by_val] = counts & 0xFFFFFFFF


def _points_in_order(ppos: np.ndarray, level: int, *, keep_odd: bool) -> np.ndarray:
    """Indices (into the value-ordered points) sorting them by ``(block, val)`` at ``level``,
    stably; without the points of odd blocks unless ``keep_odd``."""
    if keep_odd:
        return stable_argsort_int(ppos >> level)
    even = np.flatnonzero(((ppos >> level) & 1) == 0)
    return even[stable_argsort_int(ppos[even] >> level)]


def _transposed_counts(query_search: tuple[np.ndarray, np.ndarray], sblock: np.ndarray, qblock: np.ndarray,
                       n_blocks: int, perm: np.ndarray, counts: np.ndarray) -> None:
    """One level of the points' counts: the queries of the point's block below / tied with its value.

    Read off the queries' own searches instead of searching again: with both key lists sorted,
    query q < point j exactly when fewer than j + 1 points are <= q (``upto[q] <= j``), and q <= j
    exactly when ``below[q] <= j``; so a running count of ``upto`` (``below``) values gives every
    point's number of queries below (up to) it, in O(n).
    """
    below, upto = query_search
    qstarts = np.concatenate(([0], np.cumsum(np.bincount(qblock, minlength=n_blocks + 2))))
    n_points = sblock.size
    queries_below = np.cumsum(np.bincount(upto, minlength=n_points + 1)[:n_points])
    queries_upto = np.cumsum(np.bincount(below, minlength=n_points + 1)[:n_points])
    # both counts packed into one integer (high and low 32 bits): one scatter instead of two; each
    # count stays below 2^31 (every pair is counted at one level only)
    counts[perm] += ((queries_below - qstarts[sblock]) << 32) + (queries_upto - queries_below)
