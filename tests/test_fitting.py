"""Fitting on a registry extract: delayed entry, chosen terms, missing findings, small samples, updating.

Every expected number is the known truth of a synthetic cohort (fixed seeds) or a reference
implementation (lifelines); margins are stated in standard errors where a statistic is compared.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mastoprog import SurvivalModel, load_model, simulate_cohort
from mastoprog.exceptions import FindingsError
from mastoprog.survival._excess_fitter import ExcessData, excess_loglik
from mastoprog.survival._imputation import nelson_aalen
from mastoprog.synthetic._followup import delayed_entry

TRUTH_COLUMNS = ("true_subtype", "true_subtype_who2022", "true_subtype_icc2022", "true_sm_component",
                 "true_variant", "true_linear_predictor", "true_median", "true_survival_60", "true_time")


def _observed(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in TRUTH_COLUMNS if c in df.columns])


def _high_risk(subtypes: list[str]) -> pd.DataFrame:
    n = len(subtypes)
    return pd.DataFrame({"age": [70.0] * n, "sex": ["M"] * n, "who_subtype": subtypes,
                         "splenomegaly": [True] * n, "alp": [200.0] * n, "alp_uln": 120.0,
                         "sar_count": [1.0] * n, "diagnosis_year": [2000] * n})


# ---------------------------------------------------------------------- the likelihood itself


def test_analytic_gradient_and_hessian_match_finite_differences_with_delayed_entry():
    rng = np.random.default_rng(0)
    n = 400
    T = rng.uniform(1, 100, n)
    entry = np.where(rng.random(n) < 0.5, rng.uniform(0, 1, n) * T, 0.0)
    d = ExcessData(T, (rng.random(n) < 0.5).astype(float), entry, np.log(rng.uniform(1e-4, 1e-2, n)),
                   rng.uniform(0, 0.1, n))
    k = rng.integers(0, 2, n)
    D = np.column_stack([k == 0, k == 1]).astype(float)
    blocks = (rng.normal(size=(n, 2)), D, D)
    theta = np.array([0.3, -0.2, 3.0, 2.5, 0.1, -0.2])
    _, g, H = excess_loglik(theta, blocks, d)
    eps = 1e-6
    step = [excess_loglik(theta + eps * e, blocks, d) for e in np.eye(6)]
    back = [excess_loglik(theta - eps * e, blocks, d) for e in np.eye(6)]
    num_g = np.array([(a[0] - b[0]) / (2 * eps) for a, b in zip(step, back, strict=True)])
    num_H = np.array([(a[1] - b[1]) / (2 * eps) for a, b in zip(step, back, strict=True)])
    np.testing.assert_allclose(g, num_g, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(H, num_H, rtol=1e-6, atol=1e-5)


def test_nelson_aalen_with_entry_equals_lifelines():
    from lifelines import NelsonAalenFitter

    rng = np.random.default_rng(1)
    entry = rng.uniform(0, 3, 300)
    T = entry + rng.exponential(10, 300)
    E = rng.random(300) < 0.7
    na = NelsonAalenFitter(nelson_aalen_smoothing=False).fit(T, E, entry=entry)
    np.testing.assert_allclose(nelson_aalen(T, E, entry), na.cumulative_hazard_at_times(T).to_numpy(),
                               atol=1e-12)


# ---------------------------------------------------------------------- 1. delayed entry


@pytest.fixture(scope="module")
def referral_cohort():
    # lim2009 truth; follow-up closes mid-2008 with 2 %/year drop-out. MCL (median 2 months) and
    # SSM are left out: nearly all MCL patients die before a referral-centre entry.
    cohort = simulate_cohort(8000, seed=11, assign_subtype=True, censoring="scenario")
    cohort = cohort[cohort["who_subtype"].isin(["ISM", "SM-AHN", "ASM"])]
    return delayed_entry(_observed(cohort), 24.0, random_state=12)


def test_delayed_entry_recovers_subtype_medians_and_ignoring_it_biases_them(referral_cohort):
    seen = referral_cohort
    assert 0 < seen["entry"].max() <= 24 and (seen["entry"] < seen["time"]).all()
    ref = _high_risk(["ISM", "SM-AHN", "ASM"])
    truth = load_model("lim2009").predict_median(ref).to_numpy()
    with_entry = SurvivalModel().fit(seen, entry_col="entry").predict_median(ref, interval=True)
    # The truth inside each 95 % interval (deterministic at these seeds; observed |z| <= 0.9).
    assert ((with_entry["lower"] <= truth) & (truth <= with_entry["upper"])).all(), with_entry
    naive = SurvivalModel().fit(seen).predict_median(ref, interval=True)
    # Ignoring entry drops the early deaths: SM-AHN and ASM medians ~10 months too long, the truth
    # (12-13 months) below the naive interval (~21-26 months): a bias of > 5 standard errors.
    for i in (1, 2):
        assert truth[i] < naive["lower"].iloc[i]
        assert naive["median_months"].iloc[i] - truth[i] > 5.0
    report = SurvivalModel().fit(seen, entry_col="entry").state_["fit"]["report"]
    assert report["entry_col"] == "entry" and report["delayed_entry_rows"] == len(seen)


def test_entry_times_are_checked():
    df = pd.DataFrame({"age": [60.0], "sex": ["F"], "who_subtype": ["ASM"], "time": [10.0],
                       "event": [1], "entry": [12.0]})
    with pytest.raises(FindingsError, match=r"column 'entry': got 12.0; expected months >= 0 and < the "
                                            r"exit time \(10 months\)"):
        SurvivalModel().fit(df, entry_col="entry")
    with pytest.raises(FindingsError, match="entry_col: column 'start' missing"):
        SurvivalModel().fit(df, entry_col="start")
