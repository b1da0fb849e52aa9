"""compare_models against R on public datasets (lifelines' rossi and gbsg2, scikit-survival's
whas500, veteran and flchain).

The reference numbers come from R (survival 3.5.3: ``concordance`` of several predictors with the
joint infinitesimal-jackknife variance; riskRegression 2022.11.28: ``Score(..., conservative =
TRUE)``): ``tests/data/model_comparison_R.R`` reads ``tests/data/model_comparison_inputs.csv``
(written by ``tests/data/model_comparison_inputs.py``) and writes ``model_comparison_R.csv``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mastoprog.metrics import compare_models
from mastoprog.metrics.comparison import NULL_MODEL

DATA = Path(__file__).parent / "data"
DATASETS = ["rossi", "gbsg2", "whas500", "veteran", "flchain"]


@pytest.fixture(scope="module")
def inputs() -> pd.DataFrame:
    return pd.read_csv(DATA / "model_comparison_inputs.csv")


@pytest.fixture(scope="module")
def reference() -> dict[tuple[str, str], float]:
    r = pd.read_csv(DATA / "model_comparison_R.csv")
    return {(d, q): v for d, q, v in r.itertuples(index=False)}


def _compare(inputs: pd.DataFrame, dataset: str):
    d = inputs[inputs["dataset"] == dataset]
    h = float(d["horizon"].iloc[0])
    preds = {k: d[k].to_numpy() for k in ("a", "b", "c")}
    return compare_models(d["time"], d["event"], preds, [h]), h


@pytest.mark.parametrize("dataset", DATASETS)
def test_concordance_contrasts_against_R_survival_concordance(inputs, reference, dataset):
    """C, its SE, the paired differences and their SE against R (required: within 1 %; they agree to
    1e-12, so the test asserts 1e-6)."""
    res, _ = _compare(inputs, dataset)
    tab = res.table.set_index(["model", "metric"])
    con = res.contrasts.set_index(["model", "metric"])
    for method in ("harrell", "uno"):
        for m in ("a", "b", "c"):
            assert tab.loc[(m, f"c_{method}"), "estimate"] == pytest.approx(
                reference[(dataset, f"{method}_c_{m}")], rel=1e-8)
            assert tab.loc[(m, f"c_{method}"), "se"] == pytest.approx(
                reference[(dataset, f"{method}_se_{m}")], rel=1e-6)
        for m in ("b", "c"):
            assert con.loc[(m, f"c_{method}"), "difference"] == pytest.approx(
                reference[(dataset, f"{method}_diff_{m}_a")], rel=1e-6, abs=1e-12)
            assert con.loc[(m, f"c_{method}"), "se"] == pytest.approx(
                reference[(dataset, f"{method}_diffse_{m}_a")], rel=1e-6)


@pytest.mark.parametrize("dataset", DATASETS)
def test_brier_ipa_auc_against_R_riskRegression_score(inputs, reference, dataset):
    """Brier, IPA and AUC equal riskRegression's to 1e-8; the SEs of Brier/AUC and of their
    contrasts to 1e-6 (both use the sample SD of the influence terms)."""
    res, _ = _compare(inputs, dataset)
    tab = res.table.set_index(["model", "metric"])
    con = res.contrasts.set_index(["model", "reference", "metric"])
    assert tab.loc[(NULL_MODEL, "brier"), "estimate"] == pytest.approx(
        reference[(dataset, "brier_Null model")], rel=1e-8)
    for m in ("a", "b", "c"):
        assert tab.loc[(m, "brier"), "estimate"] == pytest.approx(reference[(dataset, f"brier_{m}")],
                                                                  rel=1e-8)
        assert tab.loc[(m, "brier"), "se"] == pytest.approx(reference[(dataset, f"brierse_{m}")], rel=1e-6)
        assert tab.loc[(m, "ipa"), "estimate"] == pytest.approx(reference[(dataset, f"ipa_{m}")],
                                                                rel=1e-6, abs=1e-10)
        assert tab.loc[(m, "auc"), "estimate"] == pytest.approx(reference[(dataset, f"auc_{m}")], rel=1e-8)
        assert tab.loc[(m, "auc"), "se"] == pytest.approx(reference[(dataset, f"aucse_{m}")], rel=1e-6)
    for m in ("b", "c"):
        assert con.loc[(m, "a", "brier"), "difference"] == pytest.approx(
            reference[(dataset, f"brierdiff_{m}_a")], rel=1e-6, abs=1e-12)
        assert con.loc[(m, "a", "brier"), "se"] == pytest.approx(
            reference[(dataset, f"brierdiffse_{m}_a")], rel=1e-6)
        assert con.loc[(m, "a", "auc"), "difference"] == pytest.approx(
            reference[(dataset, f"aucdiff_{m}_a")], rel=1e-6, abs=1e-12)
        assert con.loc[(m, "a", "auc"), "se"] == pytest.approx(
            reference[(dataset, f"aucdiffse_{m}_a")], rel=1e-6)
    assert con.loc[("a", NULL_MODEL, "brier"), "difference"] == pytest.approx(
        reference[(dataset, "brierdiff_a_Null model")], rel=1e-6)
    assert con.loc[("a", NULL_MODEL, "brier"), "se"] == pytest.approx(
        reference[(dataset, "brierdiffse_a_Null model")], rel=1e-6)


def test_contrast_p_values_and_intervals_are_consistent(inputs):
    res, _ = _compare(inputs, "gbsg2")
    c = res.contrasts
    assert ((c["p_value"] > 0) & (c["p_value"] <= 1)).all()
    covers_zero = (c["ci_low"] <= 0) & (0 <= c["ci_high"])
    np.testing.assert_array_equal(covers_zero, c["p_value"] >= 0.05 - 1e-12)
