"""Scale of the metrics half of ``validate``: CPU seconds per metric on a large synthetic cohort.

    python benchmarks/bench_metrics_scale.py [n_patients] [--old-src PATH] [--inputs FILE.npz]

Builds the inputs once (``simulate_cohort(n, random_state=2024)`` and the lim2009 model's S(12),
S(60), S(120), predicted in chunks of 50,000 patients) and saves them to an ``.npz`` file (kept
with ``--inputs``, so a second run skips the predictions). Then, in a fresh subprocess per source
tree, times the metric calls ``validate`` makes (``_metrics_table``: the time-dependent AUC with
its influence interval once, then per horizon the two C indices, the Brier score, the IPA and the
calibration) and the whole ``_metrics_table`` on the same inputs, each from a cold start (nothing
cached per cohort, the censoring curve computed, as in ``validate``). With ``--old-src`` (the
``src`` folder of an older checkout, e.g. ``git worktree add /tmp/metrics_old main``) the old code
runs on the same inputs in the same run: per-metric CPU seconds side by side, their ratio, and the
largest relative difference between the two metrics tables and calibration curves (identical
results are the point). CPU seconds are the comparable figures on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

HORIZONS = (12.0, 60.0, 120.0)

_CHILD = """
import contextlib, json, resource, sys, time
import numpy as np
from mastoprog import metrics as m
from mastoprog.metrics import (brier_score, calibration_at, censoring_survival, compare_models,
                               concordance_indices, time_dependent_auc)
from mastoprog.metrics import _nonparametric
from mastoprog.validation import _validate as v

# validate() makes its metric calls inside one shared_cohort_results() block (where it exists)
shared = getattr(m, "shared_cohort_results", contextlib.nullcontext)

data = np.load(sys.argv[1])
t, e = data["time"], data["event"].astype(bool)
hs = [12.0, 60.0, 120.0]
at = {h: data[f"s{int(h)}"] for h in hs}
cpu = {}


def fresh():
    # as validate() starts: nothing cached from an earlier run, the censoring curve computed
    # (validate needs it for the prediction pass)
    getattr(_nonparametric, "_COHORTS", {}).clear()
    censoring_survival(t, e)


def timed(name, fn, *args, **kwargs):
    start = time.process_time()
    out = fn(*args, **kwargs)
    cpu[name] = cpu.get(name, 0.0) + time.process_time() - start
    return out


with shared():
    fresh()
    timed("auc (influence)", time_dependent_auc, t, e, np.vstack([at[h] for h in hs]), hs,
          n_bootstrap=0, interval="influence")
    for h in hs:
        timed("concordance (harrell+uno)", concordance_indices, t, e, at[h], ("harrell", "uno"), tau=h)
        timed("brier", brier_score, t, e, at[h], h)
        timed("ipa (compare_models)", compare_models, t, e, {"model": at[h]}, [h], metrics=["ipa"])
        timed("calibration_at", calibration_at, t, e, at[h], h, n_groups=10)


class Bar:
    def update(self, k):
        pass


passed = v._Pass(at, np.zeros(t.size), np.zeros((0, t.size), dtype=np.float32),
                 np.full(t.size, "all", dtype=object), {})
grids = v._grids(hs)
options = {"conf_level": 0.95, "auc_bootstrap": None, "random_state": None,
           "calibration_bootstrap": 0, "n_calibration_groups": 10}
with shared():
    fresh()
    metrics, cal = timed("_metrics_table (all of the above)", v._metrics_table, t, e, passed, hs, grids,
                         options, Bar())
curves = {str(h): cal[h].curve["observed_risk"].to_numpy().tolist()[:: max(1, t.size // 2000)]
          for h in hs}
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
estimates = metrics[["estimate", "ci_low", "ci_high"]].to_numpy().tolist()
print(json.dumps({"cpu": cpu, "peak_mb": peak_mb, "estimates": estimates,
                  "labels": (metrics["metric"] + "@" + metrics["horizon"].astype(str)).tolist(),
                  "curves": curves}))
"""


def build_inputs(n: int, path: Path) -> None:
    """Simulate the cohort and save time, event and the predicted S(h) at each horizon."""
    from mastoprog.exceptions import PlausibilityWarning
    from mastoprog.survival import load_model
    from mastoprog.synthetic import simulate_cohort

    cohort = simulate_cohort(n, random_state=2024)
    model = load_model("lim2009")
    preds = np.empty((len(HORIZONS), n))
    with warnings.catch_warnings():
        # follow-up beyond 600 months is flagged as implausible: expected in a synthetic cohort
        warnings.simplefilter("ignore", PlausibilityWarning)
        for start in range(0, n, 50_000):  # chunks bound the memory of the predictions
            part = cohort.iloc[start:start + 50_000]
            preds[:, start:start + len(part)] = model.predict_survival_function(
                part, list(HORIZONS)).to_numpy()
    np.savez(path, time=cohort["time"].to_numpy(float), event=cohort["event"].to_numpy(bool),
             **{f"s{int(h)}": preds[k] for k, h in enumerate(HORIZONS)})


def run(src: str, inputs: Path) -> dict:
    """Per-metric CPU seconds and the metrics table, from a fresh interpreter on ``src``."""
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(inputs)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def _largest_relative_difference(a: dict, b: dict) -> float:
    x, y = np.asarray(a["estimates"], float), np.asarray(b["estimates"], float)
    cx = np.concatenate([np.asarray(a["curves"][k]) for k in sorted(a["curves"])])
    cy = np.concatenate([np.asarray(b["curves"][k]) for k in sorted(b["curves"])])
    x, y = np.concatenate([x.ravel(), cx]), np.concatenate([y.ravel(), cy])
    both = np.isfinite(x) & np.isfinite(y)
    if not np.array_equal(np.isfinite(x), np.isfinite(y)):
        return float("inf")
    return float(np.max(np.abs(x[both] - y[both]) / np.maximum(np.abs(y[both]), 1e-300), initial=0.0))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--old-src", help="src folder of an older checkout to time side by side")
    parser.add_argument("--inputs", help="npz file of cached inputs (created if missing)")
    args = parser.parse_args()
    new_src = str(Path(__file__).resolve().parents[1] / "src")
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(args.inputs) if args.inputs else Path(tmp) / "inputs.npz"
        if not inputs.exists():
            build_inputs(args.n, inputs)
        n = int(np.load(inputs)["time"].size)
        print(f"n = {n:,} patients; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
              "CPU seconds")
        new = run(new_src, inputs)
        old = run(args.old_src, inputs) if args.old_src else None
        print(f"{'metric (3 horizons)':36s} {'now':>8s}" + (f" {'old':>8s} {'old/now':>8s}" if old else ""))
        for name, sec in new["cpu"].items():
            line = f"{name:36s} {sec:8.2f}"
            if old:
                line += f" {old['cpu'][name]:8.2f} {old['cpu'][name] / max(sec, 1e-9):8.2f}"
            print(line)
        print(f"{'peak RSS of the run (MB)':36s} {new['peak_mb']:8.0f}"
              + (f" {old['peak_mb']:8.0f}" if old else ""))
        if old:
            print(f"largest relative difference of the metrics table and calibration curves, now vs old: "
                  f"{_largest_relative_difference(new, old):.2e}")


if __name__ == "__main__":
    main()
