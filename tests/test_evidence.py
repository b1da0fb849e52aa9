"""Evidence registry (data/evidence.csv) and the survival predictor's effects (data/survival_effects.csv).

Every number asserted here is a published figure from ../shared/reference/published_figures.md or
the seed review (000_9d2c0b3d42e7c97b.txt, Table 4), or follows from the stated conversion rules.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mastoprog import ModelFileError, _resources
from mastoprog.survival import _evidence, _predictor
from mastoprog.survival._evidence import load_evidence, published_interval
from mastoprog.survival._predictor import (
    PREDICTOR_FACTORS,
    complete_reference,
    feature_patterns,
    load_predictor,
    lp_ranges,
    predictor_features,
)

SUBTYPES = ("CM", "ISM", "SSM", "SM-AHN", "ASM", "MCL", "SM-ALN")

# (figure_id, value, unit, n_patients or None): published_figures.md sections 1, 4 and 5.
PUBLISHED = [
    ("lim2009_asm_median", 41, "months", 41),
    ("lim2009_smahn_median", 24, "months", 138),
    ("lim2009_mcl_median", 2, "months", 4),
    ("ecnm2016_cm_os5", 1.00, "probability", None),
    ("ecnm2016_ism_os5", 0.98, "probability", None),
    ("ecnm2016_ssm_os5", 0.85, "probability", 26),
    ("mars_training_intermediate", 3.9 * 12, "months", 231),
    ("mars_training_high", 1.9 * 12, "months", 231),
    ("mars_validation_low", 12.2 * 12, "months", 152),
    ("mars_validation_intermediate", 4.4 * 12, "months", 152),
    ("mars_validation_high", 1.9 * 12, "months", 152),
    ("maps_clinical_platelets", 2.5, "HR", 580),
    ("maps_clinical_anemia", 2.2, "HR", 580),
    ("maps_hybrid_platelets", 2.8, "HR", 580),
    ("maps_hybrid_mutation", 2.6, "HR", 580),
    ("mayo910_who_mcl", 1.8 * 12, "months", None),
    ("mayo910_who_smahn", 2.3 * 12, "months", None),
    ("mayo910_icc_mcl", 0.08 * 12, "months", None),
    ("mayo910_icc_smamn", 2.0 * 12, "months", None),
    ("mayo910_icc_smaln", 8.1 * 12, "months", None),
    ("midostaurin_gotlib_89", 28.7, "months", 89),
    ("midostaurin_review_116", 33.9, "months", 116),
    ("cladribine_asm", 2.4 * 12, "months", 32),
    ("cladribine_smahn", 6.5 * 12, "months", 32),
    ("transplant_os3", 0.57, "probability", 57),
]


@pytest.mark.parametrize(("figure", "value", "unit", "n"), PUBLISHED, ids=[p[0] for p in PUBLISHED])
def test_registry_holds_the_published_figure(figure, value, unit, n):
    row = load_evidence().loc[figure]
    assert float(row["value"]) == pytest.approx(value, rel=1e-9)
    assert row["unit"] == unit
    if n is None:
        assert np.isnan(float(row["n_patients"]))
    else:
        assert int(row["n_patients"]) == n
    assert row["evidence"] in {"P", "S"} and row["source"] and row["location"]


def test_midostaurin_medians_are_paired_with_their_own_n():
    ev = load_evidence()
    mido = ev[ev["treatment"] == "midostaurin"].dropna(subset=["n_patients"])
    assert dict(zip(mido["value"], mido["n_patients"], strict=True)) == {28.7: 89, 33.9: 116}


def test_mars_training_low_is_not_reached_and_has_no_value():
    row = load_evidence().loc["mars_training_low"]
    assert np.isnan(float(row["value"])) and "not reached" in row["note"]


def test_every_row_names_its_era_population_and_measure():
    ev = load_evidence()
    assert len(ev) >= 40
    for col in ("subtype", "edition", "treatment", "era", "cohort", "measure", "location"):
        assert ev[col].notna().all(), col


@pytest.mark.parametrize(
    ("figure", "low", "high", "basis"),
    [
        # Lim ASM: 41 months, deaths not reported -> ceil(41 / 2) = 21; 41 x/÷ exp(1.96 / sqrt 21).
        ("lim2009_asm_median", 41 / math.exp(1.959964 / math.sqrt(21)),
         41 * math.exp(1.959964 / math.sqrt(21)), "ceil(n/2)"),
        # MARS validation groups: ceil(152 / 3 / 2) = 26 deaths assumed per group.
        ("mars_validation_high", 22.8 / math.exp(1.959964 / math.sqrt(26)),
         22.8 * math.exp(1.959964 / math.sqrt(26)), "n/3/2"),
        ("maps_hybrid_platelets", 1.7, 4.5, "published 95 % CI"),
        ("ecnm2016_cm_os5", np.nan, np.nan, "no interval"),
    ],
)
def test_published_interval(figure, low, high, basis):
    lo, hi, why = published_interval(load_evidence().loc[figure])
    np.testing.assert_allclose([lo, hi], [low, high], rtol=1e-6)
    assert basis in why


@pytest.fixture
def fake_data(tmp_path, monkeypatch):
    """Data files read from a temporary folder (caches cleared before and after)."""
    monkeypatch.setattr(_resources, "data_path", lambda name: tmp_path / name)
    for f in (_resources._load_table_cached, _evidence._evidence_cached, _predictor.load_predictor,
              _predictor._reference_counts):
        f.cache_clear()
    yield tmp_path
    for f in (_resources._load_table_cached, _evidence._evidence_cached, _predictor.load_predictor,
              _predictor._reference_counts):
        f.cache_clear()


_HEADER = ("figure_id,subtype,edition,score,score_group,treatment,era,cohort,measure,time_months,value,unit,"
           "ci_low,ci_high,n_patients,events,source,location,evidence,note\n")


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("a,ASM,x,,,none,1976-2007,Mayo,mean_os,,41,months,,,41,,Lim 2009,p1,P,\n",
         r"line 2, column 'measure': got 'mean_os'"),
        ("a,ASM,x,,,none,1976-2007,Mayo,median_os,,41,years,,,41,,Lim 2009,p1,P,\n",
         r"line 2, column 'unit': got 'years'; expected 'months'"),
        ("a,SSM,x,,,none,2016,ECNM,survival_at,60,85,probability,,,26,,Sperr 2016,p1,P,\n",
         r"line 2, column 'value': got 85.0; expected a probability in \(0, 1\]"),
        ("a,SM,x,,,none,2015,MAPS,hazard_ratio,,2.5,HR,2.6,3.4,580,,MAPS,t2,P,\n",
         r"line 2, columns 'ci_low'/'ci_high': 2.6-3.4 does not contain 2.5"),
        ("a,ASM,x,,,none,1976-2007,Mayo,median_os,,,months,,,41,,Lim 2009,p1,P,\n",
         r"line 2, column 'value': empty; only a median 'not reached' may be empty"),
    ],
    ids=["unknown_measure", "median_in_years", "percent_not_probability", "ci_excludes_value", "empty_value"],
)
def test_registry_is_validated_at_load(fake_data, row, match):
    (fake_data / "evidence.csv").write_text(_HEADER + row, encoding="utf-8")
    with pytest.raises(ModelFileError, match=match):
        load_evidence()


# --------------------------------------------------------------------------- predictor


def test_predictor_effects_are_the_published_hazard_ratios_converted():
    p = load_predictor()
    rec = p.records.set_index("factor")
    # Disease markers: excess log-HR = log of the published all-cause HR (the conversion's lower bound).
    for f, hr in (("hb_lt_10", 2.2), ("plt_lt_150", 2.5), ("alp_gt_uln", 2.1), ("sar_1", 2.6)):
        assert rec.loc[f, "excess_log_hr"] == pytest.approx(math.log(hr), abs=5e-4)
        lo, hi = rec.loc[f, ["hr_low", "hr_high"]].astype(float)
        assert rec.loc[f, "excess_se"] == pytest.approx((math.log(hi) - math.log(lo)) / 3.92, abs=2e-3)
    # Two or more S/A/R genes: the geometric midpoint of MAPS (2.6) and MARS (2.6 squared).
    assert rec.loc["sar_2plus", "excess_log_hr"] == pytest.approx(1.5 * math.log(2.6), abs=5e-4)
    # Splenomegaly only as a labelled assumption.
    assert rec.loc["splenomegaly", "evidence"] == "assumption" and bool(rec.loc["splenomegaly", "assumption"])
    assert p.factors == PREDICTOR_FACTORS


def test_age_acts_through_the_life_table_only_in_non_advanced_sm():
    w = pd.DataFrame(load_predictor().weights, index=SUBTYPES, columns=PREDICTOR_FACTORS)
    assert (w.loc[["CM", "ISM", "SSM"], "age_decades"] == 0).all()
    assert (w.loc[["ASM", "SM-AHN"]] == 1).all().all()
    assert (w.loc["MCL"] < 0.5).all()  # n = 4: effects shrink toward the subtype
    assert (w.loc["CM"] == 0).all()


def test_features_have_no_step_at_sixty():
    f = predictor_features(pd.DataFrame({"age": [59.9, 60.1, 70.0], "hemoglobin": [8.5, 12, np.nan],
                                         "platelets": [60, 149.9, 150]}))
    assert f["age_decades"].tolist() == pytest.approx([-0.1, 0.0, 1.0])
    assert f["hb_lt_10"].tolist()[:2] == [1.0, 0.0] and np.isnan(f["hb_lt_10"].iloc[2])
    assert f["plt_lt_150"].tolist() == [1.0, 1.0, 0.0]


def test_lp_ranges_cover_an_unknown_count_and_weight_by_subtype():
    p = load_predictor()
    X = predictor_features(pd.DataFrame({
        "age": [71.0, 71.0], "hemoglobin": [8.5, np.nan], "platelets": [60, 60], "alp": [80, 80],
        "alp_uln": [120, 120], "sar_count": [0, 0], "splenomegaly": [False, False]})).to_numpy(float)
    center = np.zeros((len(SUBTYPES), len(PREDICTOR_FACTORS)))
    mid, lo, hi = lp_ranges(X, p.beta, center, p.weights, list(p.factors))
    asm, ism = SUBTYPES.index("ASM"), SUBTYPES.index("ISM")
    expected = 1.1 * p.beta[0] + p.beta[1] + p.beta[2]
    assert mid[0, asm] == pytest.approx(expected)
    assert mid[0, ism] == pytest.approx(p.beta[1] + p.beta[2])  # no age term on the ISM excess
    assert (lo[1, asm], hi[1, asm]) == pytest.approx((expected - p.beta[1], expected))


def test_feature_patterns_separate_ages_and_flags():
    X = np.array([[1.0, 1, 0, 0, 0, 0, 0], [1.0, 1, 0, 0, 0, 0, 0], [1.1, 1, 0, 0, 0, 0, 0],
                  [1.0, np.nan, 0, 0, 0, 0, 0]])
    codes, first = feature_patterns(X, PREDICTOR_FACTORS)
    assert codes.tolist() == [0, 0, 1, 2] and first.tolist() == [0, 2, 3]


def test_reference_counts_match_the_synthetic_generator():
    """The reference cohorts' blood counts are the generator's (so simulated cohorts meet the targets)."""
    from mastoprog.synthetic import simulate_cohort

    sim = simulate_cohort(20_000, "lim2009", random_state=3, survival=False, assign_subtype=True)
    aln = sim["true_subtype_icc2022"] == "SM-ALN"  # WHO SM-AHN with a lymphoid AHN: the SM-ALN group
    for s in ("SM-AHN", "ASM", "SM-ALN"):
        g = sim[aln] if s == "SM-ALN" else sim[(sim["who_subtype"] == s) & ~aln]
        ref = complete_reference(g[["age", "sex"]].reset_index(drop=True), s, seed=7)
        for col, cut in (("hemoglobin", 10), ("platelets", 150), ("platelets", 100)):
            p_sim, p_ref = (g[col] < cut).mean(), (ref[col] < cut).mean()
            se = math.sqrt(2 * p_sim * (1 - p_sim) / len(g))
            assert abs(p_sim - p_ref) < 5 * se + 0.005, (s, col, cut, p_sim, p_ref)  # 5 SE + rounding of 3 dp


def test_complete_reference_is_deterministic_and_keeps_given_counts():
    base = pd.DataFrame({"age": [60.0] * 50, "sex": ["M"] * 50})
    a, b = complete_reference(base, "ASM", 1), complete_reference(base, "ASM", 1)
    pd.testing.assert_frame_equal(a, b)
    given = base.assign(hemoglobin=13.0, platelets=250.0)
    assert complete_reference(given, "ASM", 1) is given
    ism = complete_reference(base, "ISM", 1)
    assert (ism["hemoglobin"] >= 12.5).all() and (ism["platelets"] >= 160).all()


def test_predictor_cut_points_come_from_the_data_file(monkeypatch):
    """Raise the Hb cut-point in the loaded survival_effects.csv: the predictor's flag follows it."""
    from mastoprog import _resources
    from mastoprog.survival import _predictor

    original = _resources.load_table

    def patched(name):
        table = original(name)
        if name == "survival_effects.csv":
            table.loc[(table["kind"] == "effect") & (table["factor"] == "hb_lt_10"), "threshold"] = 11.0
        return table

    patient = {"age": 60, "hemoglobin": 10.5, "platelets": 200}
    assert _predictor.predictor_features(patient)["hb_lt_10"].iloc[0] == 0.0
    monkeypatch.setattr(_predictor, "load_table", patched)
    _predictor._cut_points.cache_clear()
    try:
        assert _predictor.predictor_features(patient)["hb_lt_10"].iloc[0] == 1.0
    finally:
        monkeypatch.undo()
        _predictor._cut_points.cache_clear()
