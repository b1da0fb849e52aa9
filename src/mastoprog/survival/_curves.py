"""Closed-form curves of the survival model: excess survival, background, envelopes, medians.

For patient i of prognostic subtype s (``t`` in months since diagnosis)::

    S_i(t) = S_pop,i(t) * exp(-exp(lp_i) * (t / lambda_s) ** rho_s)

No validation happens here: the per-patient arrays come from ``_patients.prepare`` and the
parameters from :attr:`ModelState.arrays <mastoprog.survival.ModelState.arrays>`. Everything is
vectorised over patients, and over parameter draws where a draw axis is given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..lifetables import LifeTable
from ._state import PROGNOSTIC_SUBTYPES, ModelArrays

__all__ = ["PROGNOSTIC_SUBTYPES", "excess_survival", "point_medians"]

DEFAULT_TIMES = np.arange(0.0, 241.0)  # months: 0-20 years, monthly
_HORIZON_YEARS = 160  # medians are searched on [0, 160 years]
_MEDIAN_STEPS = 60  # at most this many regula-falsi steps inside the year holding the median


def excess_survival(lp: np.ndarray, log_lambda: float, rho: float, t: np.ndarray) -> np.ndarray:
    """Excess (disease) survival ``exp(-exp(lp) * (t / lambda) ** rho)``, shape (len(lp), len(t)).

    Each distinct linear predictor is evaluated once and gathered (``np.take``): risk features are
    binary, so a cohort of any size has at most a few dozen distinct ``lp`` per subtype.

    Parameters
    ----------
    lp : ndarray (n,)
        Linear predictors (log relative excess hazard, dimensionless).
    log_lambda : float
        Log Weibull scale, log months.
    rho : float
        Weibull shape (dimensionless, > 0).
    t : ndarray (T,)
        Months since diagnosis (>= 0).

    Returns
    -------
    ndarray (n, T)
        Probabilities in [0, 1]; 1 at ``t = 0``.

    References
    ----------
    Weibull proportional hazards: Collett D. *Modelling Survival Data in Medical Research*,
    3rd ed., CRC Press 2015, section 5.6 (``H(t) = exp(lp) (t / lambda) ** rho``).
    """
    # hash-based: faster than np.unique; a NaN gets its own code (a NaN curve), never -1, which
    # would take another value's curve
    inv, uniq = pd.factorize(np.asarray(lp, dtype=float), use_na_sentinel=False)
    with np.errstate(divide="ignore"):
        log_t = np.log(t)
    E_u = np.exp(-np.exp(uniq[:, None] + rho * (log_t[None, :] - log_lambda)))
    return np.take(E_u, inv, axis=0)


def _product_gathered(bg_u: np.ndarray, bg_index: np.ndarray, lp: np.ndarray, log_lambda: float, rho: float,
                      t: np.ndarray) -> np.ndarray:
    """``bg_u[bg_index] * excess_survival(lp, ...)``, shape (len(lp), len(t)), each distinct
    (background path, linear predictor) pair multiplied once and gathered.

    A cohort has a few hundred paths and a few dozen linear predictors per subtype, so far fewer
    pairs than patients: one gather of the products instead of gathering both factors and
    multiplying per patient (the same products, so the same values to the last bit).
    """
    # a NaN linear predictor gets its own code (a NaN curve, as without the gather), never -1,
    # which would point at another pair's product
    lp_codes, lp_u = pd.factorize(np.asarray(lp, dtype=float), use_na_sentinel=False)
    pair_codes, pairs = pd.factorize(bg_index.astype(np.int64) * lp_u.size + lp_codes)
    if 2 * pairs.size > lp_codes.size:  # nearly one pair per patient: nothing to share
        e = excess_survival(lp, log_lambda, rho, t)
        return np.multiply(e, bg_u[bg_index], out=e)
    E_u = excess_survival(lp_u, log_lambda, rho, t)
    products = np.multiply(E_u[pairs % lp_u.size], bg_u[pairs // lp_u.size])
    return np.take(products, pair_codes, axis=0)


def background(lt: LifeTable, P: Mapping[str, Any],
               t: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """General-population survival for each distinct (sex, year, whole age) path.

    Returns ``({"mid", "lo", "hi"}: (U, T) arrays, (n,) row index per patient)``. The
    background depends on nothing else, so 100,000 patients need a few thousand life-table
    paths. For unknown sex, ``mid`` is the mean of the F and M curves and ``lo``/``hi`` their
    pointwise minimum/maximum; for known sex the three are the same curve.
    """
    unk = P["sex_unknown"]
    s, y, a = lt.path_codes(P["age"], P["sex"], P["year"])
    s_key = np.where(unk, 2, s)
    key = (s_key * (lt.last_year - lt.first_year + 1) + y) * (lt.max_age + 1) + a
    inv, uniq = pd.factorize(key)
    first = np.zeros(uniq.size, np.int64)
    first[inv[::-1]] = np.arange(inv.size)[::-1]  # a row index of each distinct path
    sk, yk, ak = s_key[first], y[first] + lt.first_year, a[first]
    # path handles + flat takes: the same values as lt.survival (LifeTable.path_cumulative_hazard
    # repeats cumulative_hazard's operations), without 3-D fancy indexing per (path, time)
    start = lt.path_start(ak, np.where(sk == 2, 0, sk), yk)
    S = np.exp(-lt.path_cumulative_hazard(start[:, None], t[None, :]))
    out = {"mid": S, "lo": S, "hi": S}
    u = sk == 2
    if u.any():
        S_m = np.exp(-lt.path_cumulative_hazard(lt.path_start(ak[u], 1, yk[u])[:, None], t[None, :]))
        out = {"mid": S.copy(), "lo": S.copy(), "hi": S.copy()}
        out["mid"][u] = 0.5 * (S[u] + S_m)
        out["lo"][u] = np.minimum(S[u], S_m)
        out["hi"][u] = np.maximum(S[u], S_m)
    return out, inv


def curves(
    lt: LifeTable,
    P: Mapping[str, Any],
    t: np.ndarray,
    arr: ModelArrays,
    S_pop: dict[str, np.ndarray] | None = None,
    envelope: bool = True,
) -> dict[str, Any]:
    """Central (and, with ``envelope``, lower and upper) survival (n, T), closed form.

    Each distinct background path and each distinct linear predictor is evaluated once
    (risk features are binary, so a subtype has at most 24 distinct linear predictors) and
    gathered per patient. ``S_pop`` (per patient ``{"mid", "lo", "hi"}``) skips the life table.
    """
    if S_pop is None:
        S_u, inv_bg = background(lt, P, t)
    else:
        S_u, inv_bg = S_pop, np.arange(P["n"])
    n, T = P["n"], t.size
    cand = P["cand"]
    n_cand = cand.sum(axis=1)
    single = bool(np.all(n_cand == 1))
    mid = np.empty((n, T)) if single else np.zeros((n, T))
    # Filled only with the envelope (returned as None otherwise).
    lower = np.full((n, T), np.inf) if envelope else np.empty((0, T))
    upper = np.full((n, T), -np.inf) if envelope else np.empty((0, T))
    for k in range(len(PROGNOSTIC_SUBTYPES)):
        rows = np.flatnonzero(cand[:, k])
        if rows.size == 0:
            continue
        every = rows.size == n
        idx = inv_bg if every else inv_bg[rows]
        if arr.excess[k]:
            val = _product_gathered(S_u["mid"], idx, P["lp_mid"][rows, k], arr.log_lambda[k], arr.rho[k], t)
        else:
            val = S_u["mid"][idx]
        if single and every:
            mid = val
        elif single:
            mid[rows] = val  # one candidate per patient: each row is written exactly once
        else:
            mid[rows] += val
        if envelope:
            _widen(lower, upper, rows, S_u["lo"][idx], S_u["hi"][idx], P, k, arr, t)
    if not single:
        mid /= n_cand[:, None]
    out: dict[str, Any] = {"mid": mid, "lower": lower if envelope else None,
                           "upper": upper if envelope else None}
    if S_pop is None:
        out["pop_u"], out["inv_bg"] = S_u, inv_bg
    return out


def _widen(lower: np.ndarray, upper: np.ndarray, rows: np.ndarray, bg_lo: np.ndarray, bg_hi: np.ndarray,
           P: Mapping[str, Any], k: int, arr: ModelArrays, t: np.ndarray) -> None:
    """Widen the envelope (in place) of the patients ``rows`` by candidate subtype ``k``."""
    if arr.excess[k]:
        ll, r = arr.log_lambda[k], arr.rho[k]
        bg_lo = excess_survival(P["lp_hi"][rows, k], ll, r, t) * bg_lo
        bg_hi = excess_survival(P["lp_lo"][rows, k], ll, r, t) * bg_hi
    lower[rows] = np.minimum(lower[rows], bg_lo)
    upper[rows] = np.maximum(upper[rows], bg_hi)


def draw_envelopes(
    P: Mapping[str, Any],
    t: np.ndarray,
    bg_lo: np.ndarray,
    bg_hi: np.ndarray,
    lp_lo: np.ndarray,
    lp_hi: np.ndarray,
    log_lambda: np.ndarray,
    rho: np.ndarray,
    excess: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The envelope's lower and upper curves under every parameter draw at once, (D, n, T) each.

    The same operations, element by element, as :func:`curves` with ``envelope=True`` run once per
    draw (the per-draw loop is kept in ``tests/test_survival.py`` as the specification): for each
    candidate subtype ``k`` the lower curve is ``excess(lp_hi) * bg_lo`` and the upper one
    ``excess(lp_lo) * bg_hi``, and the envelope is the minimum / maximum over the candidates.

    Parameters
    ----------
    P : mapping
        Patients (``cand``, ``n``) from ``_patients.prepare``.
    t : ndarray (T,)
        Months since diagnosis.
    bg_lo, bg_hi : ndarray (n, T)
        Per-patient background survival (lower/upper over F and M for unknown sex).
    lp_lo, lp_hi : ndarray (D, n, 6)
        Smallest / largest linear predictor over unknown findings, per draw.
    log_lambda, rho : ndarray (D, 6)
        Weibull log scale (log months) and shape per draw.
    excess : ndarray (6,) of bool
        Subtypes with an excess hazard.

    Returns
    -------
    tuple of ndarray
        ``(lower, upper)``, each (D, n, T) probabilities.
    """
    D, n = lp_lo.shape[0], P["n"]
    lower = np.full((D, n, t.size), np.inf)
    upper = np.full((D, n, t.size), -np.inf)
    with np.errstate(divide="ignore"):
        log_t = np.log(t)
    for k in range(len(PROGNOSTIC_SUBTYPES)):
        rows = np.flatnonzero(P["cand"][:, k])
        if rows.size == 0:
            continue
        every = rows.size == n
        lo_bg, hi_bg = (bg_lo, bg_hi) if every else (bg_lo[rows], bg_hi[rows])
        if excess[k]:
            scale = rho[:, k, None, None] * (log_t[None, None, :] - log_lambda[:, k, None, None])  # (D, 1, T)
            lo_val = np.exp(-np.exp(lp_hi[:, rows, k, None] + scale)) * lo_bg
            hi_val = np.exp(-np.exp(lp_lo[:, rows, k, None] + scale)) * hi_bg
        else:
            lo_val, hi_val = lo_bg[None], hi_bg[None]
        if every:
            np.minimum(lower, lo_val, out=lower)
            np.maximum(upper, hi_val, out=upper)
        else:
            lower[:, rows] = np.minimum(lower[:, rows], lo_val)
            upper[:, rows] = np.maximum(upper[:, rows], hi_val)
    return lower, upper


