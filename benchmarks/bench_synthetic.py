"""Benchmark: simulate_cohort at 1,000,000 patients, against the cost of its raw random draws.

Run:  python benchmarks/bench_synthetic.py [n]

Prints, measured side by side in one run:
- wall time of ``simulate_cohort(n)`` (default: no censoring, complete findings, truth columns),
  and with the scenario's censoring and missingness, and without the closed-form truth columns;
- peak memory of one call (tracemalloc: Python and numpy allocations);
- the raw-draw baseline: the same random variates (same methods, same sizes, counted on a
  Generator subclass during an identical call) drawn from a plain Generator and nothing else;
- the ratio time / raw draws (target <= 5x), for the default call from rounds interleaved with
  the raw draws (best/best and median/median, with the load average: the machine is shared),
  and the chunked Parquet writer's time and peak memory.

Goals (issue 5): 1,000,000 patients in < 3 s and < 1.5 GB peak memory; ratio <= 5x.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np

from mastoprog import load_model, simulate_cohort
from mastoprog.synthetic import simulate_cohort_to_parquet


class CountingGenerator(np.random.Generator):
    """A PCG64 Generator that records every draw (method, size) it makes."""

    def __init__(self, seed: int):
        super().__init__(np.random.PCG64(seed))
        self.calls: Counter = Counter()

    def _record(self, name, size):
        self.calls[(name, int(np.prod(size)) if size is not None else 1)] += 1

    def random(self, size=None, *args, **kwargs):
        self._record("random", size)
        return super().random(size, *args, **kwargs)

    def standard_normal(self, size=None, *args, **kwargs):
        self._record("standard_normal", size)
        return super().standard_normal(size, *args, **kwargs)

    def standard_exponential(self, size=None, *args, **kwargs):
        self._record("standard_exponential", size)
        return super().standard_exponential(size, *args, **kwargs)


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def peak_mb(fn) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main(n: int = 1_000_000, rounds: int = 7) -> None:
    load = os.getloadavg()
    model = load_model("lim2009")
    simulate_cohort(1000, random_state=0, model=model)  # warm caches (scenario, recipes, life table)

    counter = CountingGenerator(1)
    simulate_cohort(n, random_state=counter, model=model)
    variates = sum(size * k for (_, size), k in counter.calls.items())

    def raw_draws() -> None:
        rng = np.random.default_rng(1)
        for (name, size), k in counter.calls.items():
            for _ in range(k):
                getattr(rng, name)(size)

    # The default call and the raw draws in alternating rounds: on a shared machine both see
    # the same load, so best/best and median/median ratios are comparable across runs.
    raw_times, default_times = [], []
    for _ in range(rounds):
        raw_times.append(best_of(raw_draws, repeat=1))
        default_times.append(best_of(lambda: simulate_cohort(n, random_state=1, model=model), repeat=1))
    t_raw = min(raw_times)
    runs = {
        "censoring + missingness from the scenario":
            lambda: simulate_cohort(n, random_state=1, model=model, censoring="scenario",
                                    missingness="scenario"),
        "without closed-form truth columns (truth=False)":
            lambda: simulate_cohort(n, random_state=1, model=model, truth=False),
        "findings only (survival=False)":
            lambda: simulate_cohort(n, random_state=1, survival=False),
    }
    print(f"mastoprog simulate_cohort benchmark: n = {n:,}, {os.cpu_count()} cores, "
          f"python {sys.version.split()[0]}, numpy {np.__version__}")
    print(f"load average at start: {load[0]:.2f} (1 min), {load[1]:.2f} (5 min)")
    print(f"raw random draws alone: {variates / n:.1f} variates per patient "
          f"({len(counter.calls)} distinct calls), best {t_raw:.3f} s, "
          f"median {np.median(raw_times):.3f} s")
    t_def, med_def = min(default_times), float(np.median(default_times))
    print(f"default (no censoring, complete findings, truth), {rounds} rounds interleaved with "
          f"the raw draws: best {t_def:.3f} s = {t_def / t_raw:.1f}x raw (target <= 5x), "
          f"median {med_def:.3f} s = {med_def / np.median(raw_times):.1f}x median raw")
    print(f"{'other configurations (best of 3)':52s} {'time s':>8s} {'x raw':>7s}")
    for label, fn in runs.items():
        t = best_of(fn)
        print(f"{label:52s} {t:8.3f} {t / t_raw:7.1f}")
    peak = peak_mb(lambda: simulate_cohort(n, random_state=1, model=model))
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    print(f"peak memory of the default call (tracemalloc): {peak:,.0f} MB; "
          f"process peak RSS so far: {rss:,.0f} MB")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cohort.parquet"

        def chunked() -> None:
            simulate_cohort_to_parquet(path, n, random_state=1, model=model, chunk_size=250_000,
                                       progress=False, force=True)

        t = best_of(chunked, repeat=1)
        peak_c = peak_mb(chunked)
        size = path.stat().st_size / 2**20
    print(f"chunked Parquet writer (4 x 250,000): {t:.3f} s, peak {peak_c:,.0f} MB, "
          f"file {size:,.0f} MB")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
