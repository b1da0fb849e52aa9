"""Write tests/data/model_comparison_inputs.csv: public datasets with three fixed-coefficient
survival predictions each (the R reference, model_comparison_R.R, reads it).

    python tests/data/model_comparison_inputs.py

Datasets: lifelines' rossi and gbsg2, scikit-survival's whas500, veteran and flchain. The models
are not fitted: S_i(h) = exp(-H0 exp(lp_i - mean lp)) with fixed coefficients below and H0 the
Kaplan-Meier cumulative hazard at h, so both languages score identical numbers. Horizons sit
between event times (x.5) so that "death before tau" needs no tie convention.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def _surv(lp: np.ndarray, time: np.ndarray, event: np.ndarray, h: float) -> np.ndarray:
    from mastoprog.metrics import kaplan_meier

    h0 = -np.log(float(kaplan_meier(time, event).at(h)))
    return np.exp(-h0 * np.exp(lp - lp.mean()))


def frames() -> list[pd.DataFrame]:
    from lifelines.datasets import load_gbsg2, load_rossi
    from sksurv.datasets import load_flchain, load_veterans_lung_cancer, load_whas500

    out = []
    r = load_rossi()
    out.append(("rossi", r["week"], r["arrest"], 26.5, {
        "a": 0.09 * r["prio"] - 0.06 * r["age"], "b": 0.09 * r["prio"],
        "c": -0.35 * r["fin"] - 0.06 * r["age"] + 0.09 * r["prio"]}))
    g = load_gbsg2()
    grade = (g["tgrade"] != "I").astype(float)
    out.append(("gbsg2", g["time"], g["cens"], 1095.5, {
        "a": 0.05 * g["pnodes"] - 0.002 * g["progrec"], "b": 0.05 * g["pnodes"],
        "c": 0.05 * g["pnodes"] + 0.3 * grade - 0.002 * g["progrec"]}))
    x, y = load_whas500()
    out.append(("whas500", pd.Series(y["lenfol"]), pd.Series(y["fstat"]), 365.5, {
        "a": 0.05 * x["age"] + 0.01 * x["hr"], "b": 0.05 * x["age"],
        "c": 0.05 * x["age"] + 0.01 * x["hr"] - 0.03 * x["bmi"]}))
    x, y = load_veterans_lung_cancer()
    out.append(("veteran", pd.Series(y["Survival_in_days"]), pd.Series(y["Status"]), 90.5, {
        "a": -0.03 * x["Karnofsky_score"], "b": -0.03 * x["Karnofsky_score"] + 0.01 * x["Age_in_years"],
        "c": -0.02 * x["Karnofsky_score"]}))
    x, y = load_flchain()
    out.append(("flchain", pd.Series(y["futime"]), pd.Series(y["death"]), 3650.5, {
        "a": 0.1 * x["age"], "b": 0.1 * x["age"] + 0.2 * x["kappa"],
        "c": 0.1 * x["age"] + 0.2 * x["kappa"] + 0.1 * x["lambda"]}))
    frames_ = []
    for name, time, event, h, lps in out:
        t = np.asarray(time, float)
        e = np.asarray(event).astype(float) > 0
        d = pd.DataFrame({"dataset": name, "time": t, "event": e.astype(int), "horizon": h})
        for k, lp in lps.items():
            d[k] = np.round(_surv(np.asarray(lp, float), t, e, h), 10)
        frames_.append(d)
    return frames_


if __name__ == "__main__":
    path = Path(__file__).with_name("model_comparison_inputs.csv")
    pd.concat(frames(), ignore_index=True).to_csv(path, index=False)
    print(f"wrote {path}")
