"""Bands of causes of death, conditional survival and loss of life expectancy, draw by draw.

The specification: every parameter draw's curve (``SurvivalModel.predict(..., draws=True)``) run
one at a time through the same public functions as the central curve, then percentiles over the
draws. Invariants hold per draw (hypothesis over patients, models and horizons): alive + died of
mastocytosis + died of other causes = 1; died of other causes <= the draw's matched population's
probability of death; CM has no deaths from mastocytosis in any draw.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mastoprog as mp
from mastoprog.survival.outcomes import (
    BAND_NOTE,
    conditional_survival,
    crude_outcomes,
    life_expectancy_loss,
    predict_curves,
)

MODELS = {name: mp.load_model(name) for name in ("lim2009", "mayo2025")}
SUBTYPES = ("CM", "ISM", "SSM", "SM-AHN", "ASM", "MCL")
YES_NO_UNKNOWN = st.sampled_from([True, False, None])
NAMES = ("alive", "died_mastocytosis", "died_other_causes")

patients = st.fixed_dictionaries(
    {
        "age": st.floats(min_value=1, max_value=95),
        "sex": st.sampled_from(["F", "M", None]),
        "who_subtype": st.sampled_from(SUBTYPES),
        "splenomegaly": YES_NO_UNKNOWN,
        "asxl1": YES_NO_UNKNOWN,
        "hemoglobin": st.one_of(st.none(), st.floats(min_value=6, max_value=16)),
    }
)


def _one_draw(curves, d, side):
    """The curves of draw ``d`` (its lower or upper curve with its population) as a plain
    SurvivalCurves without draws: the public functions then compute that draw's values."""
    dr = curves.draws
    s = (dr.lower if side == "lower" else dr.upper)[d]
    pop = dr.population_lower if side == "lower" else dr.population_upper
    return dataclasses.replace(curves, survival=s, lower=s, upper=s, population=pop, draws=None)


def _per_draw(curves, fn, column):
    """(D, rows) values of ``column`` (or of each of several) of ``fn(curves_of_one_draw)``, for the
    lower and upper curves."""
    D = curves.draws.lower.shape[0]
    columns = [column] if isinstance(column, str) else list(column)
    frames = {side: [fn(_one_draw(curves, d, side)) for d in range(D)] for side in ("lower", "upper")}
    out = {c: [np.array([f[c].to_numpy() for f in frames[side]]) for side in ("lower", "upper")]
           for c in columns}
    return out[column] if isinstance(column, str) else out


def _reference_band(estimate, lows, highs, level=0.95):
    lo = np.percentile(np.minimum(lows, highs), 100 * (1 - level) / 2, axis=0)
    hi = np.percentile(np.maximum(lows, highs), 100 * (1 + level) / 2, axis=0)
    return np.minimum(lo, estimate), np.maximum(hi, estimate)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    patient=patients,
    model=st.sampled_from(sorted(MODELS)),
    horizons=st.lists(st.sampled_from([3.0, 12.0, 24.0, 60.0, 120.0]), min_size=1, max_size=3, unique=True),
)
def test_every_draw_keeps_the_invariants_and_the_bands_are_percentiles_over_draws(patient, model, horizons):
    findings = {k: v for k, v in patient.items() if v is not None}
    t = sorted(horizons)
    curves = predict_curves(MODELS[model], findings, max(t), extra_times=t)
    assert curves.draws is not None and curves.draws.lower.shape[1:] == curves.survival.shape
    out = crude_outcomes(curves, t)
    per = _per_draw(curves, lambda c: crude_outcomes(c, t), NAMES)
    for side in (0, 1):
        total = sum(per[name][side] for name in NAMES)
        assert np.allclose(total, 1.0, atol=1e-12)  # every draw: the three add up to 1
        pop = curves.draws.population_lower if side == 0 else curves.draws.population_upper
        idx = np.searchsorted(curves.months, t)
        assert np.all(per["died_other_causes"][side] <= 1 - pop[idx, 0][None] + 1e-12)
        assert np.all(per["died_mastocytosis"][side] >= 0)
        if patient["who_subtype"] == "CM":
            assert np.all(per["died_mastocytosis"][side] <= 1e-12)
    for name in NAMES:
        lo, hi = _reference_band(out[name].to_numpy(), *per[name])
        np.testing.assert_allclose(out[f"{name}_lower"], np.clip(lo, 0, 1), rtol=0, atol=1e-12)
        np.testing.assert_allclose(out[f"{name}_upper"], np.clip(hi, 0, 1), rtol=0, atol=1e-12)
    if patient["who_subtype"] == "CM":
        assert np.all(out["died_mastocytosis_upper"] <= 1e-12)


def test_conditional_survival_and_loss_bands_are_percentiles_over_draws():
    model = MODELS["lim2009"]
    # missing findings and unknown sex: each draw's lower and upper curves differ
    curves = predict_curves(model, {"age": 66, "who_subtype": "SM-AHN", "splenomegaly": True}, 120.0)
    cond = conditional_survival(curves, 12.0, [12.0, 60.0])
    lows, highs = _per_draw(curves, lambda c: conditional_survival(c, 12.0, [12.0, 60.0]),
                            "conditional_survival")
    lo, hi = _reference_band(cond["conditional_survival"].to_numpy(), lows, highs)
    np.testing.assert_allclose(cond["conditional_survival_lower"], lo, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cond["conditional_survival_upper"], hi, rtol=0, atol=1e-12)
    assert np.all(lo < cond["conditional_survival"]) and np.all(cond["conditional_survival"] < hi)
    lle = life_expectancy_loss(curves)
    lows, highs = _per_draw(curves, life_expectancy_loss, "loss_months")
    lo, hi = _reference_band(lle["loss_months"].to_numpy(), lows, highs)
    assert lle["loss_lower"].iloc[0] == pytest.approx(lo[0], abs=1e-9)
    assert lle["loss_upper"].iloc[0] == pytest.approx(hi[0], abs=1e-9)
    assert 0 < lle["loss_lower"].iloc[0] < lle["loss_months"].iloc[0] < lle["loss_upper"].iloc[0]


def test_draw_by_draw_bands_are_narrower_than_the_old_min_max_of_the_band_curves():
    """The band of died-of-mastocytosis from draws is inside the old approximation (the quantity on
    the pointwise band's lower and upper curves), which mixed draws across times."""
    model = MODELS["lim2009"]
    patient = {"age": 58, "sex": "M", "who_subtype": "ASM", "splenomegaly": True, "alp": 260, "alp_uln": 120,
               "srsf2": False, "asxl1": True, "runx1": False, "hemoglobin": 9.4, "platelets": 85}
    curves = predict_curves(model, patient, 120.0)
    new = crude_outcomes(curves, [60.0, 120.0])
    old = crude_outcomes(dataclasses.replace(curves, draws=None), [60.0, 120.0])
    width = new["died_other_causes_upper"] - new["died_other_causes_lower"]
    old_width = old["died_other_causes_upper"] - old["died_other_causes_lower"]
    assert np.all(width < old_width)
    assert "draws" in BAND_NOTE
