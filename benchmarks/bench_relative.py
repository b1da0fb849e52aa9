"""Benchmark: net survival (Pohar Perme, Ederer II), crude probabilities and years lost on 100,000 patients,
beside the plain reference implementation (``tests/relative_reference.py``) in the same run.

Run: ``python benchmarks/bench_relative.py [--n 100000] [--sample 200] [--small 2000] [--seed 1]``.

Prints:
* the vectorised estimators on a synthetic cohort (``simulate_cohort``, lim2009, scenario censoring;
  follow-up times are continuous, so about one follow-up time per patient), best of two runs;
* the plain reference (one Python iteration per follow-up time, every patient at risk looked up in
  the life table) on the same cohort: ``--sample`` iterations evenly spread over the follow-up times
  are timed and the mean cost per iteration is multiplied by the number of follow-up times (a full
  run would take tens of minutes on the shared 2-core machine); the ratio of the two;
* both in full on a ``--small`` cohort, with their largest difference (they are the same estimator).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from relative_reference import reference_net_survival

from mastoprog import LifeTable, simulate_cohort
from mastoprog.relative import crude_mortality, net_survival, years_lost


def best_of(runs: int, fn, *args, **kwargs) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, out


def arrays(df):
    return (df["time"].to_numpy(), df["event"].to_numpy(), df["age"].to_numpy(), df["sex"].to_numpy(),
            df["diagnosis_year"].to_numpy())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    lt = LifeTable.hmd_us()
    cols = ["time", "event", "age", "sex", "diagnosis_year"]
    df = simulate_cohort(args.n, "lim2009", random_state=args.seed, censoring="scenario")[cols]
    n_times = np.unique(df["time"]).size
    print(f"cohort: {args.n:,} patients, {int(df['event'].sum()):,} deaths, {n_times:,} follow-up times, "
          f"follow-up up to {df['time'].max() / 12:.1f} years")
    print(f"{'':34s}{'vectorised':>12s}{'reference':>14s}{'ratio':>9s}")
    for method in ("pohar-perme", "ederer2"):
        fast, _ = best_of(2, net_survival, df, method=method, life_table=lt)
        picks = np.linspace(0, n_times - 1, min(args.sample, n_times)).round().astype(int)
        t0 = time.perf_counter()
        reference_net_survival(*arrays(df), lt, method, only=picks)
        slow = (time.perf_counter() - t0) / picks.size * n_times
        print(f"net_survival {method:21s}{fast:10.2f} s{slow:12.0f} s*{slow / fast:8.0f}x")
    for name, fn, kw in (("net_survival integration='relsurv'", net_survival, {"integration": "relsurv"}),
                         ("crude_mortality", crude_mortality, {}),
                         ("years_lost yl2013", years_lost, {"measure": "yl2013"}),
                         ("years_lost yl2017", years_lost, {"measure": "yl2017"})):
        fast, _ = best_of(2, fn, df, life_table=lt, **kw)
        print(f"{name:34s}{fast:10.2f} s")
    print(f"* extrapolated from {min(args.sample, n_times)} of the {n_times:,} iterations of its loop")

    small = simulate_cohort(args.small, "lim2009", random_state=args.seed + 1, censoring="scenario")[cols]
    for method in ("pohar-perme", "ederer2"):
        fast, ours = best_of(1, net_survival, small, method=method, life_table=lt)
        slow, ref = best_of(1, reference_net_survival, *arrays(small), lt, method)
        diff = np.abs(ours.table["estimate"].to_numpy() - ref["estimate"].to_numpy()).max()
        print(f"{args.small:,} patients, {method}: vectorised {fast:.2f} s, reference {slow:.1f} s "
              f"(full run, {slow / fast:.0f}x); largest difference {diff:.1e}")


if __name__ == "__main__":
    main()
