"""Pohar Perme and the crude probabilities recover a synthetic cohort's known truth (the model).

The cohort: ``simulate_cohort(20_000, "lim2009", random_state=12, censoring="scenario",
assign_subtype=True)`` (complete findings, so the model's curve of each patient is its true curve;
checked against ``true_survival_60``). Death times are drawn from S_i(t) = S_P,i(t) x S_E,i(t) with
the same HMD life table the estimator uses, so the true marginal net survival is
``mean_i S_E,i(t) = mean_i S_i(t) / S_P,i(t)`` (Pohar Perme et al. 2012, the estimand), computed with
the survival model's public API. Measured at this seed: |estimate - truth| <= 0.45 SE at 1, 3, 5 and
10 years; the test allows 3 SE (the seed is fixed, so it cannot flake; 3 SE would fail 0.3 % of seeds).
Ederer II, which estimates relative rather than net survival, is 0.011 (2.2 SE) above the truth at 10
years here: the bias that motivated Pohar Perme's estimator.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mastoprog import load_model, simulate_cohort
from mastoprog.relative import crude_mortality, net_survival

TIMES = np.array([12.0, 36.0, 60.0, 120.0])
Truth = tuple[pd.DataFrame, np.ndarray]


@pytest.fixture(scope="module")
def cohort_and_truth() -> Truth:
    df = simulate_cohort(20_000, "lim2009", random_state=12, censoring="scenario", assign_subtype=True)
    model = load_model("lim2009")
    overall = model.predict_survival_function(df, TIMES).to_numpy()
    np.testing.assert_allclose(model.predict_survival_function(df, [60.0]).to_numpy()[0],
                               df["true_survival_60"], atol=1e-12)  # the model curve is the truth
    population = model.predict_population_survival(df, TIMES).to_numpy()
    return df, (overall / population).mean(axis=1)


@pytest.mark.slow
def test_pohar_perme_recovers_the_true_net_survival(cohort_and_truth: Truth) -> None:
    df, truth = cohort_and_truth
    res = net_survival(df, times=TIMES)
    z = (res.table["estimate"].to_numpy() - truth) / res.table["std_error"].to_numpy()
    assert np.all(np.abs(z) < 3), z
    assert res.table["lower"].le(truth).all() and res.table["upper"].ge(truth).all()


@pytest.mark.slow
def test_ederer2_is_not_net_survival(cohort_and_truth: Truth) -> None:
    df, truth = cohort_and_truth
    ederer2 = net_survival(df, times=TIMES, method="ederer2").table["estimate"].to_numpy()
    pohar_perme = net_survival(df, times=TIMES).table["estimate"].to_numpy()
    assert abs(ederer2[-1] - truth[-1]) > 3 * abs(pohar_perme[-1] - truth[-1])


@pytest.mark.slow
def test_crude_probabilities_recover_the_truth() -> None:
    """cmp.rel's estimator against the model's true cumulative incidences by cause.

    Truth: F_E(t) = mean_i int_0^t S_i(u) dLambda_E,i(u) and F_P likewise with the population hazard,
    from the model's curves on a 0.25-month grid (geometric-midpoint rule; its error is below 1e-5, the
    two add up to 1 - mean S_i within 1e-5). Censoring here is random drop-out (5 %/year) and 150
    months' maximum follow-up, independent of age, sex and calendar year, as the estimator assumes.
    Measured |z| <= 0.43 for both causes at 1, 3, 5 and 10 years; allowed 3 SE at this fixed seed.
    (With the scenario's administrative censoring, which censors later diagnoses sooner, the
    'other causes' estimate is 0.0013 high at 10 years, 2.9 of its small SEs: the at-risk average of
    the population hazard then leans to earlier calendar years.)
    """
    censoring = {"max_followup_months": 150.0, "dropout_per_year": 0.05}
    df = simulate_cohort(20_000, "lim2009", random_state=12, censoring=censoring, assign_subtype=True)
    model = load_model("lim2009")
    grid = np.arange(0.0, 120.01, 0.25)
    overall = model.predict_survival_function(df, grid).to_numpy()
    population = model.predict_population_survival(df, grid).to_numpy()
    middle = np.sqrt(overall[1:] * overall[:-1])
    truth = {
        "disease": np.cumsum((middle * -np.diff(np.log(overall / population), axis=0)).mean(1)),
        "other": np.cumsum((middle * -np.diff(np.log(population), axis=0)).mean(1)),
    }
    res = crude_mortality(df, times=TIMES).table
    rows = np.searchsorted(grid, TIMES) - 1
    for cause, curve in truth.items():
        part = res[res["cause"] == cause]
        z = (part["estimate"].to_numpy() - curve[rows]) / part["std_error"].to_numpy()
        assert np.all(np.abs(z) < 3), (cause, z)
