"""Measure every "What it must show" item of issue 10 on the shipped models (deterministic).

    python scripts/measure_issue10.py [--classify-n 1000000]

Prints one Markdown table row per measured item (the numbers in ``changes/evidence-readme.md``).
Everything is seeded; only the classify timing depends on the machine (one run, wall clock).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from mastoprog import load_model
from mastoprog.classification import classify
from mastoprog.risk import risk_score
from mastoprog.synthetic import simulate_cohort

BASE = {"sex": "M", "splenomegaly": False, "alp": 80.0, "alp_uln": 120.0, "sar_count": 0,
        "hemoglobin": 13.0, "platelets": 250.0}
MARS_Y = {"low": 12.2, "intermediate": 4.4, "high": 1.9}


def _med(model, rows) -> np.ndarray:
    return model.predict_median(pd.DataFrame(rows))["median"].to_numpy() / 12.0


def row(what: str, value: str, target: str) -> None:
    print(f"| {what} | {value} | {target} |")


def same_points(models: dict) -> None:
    for name, m in models.items():
        a, b = _med(m, [{**BASE, "who_subtype": "SM-AHN", "age": 71, "splenomegaly": True, "alp": 200.0,
                         "sar_count": 2},
                        {**BASE, "who_subtype": "SM-AHN", "age": 71, "hemoglobin": 8.5, "platelets": 60.0}])
        row(f"same MARS points (3), SM-AHN 71 y M: 2 S/A/R + spleen + ALP vs Hb 8.5 + plt 60 ({name})",
            f"{a:.2f} vs {b:.2f} y, ratio {max(a, b) / min(a, b):.2f}", "ratio < 3")
        c, n = _med(m, [{**BASE, "who_subtype": "ASM", "age": 55, "hemoglobin": 8.5, "platelets": 60.0},
                        {**BASE, "who_subtype": "ASM", "age": 55}])
        row(f"ASM 55 y M, Hb 8.5 + plt 60 vs normal counts ({name})", f"{c:.1f} vs {n:.1f} y",
            "clearly shorter")


def mcl(models: dict) -> None:
    sim = simulate_cohort(3_000, "lim2009", subtype="MCL", random_state=5, survival=False,
                          assign_subtype=True)
    for name, m in models.items():
        med = m.predict_median(sim)["median"].to_numpy()
        p5, p95 = np.percentile(med, [5, 95])
        s12 = m.predict_survival_function(sim, [12.0]).to_numpy()
        row(f"MCL (3,000 simulated, {name}): min individual median; p95/p5; min S(12)",
            f"{med.min():.2f} mo; {p95 / p5:.2f}; {s12.min():.4f}", ">= 0.5 mo; <= 10; > 0")
    m = models["mayo2025"]
    row("MCL 60 y, no factor (mayo2025)", f"{_med(m, [{**BASE, 'who_subtype': 'MCL', 'age': 60}])[0]:.2f} y",
        "WHO-MCL 1.8 y")


def step_at_sixty(m) -> None:
    worst = 0.0
    for s in ("ISM", "SSM", "ASM", "SM-AHN", "MCL", "SM-ALN"):
        y, o = _med(m, [{**BASE, "who_subtype": s, "age": 59.9}, {**BASE, "who_subtype": s, "age": 60.1}])
        worst = max(worst, abs(o / y - 1))
        if s == "SM-AHN":
            row("SM-AHN, no factor, 59.9 -> 60.1 y (lim2009)", f"{y:.2f} -> {o:.2f} y", "within 15 %")
    row("largest median change 59.9 -> 60.1 y over the subtypes (lim2009)", f"{100 * worst:.1f} %", "< 15 %")
    for s in ("ISM", "SSM"):
        rows = pd.DataFrame([{**BASE, "who_subtype": s, "age": a, "splenomegaly": True, "alp": 200.0,
                              "sar_count": 1} for a in (59.9, 60.1)])
        rs = (m.predict_survival_function(rows, [120.0]) / m.predict_population_survival(rows, [120.0]))
        r = rs.to_numpy()[0]
        row(f"{s} 3 factors, 10-y relative survival 59.9 -> 60.1 y (lim2009)",
            f"{r[0]:.3f} -> {r[1]:.3f} (excess {1 - r[0]:.3f} -> {1 - r[1]:.3f})", "excess within 15 %")


def mars_groups(mars, lim) -> None:
    ach = mars.state_.provenance["advanced_level"]["achieved"]
    row("mars2019 MARS group medians, own reference cohort",
        " / ".join(f"{ach[g] / 12:.1f}" for g in MARS_Y) + " y", "12.2 / 4.4 / 1.9 y within 30 %")
    sim = simulate_cohort(12_000, "lim2009", random_state=11, survival=False, assign_subtype=True)
    adv = sim[sim["who_subtype"].isin(["ASM", "SM-AHN", "MCL"])].reset_index(drop=True)
    groups = risk_score(adv, "mars")["group"].to_numpy(object)
    t = np.arange(0.0, 480.0, 0.5)
    for name, m in (("mars2019", mars), ("lim2009", lim)):
        out = []
        for g in MARS_Y:
            curve = m.predict_survival_function(adv[groups == g].iloc[:1500], t).mean(axis=1).to_numpy()
            out.append(t[np.argmax(curve <= 0.5)] / 12)
        row(f"{name} MARS group medians over simulate_cohort(lim2009) advanced SM (1,500 per group)",
            " / ".join(f"{v:.1f}" for v in out) + " y", "12.2 / 4.4 / 1.9 y (mars2019 within 30 %)")


def fidelity_counts(models: dict) -> None:
    for name in ("lim2009", "mars2019"):
        f = pd.DataFrame(models[name].state_.provenance["fidelity"])
        checks = f[f["used_for"] == "check"]
        verdict = checks["inside"].map({True: "inside", False: "outside"}).fillna("no interval")
        counts = verdict.value_counts().to_dict()
        row(f"fidelity({name}): figures; checks (inside / outside / no interval)",
            f"{len(f)}; {len(checks)} ({counts.get('inside', 0)} / {counts.get('outside', 0)} / "
            f"{counts.get('no interval', 0)})", ">= 10; >= 3 checks with verdicts")


def sm_aln(models: dict) -> None:
    for name, m in models.items():
        p = pd.DataFrame([{"age": 65, "sex": "M", "who_subtype": "SM-AHN", "ahn": "CLL"},
                          {"age": 65, "sex": "M", "who_subtype": "SM-AHN", "ahn": "CMML"}])
        a, b = m.predict_median(p)["median"].to_numpy() / 12
        row(f"SM-AHN + CLL (SM-ALN group) vs + CMML, 65 y M, other findings unknown ({name})",
            f"{a:.1f} vs {b:.1f} y", "SM-ALN 8.1 y (Mayo 910)")


def classify_time(n: int) -> None:
    sim = simulate_cohort(n, "lim2009", random_state=1, survival=False)
    t0 = time.perf_counter()
    classify(sim)
    row(f"classify {n:,} simulated patients (one run, wall clock, shared machine)",
        f"{time.perf_counter() - t0:.2f} s", "< 1 s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classify-n", type=int, default=1_000_000)
    args = ap.parse_args()
    models = {name: load_model(name) for name in ("lim2009", "mayo2025", "mars2019", "midostaurin")}
    print("| what | measured | issue asks / published |\n|---|---|---|")
    same_points({k: models[k] for k in ("lim2009", "mars2019")})
    mcl({k: models[k] for k in ("lim2009", "mayo2025", "mars2019")})
    step_at_sixty(models["lim2009"])
    mars_groups(models["mars2019"], models["lim2009"])
    fidelity_counts(models)
    sm_aln(models)
    classify_time(args.classify_n)


if __name__ == "__main__":
    main()
