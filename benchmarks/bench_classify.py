"""Benchmark: classify 1,000,000 patients, against a naive per-row implementation in the same run.

Run: ``python benchmarks/bench_classify.py [--rows N] [--naive-rows M] [--edition E]``.

Prints, for a synthetic cohort with clinic-like missingness (fixed seed):
* ``ensure_findings`` alone (the validation every public function pays),
* ``classify`` end to end (validation included) and the rules + reporting part (total minus
  validation), best of three runs;
* the candidate-set engine alone (``_evaluate``: rules on a validated frame, no reporting);
* three per-row baselines timed on a subsample and extrapolated per row:
  (a) the public API called once per patient (``classify_patient(dict)`` in a loop);
  (b) the naive reference (``tests/classify_reference.py``: plain Python on one dict, the same
      rules, unknowns handled by enumerating every fill) on the same rows;
  (c) the same naive rules on *complete* rows: subtype only, no unknowns, no validation, no
      reporting: the cheapest a per-row loop can be, not the same work;
* the ratios, and a check that (b) and the vectorised candidate sets agree on the subsample.
Targets (issue 2): classify 1e6 rows < 1 s on the 2-core machine; ratio >= 50x.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from classify_reference import reference_candidates, reference_complete

from mastoprog import classify
from mastoprog.classification import classify_patient
from mastoprog.classification._editions import check_edition
from mastoprog.classification._engine import COLUMNS, evaluate
from mastoprog.classification._report import _classify_frame
from mastoprog.exceptions import PlausibilityWarning
from mastoprog.findings import AHN_LABELS, ensure_findings

BOOL_PREVALENCE = {
    "skin_lesions": 0.7, "bm_examined": 0.9, "bm_mc_aggregates": 0.8, "kit_d816": 0.8,
    "kit_other": 0.03, "cd2_cd25": 0.85, "cd30": 0.3, "hat": 0.1,
    "dysplasia_myeloproliferation": 0.1, "hepatomegaly": 0.15, "splenomegaly": 0.2,
    "lymphadenopathy": 0.1, "hepatic_dysfunction": 0.03, "hypersplenism": 0.03,
    "malabsorption": 0.02, "osteolysis": 0.04, "mc_sarcoma": 0.001,
}
#: Share of unknown values per column (clinic-like: blood counts and smears often missing).
MISSING = {"age": 0.0, "skin_lesions": 0.02, "bm_examined": 0.02, "bm_mc_aggregates": 0.05,
           "atypical_mc_pct": 0.1, "kit_d816": 0.05, "kit_other": 0.6, "cd2_cd25": 0.05,
           "cd30": 0.6, "tryptase": 0.02, "hat": 0.8, "bm_mc_infiltration_pct": 0.1,
           "mc_aspirate_pct": 0.1, "kit_vaf_pct": 0.5, "anc": 0.03, "hemoglobin": 0.03,
           "platelets": 0.03, "mc_sarcoma": 0.05}


def synthetic_findings(n: int, seed: int = 20161213) -> pd.DataFrame:
    """Canonical findings for ``n`` synthetic patients (independent columns; speed only)."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {"patient_id": np.char.add("P", np.arange(n).astype(str)).astype(object)}

    def numbers(x: np.ndarray, col: str) -> np.ndarray:
        x = np.round(x, 1)
        x[rng.random(n) < MISSING.get(col, 0.03)] = np.nan
        return x

    data["age"] = numbers(rng.uniform(2, 90, n), "age")
    for col, p in BOOL_PREVALENCE.items():
        data[col] = pd.arrays.BooleanArray(rng.random(n) < p, rng.random(n) < MISSING.get(col, 0.03))
    data["atypical_mc_pct"] = numbers(rng.uniform(0, 100, n), "atypical_mc_pct")
    data["tryptase"] = numbers(np.exp(rng.normal(3.3, 1.0, n)), "tryptase")
    data["bm_mc_infiltration_pct"] = numbers(rng.gamma(2.0, 8.0, n).clip(0, 100), "bm_mc_infiltration_pct")
    data["mc_aspirate_pct"] = numbers(rng.gamma(1.2, 3.0, n).clip(0, 100), "mc_aspirate_pct")
    data["kit_vaf_pct"] = numbers(rng.gamma(1.5, 4.0, n).clip(0, 100), "kit_vaf_pct")
    data["anc"] = numbers(rng.gamma(6.0, 0.6, n), "anc")
    data["hemoglobin"] = numbers(rng.normal(13.0, 1.8, n).clip(3.5, 19.5), "hemoglobin")
    data["platelets"] = numbers(rng.normal(240, 70, n).clip(10, 1400), "platelets")
    ahn = rng.choice(["none", "CMML", "MDS", "MPN", "lymphoma", "unknown"], n,
                     p=[0.9, 0.03, 0.02, 0.02, 0.01, 0.02])
    data["ahn"] = pd.Categorical(np.where(ahn == "unknown", None, ahn),
                                 categories=["none", *AHN_LABELS])  # canonical: NaN stays unknown
    return pd.DataFrame(data)


