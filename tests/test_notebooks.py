"""The notebooks under notebooks/ run top to bottom (every code cell, in one namespace), and show
the numbers they say they show: each notebook has its own checks below."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _check_quickstart(ns: dict, out: Path) -> None:
    assert (out / "patient_curve.png").stat().st_size > 10_000
    # the synthetic cohort (complete findings) comes back from the classifier exactly as drawn
    assert (ns["back"] == ns["cohort"]["true_subtype"].astype(str)).all()
    assert ns["mars"].points == 5 and ns["mars"].group == "high"


def _check_clinician(ns: dict, out: Path) -> None:
    assert (out / "patient_curve.png").stat().st_size > 10_000
    assert ns["who"].subtype == "ASM" and "C1" in ns["who"].c_findings
    # without counts the classifier keeps ASM open and names the counts as deciding
    assert ns["unsure"].subtype == "indeterminate" and "ASM" in ns["unsure"].candidates
    assert {"hemoglobin", "platelets"} <= set(ns["unsure"].missing)
    assert ns["decided"].subtype == "ASM"
    # MARS (Jawhar 2019): age > 60, Hb < 10, platelets < 100, one S/A/R gene = 4 points, high risk
    assert ns["mars"].points == 4 and ns["mars"].group == "high"
    causes = ns["causes"]
    total = causes["alive"] + causes["died_mastocytosis"] + causes["died_other_causes"]
    np.testing.assert_allclose(total, 1.0, atol=1e-12)
    assert (causes["died_other_causes"] <= 1 - causes["population_alive"] + 1e-12).all()
    assert sum(ns["icons"].values()) == 100
    median = ns["median"]
    assert median["lower"] <= median["median"] <= median["upper"]
    assert ns["prediction"].notes["target_set"].iloc[0].startswith("lim2009")
    # the contemporary targets give this advanced-SM patient a longer median (MARS era vs 1976-2007)
    assert ns["contemporary"]["median"] > median["median"]
    assert len(ns["fidelity"]) >= 10


def _check_statistician(ns: dict, out: Path) -> None:
    assert (out / "decision_curve.png").stat().st_size > 5_000
    for study in ns["studies"].values():
        s = study.summary
        assert s["coverage"].dropna().between(0, 1).all()
        assert (s["bias_mcse"].dropna() >= 0).all()
    # the generating model's slope is unbiased for its population value (12 replicates: 4.5 MCSE,
    # plus 2 SE of the 50,000-patient truth)
    slopes = ns["slopes"]
    assert (slopes["bias"].abs() < 4.5 * slopes["bias_mcse"] + 0.02).all(), slopes
    contrasts = ns["comparison"].contrasts.set_index("metric")
    # same patient-level structure, different baselines: ranking nearly identical ...
    assert abs(contrasts.loc["c_harrell", "difference"]) < 0.01
    # ... but absolute risks differ, and the truth (lim2009) has the better Brier score
    brier = contrasts.loc["brier"]
    brier = brier[brier["model"] == "mars2019"].iloc[0]
    assert brier["difference"] > 0 and brier["ci_low"] > 0
    curve = ns["curve"]
    assert (curve.loc[curve["strategy"] == "treat none", "net_benefit"] == 0).all()
    # external-validation sample size: O/E binds, and the simulation reproduces Riley's closed form
    # (SE of log O/E = sqrt((1 - phi) / (n phi))) within 3 Monte Carlo SEs
    size = ns["size"].criteria.set_index("criterion")
    assert ns["size"].n_required == size["n_required"].max()
    oe = size.loc["oe_ci_width"]
    assert abs(oe["n_required"] - oe["closed_form_n"]) < 3 * oe["mcse"] + 1
    assert ns["censored"].n_required > ns["size"].n_required


def _check_researcher(ns: dict, out: Path) -> None:
    """Fixed seeds throughout: these are the numbers the notebook shows, held to their truth."""
    assert (out / "net_survival.png").stat().st_size > 5_000
    registry = ns["registry"]
    # delayed entry: only patients alive at entry are seen, and each enters before leaving
    assert len(registry) < len(ns["advanced"]) and (registry["entry"] < registry["time"]).all()
    # about 40 % of haemoglobin missing at random (binomial SD on ~2,200 rows is 0.01)
    assert abs(registry["hemoglobin"].isna().mean() - 0.4) < 0.05
    # every pooled 95 % interval covers the generating model's log-HR
    effects = ns["effects"]
    assert ((effects["lower"] <= effects["truth"]) & (effects["truth"] <= effects["upper"])).all(), effects
    # delayed entry: with entry_col the typical median is near the truth, ignoring it biases it up
    medians = ns["medians"]
    assert abs(medians["with entry_col"] - medians["truth"]) < 0.15 * medians["truth"]
    assert medians["ignoring the delayed entry"] > 1.2 * medians["truth"]
    # the updating ladder: no step needed on data from the published model, unless entry is ignored
    assert ns["ladder"].steps.loc["large", "p_value"] > 0.01
    assert ns["ignoring"].loc[("large", "alpha"), "upper"] < 0
    # Pohar Perme recovers the model's net survival of the cohort (95 % CI covers it, 1-5 years)
    table = ns["table"]
    assert ((table["lower"] <= table["model truth"]) & (table["model truth"] <= table["upper"])).all(), table
    crude = ns["crude"].table.pivot(index="time", columns="cause", values="estimate")
    assert ((crude["disease"] + crude["other"]) <= 1).all()


CHECKS: dict[str, Callable[[dict, Path], None]] = {
    "quickstart.ipynb": _check_quickstart,
    "clinician.ipynb": _check_clinician,
    "statistician.ipynb": _check_statistician,
    "researcher.ipynb": _check_researcher,
}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)  # the notebook writes its figures here, never into the repo
    nb = json.loads(path.read_text(encoding="utf-8"))
    namespace: dict = {}
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert cells, f"{path.name} has no code cell"
    for i, cell in enumerate(cells):
        source = "".join(cell["source"])
        exec(compile(source, f"{path.name}[cell {i}]", "exec"), namespace)
    CHECKS[path.name](namespace, tmp_path)


def test_every_notebook_is_checked():
    assert {p.name for p in NOTEBOOKS} == set(CHECKS)
