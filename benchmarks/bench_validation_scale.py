"""Scale of ``validate``: wall time and peak memory on a large synthetic cohort.

    python benchmarks/bench_validation_scale.py [n_patients] [--old-src PATH]

Runs ``validate(load_model("lim2009"), cohort, horizons=(12, 60, 120))`` in a fresh subprocess
(so its peak resident memory is its own) and prints wall time, CPU time split into the model's
predictions (``predict*`` calls, survival's code) and everything else (the metrics), and peak RSS.
On a shared machine the CPU times are the comparable figures. With ``--old-src``
(the ``src`` folder of an older checkout) the old code runs on the same cohort in the same run and
the ratio is printed. The figures of the code before issue 12 (measured by the lead on this
2-core machine: 264 s and 7.7 GB for 1,000,000 patients) are printed beside for reference.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

OLD_1M = {"seconds": 264.0, "peak_gb": 7.7}
_CHILD = """
import sys, time, pandas as pd
from mastoprog.survival import load_model
from mastoprog.validation import validate


class Timed:
    # forwards everything to the model; adds up the CPU time of its prediction calls
    def __init__(self, model):
        self._model, self.cpu = model, 0.0

    def __getattr__(self, name):
        attr = getattr(self._model, name)
        if not name.startswith("predict"):
            return attr

        def timed(*args, **kwargs):
            start = time.process_time()
            try:
                return attr(*args, **kwargs)
            finally:
                self.cpu += time.process_time() - start
        return timed


cohort = pd.read_parquet(sys.argv[1])
model = Timed(load_model("lim2009"))
start, cpu = time.perf_counter(), time.process_time()
result = validate(model, cohort, horizons=(12, 60, 120), progress=False)
print(f"{time.perf_counter() - start:.1f} {time.process_time() - cpu:.1f} {model.cpu:.1f}")
print(result.metrics.loc[result.metrics.metric == "c_harrell", "estimate"].round(6).tolist())
"""


def run(src: str, cohort: Path) -> tuple[float, float, float, float, str]:
    """(validate wall s, validate CPU s, of which model predictions CPU s, peak RSS in GB of the
    child, Harrell C) for ``src``.

    On a shared machine the wall time depends on the other users; the CPU time does not."""
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(cohort)], env=env, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB, max over children so far
    wall, cpu, predict = (float(v) for v in out[0].split())
    return wall, cpu, predict, peak / 1024**2, out[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--old-src", help="src folder of an older checkout to time side by side")
    parser.add_argument("--censoring", choices=("none", "scenario"), default="none",
                        help="none (default): complete follow-up, every death observed; scenario: "
                             "lim2009's follow-up (closing mid-2008, 2 %% drop-out a year), so the "
                             "IPC-weighted paths of the metrics are timed too")
    args = parser.parse_args()
    from mastoprog.synthetic import simulate_cohort

    new_src = str(Path(__file__).resolve().parents[1] / "src")
    with tempfile.TemporaryDirectory() as tmp:
        cohort = Path(tmp) / "cohort.parquet"
        censoring = None if args.censoring == "none" else "scenario"
        frame = simulate_cohort(args.n, random_state=2024, censoring=censoring)
        censored = 1.0 - float(frame["event"].mean())
        frame.to_parquet(cohort)
        del frame
        load = os.getloadavg()[0]
        print(f"n = {args.n:,} patients ({censored:.0%} censored); load average {load:.1f} on "
              f"{os.cpu_count()} cores")
        t_new, cpu_new, pred_new, rss_new, c_new = run(new_src, cohort)
        print(f"validate now   wall {t_new:7.1f} s   CPU {cpu_new:7.1f} s (model predictions "
              f"{pred_new:6.1f} s, "
              f"metrics {cpu_new - pred_new:6.1f} s)   peak RSS {rss_new:5.2f} GB   Harrell C {c_new}")
        if args.old_src:
            t_old, cpu_old, pred_old, rss_old, c_old = run(args.old_src, cohort)
            print(f"validate old   wall {t_old:7.1f} s   CPU {cpu_old:7.1f} s (model predictions "
                  f"{pred_old:6.1f} s, "
                  f"metrics {cpu_old - pred_old:6.1f} s)   peak RSS {rss_old:5.2f} GB (max of both runs)   "
                  f"Harrell C {c_old}")
            print(f"ratio old/now: wall {t_old / t_new:5.2f}, CPU {cpu_old / cpu_new:5.2f}")
        print(f"before issue 12 (1,000,000 patients, lead's measurement): {OLD_1M['seconds']:.0f} s, "
              f"{OLD_1M['peak_gb']} GB; target < 60 s, < 2 GB")


if __name__ == "__main__":
    main()
