"""The findings layer: parsing, units, ranges, missing values, and its error messages."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mastoprog as mp
from mastoprog import FindingsError, PlausibilityWarning, read_findings
from mastoprog.exceptions import RenamedColumnWarning, UnknownColumnWarning
from mastoprog.findings import CANONICAL_COLUMNS


def test_mapping_one_patient_parses_units_and_booleans():
    f = read_findings({"patient_id": "P1", "age": "54", "sex": "f", "tryptase": 35,
                       "splenomegaly": "Yes", "hepatomegaly": "n", "cd30": 0})
    row = f.iloc[0]
    assert row["sex"] == "F" and row["age"] == 54.0 and row["tryptase"] == 35.0
    assert row["splenomegaly"] == True and row["hepatomegaly"] == False  # noqa: E712
    assert row["cd30"] == False  # noqa: E712
    assert f["cd30"].dtype == "boolean"
    # absent findings are unknown, never False or 0
    assert pd.isna(row["hemoglobin"]) and pd.isna(row["skin_lesions"])
    assert row["ahn"] == "none"  # data dictionary: empty ahn = no AHN


@pytest.mark.parametrize("text,expected", [
    ("true", True), ("TRUE", True), ("1", True), ("yes", True), ("Y", True),
    ("false", False), ("0", False), ("No", False), ("n", False), ("", None), ("unknown", None),
])
def test_boolean_spellings_from_files(tmp_path, text, expected):
    path = tmp_path / "p.csv"
    path.write_text(f"patient_id,kit_d816\nA,{text}\n")
    value = read_findings(path).loc[0, "kit_d816"]
    assert pd.isna(value) if expected is None else bool(value) is expected


def test_csv_json_parquet_give_the_same_frame(tmp_path):
    records = [{"patient_id": "A", "age": 40, "sex": "M", "tryptase": 12.5, "skin_lesions": True},
               {"patient_id": "B", "age": 70, "sex": "F", "tryptase": None, "skin_lesions": None}]
    frame = pd.DataFrame(records)
    frame.to_csv(tmp_path / "p.csv", index=False)
    (tmp_path / "p.json").write_text(json.dumps(records))
    frame.to_parquet(tmp_path / "p.parquet")
    a, b, c = (read_findings(tmp_path / f"p.{ext}") for ext in ("csv", "json", "parquet"))
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    assert a.loc[1, "tryptase"] != a.loc[1, "tryptase"]  # NaN


def test_index_and_extra_columns_pass_through():
    frame = pd.DataFrame({"age": [30, 40], "my_note": ["x", "y"]}, index=["r1", "r2"])
    f = read_findings(frame)
    assert list(f.index) == ["r1", "r2"]
    assert list(f["my_note"]) == ["x", "y"]
    assert list(f.columns[: len(CANONICAL_COLUMNS) - 1]) == [
        c for c in CANONICAL_COLUMNS if c != "patient_id"]


def test_every_problem_listed_at_once_with_row_column_value_unit():
    frame = pd.DataFrame({
        "patient_id": ["a", "b", "c"],
        "hemoglobin": [135, 9, -1],
        "sex": ["F", "X", "M"],
        "age": [40, 130, "abc"],
        "ahn": ["CMML", "leukaemia-ish", ""],
        "mc_aspirate_pct": [5, 101, 3],
    })
    with pytest.raises(FindingsError, match=r"^7 invalid findings:") as info:
        read_findings(frame)
    text = str(info.value)
    assert "row 'a', column 'hemoglobin': got 135.0; expected a number > 0 and <= 25 g/dL " \
           "(hint: looks like g/L; this column is g/dL (divide by 10))" in text
    assert "row 'b', column 'sex': got 'X'; expected 'F' or 'M'" in text
    assert "row 'b', column 'age': got 130.0; expected a number >= 0 and <= 120 years" in text
    assert "row 'c', column 'age': got 'abc'" in text
    assert "row 'b', column 'mc_aspirate_pct': got 101.0; expected a number >= 0 and <= 100 %" in text
    assert "row 'b', column 'ahn': got 'leukaemia-ish'; expected one of ['MDS'" in text
    assert info.value.n_problems == 7 and len(info.value.problems) == 7
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("column,value,pattern", [
    ("platelets", 150000, r"platelets.*got 150000.*10\^9/L.*looks like platelets per µL"),
    ("anc", 3500, r"anc.*got 3500.*looks like cells per µL"),
    ("tryptase", -3, r"tryptase.*got -3.*>= 0 ng/mL"),
    ("kit_vaf_pct", -0.5, r"kit_vaf_pct.*got -0.5.*>= 0 and <= 100 %"),
    ("sar_count", 4, r"sar_count.*got 4.*<= 3 genes"),
    ("sar_count", 1.5, r"sar_count.*got 1.5.*whole number of genes"),
    ("event", 2, r"event.*got 2.*0 \(censored\) or 1"),
    ("time", 3650, r"time.*got 3650.*looks like days; this column is months"),
    ("alp_uln", 0, r"alp_uln.*got 0.*> 0 U/L"),
    ("tryptase", "35 ng/mL", r"tryptase.*got '35 ng/mL'.*numbers only"),
    ("age", True, r"age.*not true/false"),
    ("kit_d816", "positive", r"kit_d816.*got 'positive'.*true/false"),
    ("who_subtype", "SM-AHNMD", r"who_subtype.*got 'SM-AHNMD'.*one of \['CM'"),
])
def test_impossible_values_raise_with_unit(column, value, pattern):
    with pytest.raises(FindingsError, match=pattern):
        read_findings({column: value})


def test_duplicate_patient_ids_and_empty_input():
    with pytest.raises(FindingsError, match=r"patient_id.*got 'A'.*occurs more than once"):
        read_findings(pd.DataFrame({"patient_id": ["A", "B", "A"], "age": [1, 2, 3]}))
    with pytest.raises(FindingsError, match=r"no patients: the findings are empty \(0 rows\)"):
        read_findings(pd.DataFrame({"age": []}))


def test_sar_genes_contradicting_count_is_an_error():
    with pytest.raises(FindingsError, match=r"sar_count.*got 0.0.*number of S/A/R genes marked"):
        read_findings({"asxl1": True, "runx1": False, "srsf2": False, "sar_count": 0})
    # consistent, or consistent with what is unknown: fine
    f = read_findings({"asxl1": True, "runx1": None, "srsf2": False, "sar_count": 2})
    assert f.loc[0, "sar_count"] == 2 and pd.isna(f.loc[0, "runx1"])  # kept as given, not "fixed"


def test_implausible_values_warn_not_raise():
    with pytest.warns(PlausibilityWarning, match=r"hemoglobin: 1 value\(s\) below 3 g/dL"):
        f = read_findings({"hemoglobin": 2.5})
    assert f.loc[0, "hemoglobin"] == 2.5
    with pytest.warns(PlausibilityWarning, match=r"hypersplenism is true but splenomegaly is false"):
        read_findings({"hypersplenism": True, "splenomegaly": False})


def test_percentages_given_as_fractions_warn():
    with pytest.warns(PlausibilityWarning, match=r"kit_vaf_pct: every value is <= 1"):
        read_findings(pd.DataFrame({"kit_vaf_pct": [0.1, 0.2, 0.05, 0.3, 0.5]}))


def test_header_case_and_spaces_are_renamed_with_a_warning_naming_each():
    with pytest.warns(RenamedColumnWarning, match=r"'Tryptase' -> 'tryptase', ' AGE ' -> 'age'"):
        f = read_findings(pd.DataFrame({"Tryptase": [35.0], " AGE ": [50], "note": ["x"]}))
    assert f.loc[0, "tryptase"] == 35.0 and f.loc[0, "age"] == 50.0 and "Tryptase" not in f.columns
    assert f.loc[0, "note"] == "x"


def test_near_miss_column_name_warns():
    with pytest.warns(UnknownColumnWarning, match=r"'tryptse' .* did you mean 'tryptase'"):
        f = read_findings(pd.DataFrame({"tryptse": [35.0], "age": [50]}))
    assert pd.isna(f.loc[0, "tryptase"]) and f.loc[0, "tryptse"] == 35.0


def test_ahn_aliases_and_unknown():
    f = read_findings(pd.DataFrame({"ahn": ["chronic myelomonocytic leukemia", "none", "unknown",
                                            None, "mds"]}))
    assert list(f["ahn"].astype(object).where(f["ahn"].notna(), None)) == [
        "CMML", "none", None, "none", "MDS"]


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="findings file not found"):
        read_findings(tmp_path / "nope.csv")
    (tmp_path / "x.xls").write_text("")
    with pytest.raises(FindingsError, match=r"expected a \.csv, \.tsv, \.txt, \.xlsx, \.json or \.parquet "
                                            r"file \(save it as \.xlsx or CSV\)"):
        read_findings(tmp_path / "x.xls")
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(FindingsError, match=r"is not a readable Excel workbook: File is not a zip file"):
        read_findings(tmp_path / "x.xlsx")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(FindingsError, match="is not valid JSON"):
        read_findings(tmp_path / "bad.json")
    with pytest.raises(TypeError, match="findings must be a pandas DataFrame"):
        read_findings(42)


def test_validation_is_vectorised_and_idempotent():
    rng = np.random.default_rng(1)
    n = 5000
    frame = pd.DataFrame({"age": rng.uniform(0, 120, n), "sex": rng.choice(["F", "M"], n),
                          "kit_d816": rng.choice(["yes", "no", ""], n)})
    once = read_findings(frame)
    pd.testing.assert_frame_equal(once, read_findings(once))
    assert once["kit_d816"].isna().sum() == (frame["kit_d816"] == "").sum()


def test_mc_sarcoma_empty_means_not_diagnosed_unless_unknown_said():
    # Decision (data/findings_schema.csv, empty_means): like `ahn`, a sarcoma is a diagnosis
    # recorded when made; an empty cell means none, "unknown" keeps it open.
    f = read_findings(pd.DataFrame({"mc_sarcoma": ["", "unknown", "yes", None]}))
    assert [None if pd.isna(v) else bool(v) for v in f["mc_sarcoma"]] == [False, None, True, False]
    assert read_findings({"age": 40}).loc[0, "mc_sarcoma"] == False  # noqa: E712  (absent column)


# --------------------------------------------------------------------------- files as clinics save them


def test_example_names_resolve_like_the_command_line():
    from mastoprog.findings import example_names, example_path, resolve_example

    pd.testing.assert_frame_equal(read_findings("example"), read_findings(example_path("patients.csv")))
    assert read_findings("example:patient.json").loc[0, "patient_id"] == "EX04-ASM"
    assert resolve_example("clinic.csv") == "clinic.csv"
    assert "patients.csv" in example_names()
    with pytest.raises(FindingsError, match=r"no shipped example named 'nope.csv'; the examples are \["):
        read_findings("example:nope.csv")


def test_semicolon_decimal_comma_latin1_file_reads_like_the_clean_one(tmp_path):
    from mastoprog.findings import read_findings_file

    clean = tmp_path / "clean.csv"
    clean.write_text("patient_id,age,sex,hemoglobin,note\nA,54,F,12.5,é\nB,61,M,,x\n", encoding="utf-8")
    european = tmp_path / "european.csv"
    european.write_bytes("patient_id;age;sex;hemoglobin;note\r\nA;54;F;12,5;é\r\nB;61;M;;x\r\n".encode("cp1252"))
    pd.testing.assert_frame_equal(read_findings(european), read_findings(clean))
    read = read_findings_file(european)
    assert (read.delimiter, read.decimal, read.encoding) == (";", ",", "cp1252")
    assert read.notes == ("read european.csv as semicolon-separated text, decimal comma, Windows-1252 "
                          "(Latin-1)",)


@pytest.mark.parametrize("header,match", [
    ("patient_id,age,age", r"'age' given as \['age', 'age'\]"),
    ("patient_id,age, Age ", r"'age' given as \['age', ' Age '\]"),
])
def test_repeated_headers_are_refused_before_pandas_renames_them(tmp_path, header, match):
    path = tmp_path / "p.csv"
    path.write_text(f"{header}\nA,50,60\n")
    with pytest.raises(FindingsError, match=r"column\(s\) appear more than once in the findings: " + match):
        read_findings(path)


def test_a_table_with_no_canonical_column_is_refused_naming_the_closest(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("Patient|Age|Sexe\nA|50|F\n")
    with pytest.raises(FindingsError, match=r"no column of the findings is a data-dictionary column .*got "
                                            r"'Patient\|Age\|Sexe'"):
        read_findings(path)
    path.write_text("patientid,agee\nA,50\n")
    with pytest.raises(FindingsError, match=r"closest: 'patientid' -> 'patient_id'\?, 'agee' -> 'age'\?"):
        read_findings(path)


def test_file_size_is_checked_before_parsing(tmp_path, monkeypatch):
    import mastoprog.findings as findings_module

    path = tmp_path / "big.csv"
    path.write_text("age\n" + "50\n" * 1000)
    monkeypatch.setattr(findings_module, "MAX_FILE_BYTES", 100)
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: pytest.fail("parsed"))
    with pytest.raises(FindingsError, match=r"findings files of at most 0 MiB are read"):
        read_findings(path)


def test_every_entry_point_validates_every_canonical_column_present():
    # classify does not read sex or alp, risk_score does not read sex: both refuse them all the same
    for bad, match in (({"sex": "X"}, r"column 'sex': got 'X'"), ({"alp": -10}, r"column 'alp': got -10")):
        patient = {"patient_id": "P1", "age": 50, "tryptase": 30, **bad}
        for fn in (mp.classify, mp.risk_score, read_findings):
            with pytest.raises(FindingsError, match=match):
                fn(patient)
    # extra columns pass through untouched
    assert read_findings({"age": 50, "Note ": " x "}).loc[0, "Note "] == " x "


_CELLS = st.one_of(st.sampled_from(["", "1", "0", "12.5", "12,5", "yes", "no", "F", "M", "ISM", "NA", "-3",
                                    "1e308", "nan", "inf", '"', "'", ";", ",", "\t", "é", "\x00"]),
                   st.text(max_size=6))
_HEADERS = st.lists(st.one_of(st.sampled_from([*CANONICAL_COLUMNS, "AGE", " sex ", "Tryptase", ""]),
                              st.text(max_size=8)), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=_HEADERS, rows=st.lists(st.lists(_CELLS, min_size=1, max_size=6), max_size=5),
       sep=st.sampled_from([",", ";", "\t"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
def test_random_csv_text_gives_a_frame_or_a_findings_error(tmp_path, header, rows, sep, encoding):
    text = "\n".join(sep.join(r) for r in [header, *rows])
    path = tmp_path / "fuzz.csv"
    try:
        path.write_bytes(text.encode(encoding))
    except UnicodeEncodeError:
        return
    _frame_or_findings_error(path)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from([*CANONICAL_COLUMNS[:8], "AGE", "x", "patients"]) | st.text(max_size=5), inner,
        max_size=5),
    max_leaves=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=_JSON)
def test_random_json_gives_a_frame_or_a_findings_error(tmp_path, document):
    path = tmp_path / "fuzz.json"
    path.write_text(json.dumps(document))
    _frame_or_findings_error(path)


def _frame_or_findings_error(path) -> None:
    import warnings

    from mastoprog.exceptions import FindingsWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FindingsWarning)
        try:
            frame = read_findings(path)
        except FindingsError as exc:
            assert str(exc).strip()
            columns = [p.column for p in exc.problems if p.column is not None]
            assert all(isinstance(c, str) and c for c in columns)
            return
    assert isinstance(frame, pd.DataFrame) and len(frame) > 0
    assert list(frame.columns[: len(CANONICAL_COLUMNS) - 1]) == [
        c for c in CANONICAL_COLUMNS if c != "patient_id"] or "patient_id" in frame.columns


def test_an_explicit_unknown_sarcoma_stays_unknown_when_validated_again():
    # mc_sarcoma: an empty cell means "not diagnosed", only "unknown" keeps it open. The canonical
    # frame says unknown with <NA>; validating it again (every public function given a
    # read_findings frame did) read that <NA> as an empty cell, i.e. "not diagnosed".
    raw = {"age": 60, "sex": "F", "mc_sarcoma": "unknown", "skin_lesions": True}
    once = read_findings(raw)
    assert pd.isna(once.loc[0, "mc_sarcoma"])
    pd.testing.assert_frame_equal(read_findings(once), once)
    pd.testing.assert_frame_equal(mp.classify(once), mp.classify(raw))
    assert read_findings({"age": 60, "mc_sarcoma": ""}).loc[0, "mc_sarcoma"] == False  # noqa: E712
