"""Clinic files as people save them: each gives exactly its clean twin's result, or exit 2.

The corpus (``tests/data/clinic_files``, made by ``make_clinic_files.py`` beside it from the shipped
``patients.csv``) lists in ``manifest.csv`` what each file must give. ``same`` files: the findings,
and the ``classify`` and ``score`` outputs of the command line, equal the clean twin's exactly.
``error`` files: ``mastoprog classify`` exits 2 with one message naming the problem, writes
nothing and shows no traceback. There is no third outcome.
"""

from __future__ import annotations

import importlib.util
import re
import warnings
from pathlib import Path

import pandas as pd
import pytest

from mastoprog import FindingsError, read_findings
from mastoprog.cli import EXIT_BAD_INPUT, EXIT_OK, main
from mastoprog.exceptions import FindingsWarning

HERE = Path(__file__).parent / "data" / "clinic_files"
MANIFEST = pd.read_csv(HERE / "manifest.csv", keep_default_na=False)
HAS_OPENPYXL = importlib.util.find_spec("openpyxl") is not None


def _cases(expect: str) -> list:
    rows = MANIFEST[MANIFEST["expect"] == expect]
    marks = {
        True: [pytest.mark.skipif(not HAS_OPENPYXL, reason="openpyxl (the excel extra) not installed")],
        False: [],
    }
    return [
        pytest.param(*r, id=r[0], marks=marks[r[0].endswith(".xlsx")])
        for r in rows[["file", "twin", "match"]].itertuples(index=False)
    ]


def _read(path: Path) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FindingsWarning)  # renamed headers: the CLI shows them
        return read_findings(path)


def _cli(capsys, tmp_path: Path, command: str, path: Path) -> tuple[int, str, bytes | None]:
    out = tmp_path / f"{command}-{path.stem}.csv"
    code = main([command, str(path), "-o", str(out)])
    err = capsys.readouterr().err
    return code, err, out.read_bytes() if out.exists() else None


def test_the_corpus_is_large_and_each_kind_is_there():
    assert len(MANIFEST) >= 60
    assert set(MANIFEST["expect"]) == {"same", "error"}
    assert (MANIFEST["expect"] == "same").sum() >= 30 and (MANIFEST["expect"] == "error").sum() >= 30
    assert sorted(
        p.name for p in HERE.iterdir() if p.suffix not in {".py", ".md"} and p.name != "manifest.csv"
    ) == sorted(MANIFEST["file"])


@pytest.fixture(scope="module")
def twins(tmp_path_factory) -> dict[str, tuple[pd.DataFrame, dict[str, bytes]]]:
    """Each clean twin's findings and its classify/score output files (computed once)."""
    folder = tmp_path_factory.mktemp("twins")
    out = {}
    for twin in sorted(set(MANIFEST["twin"]) - {""}):
        files = {}
        for command in ("classify", "score"):
            target = folder / f"{command}-{twin}.csv"
            assert main([command, str(HERE / twin), "-o", str(target)]) == EXIT_OK
            files[command] = target.read_bytes()
        out[twin] = (_read(HERE / twin), files)
    return out


@pytest.mark.parametrize("name,twin,match", _cases("same"))
def test_file_gives_exactly_its_clean_twin(tmp_path, capsys, twins, name, twin, match):
    expected_findings, expected_files = twins[twin]
    pd.testing.assert_frame_equal(_read(HERE / name), expected_findings)
    for command in ("classify", "score"):
        code, err, written = _cli(capsys, tmp_path, command, HERE / name)
        assert code == EXIT_OK, err
        assert "Traceback" not in err and "error" not in err
        assert written == expected_files[command]


@pytest.mark.parametrize("name,twin,match", _cases("error"))
def test_file_that_cannot_be_read_exits_2_with_one_message(tmp_path, capsys, name, twin, match):
    code, err, written = _cli(capsys, tmp_path, "classify", HERE / name)
    assert code == EXIT_BAD_INPUT, err
    assert written is None and list(tmp_path.iterdir()) == []
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("mastoprog classify: error:")]
    assert len(errors) == 1, err
    message = err[err.index("mastoprog classify: error:") :]
    assert re.search(match, message), message
    with pytest.raises(FindingsError, match=match):
        _read(HERE / name)


def test_what_was_detected_is_said_on_stderr(capsys):
    assert main(["classify", str(HERE / "cp1252_semicolon_decimal_comma.csv")]) == EXIT_OK
    err = capsys.readouterr().err
    assert (
        "note: read cp1252_semicolon_decimal_comma.csv as semicolon-separated text, decimal comma, "
        "Windows-1252 (Latin-1)"
    ) in err
    assert main(["classify", str(HERE / "upper_headers.csv")]) == EXIT_OK
    err = capsys.readouterr().err.splitlines()
    renamed = [line for line in err if line.startswith("warning: column(s) renamed")]
    assert (
        len(renamed) == 1 and "'PATIENT_ID' -> 'patient_id'" in renamed[0] and "'AGE' -> 'age'" in renamed[0]
    )
