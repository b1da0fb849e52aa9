"""The ``mastoprog`` command line, end to end: help, classify, outputs, exit codes 0/1/2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mastoprog.cli import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_OK, main


def _console_script() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m mastoprog.cli``."""
    script = Path(sys.executable).with_name("mastoprog")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mastoprog.cli"]


def test_help_lists_the_sub_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "classify" in out and "usage: mastoprog" in out
    assert "not a medical device" in out


def test_classify_help_documents_edition_and_force(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["classify", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for text in ("--edition", "who2016", "who2022", "icc2022", "--force", "-o OUTPUT"):
        assert text in out


def test_classify_example_prints_a_table(capsys):
    assert main(["classify", "example"]) == EXIT_OK
    out = capsys.readouterr().out
    # the printed table, row by row: patient id then WHO 2016 subtype (the examples' documented
    # answers; "SSM" in out alone was already true through the id "EX03-SSM")
    rows = {f[1]: f[2] for f in (line.split() for line in out.splitlines()) if f and f[0].isdigit()}
    assert rows == {"EX01-CM-child": "CM", "EX02-ISM": "ISM", "EX03-SSM": "SSM", "EX04-ASM": "ASM",
                    "EX05-SM-AHN": "SM-AHN", "EX06-MCL": "MCL",
                    "EX07-ISM-counts-unknown": "indeterminate", "EX08-skin-no-marrow": "indeterminate"}
    assert out.strip().splitlines()[-1].startswith("Research software, not a medical device")


def test_classify_writes_csv_that_reads_back(tmp_path, capsys):
    out = tmp_path / "subtypes.csv"
    assert main(["classify", "example", "-o", str(out)]) == EXIT_OK
    assert f"wrote 8 classification(s) to {out}" in capsys.readouterr().out
    table = pd.read_csv(out, keep_default_na=False).set_index("patient_id")
    assert table.loc["EX04-ASM", "subtype"] == "ASM"
    assert table.loc["EX04-ASM", "c_findings"] == "C1"
    assert table.loc["EX07-ISM-counts-unknown", "subtype"] == "indeterminate"
    assert table.loc["EX07-ISM-counts-unknown", "candidates"] == "ISM|SSM|ASM|MCL"
    assert table.loc["EX05-SM-AHN", "sm_component"] == "ASM"
    assert (table["edition"] == "who2016").all()


def test_classify_writes_json_by_extension_with_the_edition(tmp_path):
    out = tmp_path / "subtypes.json"
    assert main(["classify", "example", "--edition", "icc2022", "-o", str(out)]) == EXIT_OK
    records = {r["patient_id"]: r for r in json.loads(out.read_text())}
    assert records["EX05-SM-AHN"]["subtype"] == "SM-AMN"  # ICC: CMML is a myeloid neoplasm
    assert records["EX02-ISM"]["rationale"].startswith("ICC 2022")
    assert records["EX02-ISM"]["sm_criteria_met"] is True


def test_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "subtypes.csv"
    out.write_text("keep me\n")
    assert main(["classify", "example", "-o", str(out)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        f"mastoprog classify: error: output {str(out)!r} exists; pass --force to overwrite it"]
    assert out.read_text() == "keep me\n"
    assert main(["classify", "example", "-o", str(out), "--force"]) == EXIT_OK
    assert out.read_text().startswith("patient_id,subtype,candidates")


def test_missing_input_file_is_one_line_exit_2(tmp_path, capsys):
    code = main(["classify", str(tmp_path / "nope.csv")])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    assert len(err.strip().splitlines()) == 1
    assert "findings file not found" in err and "Traceback" not in err


def test_impossible_findings_exit_2_with_row_column_value_and_unit(tmp_path, capsys):
    path = tmp_path / "clinic.csv"
    path.write_text("patient_id,hemoglobin,tryptase\nA,135,20\nB,12,abc\n")
    code = main(["classify", str(path)])
    err = capsys.readouterr().err
    assert code == EXIT_BAD_INPUT
    first, *rest = err.strip().splitlines()
    assert first == "mastoprog classify: error: 2 invalid findings:"
    assert any("row 'A', column 'hemoglobin': got 135.0" in line and "g/dL" in line
               for line in rest)
    assert any("row 'B', column 'tryptase': got 'abc'" in line for line in rest)
    assert "Traceback" not in err


def test_unknown_output_extension_is_bad_input(tmp_path, capsys):
    assert main(["classify", "example", "-o", str(tmp_path / "out.txt")]) == EXIT_BAD_INPUT
    assert "expected one of .csv, .json, .parquet" in capsys.readouterr().err


def test_unknown_edition_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["classify", "example", "--edition", "who2018"])
    assert exc.value.code == EXIT_BAD_INPUT
    assert "invalid choice: 'who2018'" in capsys.readouterr().err


def test_unexpected_error_is_exit_1_without_traceback(monkeypatch, capsys):
    import mastoprog.classification

    def boom(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(mastoprog.classification, "classify", boom)
    assert main(["classify", "example"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.strip() == "mastoprog classify: unexpected error: RuntimeError: simulated bug"


def test_installed_console_script_end_to_end(tmp_path):
    out = tmp_path / "who2022.csv"
    run = subprocess.run([*_console_script(), "classify", "example", "--edition", "who2022",
                          "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table["patient_id"])[:3] == ["EX01-CM-child", "EX02-ISM", "EX03-SSM"]
    assert list(table["subtype"])[:3] == ["CM", "ISM", "SSM"]
    bad = subprocess.run([*_console_script(), "classify", str(tmp_path / "missing.csv")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "findings file not found" in bad.stderr
