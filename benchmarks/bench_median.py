"""predict_median(interval=True): the vectorised solver vs the previous algorithm, side by side.

    python benchmarks/bench_median.py [--n 1000] [--rounds 3]

``n`` patients of the lim2009 scenario (ISM, SSM, ASM, SM-AHN, MCL in equal parts; splenomegaly
unknown for 20 %, sex for 5 %: real envelopes), the embedded lim2009 model with its 200 draws.

* new: ``SurvivalModel.predict_median(interval=True)`` (``_curves.curve_medians``: distinct curves x
  draws at once, whole-year bisection on tabulated life-table hazards, Illinois inside the year).
* previous (reproduced below from survival.py before the split): linear predictors per draw in a
  Python loop, patients tiled over draws, ``np.unique`` over the (patients x draws) keys, then 60
  full-horizon bisection steps, each calling ``LifeTable.survival`` with string sex codes.

Prints the best time of each, their ratio, and the largest relative difference of the results.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd


def previous_interval(model, data):
    """The algorithm of predict_median(interval=True) before the split (same results)."""
    P = model._prepare(data)
    arr = model._arrays()
    lt = model.life_table_
    n = P["n"]
    draws = arr.draws()
    D = len(draws)
    lo_lp = np.concatenate([model._redo_lp(P, d)["lp_hi"] for d in draws])
    hi_lp = np.concatenate([model._redo_lp(P, d)["lp_lo"] for d in draws])
    rep = {
        "age": np.tile(P["age"], D),
        "sex": np.tile(P["sex"], D),
        "sex_unknown": np.tile(P["sex_unknown"], D),
        "year": np.tile(P["year"], D),
        "cand": np.tile(P["cand"], (D, 1)),
        "ll": np.repeat(np.array([d.log_lambda for d in draws]), n, axis=0),
        "rho": np.repeat(np.array([d.rho for d in draws]), n, axis=0),
        "excess": arr.excess,
    }
    lows = _median_rows(lt, rep, lo_lp, "lower").reshape(D, n)
    highs = _median_rows(lt, rep, hi_lp, "upper").reshape(D, n)
    return np.percentile(lows, 2.5, axis=0), np.percentile(highs, 97.5, axis=0)


def _median_rows(lt, R, lp, which):
    m0 = R["cand"].shape[0]
    shape = (m0, R["cand"].shape[1])
    key = np.column_stack(
        [
            np.floor(R["age"]),
            R["sex"] == "M",
            R["sex_unknown"],
            np.clip(np.floor(R["year"]), lt.first_year, lt.last_year),
            R["cand"],
            np.nan_to_num(lp),
            np.nan_to_num(np.broadcast_to(R["ll"], shape)),
            np.broadcast_to(R["rho"], shape),
        ]
    ).astype(float)
    _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
    R = {k: (v[first] if isinstance(v, np.ndarray) and v.shape[:1] == (m0,) else v) for k, v in R.items()}
    lp = lp[first]
    lo = np.zeros(first.size)
    hi = np.full(first.size, 12.0 * 160)
    at_hi = _surv_rows(lt, R, lp, which, hi)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        below = _surv_rows(lt, R, lp, which, mid) <= 0.5
        hi = np.where(below, mid, hi)
        lo = np.where(below, lo, mid)
    return np.where(at_hi > 0.5, np.inf, hi)[inv.ravel()]


def _surv_rows(lt, R, lp, which, t_rows):
    S_pop = lt.survival(R["age"], R["sex"], R["year"], t_rows)
    u = R["sex_unknown"]
    if u.any():
        S_m = lt.survival(R["age"][u], "M", R["year"][u], t_rows[u])
        combine = {"mid": lambda f, m: 0.5 * (f + m), "lower": np.minimum, "upper": np.maximum}[which]
        S_pop = S_pop.copy()
        S_pop[u] = combine(S_pop[u], S_m)
    with np.errstate(divide="ignore", over="ignore"):
        H = np.exp(lp + R["rho"] * (np.log(t_rows)[:, None] - R["ll"]))
    S = np.exp(-np.where(R["excess"][None, :], H, 0.0))
    cand = R["cand"]
    if which == "lower":
        exc = np.where(cand, S, np.inf).min(axis=1)
    else:
        exc = np.where(cand, S, -np.inf).max(axis=1)
    return S_pop * exc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n-point", type=int, default=100_000)
    args = ap.parse_args()

    from mastoprog import load_model, reference_cohort

    model = load_model("lim2009")
    per = args.n // 5
    subtypes = ("ISM", "SSM", "ASM", "SM-AHN", "MCL")
    df = pd.concat([reference_cohort("lim2009", s, n=per, random_state=3) for s in subtypes],
                   ignore_index=True)
    keep = ["age", "sex", "who_subtype", "splenomegaly", "alp", "alp_uln", "srsf2", "asxl1", "runx1",
            "sar_count", "diagnosis_year"]
    df = df[[c for c in keep if c in df.columns]]
    rng = np.random.default_rng(0)
    df.loc[rng.random(len(df)) < 0.2, "splenomegaly"] = np.nan
    df.loc[rng.random(len(df)) < 0.05, "sex"] = np.nan

    best_new = best_old = np.inf
    for _ in range(args.rounds):  # interleaved, so machine load affects both alike
        t0 = time.perf_counter()
        new = model.predict_median(df, interval=True)
        best_new = min(best_new, time.perf_counter() - t0)
        t0 = time.perf_counter()
        old_lo, old_hi = previous_interval(model, df)
        best_old = min(best_old, time.perf_counter() - t0)
    diff = max(
        np.max(np.abs(new["lower"].to_numpy() / old_lo - 1)),
        np.max(np.abs(new["upper"].to_numpy() / old_hi - 1)),
    )
    print(f"{len(df)} patients x {model.state_.draws.n} draws")
    print(f"previous algorithm: {best_old:8.3f} s")
    print(f"vectorised (now):   {best_new:8.3f} s   ratio {best_old / best_new:.1f}x")
    print(f"largest relative difference of lower/upper: {diff:.2e}")
    # Point medians of a large cohort (issue 9: "point medians 100k").
    big = pd.concat([reference_cohort("lim2009", s, n=args.n_point // 5, random_state=4) for s in subtypes],
                    ignore_index=True)[df.columns]
    best_point = np.inf
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        model.predict_median(big)
        best_point = min(best_point, time.perf_counter() - t0)
    print(f"point medians, {len(big)} patients (complete findings): {best_point:8.3f} s")


if __name__ == "__main__":
    main()
