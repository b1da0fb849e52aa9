"""Full-size simulation study of the default model (acceptance of issue 6) and 1 vs 2 workers.

    python benchmarks/bench_simulation_study.py [n_replicates] [n_patients]

Runs ``simulation_study("lim2009", 2000, 200)`` serially (1 worker), with joblib on 2 workers and
on a local Dask cluster with 2 worker processes; checks the three give identical replicates
(deterministic per seed), prints the timings with their ratios, and the acceptance table:
coverage of the Kaplan-Meier subtype medians' 95 % intervals (target 0.92-0.98) and their bias.
"""

from __future__ import annotations

import sys
import time

import pandas as pd


def main(n_replicates: int = 200, n_patients: int = 2000) -> None:
    from mastoprog.validation import simulation_study

    kw = {"n_patients": n_patients, "n_replicates": n_replicates, "random_state": 20260601, "progress": False}
    # warm-up: imports, model load and the truth computation (cached per process) are not part
    # of the comparison
    start = time.perf_counter()
    simulation_study("lim2009", **{**kw, "n_replicates": 1})
    print(f"warm-up (model load, true medians from 5 x 20,000 patients, 1 replicate): "
          f"{time.perf_counter() - start:.1f} s")

    start = time.perf_counter()
    serial = simulation_study("lim2009", **kw)
    t1 = time.perf_counter() - start
    start = time.perf_counter()
    joblib2 = simulation_study("lim2009", n_jobs=2, **kw)
    t2 = time.perf_counter() - start

    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        start = time.perf_counter()
        dask2 = simulation_study("lim2009", backend="dask", client=client, **kw)
        t3 = time.perf_counter() - start

    same = (serial.replicates.equals(joblib2.replicates) and serial.replicates.equals(dask2.replicates))
    print(f"simulation study lim2009: {n_replicates} replicates x {n_patients} patients")
    print(f"  1 worker (serial)        {t1:8.1f} s")
    print(f"  2 workers (joblib/loky)  {t2:8.1f} s   speed-up {t1 / t2:4.2f}x")
    print(f"  2 workers (dask, procs)  {t3:8.1f} s   speed-up {t1 / t3:4.2f}x")
    print(f"  identical replicates across backends: {same}")

    s = serial.summary
    km = s[(s["estimator"] == "km") & (s["quantity"] == "median")]
    cols = ["group", "n_replicates", "n_reached", "truth", "mean", "bias", "relative_bias",
            "empirical_se", "mean_model_se", "coverage", "coverage_mcse", "model_se", "model_se_mcse",
            "power"]
    with pd.option_context("display.width", 200, "display.precision", 3):
        print("\nKaplan-Meier subtype medians (months) vs the true marginal medians:")
        print(km[cols].to_string(index=False))
        # coverage is over the replicates that reached the median (n_reached; see the notes)
        pooled = (km["coverage"] * km["n_reached"]).sum() / km["n_reached"].sum()
        print(f"pooled coverage {pooled:.3f} (target 0.92-0.98); per subtype in range: "
              f"{bool(km['coverage'].between(0.92, 0.98).all())}; bias / Monte Carlo SE: "
              + ", ".join(f"{g} {b / (se / n ** 0.5):+.1f}" for g, b, se, n in
                          zip(km["group"], km["bias"], km["empirical_se"], km["n_reached"],
                              strict=True)))
        print(f"failed estimator fits: {len(serial.failures)}; notes: {list(serial.notes) or 'none'}")
        t = s[(s["estimator"] == "truth") & (s["group"] == "all")]
        print("\nGenerating model scored on its own cohorts (distribution over replicates):")
        print(t[["quantity", "horizon", "truth", "mean", "empirical_se", "mean_model_se", "coverage",
                 "q05", "median", "q95"]].to_string(index=False))
        print("(mean_model_se of auc: its bootstrap SE, to set against the empirical SE)")
        m = s[(s["estimator"] == "truth") & (s["quantity"] == "median")]
        print("\nGenerating model's subtype medians (mean of predicted curves of the replicate's patients):")
        print(m[["group", "truth", "mean", "bias", "empirical_se"]].to_string(index=False))


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*args)