def population(c: dict, which: str = "mid") -> np.ndarray:
    """Per-patient background (n, T) from the output of :func:`curves`."""
    return c["pop_u"][which][c["inv_bg"]]


# --------------------------------------------------------------------------- medians

_COMBINE: dict[str, tuple[Callable[..., np.ndarray], Any]] = {
    "mid": (lambda f, m: 0.5 * (f + m), np.add),
    "lower": (np.minimum, np.minimum),
    "upper": (np.maximum, np.maximum),
}


def curve_medians(
    lt: LifeTable,
    P: Mapping[str, Any],
    pattern: np.ndarray,
    lp: np.ndarray,
    log_lambda: np.ndarray,
    rho: np.ndarray,
    excess: np.ndarray,
    which: str = "mid",
    max_rows: int = 2_000_000,
) -> np.ndarray:
    """Median (months) of each patient's curve under each parameter draw: S(t) = 0.5.

    Parameters
    ----------
    lt : LifeTable
    P : dict
        Patients from ``_patients.prepare`` (``age``, ``sex``, ``sex_unknown``, ``year``, ``cand``).
    pattern : ndarray (n,)
        Index of each patient's risk-feature pattern (``_patients.feature_patterns``).
    lp : ndarray (D, n_patterns, 6)
        Linear predictor per draw, feature pattern and prognostic subtype.
    log_lambda, rho : ndarray (D, 6)
        Weibull log scale (log months) and shape per draw and subtype.
    excess : ndarray (6,) of bool
        Subtypes with an excess hazard (the others contribute excess survival 1).
    which : {"mid", "lower", "upper"}
        ``"mid"``: mean over candidate subtypes and over F/M for unknown sex (the central curve);
        ``"lower"``/``"upper"``: minimum/maximum over both (pass the matching ``lp``: the largest
        for lower, the smallest for upper).
    max_rows : int
        Curves x draws solved per pass (bounds memory).

    Returns
    -------
    ndarray (D, n)
        Months; ``inf`` when the curve stays above 0.5 for the whole 160-year horizon.

    Notes
    -----
    Patients with the same background path (whole age, sex, calendar year), candidate subtypes
    and feature pattern share a curve in every draw, so each distinct curve is solved once per
    draw. Without draws, single curves (one candidate subtype, known sex) go to
    :func:`point_medians` (the synthetic cohort's truth uses the same solver). Otherwise: the
    life table's cumulative hazard is linear within each year since diagnosis, so it is
    tabulated at whole years once per background path (exact interpolation in between); a
    bisection over whole years finds the year holding the median and the Illinois variant of
    regula falsi (superlinear, always bracketed) solves the smooth remainder to 1e-13 relative.
    """
    # Background paths, as the life table resolves them (whole age, sex, clipped year).
    s_code, y_code, a_code = lt.path_codes(P["age"], P["sex"], P["year"])
    n_years, n_ages = lt.last_year - lt.first_year + 1, lt.max_age + 1
    path_key = ((np.where(P["sex_unknown"], 2, s_code) * n_years + y_code) * n_ages + a_code)
    path, paths = pd.factorize(path_key)
    # Distinct curves: background path x candidate subtypes x feature pattern.
    cand_bits = P["cand"] @ (1 << np.arange(P["cand"].shape[1]))
    n_pat = lp.shape[1]
    curve, curves_u = pd.factorize((path.astype(np.int64) * 64 + cand_bits) * n_pat + pattern)
    first = _first_rows(curve, curves_u.size)
    D, m = lp.shape[0], first.size
    if D == 1 and not P["sex_unknown"].any() and bool(np.all(P["cand"].sum(axis=1) == 1)):
        # Single curves (one subtype, known sex): the closed-form solver the synthetic truth uses.
        k = P["cand"][first].argmax(axis=1)
        med, _ = point_medians(lt, P["age"][first], P["sex"][first], P["year"][first],
                               lp[0, pattern[first], k], log_lambda[0, k], rho[0, k], excess[k])
        return med[None, curve]
    H_paths = _knots(lt, P, _first_rows(path, paths.size))
    out = np.empty((D, m))
    step = max(1, max_rows // D)
    for start in range(0, m, step):
        rows = first[start : start + step]
        out[:, start : start + rows.size] = _solve_medians(
            [H[path[rows]] for H in H_paths],
            P["cand"][rows],
            lp[:, pattern[rows], :],
            log_lambda,
            rho,
            excess,
            which,
        )
    return out[:, curve]


def _first_rows(codes: np.ndarray, size: int) -> np.ndarray:
    """A row index of each code 0..size-1 (the first occurrence)."""
    first = np.zeros(size, np.int64)
    first[codes[::-1]] = np.arange(codes.size - 1, -1, -1)
    return first


def _knots(lt: LifeTable, P: Mapping[str, Any], rows: np.ndarray) -> list[np.ndarray]:
    """Cumulative hazard at whole years 0..160 after diagnosis, (paths, 161), for the patients'
    sex, and also for M when some sex is unknown (equal to the first for known sex)."""
    knots = 12.0 * np.arange(_HORIZON_YEARS + 1)
    age, year, unknown = P["age"][rows][:, None], P["year"][rows][:, None], P["sex_unknown"][rows]
    H = [lt.cumulative_hazard(age, P["sex"][rows][:, None], year, knots)]
    if unknown.any():
        H.append(H[0].copy())
        H[1][unknown] = lt.cumulative_hazard(age[unknown], "M", year[unknown], knots)
    return H


def _solve_medians(
    H_knots: list[np.ndarray],
    cand: np.ndarray,
    lp: np.ndarray,
    log_lambda: np.ndarray,
    rho: np.ndarray,
    excess: np.ndarray,
    which: str,
) -> np.ndarray:
    """Medians (D, m) of m distinct curves (see :func:`curve_medians`).

    ``H_knots``: the background's cumulative hazard at whole years, (m, 161) per sex (one array,
    or F/known and M for unknown sex); linear in between, as the life table defines it.
    """
    combine_sex, combine_subtypes = _COMBINE[which]
    m = cand.shape[0]
    rows = np.arange(m)[None, :]

    def s_pop(t: np.ndarray) -> np.ndarray:
        x = t / 12.0
        k = np.minimum(np.floor(x), _HORIZON_YEARS - 1).astype(np.int64)
        S = [np.exp(-(H[rows, k] + (x - k) * (H[rows, k + 1] - H[rows, k]))) for H in H_knots]
        return S[0] if len(S) == 1 else combine_sex(S[0], S[1])

    # Excess: one (curve, candidate subtype) pair per candidate, pairs of a curve contiguous.
    pc, pk = np.nonzero(cand)
    starts = np.flatnonzero(np.r_[True, pc[1:] != pc[:-1]])
    counts = np.diff(np.r_[starts, pc.size])
    one_each = pc.size == m
    has_exc = excess[pk][None, :]
    p_lp = np.where(has_exc, lp[:, pc, pk], -np.inf)  # no excess hazard: H = 0
    p_ll = np.where(has_exc, log_lambda[:, pk], 0.0)
    p_rho = rho[:, pk]

    def s_all(t: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", over="ignore"):
            log_t = np.log(t)[:, pc]
            E = np.exp(-np.exp(p_lp + p_rho * (log_t - p_ll)))
        if one_each:
            return s_pop(t) * E
        exc = combine_subtypes.reduceat(E, starts, axis=1)
        if which == "mid":
            exc = exc / counts
        return s_pop(t) * exc

    D = lp.shape[0]
    never = s_all(np.full((D, m), 12.0 * _HORIZON_YEARS)) > 0.5
    # Whole years: the smallest K with S(12 K) <= 0.5 (S(0) = 1).
    lo = np.zeros((D, m), np.int64)
    hi = np.full((D, m), _HORIZON_YEARS, np.int64)
    while np.any(hi - lo > 1):
        mid = (lo + hi) // 2
        below = s_all(12.0 * mid) <= 0.5
        hi, lo = np.where(below, mid, hi), np.where(below, lo, mid)
    # Inside the year: Illinois regula falsi on g = S - 0.5 (g(a) > 0 >= g(b)).
    a, b = 12.0 * lo, 12.0 * hi
    ga, gb = s_all(a) - 0.5, s_all(b) - 0.5
    gb = np.where(never, -0.5, gb)  # no root: any bracket will do, the answer is inf
    c = b
    side = np.zeros((D, m), np.int8)
    for _ in range(_MEDIAN_STEPS):
        c_new = b - gb * (b - a) / (gb - ga)
        gc = s_all(c_new) - 0.5
        right = gc > 0  # the root lies right of c: c replaces a
        gb = np.where(right & (side == 1), 0.5 * gb, gb)  # a replaced twice: halve g(b)
        ga = np.where(~right & (side == -1), 0.5 * ga, ga)  # b replaced twice: halve g(a)
        a, ga = np.where(right, c_new, a), np.where(right, gc, ga)
        b, gb = np.where(right, b, c_new), np.where(right, gb, gc)
        side = np.where(right, 1, -1).astype(np.int8)
        done = np.all((np.abs(c_new - c) <= 1e-13 * c_new) | (gc == 0) | never)
        c = c_new
        if done:
            break
    return np.where(never, np.inf, c)


def point_medians(
    lt: LifeTable,
    age: np.ndarray,
    sex: np.ndarray,
    year: np.ndarray,
    lp: np.ndarray,
    log_lambda: np.ndarray,
    rho: np.ndarray,
    excess: np.ndarray,
    survival_at: float | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Median (months) of single curves with known sex, and optionally S at one time.

    ``S(t) = S_pop(t) * exp(-c t ** rho)`` with ``c = exp(lp) / lambda ** rho`` (``c = 0`` where
    ``excess`` is False). The median solves ``H_pop(t) + c t ** rho = ln 2``: ``H_pop`` is linear
    within each year since diagnosis (the life table's piecewise-constant hazard), so a
    bisection over whole years finds the year and a safeguarded Newton iteration the root inside
    it, to 1e-13 relative (as :func:`curve_medians`). Pass each distinct curve once (e.g. one
    row per whole age, sex, year, subtype and feature pattern): the work is per row.

    Parameters
    ----------
    lt : LifeTable
    age, sex, year : ndarray (m,)
        Age at diagnosis (years), sex (0 = F, 1 = M, or "F"/"M"), calendar year of diagnosis.
    lp : ndarray (m,)
        Linear predictor (log relative excess hazard).
    log_lambda, rho : ndarray (m,)
        Weibull log scale (log months) and shape of each row's subtype.
    excess : ndarray (m,) of bool
        Rows with an excess hazard (the others follow the background alone).
    survival_at : float, optional
        Also return ``S(survival_at)`` (months).

    Returns
    -------
    tuple of ndarray
        Medians (months; ``inf`` when the curve stays above 0.5 for 160 years) and ``S`` at
        ``survival_at`` (None without it).

    Examples
    --------
    >>> import numpy as np
    >>> from mastoprog import LifeTable
    >>> med, s60 = point_medians(LifeTable.hmd_us(), np.array([60.0]), np.array([1]), np.array([2020]),
    ...                          np.array([0.0]), np.array([np.log(41.0)]), np.array([1.0]),
    ...                          np.array([True]), survival_at=60.0)
    >>> bool(20 < med[0] < 41) and bool(0 < s60[0] < 0.5)
    True
    """
    m = len(age)
    with np.errstate(over="ignore", invalid="ignore"):
        c = np.where(excess, np.exp(lp - rho * np.where(excess, log_lambda, 0.0)), 0.0)
    start = lt.path_start(age, sex, year)  # validated once; same values as cumulative_hazard

    def total_h(t: np.ndarray) -> np.ndarray:
        return lt.path_cumulative_hazard(start, t) + c * t ** rho

    s_at = None if survival_at is None else np.exp(-total_h(np.full(m, float(survival_at))))
    ln2 = np.log(2.0)
    never = total_h(np.full(m, 12.0 * _HORIZON_YEARS)) < ln2  # above 0.5 for the whole horizon
    lo, hi = np.zeros(m, np.int64), np.full(m, _HORIZON_YEARS - 1, np.int64)
    while np.any(hi > lo):  # largest whole year K with H(12 K) <= ln 2
        mid = (lo + hi + 1) // 2
        ok = lt.path_whole_years(start, mid) + c * (12.0 * mid) ** rho <= ln2  # = total_h(12 mid)
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid - 1)
    t0 = 12.0 * lo
    t = _newton_in_year(t0, lt.path_cumulative_hazard(start, t0), lt.path_hazard(start, t0), c, rho)
    return np.where(never, np.inf, t), s_at


def _newton_in_year(t0: np.ndarray, h0: np.ndarray, rate: np.ndarray, c: np.ndarray,
                    rho: np.ndarray) -> np.ndarray:
    """Root of ``h0 + rate (t - t0) + c t ** rho = ln 2`` in ``[t0, t0 + 12)`` (see :func:`point_medians`).

    Safeguarded Newton: g is smooth and increasing there; a step leaving the bracket falls back
    to bisection. The loop runs until every curve's step is below 1e-13 t. A curve whose state
    (t, left, right) came back unchanged from a step is at a fixed point of this deterministic
    map and would stay there, so it leaves the working set: same iterations, same results, less
    work (most curves settle in a few steps while a few keep halving their bracket for ~45 more).
    """
    ln2 = np.log(2.0)
    t = t0 + 6.0
    work = np.arange(t.size)
    # c * rho is loop-invariant: (c * rho) * p / t below is the same product as before.
    wt, wl, wr, wh0, wrate, wc, wrho, wt0 = t.copy(), t0, t0 + 12.0, h0, rate, c, rho, t0
    wcr = wc * wrho
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(_MEDIAN_STEPS):
            p = wt ** wrho
            g = wh0 + wrate * (wt - wt0) + wc * p - ln2
            up = g >= 0
            right, left = np.where(up, wt, wr), np.where(up, wl, wt)
            step = wt - g / (wrate + wcr * p / wt)
            t_new = np.where((step > left) & (step < right), step, 0.5 * (left + right))
            done = bool(np.all(np.abs(t_new - wt) <= 1e-13 * wt))
            moving = np.flatnonzero((t_new != wt) | (left != wl) | (right != wr)) if not done else work
            wt, wl, wr = t_new, left, right
            if done or moving.size < 0.9 * work.size:
                t[work] = wt  # curves leaving the working set keep their (final) state
                if done:
                    break
                work = work[moving]
                wt, wl, wr, wh0, wrate, wc, wcr, wrho, wt0 = (
                    x[moving] for x in (wt, wl, wr, wh0, wrate, wc, wcr, wrho, wt0))
        else:
            t[work] = wt
    return t
