"""Issue 10, "What it must show": the shipped models against the published evidence.

Figures: ../shared/reference/published_figures.md (Lim 2009, MARS, MAPS, Mayo 910, ECNM). Each test
states its margin. Monte Carlo: reference cohorts are fixed draws (seeded), so nothing here can flake.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mastoprog import load_model
from mastoprog.survival.fidelity import FIDELITY_COLUMNS, leave_one_source_out
from mastoprog.synthetic import simulate_cohort

MARS_VALIDATION_MONTHS = {"low": 12.2 * 12, "intermediate": 4.4 * 12, "high": 1.9 * 12}
BASE = {"sex": "M", "splenomegaly": False, "alp": 80.0, "alp_uln": 120.0, "sar_count": 0,
        "hemoglobin": 13.0, "platelets": 250.0}


@pytest.fixture(scope="module")
def lim():
    return load_model("lim2009")


@pytest.fixture(scope="module")
def mars():
    return load_model("mars2019")


@pytest.fixture(scope="module")
def lim_fidelity(lim):
    return lim.fidelity(bands=False)


def _medians(model, rows):
    return model.predict_median(pd.DataFrame(rows))["median"].to_numpy()


# --------------------------------------------------------------------------- calibration promise


def test_lim2009_still_meets_the_lim_targets_to_solver_precision(lim):
    """Lim 2009 medians (ASM 41, SM-AHN 24, MCL 2 months), ECNM SSM 5-year OS 0.85 and the ISM
    10-year relative survival 0.985: achieved - target below 1e-8 (brentq xtol 1e-12)."""
    got = {(r["subtype"], r["kind"]): (r["target"], r["achieved"]) for r in lim.state_.residuals
           if r.get("target") is not None}
    expected = {("ASM", "median"): 41.0, ("SM-AHN", "median"): 24.0, ("MCL", "median"): 2.0,
                ("SSM", "survival_at"): 0.85, ("ISM", "relative_survival_at"): 0.985}
    for key, target in expected.items():
        t, achieved = got[key]
        assert t == target
        assert abs(achieved - target) < 1e-8 * max(1.0, target), key


def test_every_target_set_names_its_era(lim, mars):
    for model in (lim, mars, load_model("mayo2025")):
        card = model.card()
        assert card["calibrated_to"], card["kind"]
    lim_lines = " ".join(lim.card()["calibrated_to"])
    assert "1976-2007, before KIT inhibitors" in lim_lines
    mayo_lines = load_model("mayo2025").card()["calibrated_to"]
    asm = next(line for line in mayo_lines if line.startswith("ASM:"))
    assert "lim2009" in asm  # mayo2025 gives ASM the lim2009 curve, and says so
    assert "mixes target sets" in mayo_lines[-1]
    assert "MARS validation" in " ".join(mars.card()["calibrated_to"])


def test_predictions_name_the_target_set_and_era(lim):
    res = lim.predict({"age": 60, "sex": "F", "who_subtype": "ASM"})
    assert "before KIT inhibitors" in res.notes["target_set"].iloc[0]


# --------------------------------------------------------------------------- fidelity


def test_fidelity_lists_at_least_ten_figures_three_of_them_checks_with_verdicts(lim_fidelity):
    f = lim_fidelity
    assert list(f.columns) == list(FIDELITY_COLUMNS)
    assert len(f) >= 10
    checks = f[(f["used_for"] == "check") & f["inside"].notna()]
    assert len(checks) >= 3
    assert set(f["used_for"]) == {"calibration", "check"}
    # The calibrated Lim medians are inside their own published uncertainty (by construction).
    cal = f.set_index("figure_id").loc[["lim2009_asm_median", "lim2009_smahn_median", "lim2009_mcl_median"]]
    assert cal["inside"].all() and (cal["used_for"] == "calibration").all()


def test_lim2009_keeps_the_mars_contrasts(lim_fidelity):
    """The MARS group contrasts (validation 12.2/4.4 = 2.77, 4.4/1.9 = 2.32; training 3.9/1.9 = 2.05)
    are reproduced within their published uncertainty by the default model, which was never
    calibrated to MARS (measured: 2.48, 2.48, 2.48 against intervals of about x/÷ 1.7)."""
    ratios = lim_fidelity[lim_fidelity["measure"] == "median_ratio"]
    assert len(ratios) == 3
    assert ratios["inside"].all(), ratios[["figure_id", "published", "model"]]


def test_mars2019_group_medians_within_30_percent_over_its_reference_cohort(mars):
    """Measured (reference cohort, 6,000 patients per advanced subtype): about 10.2 / 4.9 / 2.0 y."""
    achieved = mars.state_.provenance["advanced_level"]["achieved"]
    for g, target in MARS_VALIDATION_MONTHS.items():
        assert abs(achieved[g] / target - 1) < 0.30, (g, achieved[g], target)


def test_mars2019_group_medians_within_30_percent_over_simulated_advanced_sm(mars):
    """Over the advanced-SM patients simulate_cohort draws from lim2009 (its own findings generator,
    not the reference cohort), group-averaged medians stay within 30 % of 12.2 / 4.4 / 1.9 years.
    1,500 patients per group: Monte Carlo error of a group median about 3 %."""
    from mastoprog.risk import risk_score

    sim = simulate_cohort(12_000, "lim2009", random_state=11, survival=False, assign_subtype=True)
    adv = sim[sim["who_subtype"].isin(["ASM", "SM-AHN", "MCL"])].reset_index(drop=True)
    groups = risk_score(adv, "mars")["group"].to_numpy(object)
    t = np.arange(0.0, 480.0, 0.5)
    for g, target in MARS_VALIDATION_MONTHS.items():
        members = adv[groups == g].iloc[:1500]
        curve = mars.predict_survival_function(members, t).mean(axis=1).to_numpy()
        median = t[np.argmax(curve <= 0.5)]
        assert abs(median / target - 1) < 0.30, (g, median, target)


def test_leave_one_source_out_reports_each_prediction(lim):
    loso = leave_one_source_out(lim)
    assert set(loso["left_out"]) >= {"MARS validation", "Lim 2009 (SM-AHN)", "Lim 2009 (MCL)"}
    assert loso["predicted"].gt(0).all() and loso["inside"].isin([True, False]).all()


# --------------------------------------------------------------------------- individual patients


@pytest.mark.parametrize("name", ["lim2009", "mars2019"])
def test_same_mars_points_within_a_factor_of_three(name):
    """Issue table: SM-AHN, 71 y, male; MARS 3 either from 2 S/A/R genes (with splenomegaly and ALP
    > ULN, normal counts) or from Hb 8.5 g/dL and platelets 60. Before: 0.41 vs 6.2 y (15-fold).
    Measured now: 0.84 vs 1.62 y (lim2009), ratio 1.9."""
    model = load_model(name)
    a, b = _medians(model, [
        {**BASE, "who_subtype": "SM-AHN", "age": 71, "splenomegaly": True, "alp": 200.0, "sar_count": 2},
        {**BASE, "who_subtype": "SM-AHN", "age": 71, "hemoglobin": 8.5, "platelets": 60.0},
    ])
    assert max(a, b) / min(a, b) < 3.0


def test_cytopenic_asm_patient_lives_clearly_shorter(lim):
    """ASM, 55 y, male: Hb 8.5 g/dL and platelets 60 against normal counts. Measured: 6.1 vs 18.9 y
    (lim2009): the excess HR is 2.2 x 2.5 = 5.5 (MAPS clinical model)."""
    cyto, normal = _medians(lim, [
        {**BASE, "who_subtype": "ASM", "age": 55, "hemoglobin": 8.5, "platelets": 60.0},
        {**BASE, "who_subtype": "ASM", "age": 55},
    ])
    assert normal / cyto > 2.0


@pytest.mark.parametrize("name", ["lim2009", "mayo2025", "mars2019"])
def test_mcl_individual_curves_are_plausible(name):
    """MCL over the simulated MCL patients: medians >= 0.5 month, p95/p5 <= 10, and no 1-year
    survival that displays as 0.000 (>= 0.0005). Measured lim2009: p5 1.2 mo, p95/p5 2.7,
    min S(12) 0.009."""
    model = load_model(name)
    mcl = simulate_cohort(3_000, "lim2009", subtype="MCL", random_state=5, survival=False,
                          assign_subtype=True)
    med = model.predict_median(mcl)["median"].to_numpy()
    assert med.min() >= 0.5
    p5, p95 = np.percentile(med, [5, 95])
    assert p95 / p5 <= 10
    s12 = model.predict_survival_function(mcl, [12.0]).to_numpy()
    assert s12.min() >= 0.0005


@pytest.mark.parametrize("subtype", ["ISM", "SSM", "ASM", "SM-AHN", "MCL"])
def test_no_step_at_sixty(lim, subtype):
    """Median 59.9 vs 60.1 y within 15 % (measured < 3 %: age is continuous, in completed years)."""
    young, old = _medians(lim, [{**BASE, "who_subtype": subtype, "age": 59.9},
                                {**BASE, "who_subtype": subtype, "age": 60.1}])
    assert abs(old / young - 1) < 0.15


@pytest.mark.parametrize("subtype", ["ISM", "SSM"])
def test_ism_ssm_ten_year_excess_mortality_has_no_step_at_sixty(lim, subtype):
    """1 - relative survival at 10 years with three factors (splenomegaly, ALP > ULN, one S/A/R gene):
    within 15 % between 59.9 and 60.1 y (before: 0.085 -> 0.177). Age acts through the life table."""
    rows = pd.DataFrame([{**BASE, "who_subtype": subtype, "age": a, "splenomegaly": True, "alp": 200.0,
                          "sar_count": 1} for a in (59.9, 60.1)])
    s = lim.predict_survival_function(rows, [120.0]).to_numpy()[0]
    pop = lim.predict_population_survival(rows, [120.0]).to_numpy()[0]
    excess = 1 - s / pop
    assert abs(excess[1] / excess[0] - 1) < 0.15


# --------------------------------------------------------------------------- SM-ALN (issue 10, item 6)

SM_ALN_MONTHS = 8.1 * 12  # Mayo 910, ICC 2022: SM with an associated lymphoid neoplasm (PMID 40607735)


def _aln_patients():
    """The same 65-year-old man with SM and an associated CLL, written three ways: WHO SM-AHN with
    the lymphoid AHN named, the ICC label, and a myeloid AHN (CMML) for contrast."""
    base = {"age": 65, "sex": "M"}
    return pd.DataFrame([{**base, "who_subtype": "SM-AHN", "ahn": "CLL"},
                         {**base, "who_subtype": "SM-ALN", "ahn": "CLL"},
                         {**base, "who_subtype": "SM-AHN", "ahn": "CMML"}], index=["who", "icc", "myeloid"])


@pytest.mark.parametrize("name", ["lim2009", "mars2019", "mayo2025", "midostaurin"])
def test_sm_aln_patient_gets_its_own_curve_in_both_editions(name):
    """A typical SM-ALN patient (the reference cohort's median age, 65 y; the other risk findings
    unknown, so the central curve sits at the reference means) has a median near the Mayo 910 8.1 y
    (within 15 %: measured about 8.6 y, the individual curve at the means vs the population-averaged
    one), whether written as WHO SM-AHN with a lymphoid AHN or as ICC SM-ALN; a myeloid AHN keeps the
    SM-AHN curve, clearly shorter: at least 1.5-fold (measured 4.0-fold lim2009, 3.5 mayo2025, 3.4
    midostaurin against the Mayo 910 SM-AMN vs SM-ALN HR 3.4; 1.9 in mars2019, whose SM-AHN level is
    the contemporary MARS cohort's while SM-ALN keeps the Mayo 910 figure)."""
    model = load_model(name)
    res = model.predict(_aln_patients())
    med = res.median["median"]
    assert res.notes.loc["who", "subtypes"] == res.notes.loc["icc", "subtypes"] == "SM-ALN"
    assert res.notes.loc["myeloid", "subtypes"] == "SM-AHN"
    assert med["who"] == pytest.approx(med["icc"], rel=1e-12)
    assert abs(med["who"] / SM_ALN_MONTHS - 1) < 0.15, med["who"]
    assert med["who"] / med["myeloid"] > 1.5


@pytest.mark.parametrize(("name", "borrowed"), [("lim2009", True), ("mars2019", True), ("midostaurin", True),
                                                 ("mayo2025", False)])
def test_sm_aln_notes_and_card_say_where_its_calibration_comes_from(name, borrowed):
    """lim2009 (and mars2019, and midostaurin, which keeps lim2009's non-treated subtypes) have no SM-ALN
    figure: the curve is calibrated to the Mayo 910 figure of the mayo2025 target set, and the prediction
    notes and the card say so; mayo2025 holds the figure itself."""
    model = load_model(name)
    label = model.predict(_aln_patients().iloc[:1]).notes["target_set"].iloc[0]
    assert label.startswith("mayo2025 (Mayo Clinic 1968-2024, ICC 2022")
    assert ("comes from another target set" in label) is borrowed
    line = next(s for s in model.card()["calibrated_to"] if s.startswith("SM-ALN:"))
    assert ("comes from another target set" in line) is borrowed
    target = next(t for t in model.card()["targets"] if t["subtype"] == "SM-ALN")
    assert target["figure_id"] == "mayo910_icc_smaln" and target["value"] == pytest.approx(SM_ALN_MONTHS)


def test_sm_aln_is_classified_from_findings_in_both_editions(lim):
    """A simulated patient of the SM-ALN stratum without who_subtype: WHO 2016 classifies SM-AHN (flag
    lymphoid_ahn), ICC 2022 SM-ALN; both reach the SM-ALN curve."""
    sim = simulate_cohort(20, "lim2009", subtype="SM-ALN", random_state=2, survival=False)
    for edition in ("who2016", "icc2022"):
        res = lim.predict(sim.iloc[:5], edition=edition)
        assert (res.notes["subtypes"] == "SM-ALN").all(), (edition, res.notes["subtypes"].tolist())


def test_simulated_sm_aln_patients_die_at_the_sm_aln_rate(lim):
    """simulate_cohort draws SM-ALN (WHO truth SM-AHN, ICC truth SM-ALN, a lymphoid AHN) and their event
    times from the SM-ALN curve: the mean of the model's own S(60 months) over the simulated patients
    equals the share alive at 60 months within 4 standard errors (n = 20,000: SE 0.0035)."""
    sim = simulate_cohort(20_000, "lim2009", subtype="SM-ALN", random_state=4)
    assert set(sim["true_subtype"].astype(str)) == {"SM-AHN"}
    assert set(sim["true_subtype_icc2022"].astype(str)) == {"SM-ALN"}
    assert set(sim["ahn"].astype(str)) <= {"lymphoma", "myeloma", "CLL"}
    alive = (sim["true_time"] > 60).mean()
    expected = sim["true_survival_60"].mean()
    se = np.sqrt(expected * (1 - expected) / len(sim))
    assert abs(alive - expected) < 4 * se
    assert 0.55 < expected < 0.85  # a 5-year survival of an 8-year median, not SM-AHN's (about 0.2)


def test_lim2009_mix_draws_sm_aln_at_the_published_share():
    """Pardanani 2009: 15 of Lim's 138 SM-AHN were not myeloid: 15 / 342 of the lim2009 mix (4.4 %),
    within 4 SE at n = 30,000 (SE 0.0012)."""
    sim = simulate_cohort(30_000, "lim2009", random_state=6, survival=False)
    share = (sim["true_subtype_icc2022"] == "SM-ALN").mean()
    assert abs(share - 15 / 342) < 4 * np.sqrt(15 / 342 * (1 - 15 / 342) / 30_000)


# --------------------------------------------------------------------------- S/A/R sensitivity (item 7)


@pytest.mark.parametrize("name", ["lim2009", "mars2019", "mayo2025", "midostaurin"])
def test_card_shows_the_sar_prevalence_sensitivity(name):
    """Computed at build time and stored in the model file: for every subtype with an excess hazard,
    three named patients and two groups, their medians at the reference S/A/R share and at its
    plausible low and high (data/sar_prevalence_ranges.csv), with the basis of each bound."""
    model = load_model(name)
    rows = pd.DataFrame(model.card()["sar_sensitivity"])
    assert set(rows["subtype"]) == {"ISM", "SSM", "ASM", "SM-AHN", "MCL", "SM-ALN"}
    assert (rows.groupby("subtype").size() == 5).all()
    assert (rows["share_low"] <= rows["share_reference"]).all()
    assert (rows["share_reference"] <= rows["share_high"]).all()
    # More mutated reference patients -> the average patient is worse -> with the target fixed,
    # every individual curve moves up (and down for fewer).
    assert (rows["median_months_high"] >= rows["median_months"] * (1 - 1e-9)).all()
    assert (rows["median_months_low"] <= rows["median_months"] * (1 + 1e-9)).all()
    text = model.card(markdown=True)
    assert "## Sensitivity to the reference cohort's S/A/R prevalence" in text
    assert "Schwaab J et al., Blood 2013;122:2460" in text


def test_card_command_prints_the_card_with_the_sensitivity(capsys):
    from mastoprog.cli import main

    assert main(["card", "--model", "lim2009"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# mastoprog survival model card")
    assert "S/A/R prevalence" in out and "SM-ALN: mayo2025" in out
