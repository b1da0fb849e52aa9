"""Invariants of the classifier: it never crashes, never guesses, and C findings only make it worse.

* any mix of valid and missing values classifies without error, into well-formed results;
* filling any missing value yields candidates among those reported before (never a surprise);
* the candidate sets are exact: equal to a brute-force enumeration of every fill by the naive
  per-row reference implementation (``tests/classify_reference.py``), not just a superset;
* filling every column listed in ``missing`` decides the case (except "mastocytosis in the
  skin" without a marrow examination, which stays open until the marrow is examined);
* adding a C finding never moves a definite case to a less advanced subtype.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from classify_reference import reference_candidates
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mastoprog import classify
from mastoprog.classification import COLUMNS, EDITIONS, SUBTYPE_SEVERITY
from mastoprog.exceptions import PlausibilityWarning
from mastoprog.findings import SUBTYPE_LABELS

BOOLS = ("skin_lesions", "bm_examined", "bm_mc_aggregates", "kit_d816", "kit_other", "cd2_cd25",
         "cd30", "hat", "dysplasia_myeloproliferation", "hepatomegaly", "splenomegaly",
         "lymphadenopathy", "hepatic_dysfunction", "hypersplenism", "malabsorption", "osteolysis",
         "mc_sarcoma", "lymphadenopathy_1cm")
#: Boundary values of every rule (both sides) plus a plausible range, in the column's unit.
NUMBERS = {
    "age": ((6.0, 17.9, 18.0, 45.0, 80.0), (0.0, 120.0)),
    "atypical_mc_pct": ((0.0, 25.0, 25.1, 80.0), (0.0, 100.0)),
    "tryptase": ((3.0, 20.0, 20.1, 124.9, 125.0, 199.9, 200.0, 200.1, 900.0), (0.0, 2000.0)),
    "bm_mc_infiltration_pct": ((5.0, 29.9, 30.0, 31.0, 70.0), (0.0, 100.0)),
    "mc_aspirate_pct": ((0.0, 19.0, 20.0, 50.0), (0.0, 100.0)),
    "kit_vaf_pct": ((0.5, 9.9, 10.0, 40.0), (0.0, 100.0)),
    "anc": ((0.5, 0.9, 1.0, 1.79, 1.8, 4.0, 7.5, 7.6), (0.1, 30.0)),
    "hemoglobin": ((8.0, 9.9, 10.0, 11.9, 12.0, 14.0, 16.5, 16.6), (3.0, 20.0)),
    "platelets": ((40.0, 99.0, 100.0, 149.0, 150.0, 250.0, 449.0, 450.0), (5.0, 1500.0)),
}
AHN = ("none", "unknown", "MDS", "CMML", "AML", "lymphoma", "CLL", "HES")
FILL_POOL = {c: vals for c, (vals, _) in NUMBERS.items()} | {c: (False, True) for c in BOOLS} | {
    "ahn": ("none", "MDS", "CMML", "lymphoma")}


def _number(col):
    vals, (lo, hi) = NUMBERS[col]
    return st.one_of(st.sampled_from(vals), st.floats(lo, hi, allow_nan=False))


#: Columns where an empty cell records "not diagnosed" (data dictionary / findings_schema.csv
#: empty_means): only the word "unknown" leaves them open.
OPEN_BY_WORD = ("ahn", "mc_sarcoma")

ROW = st.fixed_dictionaries(
    {c: st.one_of(st.none(), st.booleans()) for c in BOOLS if c not in OPEN_BY_WORD}
    | {"mc_sarcoma": st.one_of(st.just("unknown"), st.booleans())}
    | {c: st.one_of(st.none(), _number(c)) for c in NUMBERS}
    | {"ahn": st.sampled_from(AHN)}
)
FRAMES = st.lists(ROW, min_size=1, max_size=12)


def _classify(rows, edition):
    with warnings.catch_warnings():
        # Random findings may contradict each other (hypersplenism without splenomegaly):
        # the findings layer warns about that; the classifier must still work.
        warnings.simplefilter("ignore", PlausibilityWarning)
        return classify(pd.DataFrame(rows, columns=[*COLUMNS]), edition=edition)


def _is_unknown(row, col):
    v = row[col]
    return v == "unknown" if col in OPEN_BY_WORD else v is None


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FRAMES, st.sampled_from(EDITIONS))
def test_never_crashes_and_results_are_well_formed(rows, edition):
    out = _classify(rows, edition)
    assert len(out) == len(rows)
    for i, row in enumerate(rows):
        r = out.iloc[i]
        cands = r["candidates"]
        assert cands and set(cands) <= set(SUBTYPE_LABELS)
        if len(cands) == 1:
            assert r["subtype"] == cands[0] and r["missing"] == ()
        else:
            assert r["subtype"] == "indeterminate"
        # only unknown findings can be missing; counts are within their ranges
        assert all(_is_unknown(row, c) for c in r["missing"])
        assert 0 <= r["minor_criteria"] <= 4
        assert set(r["b_findings"]) <= {"B1", "B2", "B3"}
        assert r["rationale"].startswith({"who2016": "WHO 2016", "who2022": "WHO 2022",
                                          "icc2022": "ICC 2022"}[edition])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FRAMES, st.sampled_from(EDITIONS), st.integers(0, 2**32 - 1))
def test_filling_a_missing_value_yields_one_of_the_candidates(rows, edition, seed):
    rng = np.random.default_rng(seed)
    before = _classify(rows, edition)["candidates"]
    filled, origin = [], []
    for i, row in enumerate(rows):
        for col in COLUMNS:
            if _is_unknown(row, col):
                pool = FILL_POOL[col]
                filled.append(row | {col: pool[rng.integers(len(pool))]})
                origin.append(i)
    if not filled:
        return
    after = _classify(filled, edition)["candidates"]
    for j, i in enumerate(origin):
        assert set(after.iloc[j]) <= set(before.iloc[i]), (rows[i], filled[j])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FRAMES, st.sampled_from(EDITIONS), st.integers(0, 2**32 - 1))
def test_filling_every_missing_column_decides_the_case(rows, edition, seed):
    rng = np.random.default_rng(seed)
    out = _classify(rows, edition)
    filled = []
    for i, row in enumerate(rows):
        if out["subtype"].iloc[i] != "indeterminate" or "skin_no_marrow" in out["flags"].iloc[i]:
            continue
        new = dict(row)
        for col in out["missing"].iloc[i]:
            pool = FILL_POOL[col]
            new[col] = pool[rng.integers(len(pool))]
        filled.append(new)
    if filled:
        after = _classify(filled, edition)
        assert (after["subtype"] != "indeterminate").all(), after[["candidates", "missing"]]


C_FINDINGS = (("anc", 0.5), ("hemoglobin", 8.0), ("platelets", 40.0),
              ("hepatic_dysfunction", True), ("hypersplenism", True), ("osteolysis", True),
              ("malabsorption", True))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FRAMES, st.sampled_from(EDITIONS))
def test_adding_a_c_finding_never_makes_a_definite_case_less_advanced(rows, edition):
    before = _classify(rows, edition)["subtype"]
    # Every C finding added to every row, classified in one call.
    after = _classify([row | {col: value} for col, value in C_FINDINGS for row in rows],
                      edition)["candidates"]
    for k, (col, _) in enumerate(C_FINDINGS):
        for i, row in enumerate(rows):
            old = before.iloc[i]
            if old == "indeterminate":
                continue
            new = after.iloc[k * len(rows) + i]
            assert min(SUBTYPE_SEVERITY[s] for s in new) >= SUBTYPE_SEVERITY[old], (col, row, new)


def test_candidate_sets_are_exact_against_brute_force_enumeration():
    """Equal (not just a superset) to the naive reference over every fill of the unknowns."""
    rng = np.random.default_rng(20161213)
    rows = []
    for _ in range(500):
        row = {c: bool(rng.integers(2)) for c in BOOLS}
        row |= {c: float(rng.choice(vals)) for c, (vals, _) in NUMBERS.items()}
        row["ahn"] = str(rng.choice(AHN[:1] + AHN[2:]))
        for col in rng.choice(COLUMNS, size=rng.integers(0, 7), replace=False):
            row[col] = "unknown" if col in OPEN_BY_WORD else None
        rows.append(row)
    for edition in EDITIONS:
        got = _classify(rows, edition)["candidates"]
        for i, row in enumerate(rows):
            assert set(got.iloc[i]) == reference_candidates(row, edition), (edition, row)


def test_three_valued_count_comparison_is_exact():
    """``_logic.count_compare`` (the classifier's and the scores' one logic) equals an enumeration of
    every count in the interval, for every monotone operator (exhaustive over small intervals)."""
    from mastoprog._logic import MONOTONE_OPS, OPS, count_compare

    pairs = [(lo, hi) for lo in range(6) for hi in range(lo, 6)]
    lo = np.array([p[0] for p in pairs])
    hi = np.array([p[1] for p in pairs])
    for op in MONOTONE_OPS:
        for k in range(7):
            got = count_compare(lo, hi, op, k)
            for i, (a, b) in enumerate(pairs):
                values = [bool(OPS[op](c, k)) for c in range(a, b + 1)]
                assert got.lo[i] == all(values) and got.hi[i] == any(values), (op, k, a, b)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FRAMES, st.sampled_from(EDITIONS))
def test_classify_subtypes_equals_the_reports_columns(rows, edition):
    from mastoprog.classification import classify_subtypes

    frame = pd.DataFrame(rows, columns=[*COLUMNS])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlausibilityWarning)
        lean = classify_subtypes(frame, edition=edition)
    pd.testing.assert_frame_equal(lean, _classify(rows, edition)[["subtype", "candidates"]])
