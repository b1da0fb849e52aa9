"""mastoprog.survival.outcomes: causes of death, conditional survival, loss of life expectancy.

Invariants (hypothesis over patients, horizons and models): alive + died of mastocytosis + died of
other causes = 1; died of other causes <= the matched population's probability of death; CM has no
deaths from mastocytosis; every band inside [0, 1] and around its estimate. Known truths: with no
excess hazard the split is exactly the population's; the crude integrals agree with a direct
numerical integral of S(u) h(u) on a 20x finer grid.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mastoprog as mp
from mastoprog.survival.outcomes import (
    conditional_survival,
    crude_outcomes,
    life_expectancy_loss,
    predict_curves,
    predict_outcomes,
)

MODELS = {name: mp.load_model(name) for name in ("lim2009", "mayo2025")}
SUBTYPES = ("CM", "ISM", "SSM", "SM-AHN", "ASM", "MCL")
YES_NO_UNKNOWN = st.sampled_from([True, False, None])

patients = st.fixed_dictionaries({
    "age": st.floats(min_value=1, max_value=95),
    "sex": st.sampled_from(["F", "M", None]),
    "who_subtype": st.sampled_from(SUBTYPES),
    "splenomegaly": YES_NO_UNKNOWN,
    "srsf2": YES_NO_UNKNOWN,
    "asxl1": YES_NO_UNKNOWN,
    "alp": st.one_of(st.none(), st.floats(min_value=20, max_value=900)),
    "alp_uln": st.just(120.0),
})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patient=patients, model=st.sampled_from(sorted(MODELS)),
       horizons=st.lists(st.sampled_from([1.0, 3.0, 12.0, 24.0, 60.0, 120.0, 200.0]), min_size=1,
                         max_size=4, unique=True))
def test_causes_of_death_invariants(patient, model, horizons):
    findings = {k: v for k, v in patient.items() if v is not None}
    out = predict_outcomes(MODELS[model], findings, sorted(horizons))
    total = out["alive"] + out["died_mastocytosis"] + out["died_other_causes"]
    assert np.allclose(total, 1.0, atol=1e-12)
    assert np.all(out["died_other_causes"] <= 1 - out["population_alive"] + 1e-12)
    assert np.all(out["died_mastocytosis"] >= 0) and np.all(out["died_other_causes"] >= 0)
    for name in ("alive", "died_mastocytosis", "died_other_causes"):
        lo, hi, mid = out[f"{name}_lower"], out[f"{name}_upper"], out[name]
        assert np.all((lo >= 0) & (hi <= 1) & (lo <= mid + 1e-12) & (mid <= hi + 1e-12))
    if patient["who_subtype"] == "CM":
        assert np.all(out["died_mastocytosis"] <= 1e-12)
        assert np.all(out["died_mastocytosis_upper"] <= 1e-12)
    # deaths accumulate: each cause never decreases over time
    assert np.all(np.diff(out["died_mastocytosis"]) >= -1e-12)
    assert np.all(np.diff(out["died_other_causes"]) >= -1e-12)


def test_cm_split_equals_the_matched_population():
    """No excess hazard: alive = S_pop, died of other causes = 1 - S_pop (the model's CM target)."""
    model = MODELS["lim2009"]
    out = predict_outcomes(model, {"age": 40, "sex": "F", "who_subtype": "CM"})
    pop = model.predict_population_survival({"age": 40, "sex": "F"}, [12, 24, 60, 120]).iloc[:, 0].to_numpy()
    assert np.allclose(out["alive"], pop, atol=1e-12)
    assert np.allclose(out["died_other_causes"], 1 - pop, atol=1e-12)


def test_crude_integral_agrees_with_a_direct_integral_on_a_finer_grid():
    """integral_0^t S(u) h_pop(u) du by the midpoint rule on 0.0125-month steps (h_pop from the life
    table curve by finite differences): agrees to 1e-4 (the grid's discretisation error is ~1e-5)."""
    model = MODELS["lim2009"]
    patient = {"age": 58, "sex": "M", "who_subtype": "ASM", "splenomegaly": True, "alp": 260,
               "alp_uln": 120, "srsf2": False, "asxl1": True, "runx1": False}
    out = predict_outcomes(model, patient, [60.0])
    t = np.linspace(0, 60, 4801)
    s = model.predict_survival(patient, t).iloc[:, 0].to_numpy()
    pop = model.predict_population_survival(patient, t).iloc[:, 0].to_numpy()
    h_pop_dt = -np.diff(np.log(pop))
    s_mid = (s[1:] + s[:-1]) / 2
    other = float(np.sum(s_mid * h_pop_dt))
    assert out["died_other_causes"].iloc[0] == pytest.approx(other, abs=1e-4)
    assert out["died_mastocytosis"].iloc[0] == pytest.approx(1 - s[-1] - other, abs=1e-4)


def test_conditional_survival_is_the_ratio_of_the_curve():
    model = MODELS["lim2009"]
    patient = {"age": 60, "sex": "F", "who_subtype": "SM-AHN"}
    curves = predict_curves(model, patient)
    cond = conditional_survival(curves, 24.0, [12.0, 36.0])
    s = model.predict_survival(patient, [24.0, 36.0, 60.0]).iloc[:, 0].to_numpy()
    assert cond["conditional_survival"].tolist() == pytest.approx([s[1] / s[0], s[2] / s[0]], rel=1e-9)
    assert np.all(cond["conditional_survival_lower"] <= cond["conditional_survival"])
    assert np.all(cond["conditional_survival"] <= cond["conditional_survival_upper"])
    with pytest.raises(ValueError, match="survived_months: expected months >= 0"):
        conditional_survival(curves, -1.0)


def test_life_expectancy_loss_is_zero_for_cm_and_bounded_by_the_population():
    model = MODELS["lim2009"]
    cm = life_expectancy_loss(predict_curves(model, {"age": 50, "sex": "M", "who_subtype": "CM"}))
    assert cm["loss_months"].iloc[0] == pytest.approx(0.0, abs=1e-9)
    mcl = life_expectancy_loss(predict_curves(model, {"age": 50, "sex": "M", "who_subtype": "MCL"}), 120.0)
    row = mcl.iloc[0]
    assert row["horizon_months"] == 120.0
    assert 0 <= row["loss_lower"] <= row["loss_months"] <= row["loss_upper"] <= row["rmst_population_months"]
    assert row["rmst_population_months"] <= 120.0


def test_times_off_the_grid_are_refused():
    curves = predict_curves(MODELS["lim2009"], {"age": 50, "sex": "M", "who_subtype": "ASM"}, 60.0)
    with pytest.raises(ValueError, match="not on the curves' grid"):
        crude_outcomes(curves, [12.1])
    with pytest.raises(ValueError, match="expected months from 0 to 60"):
        crude_outcomes(curves, [61.0])
