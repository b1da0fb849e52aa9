"""Benchmark: risk scores for 1,000,000 patients (target < 0.5 s for the mastoprog score).

Run: ``python benchmarks/bench_risk.py [n]``. Prints, for each score, the best of three runs of
``risk_score`` on a canonical frame (validation through ``ensure_findings`` included), and for
the mastoprog score the ratio to a naive per-row Python implementation of the same rules, timed in
the same run on a subsample and scaled linearly to n (its results are checked against the
vectorised ones on that subsample).
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np
import pandas as pd

from mastoprog.risk import mastoprog_coefficients, risk_score


def cohort(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)

    def flag(p: float) -> pd.arrays.BooleanArray:
        return pd.arrays.BooleanArray(rng.random(n) < p, rng.random(n) < 0.1)  # 10 % unknown

    return pd.DataFrame({
        "patient_id": np.arange(n).astype(str),
        "age": rng.uniform(20, 90, n).round(1),
        "splenomegaly": flag(0.2),
        "alp": np.where(rng.random(n) < 0.05, np.nan, rng.uniform(40, 300, n).round()),
        "alp_uln": np.where(rng.random(n) < 0.5, np.nan, 120.0),
        "srsf2": flag(0.1), "asxl1": flag(0.1), "runx1": flag(0.1),
        "hemoglobin": rng.uniform(7, 16, n).round(1),
        "platelets": rng.uniform(20, 400, n).round(),
        "tryptase": rng.uniform(5, 400, n).round(),
        "skin_lesions": flag(0.5),
        "who_subtype": pd.Categorical(rng.choice(["ISM", "SSM", "ASM", "SM-AHN", "MCL"], n)),
    })


def naive_mastoprog(frame: pd.DataFrame) -> list[tuple]:
    """The same rules, one patient at a time in plain Python (the baseline being compared)."""
    c = mastoprog_coefficients()
    b = {k: math.log(v) for k, v in c["hr"].items()}
    out = []
    for row in frame.to_dict("records"):
        def known(v):
            return v is not None and v is not pd.NA and not (isinstance(v, float) and math.isnan(v))

        lo = hi = 0
        lp_lo = lp_hi = 0.0
        age = row["age"]
        if known(age):
            x = int(age > 60)
            lo, hi, lp_lo, lp_hi = lo + x, hi + x, lp_lo + x * b["age_gt_60"], lp_hi + x * b["age_gt_60"]
        else:
            hi, lp_hi = hi + 1, lp_hi + b["age_gt_60"]
        sp = row["splenomegaly"]
        if known(sp):
            x = int(bool(sp))
            lo, hi = lo + x, hi + x
            lp_lo, lp_hi = lp_lo + x * b["splenomegaly"], lp_hi + x * b["splenomegaly"]
        else:
            hi, lp_hi = hi + 1, lp_hi + b["splenomegaly"]
        uln = row["alp_uln"] if known(row["alp_uln"]) else (120.0 if not (known(age) and age < 18) else None)
        if known(row["alp"]) and uln is not None:
            x = int(row["alp"] > uln)
            lo, hi = lo + x, hi + x
            lp_lo, lp_hi = lp_lo + x * b["alp_gt_uln"], lp_hi + x * b["alp_gt_uln"]
        else:
            hi, lp_hi = hi + 1, lp_hi + b["alp_gt_uln"]
        genes = [row[g] for g in ("srsf2", "asxl1", "runx1")]
        pos = sum(1 for g in genes if known(g) and g)
        unk = sum(1 for g in genes if not known(g))
        for count, side in ((pos, "lo"), (pos + unk, "hi")):
            pts = min(count, 2)
            lp = 0.0 if count == 0 else (b["sar_1"] if count == 1 else b["sar_2plus"])
            if side == "lo":
                lo, lp_lo = lo + pts, lp_lo + lp
            else:
                hi, lp_hi = hi + pts, lp_hi + lp
        group = lambda p: "low" if p == 0 else ("intermediate" if p <= 2 else "high")  # noqa: E731
        g = group(lo) if group(lo) == group(hi) else "indeterminate"
        out.append((lo, hi, g, lp_lo, lp_hi))
    return out


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(n: int = 1_000_000) -> None:
    from mastoprog.findings import ensure_findings
    from mastoprog.risk.composite import COLUMNS, score_mastoprog

    frame = cohort(n)
    no_id = frame.drop(columns="patient_id")
    risk_score(frame.head(1000))  # load the data files once (cached) before timing
    print(f"risk_score on {n:,} patients, best of 3 (findings validation included)")
    times = {}
    for score in ("mastoprog", "mars", "maps", "ipsm"):
        times[score] = best_of(lambda s=score: risk_score(no_id, score=s))
        print(f"  {score:<10s} {times[score]:7.3f} s   {n / times[score] / 1e6:5.2f} M patients/s")
    with_id = best_of(lambda: risk_score(frame))
    validated, _ = ensure_findings(no_id, columns=COLUMNS)
    t_validate = best_of(lambda: ensure_findings(no_id, columns=COLUMNS))
    t_validate_id = best_of(lambda: ensure_findings(frame, columns=COLUMNS))
    t_rules = best_of(lambda: score_mastoprog(validated))
    print(f"mastoprog breakdown: validation {t_validate:.3f} s, scoring rules {t_rules:.3f} s; "
          f"with a patient_id column {with_id:.3f} s (validation {t_validate_id:.3f} s: the "
          "uniqueness check of 1M string ids)")
    verdict = "OK" if times["mastoprog"] < 0.5 else "SLOWER THAN TARGET"
    print(f"mastoprog target < 0.5 s (no patient_id): {verdict}")

    m = min(n, 50_000)
    sub = frame.iloc[:m]
    t0 = time.perf_counter()
    naive = naive_mastoprog(sub)
    t_naive = (time.perf_counter() - t0) * n / m
    vec = risk_score(sub)
    check = pd.DataFrame(naive, columns=["points_min", "points_max", "group", "lp_min", "lp_max"],
                         index=sub.index)
    assert (check["points_min"].to_numpy() == vec["points_min"].to_numpy()).all()
    assert (check["points_max"].to_numpy() == vec["points_max"].to_numpy()).all()
    assert (check["group"].to_numpy() == vec["group"].to_numpy()).all()
    np.testing.assert_allclose(check["lp_min"], vec["linear_predictor_min"], rtol=1e-12)
    np.testing.assert_allclose(check["lp_max"], vec["linear_predictor_max"], rtol=1e-12)
    print(f"naive per-row Python (timed on {m:,}, scaled to {n:,}): {t_naive:7.2f} s; "
          f"vectorised is {t_naive / times['mastoprog']:.0f}x faster (results identical on the subsample)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
