"""Benchmark the validation metrics against lifelines and scikit-survival, side by side.

    python benchmarks/bench_validation.py [n_patients]
    python benchmarks/bench_validation.py --validate [n_patients] [--old-src PATH]

Prints wall-clock times (best of 3) and ratios for the same data in the same run, plus the
largest absolute difference between the estimates. ``--validate`` times the whole ``validate``
on a synthetic cohort (default 1,000,000 patients) beside the figures before issue 12
(``bench_validation_scale.py``).
"""

from __future__ import annotations

import sys
import time

import numpy as np


def best_of(fn, repeats: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main(n: int = 100_000) -> None:
    from lifelines.utils import concordance_index as lifelines_c

    from mastoprog.metrics import brier_score, concordance_index, time_dependent_auc

    rng = np.random.default_rng(2024)
    x = rng.normal(size=n)
    t_event = 40.0 * (-np.log(rng.uniform(size=n)) * np.exp(-0.8 * x)) ** (1 / 1.2)
    cens = rng.uniform(5.0, 120.0, size=n)
    time_, event = np.minimum(t_event, cens), t_event <= cens
    pred = -x + rng.normal(size=n)  # higher = longer survival
    print(f"n = {n:,} patients, {event.mean():.0%} events")

    t_ours, ours = best_of(lambda: concordance_index(time_, event, pred))
    t_ll, ll = best_of(lambda: lifelines_c(time_, pred, event))
    print(f"Harrell C   mastoprog {t_ours:7.3f} s (with IJ standard error)   lifelines {t_ll:7.3f} s   "
          f"ratio lifelines/mastoprog = {t_ll / t_ours:5.2f}   |diff| = {abs(ours.estimate - ll):.1e}")

    try:
        from sksurv.metrics import brier_score as sk_brier
        from sksurv.metrics import concordance_index_censored, concordance_index_ipcw, cumulative_dynamic_auc
        from sksurv.util import Surv
    except ImportError:
        print("scikit-survival not installed: skipping its comparisons")
        return
    # scikit-survival's C and AUC build an n-by-n comparison (memory O(n^2)): compare on a subsample
    m = min(n, 5000)
    t_s, e_s, p_s, x_s = time_[:m], event[:m], pred[:m], x[:m]
    print(f"scikit-survival comparisons on the first {m:,} patients:")
    y = Surv.from_arrays(event=e_s, time=t_s)
    t_ours, ours = best_of(lambda: concordance_index(t_s, e_s, p_s))
    t_sk, sk = best_of(lambda: concordance_index_censored(e_s, t_s, -p_s)[0], repeats=1)
    print(f"Harrell C   mastoprog {t_ours:7.3f} s   scikit-survival {t_sk:7.3f} s   "
          f"ratio = {t_sk / t_ours:6.2f}   |diff| = {abs(ours.estimate - sk):.1e}")
    t_ou, ou = best_of(lambda: concordance_index(t_s, e_s, p_s, method="uno", tau=60.0))
    t_sku, sku = best_of(lambda: concordance_index_ipcw(y, y, -p_s, tau=60.0)[0], repeats=1)
    print(f"Uno C       mastoprog {t_ou:7.3f} s   scikit-survival {t_sku:7.3f} s   "
          f"ratio = {t_sku / t_ou:6.2f}   |diff| = {abs(ou.estimate - sku):.1e}")
    times = [12.0, 36.0, 60.0]
    t_oa, oa = best_of(lambda: time_dependent_auc(t_s, e_s, p_s, times, n_bootstrap=0))
    t_ska, ska = best_of(lambda: cumulative_dynamic_auc(y, y, -p_s, times)[0], repeats=1)
    print(f"AUC(t) x3   mastoprog {t_oa:7.3f} s   scikit-survival {t_ska:7.3f} s   "
          f"ratio = {t_ska / t_oa:6.2f}   |diff| = {np.max(np.abs(oa.table['auc'] - ska)):.1e}")
    t_ob2, _ = best_of(lambda: time_dependent_auc(t_s, e_s, p_s, times, n_bootstrap=200))
    print(f"AUC(t) x3 with its 200-resample bootstrap CI: mastoprog {t_ob2:7.3f} s "
          f"({t_ob2 / t_oa:5.1f}x the point estimate; {t_ob2 / t_ska:5.2f}x scikit-survival's point "
          "estimate)")
    s36 = np.exp(-((36.0 / 40.0) ** 1.2) * np.exp(0.8 * x_s))
    t_ob, ob = best_of(lambda: brier_score(t_s, e_s, s36, 36.0))
    t_skb, skb = best_of(lambda: sk_brier(y, y, s36[:, None], [36.0])[1][0], repeats=1)
    print(f"Brier(36)   mastoprog {t_ob:7.3f} s   scikit-survival {t_skb:7.3f} s   "
          f"ratio = {t_skb / t_ob:6.2f}   |diff| = {abs(ob.estimate - skb):.1e}")

if __name__ == "__main__":
    if "--validate" in sys.argv:
        from bench_validation_scale import main as scale_main

        sys.argv.remove("--validate")
        scale_main()
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