def as_dicts(frame: pd.DataFrame) -> list[dict]:
    """Rows as plain dicts (None = unknown; ahn and mc_sarcoma 'unknown' when unknown, since for
    them a plain empty value means "not diagnosed"), outside the timings."""
    rows = []
    for rec in frame.astype(object).where(frame.notna(), None).to_dict("records"):
        for column in ("ahn", "mc_sarcoma"):  # the frame's <NA> there: unknown, not "none"
            rec[column] = rec[column] if rec[column] is not None else "unknown"
        rows.append(rec)
    return rows


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--naive-rows", type=int, default=2_000)
    ap.add_argument("--edition", default="who2016", choices=["who2016", "who2022", "icc2022"])
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore", PlausibilityWarning)

    frame = synthetic_findings(args.rows)
    result = classify(frame, edition=args.edition)  # warm-up (data files, caches)
    t_validate = best_of(lambda: ensure_findings(frame, columns=COLUMNS))
    t_total = best_of(lambda: classify(frame, edition=args.edition))
    validated = ensure_findings(frame, columns=COLUMNS)[0]
    ed = check_edition(args.edition)
    t_engine = best_of(lambda: evaluate(validated, ed))
    t_rules = best_of(lambda: _classify_frame(validated, ed))
    indeterminate = float((result["subtype"] == "indeterminate").mean())

    sample = frame.iloc[: args.naive_rows]
    rows = as_dicts(sample)
    api_rows = rows[: max(1, len(rows) // 10)]
    t0 = time.perf_counter()
    for r in api_rows:
        classify_patient(r, edition=args.edition)
    api_per_row = (time.perf_counter() - t0) / len(api_rows)
    t0 = time.perf_counter()
    naive = [reference_candidates(r, args.edition) for r in rows]
    naive_per_row = (time.perf_counter() - t0) / len(rows)
    complete = []
    for r in rows:
        c = {k: (0.0 if v is None else v) for k, v in r.items()}
        c.update({b: bool(c[b]) for b in BOOL_PREVALENCE})
        c["ahn"] = "none" if c["ahn"] == "unknown" else c["ahn"]
        complete.append(c)
    t0 = time.perf_counter()
    for r in complete:
        reference_complete(r, args.edition)
    naive_complete_per_row = (time.perf_counter() - t0) / len(complete)
    agree = all(set(a) == b for a, b in zip(result["candidates"].iloc[: len(rows)], naive,
                                               strict=True))

    n = args.rows
    print(f"classify benchmark: {n:,} synthetic patients, edition {args.edition}, "
          f"{indeterminate:.1%} indeterminate")
    print(f"  ensure_findings (validation)           {t_validate:8.3f} s")
    print(f"  classify end to end                    {t_total:8.3f} s   (target < 1 s)")
    print(f"  rules + reporting (_classify_frame)    {t_rules:8.3f} s")
    print(f"  candidate-set engine alone (_evaluate) {t_engine:8.3f} s")
    for name, per_row, k in (
            ("(a) classify_patient per patient", api_per_row, len(api_rows)),
            ("(b) naive rules, with unknowns", naive_per_row, len(rows)),
            ("(c) naive rules, complete rows", naive_complete_per_row, len(complete))):
        print(f"  {name:32s} {per_row * 1e6:9.1f} us/row -> {per_row * n:9.1f} s per {n:,} "
              f"(from {k:,} rows)")
    print(f"  ratio (a)/end to end: {api_per_row * n / t_total:9.0f}x   (target >= 50x)")
    print(f"  ratio (b)/end to end: {naive_per_row * n / t_total:9.0f}x   "
          f"(b)/rules+reporting: {naive_per_row * n / t_rules:6.0f}x   "
          f"(b)/engine: {naive_per_row * n / t_engine:6.0f}x")
    print(f"  ratio (c)/end to end: {naive_complete_per_row * n / t_total:9.1f}x   "
          f"(c)/rules+reporting: {naive_complete_per_row * n / t_rules:6.1f}x   "
          f"(c)/engine: {naive_complete_per_row * n / t_engine:6.1f}x   (not the same work)")
    print(f"  vectorised and naive (b) candidate sets agree on the {len(rows):,} rows: {agree}")


if __name__ == "__main__":
    main()
