"""Write tests/data/dcurves_net_benefit.csv: net benefit of the three fixed predictions of
``model_comparison_inputs.csv`` (five public datasets) by the Python port of dcurves (Memorial Sloan
Kettering's decision-curve package, the same authors and formulas as R ``dcurves``; R's CRAN is not
reachable here), for survival outcomes at each dataset's horizon.

    python -m venv /tmp/dcenv && /tmp/dcenv/bin/pip install dcurves==1.1.7
    /tmp/dcenv/bin/python tests/data/dcurves_reference.py

The tests (tests/test_metrics_decision.py) read the CSV; they do not need dcurves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
THRESHOLDS = [round(x, 2) for x in np.arange(0.05, 0.96, 0.05)]


def main() -> None:
    # imported here: pytest's --doctest-modules imports this file, and the suite does not need dcurves
    from dcurves import dca

    inputs = pd.read_csv(HERE / "model_comparison_inputs.csv")
    rows = []
    for name, df in inputs.groupby("dataset", sort=False):
        h = float(df["horizon"].iloc[0])
        data = pd.DataFrame({"time": df["time"], "event": df["event"].astype(int)})
        for m in ("a", "b", "c"):
            data[m] = 1.0 - df[m].to_numpy()  # risk of the event by h
        out = dca(data=data, outcome="event", modelnames=["a", "b", "c"], thresholds=THRESHOLDS,
                  time=h, time_to_outcome_col="time")
        out = out[["model", "threshold", "net_benefit"]].assign(dataset=name, horizon=h)
        rows.append(out)
    table = pd.concat(rows, ignore_index=True)[["dataset", "horizon", "model", "threshold", "net_benefit"]]
    table.to_csv(HERE / "dcurves_net_benefit.csv", index=False, float_format="%.12g")
    print(table.groupby(["dataset", "model"]).size())


if __name__ == "__main__":
    main()
