"""Bad input gets a clear error naming the field, the row, the value and what was expected.

Each case here was found by probing the public API and the CLI with nonsense: before the fix
it crashed deep inside numpy/pandas (TypeError, OverflowError, UnicodeDecodeError,
ArrowInvalid, AttributeError), or returned a number from nonsense (complex values cast to
float, times in days giving a survival of 1e-100, an unknown edition or year silently used).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

import mastoprog as mp
from mastoprog import FindingsError, MetricInputError, ModelFileError
from mastoprog.cli import main

PATIENT = {"patient_id": "P1", "age": 54, "sex": "F", "tryptase": 35, "hemoglobin": 13}
CURVE_PATIENT = {"age": 58, "sex": "M", "who_subtype": "ASM"}


@pytest.fixture(scope="module")
def model():
    return mp.load_model("lim2009")


# --------------------------------------------------------------------------- findings layer

FINDINGS_CASES = [
    pytest.param({"patient_id": "P1", "age": {"value": 54}}, FindingsError,
                 r"column 'age': got \{'value': 54\}; expected a single value \(a mapping is one "
                 r"patient\) \(hint: for several patients pass pd.DataFrame",
                 id="mapping-with-nested-dict-value"),
    pytest.param({"patient_id": ["A", "B"], "age": [40, 50]}, FindingsError,
                 r"column 'patient_id': got \['A', 'B'\]; expected a single value",
                 id="dict-of-lists-is-not-one-patient"),
    pytest.param(pd.DataFrame({"patient_id": ["A", "B"], "age": [[40], 50]}), FindingsError,
                 r"row 'A', column 'age': got \[40\]; expected a single value per cell",
                 id="dataframe-cell-holding-a-list"),
    pytest.param(pd.DataFrame({"patient_id": ["A"], "cd30": [{"x": 1}]}), FindingsError,
                 r"row 'A', column 'cd30': got \{'x': 1\}; expected a single value per cell",
                 id="boolean-column-cell-holding-a-dict"),
    pytest.param(pd.DataFrame([[54, "F"]]), FindingsError,
                 r"column labels must be strings .*got 0 \(int\), 1 \(int\) \(was the table read "
                 r"without its header row\?\)",
                 id="integer-column-labels"),
    pytest.param(pd.DataFrame([[54, "F"]], columns=pd.MultiIndex.from_tuples([("a", "age"),
                                                                              ("a", "sex")])),
                 FindingsError, r"column labels must be strings .*\('a', 'age'\) \(tuple\)",
                 id="multiindex-column-labels"),
    pytest.param({**PATIENT, "tryptase": 35 + 2j}, FindingsError,
                 r"row 'P1', column 'tryptase': got \(35\+2j\); expected a number >= 0 ng/mL "
                 r"\(a real number, not complex\)",
                 id="complex-tryptase-not-cast-to-real"),
    pytest.param(pd.DataFrame({"patient_id": ["A"], "splenomegaly": [1 + 0j]}), FindingsError,
                 r"row 'A', column 'splenomegaly': got \(1\+0j\); expected true/false, yes/no or "
                 r"1/0, not a complex number",
                 id="complex-in-boolean-column"),
]


@pytest.mark.parametrize("fn", ["read_findings", "classify"])
@pytest.mark.parametrize("data,exc,match", FINDINGS_CASES)
def test_findings_nonsense_is_refused(fn, data, exc, match):
    with pytest.raises(exc, match=match):
        getattr(mp, fn)(data)


def test_risk_score_refuses_nested_values_and_unlabelled_columns():
    with pytest.raises(FindingsError, match=r"column 'age': got \[54, 60\]; expected a single value"):
        mp.risk_score({"age": [54, 60], "splenomegaly": True})
    with pytest.raises(FindingsError, match="column labels must be strings"):
        mp.risk_score(pd.DataFrame([[54, True]]))


@pytest.mark.parametrize("name,content,match", [
    pytest.param("p.parquet", b"a,b\n1,2\n", r"'.*p.parquet' is not a readable Parquet file: "
                 r".*magic bytes", id="csv-text-named-parquet"),
    pytest.param("p.csv", b"\xff\xfe\x00age\n", r"'.*p.csv' is not readable as UTF-16 \(Excel 'Unicode "
                 r"text'\) text \(truncated data\); save it as UTF-8 CSV", id="csv-broken-utf16"),
    pytest.param("p.csv", b"age,sex\n\x00\x01\x02", r"'.*p.csv' is not a text table \(it holds NUL bytes\)",
                 id="csv-binary"),
    pytest.param("p.json", b'{"age": "\xff"}', r"'.*p.json' is not UTF-8 text .*expected a UTF-8 "
                 r"JSON file", id="json-not-utf8"),
    pytest.param("p.csv", b"", r"'.*p.csv' is not a readable .csv table: No columns to parse",
                 id="empty-csv-file"),
    pytest.param("p.csv", b'age,sex\n54,"F\n', r"'.*p.csv' is not a readable .csv table: .*EOF "
                 r"inside string", id="csv-unclosed-quote"),
])
def test_unreadable_findings_files_raise_findings_error(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FindingsError, match=match):
        mp.read_findings(path)


def test_folder_given_as_findings_file(tmp_path):
    with pytest.raises(FindingsError, match=r"it is a folder; expected a .csv, .tsv, .txt, .xlsx, "
                                            r".json or .parquet file"):
        mp.read_findings(tmp_path)


# --------------------------------------------------------------------------- survival model


@pytest.mark.parametrize("times,match", [
    pytest.param([0, 3650], r"times: got 3650; expected months >= 0 and <= 1200 \(hint: looks like "
                 r"days; times are months\)", id="ten-years-in-days"),
    pytest.param([np.inf], r"times: expected a 1-D list of months >= 0; got \[inf\]",
                 id="infinite-time"),
    pytest.param(["12"], r"times: expected a 1-D list of months >= 0 \(real numbers\); got \['12'\]",
                 id="string-times"),
    pytest.param([True, False], r"times: expected a 1-D list of months >= 0 \(real numbers\); "
                 r"got \[True, False\]", id="boolean-times"),
])
def test_predict_survival_refuses_nonsense_times(model, times, match):
    with pytest.raises(ValueError, match=match):
        model.predict_survival_function(CURVE_PATIENT, times)


@pytest.mark.parametrize("t", [None, "12", [12, 24], True],
                         ids=["none", "string", "list", "boolean"])
def test_predict_survival_at_needs_one_number(model, t):
    with pytest.raises(ValueError, match=r"The 't' parameter of predict_survival_at must be a "
                                         r"number of months >= 0\. Got .* instead\."):
        model.predict_survival_at(CURVE_PATIENT, t)


def test_predict_survival_at_in_days_is_refused(model):
    with pytest.raises(ValueError, match=r"got 3650; .*looks like days"):
        model.predict_survival_at(CURVE_PATIENT, 3650)


def test_unknown_edition_is_refused_even_with_a_subtype_given(model):
    with pytest.raises(ValueError, match=r"The 'edition' parameter of SurvivalModel must be one of "
                                         r"\{'icc2022', 'who2016', 'who2022'\}\. Got 'who1999' "
                                         r"instead\."):
        model.predict_survival_at(CURVE_PATIENT, 12, edition="who1999")


@pytest.mark.parametrize("year", ["2010", 1500, np.nan, True],
                         ids=["string", "before-life-table", "nan", "boolean"])
def test_year_must_be_a_calendar_year_in_the_life_table(model, year):
    with pytest.raises(ValueError, match=r"The 'year' parameter must be a calendar year >= 1933 "
                                         r"\(the life table's first year\)\. Got .* instead\."):
        model.predict_survival_at(CURVE_PATIENT, 12, year=year)


@pytest.mark.parametrize("value,shown", [("abc", "'abc'"), (1800, "1800")],
                         ids=["text", "before-life-table"])
def test_diagnosis_year_column_is_not_silently_replaced(model, value, shown):
    data = pd.DataFrame([{**CURVE_PATIENT, "diagnosis_year": 2000},
                         {**CURVE_PATIENT, "diagnosis_year": value}])
    with pytest.raises(FindingsError, match=rf"1 invalid diagnosis_year value\(s\); first: row 1, "
                                            rf"column 'diagnosis_year': got {shown}; expected a "
                                            rf"calendar year >= 1933"):
        model.predict_survival_function(data, [12])


def test_empty_diagnosis_year_still_takes_the_default(model):
    data = pd.DataFrame([{**CURVE_PATIENT, "diagnosis_year": None}])
    default = model.predict_survival_at(CURVE_PATIENT, 12)
    assert model.predict_survival_at(data, 12).iloc[0] == pytest.approx(default.iloc[0], abs=0)


@pytest.mark.parametrize("arg", [None, 5, ["lim2009"]], ids=["none", "int", "list"])
def test_load_model_argument_type(arg):
    with pytest.raises(TypeError, match=r"The 'name_or_path' parameter of load_model must be one of "
                                        r"\['lim2009', 'mayo2025', 'midostaurin', 'mars2019'\] or the "
                                        r"path of a saved model .*Got .* instead\."):
        mp.load_model(arg)


def test_load_model_folder_and_non_utf8_file(tmp_path):
    with pytest.raises(ModelFileError, match="is a folder; expected a saved model JSON file"):
        mp.load_model(tmp_path)
    path = tmp_path / "m.json"
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ModelFileError, match=r"m.json: not UTF-8 text \(invalid start byte at byte "
                                             r"0\); expected a saved model JSON file"):
        mp.load_model(path)


def test_save_onto_existing_file_is_a_file_exists_error_and_keeps_the_file(model, tmp_path):
    path = tmp_path / "model.json"
    path.write_text('{"mine": true}')
    with pytest.raises(FileExistsError, match="exists; pass overwrite=True to replace it"):
        model.save(path)
    assert json.loads(path.read_text()) == {"mine": True}


def test_unfitted_model_error_subclasses_builtins():
    with pytest.raises(ValueError, match="has no parameters yet") as info:
        mp.SurvivalModel().predict_survival_at(CURVE_PATIENT, 12)
    assert isinstance(info.value, AttributeError)  # like scikit-learn's NotFittedError


# --------------------------------------------------------------------------- synthetic cohorts


def test_simulate_cohort_refuses_a_model_that_is_not_one():
    with pytest.raises(TypeError, match=r"The 'model' parameter of simulate_cohort must be a "
                                        r"SurvivalModel .*Got 'lim2009x' instead\."):
        mp.simulate_cohort(5, model="lim2009x")


@pytest.mark.parametrize("chunk", [0, -1, 2.5, True], ids=["zero", "negative", "fraction", "bool"])
def test_chunk_size_is_named_in_its_own_error(tmp_path, chunk):
    from mastoprog.synthetic import simulate_cohort_to_file

    with pytest.raises(ValueError, match=r"The 'chunk_size' parameter of simulate_cohort_to_file "
                                         r"must be a positive whole number of patients\. Got .* "
                                         r"instead\."):
        simulate_cohort_to_file(tmp_path / "c.csv", 5, chunk_size=chunk)
    assert not (tmp_path / "c.csv").exists()


def test_missingness_of_the_wrong_type_says_what_is_accepted():
    with pytest.raises(TypeError, match=r"missingness must be None, 'scenario', a mapping \{column: "
                                        r"p\} \(MCAR\) or a list of rules; got float"):
        mp.simulate_cohort(5, missingness=0.2)


# --------------------------------------------------------------------------- validation metrics

TIME = np.array([1.0, 2, 3, 4, 5, 6])
EVENT = np.array([1, 0, 1, 1, 0, 1])
SURV = np.linspace(0.9, 0.4, 6)


@pytest.mark.parametrize("t", ["x", True], ids=["string", "boolean"])
def test_brier_horizon_must_be_a_number(t):
    with pytest.raises(MetricInputError, match=r"column 't': got .*; expected horizons in months "
                                               r"\(numbers > 0\)"):
        mp.metrics.brier_score(TIME, EVENT, SURV, t)


def test_auc_horizons_must_be_numbers():
    with pytest.raises(MetricInputError, match=r"column 'times': got \['a', 'b'\]; expected "
                                               r"horizons in months"):
        mp.metrics.time_dependent_auc(TIME, EVENT, 1 - SURV, ["a", "b"])


@pytest.fixture(scope="module")
def cohort():
    return mp.simulate_cohort(60, random_state=3)


@pytest.mark.parametrize("kwargs,exc,match", [
    pytest.param({"model": "lim2009"}, TypeError,
                 r"The 'model' parameter of validate must be a SurvivalModel .*Got 'lim2009' "
                 r"instead\.", id="model-name-instead-of-model"),
    pytest.param({"n_bootstrap": -3}, ValueError,
                 r"The 'n_bootstrap' parameter of validate must be a whole number >= 0\. Got -3 "
                 r"instead\.", id="negative-bootstrap"),
    pytest.param({"n_bootstrap": 2.5}, ValueError, r"'n_bootstrap' .*Got 2.5 instead\.",
                 id="fractional-bootstrap"),
    pytest.param({"random_state": -1}, ValueError,
                 r"The 'random_state' parameter of validate must be None, a whole number >= 0 or "
                 r"a numpy Generator\. Got -1 instead\.", id="negative-seed"),
])
def test_validate_argument_checks(model, cohort, kwargs, exc, match):
    kwargs = {"model": model, **kwargs}
    with pytest.raises(exc, match=match):
        mp.validate(kwargs.pop("model"), cohort, **kwargs)


# --------------------------------------------------------------------------- command line


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err


@pytest.mark.parametrize("argv,match", [
    pytest.param(["classify", "example", "-o", "{tmp}/keep.csv/x.csv"],
                 "output folder '.*keep.csv' is a file, not a folder", id="output-under-a-file"),
    pytest.param(["classify", "example", "-o", "{tmp}/folder.csv", "--force"],
                 "output '.*folder.csv' is a folder; expected a file name", id="output-is-a-folder"),
    pytest.param(["classify", "{tmp}/junk.parquet"], "is not a readable Parquet file",
                 id="corrupt-parquet-input"),
    pytest.param(["score", "{tmp}/binary.csv"], r"is not a text table", id="binary-csv-input"),
    pytest.param(["validate", "{tmp}/keep.csv", "--bootstrap", "-3"],
                 "--bootstrap -3: expected a whole number >= 0", id="validate-negative-bootstrap"),
    pytest.param(["validate", "{tmp}/keep.csv", "--seed", "-1"],
                 "--seed -1: expected a whole number >= 0", id="validate-negative-seed"),
    pytest.param(["simulate", "-n", "5", "--chunk-size", "0", "-o", "{tmp}/s.csv"],
                 "The 'chunk_size' parameter", id="simulate-zero-chunk-size"),
    pytest.param(["web", "--port", "-1"], r"--port -1: expected a TCP port from 0 to 65535",
                 id="web-port-out-of-range"),
])
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, match):
    (tmp_path / "keep.csv").write_text("patient_id,age\nA,50\n")
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "junk.parquet").write_text("a,b\n1,2\n")
    (tmp_path / "binary.csv").write_bytes(b"patient_id,sex\n\x00\x00\x01")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, err = _run(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"mastoprog {argv[0]}: error: ")
    assert re.search(match, lines[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "keep.csv").read_text() == "patient_id,age\nA,50\n"


# ------------------------------------------------------------ survival model: fit, intervals, calibrate


@pytest.fixture(scope="module")
def small_cohort():
    return mp.simulate_cohort(40, random_state=5, truth=False)


@pytest.mark.parametrize("drop", ["time", "event"])
def test_fit_names_the_missing_outcome_column(small_cohort, drop):
    with pytest.raises(FindingsError, match=rf"column\(s\) \['{drop}'\] missing: fitting needs the "
                                            r"follow-up time \('time', months\) and the event"):
        mp.SurvivalModel().fit(small_cohort.drop(columns=[drop]))


def test_fit_with_own_column_names_checks_event_and_time(small_cohort):
    df = small_cohort.rename(columns={"time": "months", "event": "status"})
    bad_event = df.copy()
    bad_event.loc[bad_event.index[0], "status"] = 2  # used to be fitted as a death weight of 2
    with pytest.raises(FindingsError, match=r"row 0, column 'status': got 2.0; expected 0 "
                                            r"\(censored\) or 1 \(death observed\)"):
        mp.SurvivalModel().fit(bad_event, duration_col="months", event_col="status")
    in_days = df.assign(months=df["months"] * 30.4375 + 1300)
    with pytest.raises(FindingsError, match=r"column 'months': got .*; expected a number >= 0 and "
                                            r"<= 1200 months \(hint: looks like days"):
        mp.SurvivalModel().fit(in_days, duration_col="months", event_col="status")


@pytest.mark.parametrize("level", ["x", None, True], ids=["string", "none", "boolean"])
def test_interval_level_must_be_a_probability(model, level):
    with pytest.raises(ValueError, match=r"level: expected a probability in \(0, 1\); got "):
        model.predict(CURVE_PATIENT, [12], level=level)


@pytest.mark.parametrize("targets", [None, 5], ids=["none", "int"])
def test_calibrate_targets_argument_type(targets):
    with pytest.raises(TypeError, match=r"The 'targets' parameter must be one of \['lim2009', "
                                        r"'mayo2025', 'midostaurin', 'mars2019'\], a targets DataFrame or "
                                        r"the path of a targets CSV\. Got .* instead\."):
        mp.SurvivalModel().calibrate(targets)
