"""Risk module: the mastoprog composite score, MARS, MAPS and IPSM.

Golden numbers come from the sources named in each test (see
``../shared/reference/published_figures.md`` section 2 and ``src/mastoprog/data/risk_*.csv``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mastoprog.risk import MASTOPROG_FACTORS, mastoprog_coefficients, risk_features

# --------------------------------------------------------------------------- survival-model contract


def test_coefficients_contract_and_published_values():
    c = mastoprog_coefficients()
    assert tuple(c.index) == MASTOPROG_FACTORS
    for col in ("log_hr", "se_log_hr", "hr", "hr_low", "hr_high", "source", "evidence", "assumption"):
        assert col in c.columns
    # MAPS hybrid model (Pardanani 2018, Blood Adv 2:2964): age > 60 HR 2.2 (1.3-3.6),
    # ALP > ULN 2.1 (1.2-4.0), adverse mutation 2.6 (1.6-4.4).
    assert c.loc["age_gt_60", ["hr", "hr_low", "hr_high"]].tolist() == [2.2, 1.3, 3.6]
    assert c.loc["alp_gt_uln", ["hr", "hr_low", "hr_high"]].tolist() == [2.1, 1.2, 4.0]
    assert c.loc["sar_1", ["hr", "hr_low", "hr_high"]].tolist() == [2.6, 1.6, 4.4]
    # two or more genes = twice the one-gene log HR (MARS scores 2+ genes as 2 points)
    assert c.loc["sar_2plus", "log_hr"] == pytest.approx(2 * math.log(2.6))
    assert c.loc["age_gt_60", "log_hr"] == pytest.approx(math.log(2.2))
    assert c.loc["age_gt_60", "se_log_hr"] == pytest.approx((math.log(3.6) - math.log(1.3)) / 3.92)
    assert c.loc["splenomegaly", "se_log_hr"] == pytest.approx((math.log(2.25) - math.log(1.0)) / 3.92)
    assert c["assumption"].dtype == bool
    assert c["assumption"].to_dict() == {"age_gt_60": False, "splenomegaly": True, "alp_gt_uln": False,
                                         "sar_1": False, "sar_2plus": True}
    assert (c.loc[c["assumption"], "evidence"] == "assumption").all()
    assert c["source"].str.len().gt(20).all()
    assert c["source"].str.contains("doi:10.1182/bloodadvances.2018026245").sum() == 3


def test_coefficients_agree_with_the_maps_data_file():
    # The mastoprog file repeats the MAPS hybrid HRs; guard against the two drifting apart.
    from mastoprog._resources import load_table

    maps = load_table("risk_maps.csv")
    hybrid = maps[(maps["kind"] == "hr") & (maps["model"] == "hybrid")].set_index("factor")
    c = mastoprog_coefficients()
    for ours, theirs in (("age_gt_60", "age_gt_60"), ("alp_gt_uln", "alp_gt_uln"),
                         ("sar_1", "adverse_mutation")):
        assert c.loc[ours, ["hr", "hr_low", "hr_high"]].tolist() == \
            hybrid.loc[theirs, ["hr", "hr_low", "hr_high"]].tolist()


FEATURE_CASES = [
    # id, findings, expected features (age_gt_60, splenomegaly, alp_gt_uln, sar_1, sar_2plus)
    ("all_present_sar_count_2", {"age": 61, "splenomegaly": True, "alp": 130, "sar_count": 2},
     [1, 1, 1, 0, 1]),
    ("boundary_age_eq_60_alp_eq_default_uln", {"age": 60, "splenomegaly": False, "alp": 120,
                                               "sar_count": 0}, [0, 0, 0, 0, 0]),
    ("boundary_age_60_1_alp_120_1", {"age": 60.1, "splenomegaly": False, "alp": 120.1,
                                     "sar_count": 1}, [1, 0, 1, 1, 0]),
    ("lab_uln_used", {"age": 50, "alp": 130, "alp_uln": 135, "srsf2": True, "asxl1": True,
                      "runx1": False}, [0, np.nan, 0, 0, 1]),
    ("alp_eq_lab_uln", {"age": 50, "alp": 135, "alp_uln": 135}, [0, np.nan, 0, np.nan, np.nan]),
    ("one_gene_known_two_unknown", {"asxl1": True}, [np.nan, np.nan, np.nan, np.nan, np.nan]),
    ("two_genes_known_third_unknown", {"asxl1": True, "runx1": True}, [np.nan] * 3 + [0, 1]),
    ("no_gene_known_negative_rest_unknown", {"asxl1": False, "srsf2": False},
     [np.nan] * 3 + [np.nan, 0]),
    ("child_without_uln_alp_unknown", {"age": 8, "alp": 300}, [0, np.nan, np.nan, np.nan, np.nan]),
    ("child_with_uln", {"age": 8, "alp": 300, "alp_uln": 400}, [0, np.nan, 0, np.nan, np.nan]),
]


@pytest.mark.parametrize("findings,expected", [c[1:] for c in FEATURE_CASES],
                         ids=[c[0] for c in FEATURE_CASES])
def test_risk_features_cases(findings, expected):
    got = risk_features(findings)
    assert list(got.columns) == list(MASTOPROG_FACTORS)
    assert all(dt == np.float64 for dt in got.dtypes)
    np.testing.assert_array_equal(got.iloc[0].to_numpy(), np.array(expected, dtype=float))


def test_risk_features_index_and_exclusive_sar():
    df = pd.DataFrame({"sar_count": [0, 1, 2, 3, np.nan]}, index=["a", "b", "c", "d", "e"])
    got = risk_features(df)
    assert list(got.index) == ["a", "b", "c", "d", "e"]
    np.testing.assert_array_equal(got["sar_1"].to_numpy(), [0, 1, 0, 0, np.nan])
    np.testing.assert_array_equal(got["sar_2plus"].to_numpy(), [0, 0, 1, 1, np.nan])
    both = got["sar_1"].fillna(0) + got["sar_2plus"].fillna(0)
    assert both.max() <= 1
