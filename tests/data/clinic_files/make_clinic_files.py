"""Generate the clinic-file corpus from the shipped ``data/examples/patients.csv``.

Run from the repository root: ``python tests/data/clinic_files/make_clinic_files.py``. It rewrites
every file listed in ``manifest.csv`` (file, expect, twin, match, what):

- ``expect = same``: the file holds the same patients as its clean ``twin`` (UTF-8, comma, decimal
  point), written the way clinics save tables (semicolons, decimal commas, byte-order marks,
  Windows-1252, UTF-16, upper-case or padded headers, Excel workbooks, ...). Reading it must give
  exactly the twin's findings, and ``mastoprog classify``/``score`` exactly the twin's output.
- ``expect = error``: the file cannot be read as it stands; ``mastoprog classify`` must exit 2 with
  one message matching the regular expression ``match`` (which names the column or the problem).

The files are small (8 patients) and deterministic: rerunning the script gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
CLEAN = pd.read_csv(
    ROOT / "src" / "mastoprog" / "data" / "examples" / "patients.csv", dtype=str, keep_default_na=False
)
#: Columns holding numbers with a fractional part in the examples (decimal comma variants).
NUMERIC = [
    "age",
    "atypical_mc_pct",
    "tryptase",
    "bm_mc_infiltration_pct",
    "mc_aspirate_pct",
    "kit_vaf_pct",
    "anc",
    "hemoglobin",
    "platelets",
    "alp",
    "alp_uln",
]
BOOLEAN = [
    "skin_lesions",
    "bm_examined",
    "bm_mc_aggregates",
    "kit_d816",
    "kit_other",
    "cd2_cd25",
    "cd30",
    "hat",
    "dysplasia_myeloproliferation",
    "hepatomegaly",
    "splenomegaly",
    "lymphadenopathy",
    "hepatic_dysfunction",
    "hypersplenism",
    "malabsorption",
    "osteolysis",
    "srsf2",
    "asxl1",
    "runx1",
]
#: The twin with a free-text column holding accented letters (for the encoding variants).
COMMENTS = [
    "Dermatologie: urticaire pigmentée",
    "contrôle à 6 mois",
    "oedème, fatigue",
    "biopsie médullaire",
    "CMML associée",
    "leucémie à mastocytes",
    "numération à refaire",
    "pas de moelle (enfant? non: adulte)",
]

MANIFEST: list[dict[str, str]] = []


def text(
    frame: pd.DataFrame,
    sep: str = ",",
    decimal: str = ".",
    newline: str = "\n",
    quoting: int = csv.QUOTE_MINIMAL,
) -> str:
    df = frame.copy()
    if decimal == ",":
        for c in NUMERIC:
            if c in df.columns:
                df[c] = df[c].str.replace(".", ",", regex=False)
    buf = io.StringIO()
    df.to_csv(buf, sep=sep, index=False, lineterminator=newline, quoting=quoting)
    return buf.getvalue()


def put(
    name: str,
    data: str | bytes,
    expect: str,
    what: str,
    twin: str = "clean.csv",
    match: str = "",
    encoding: str = "utf-8",
) -> None:
    raw = data.encode(encoding) if isinstance(data, str) else data
    (HERE / name).write_bytes(raw)
    MANIFEST.append(
        {
            "file": name,
            "expect": expect,
            "twin": twin if expect == "same" else "",
            "match": match,
            "what": what,
        }
    )


def same(name: str, data: str | bytes, what: str, twin: str = "clean.csv", encoding: str = "utf-8") -> None:
    put(name, data, "same", what, twin=twin, encoding=encoding)


def error(name: str, data: str | bytes, match: str, what: str, encoding: str = "utf-8") -> None:
    put(name, data, "error", what, match=match, encoding=encoding)


def with_column(column: str, rows: dict[int, str], frame: pd.DataFrame = CLEAN) -> pd.DataFrame:
    df = frame.copy()
    for i, v in rows.items():
        df.loc[i, column] = v
    return df


def comma_decimals(frame: pd.DataFrame = CLEAN) -> pd.DataFrame:
    """The text cells with decimal commas (to write with ``text(..., sep=";")``)."""
    return frame.assign(**{c: frame[c].str.replace(".", ",", regex=False) for c in NUMERIC})


def renamed(fn: Callable[[str], str], frame: pd.DataFrame = CLEAN) -> pd.DataFrame:
    return frame.rename(columns=fn)


def xlsx(
    frame: pd.DataFrame, numbers: bool = True, extra_sheet: bool = False, trailing_rows: int = 0
) -> bytes:
    """A workbook as Excel writes it: numbers as numbers (or as text), empty cells empty."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Patients"
    sheet.append(list(frame.columns))
    for rec in frame.itertuples(index=False):
        row = []
        for col, v in zip(frame.columns, rec, strict=True):
            if v == "":
                row.append(None)
            elif numbers and col in NUMERIC:
                row.append(int(v) if v.isdigit() else float(v))
            else:
                row.append(v)
        sheet.append(row)
    for _ in range(trailing_rows):
        sheet.append([None] * len(frame.columns))
    if extra_sheet:
        book.create_sheet("Notes").append(["exported by the clinic database"])
    buf = io.BytesIO()
    book.save(buf)
    return _deterministic_zip(buf.getvalue())


def _deterministic_zip(data: bytes) -> bytes:
    """The workbook with fixed timestamps (openpyxl stamps the current time)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                import re

                body = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2025-01-01T00:00:00Z", body)
            fixed = zipfile.ZipInfo(info.filename, date_time=(2025, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, body)
    return out.getvalue()


def records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """JSON records with native types: numbers as numbers, yes/no as booleans, empty as null."""
    out = []
    for rec in frame.to_dict("records"):
        row: dict[str, object] = {}
        for k, v in rec.items():
            if v == "":
                row[k] = None
            elif k in NUMERIC:
                row[k] = int(v) if v.isdigit() else float(v)
            elif k in BOOLEAN or k == "mc_sarcoma":
                row[k] = v == "yes"
            else:
                row[k] = v
        out.append(row)
    return out


def make_same() -> None:
    commented = CLEAN.assign(comment=COMMENTS)
    same("clean.csv", text(CLEAN), "the shipped example, unchanged (the clean twin)")
    same(
        "clean_commented.csv",
        text(commented),
        "clean twin with an accented free-text column",
        twin="clean_commented.csv",
    )
    same("semicolon.csv", text(CLEAN, sep=";"), "semicolon-separated, decimal point")
    same(
        "semicolon_decimal_comma.csv",
        text(CLEAN, sep=";", decimal=","),
        "European Excel export: semicolons and decimal commas",
    )
    same("tab.tsv", text(CLEAN, sep="\t"), "tab-separated .tsv")
    same("tab.txt", text(CLEAN, sep="\t"), "tab-separated .txt")
    same("tab_decimal_comma.txt", text(CLEAN, sep="\t", decimal=","), "tab-separated, decimal commas")
    same("semicolon.txt", text(CLEAN, sep=";"), "semicolon-separated .txt")
    same("bom.csv", "\ufeff" + text(CLEAN), "UTF-8 with byte-order mark (Excel 'CSV UTF-8')")
    same(
        "bom_semicolon_decimal_comma.csv",
        "\ufeff" + text(CLEAN, sep=";", decimal=","),
        "byte-order mark, semicolons, decimal commas",
    )
    same(
        "latin1.csv",
        text(commented),
        "ISO-8859-1 (Latin-1) with accents",
        twin="clean_commented.csv",
        encoding="latin-1",
    )
    same(
        "cp1252.csv",
        text(commented.assign(comment=[c.replace("oe", "œ") for c in COMMENTS])),
        "Windows-1252 with œ",
        twin="clean_cp1252_twin.csv",
        encoding="cp1252",
    )
    same(
        "clean_cp1252_twin.csv",
        text(commented.assign(comment=[c.replace("oe", "œ") for c in COMMENTS])),
        "UTF-8 twin of cp1252.csv",
        twin="clean_cp1252_twin.csv",
    )
    same(
        "cp1252_semicolon_decimal_comma.csv",
        text(commented, sep=";", decimal=","),
        "French Excel export: Windows-1252, semicolons, decimal commas",
        twin="clean_commented.csv",
        encoding="cp1252",
    )
    same(
        "utf16_tab.txt",
        "\ufeff" + text(commented, sep="\t"),
        "Excel 'Unicode text': UTF-16 LE with byte-order mark, tab-separated",
        twin="clean_commented.csv",
        encoding="utf-16-le",
    )
    same(
        "utf16_tab_decimal_comma.txt",
        "\ufeff" + text(CLEAN, sep="\t", decimal=","),
        "UTF-16, tabs, decimal commas",
        encoding="utf-16-le",
    )
    same("upper_headers.csv", text(renamed(str.upper)), "UPPER-CASE headers")
    same("title_headers.csv", text(renamed(str.title)), "Title_Case headers")
    same("padded_headers.csv", text(renamed(lambda c: f"  {c} ")), "headers padded with spaces")
    same(
        "padded_upper_semicolon.csv",
        text(renamed(lambda c: f" {c.upper()}"), sep=";", decimal=","),
        "padded upper-case headers, semicolons, decimal commas",
    )
    same(
        "spaced_headers.csv",
        text(renamed(lambda c: c.replace("_", " "))),
        "headers with spaces instead of underscores ('kit d816')",
    )
    same(
        "hyphen_headers.csv",
        text(renamed(lambda c: c.replace("_", "-").title())),
        "headers with hyphens ('Kit-D816')",
    )
    same("crlf.csv", text(CLEAN, newline="\r\n"), "Windows line endings")
    same(
        "crlf_bom_semicolon.csv",
        "\ufeff" + text(CLEAN, sep=";", decimal=",", newline="\r\n"),
        "Windows line endings, byte-order mark, semicolons, decimal commas",
    )
    same("quoted_all.csv", text(CLEAN, quoting=csv.QUOTE_ALL), "every field quoted")
    same(
        "quoted_semicolon_decimal_comma.csv",
        text(CLEAN, sep=";", decimal=",", quoting=csv.QUOTE_ALL),
        "every field quoted, semicolons, decimal commas",
    )
    same("trailing_blank_lines.csv", text(CLEAN) + "\n\n\n", "blank lines at the end")
    same(
        "empty_rows.csv",
        _insert_lines(text(CLEAN), [3, 6], "," * (CLEAN.shape[1] - 1)),
        "rows of empty cells between patients (left out, noted)",
    )
    same(
        "empty_rows_semicolon.csv",
        _insert_lines(text(CLEAN, sep=";"), [2, 9], ";" * (CLEAN.shape[1] - 1)),
        "semicolon rows of empty cells (left out, noted)",
    )
    same(
        "trailing_semicolons.csv",
        "".join(line + ";\n" for line in text(CLEAN, sep=";").splitlines()),
        "a trailing semicolon on every line (an empty unnamed column, left out)",
    )
    same("reordered_columns.csv", text(CLEAN[list(reversed(CLEAN.columns))]), "columns in another order")
    same("yes_no_spellings.csv", text(_spellings()), "yes/no as Yes, NO, TRUE, y, 1")
    same(
        "sex_words.csv",
        text(with_column("sex", {0: "female", 1: "Female", 2: "MALE", 3: "m"})),
        "sex written as words and lower case",
    )
    same("spaces_in_cells.csv", text(CLEAN.map(lambda v: f" {v} " if v else v)), "cells padded with spaces")
    same("na_spellings.csv", text(_na_spellings()), "unknown written as NA, n/a, ?, unknown")
    same("records.json", json.dumps(records(CLEAN), indent=1), "JSON list of records with native types")
    same("patients_key.json", json.dumps({"patients": records(CLEAN)}), 'JSON {"patients": [...]}')
    same("bom.json", "\ufeff" + json.dumps(records(CLEAN)), "JSON with a byte-order mark")
    same(
        "upper_keys.json",
        json.dumps([{k.upper(): v for k, v in r.items()} for r in records(CLEAN)]),
        "JSON with upper-case keys",
    )
    buf = io.BytesIO()
    CLEAN.to_parquet(buf, index=False)
    same("strings.parquet", buf.getvalue(), "Parquet of the text cells")
    same("plain.xlsx", xlsx(CLEAN), "Excel workbook, numbers as numbers")
    same("numbers_as_text.xlsx", xlsx(CLEAN, numbers=False), "Excel workbook, numbers stored as text")
    same("upper_headers.xlsx", xlsx(renamed(str.upper)), "Excel workbook, upper-case headers")
    same(
        "two_sheets.xlsx",
        xlsx(CLEAN, extra_sheet=True),
        "Excel workbook with a second sheet (not read, noted)",
    )
    same("trailing_rows.xlsx", xlsx(CLEAN, trailing_rows=3), "Excel workbook with empty trailing rows")
    same("accents.xlsx", xlsx(commented), "Excel workbook with accents", twin="clean_commented.csv")
    same(
        "decimal_comma_text_cells.xlsx",
        xlsx(comma_decimals(), numbers=False),
        "Excel workbook, numbers typed as text with decimal commas",
    )


def _insert_lines(data: str, positions: list[int], line: str) -> str:
    lines = data.splitlines()
    for k, pos in enumerate(positions):
        lines.insert(pos + k, line)
    return "\n".join(lines) + "\n"


def _spellings() -> pd.DataFrame:
    df = CLEAN.copy()
    yes, no = ["Yes", "TRUE", "y", "1", "YES"], ["No", "FALSE", "n", "0", "NO"]
    for j, c in enumerate(BOOLEAN):
        df[c] = df[c].map(lambda v, j=j: yes[j % 5] if v == "yes" else no[j % 5] if v == "no" else v)
    return df


def _na_spellings() -> pd.DataFrame:
    df = CLEAN.copy()
    words = ["NA", "n/a", "?", "unknown", "N/A"]
    for j, c in enumerate([*NUMERIC[1:], *BOOLEAN]):  # not ahn/mc_sarcoma: empty means "none" there
        df[c] = df[c].map(lambda v, j=j: words[j % 5] if v == "" else v)
    return df


def make_errors() -> None:
    error(
        "duplicate_age.csv",
        text(CLEAN.assign(extra=CLEAN["age"]).rename(columns={"extra": "age"})),
        r"more than once.*'age' given as \['age', 'age'\]",
        "the column age twice",
    )
    error(
        "duplicate_age_case.csv",
        text(CLEAN.assign(AGE=CLEAN["age"])),
        r"more than once.*'age' given as \['age', 'AGE'\]",
        "age and AGE",
    )
    error(
        "duplicate_semicolon.csv",
        text(CLEAN.assign(Tryptase=CLEAN["tryptase"]), sep=";"),
        r"'tryptase' given as \['tryptase', 'Tryptase'\]",
        "tryptase twice, semicolons",
    )
    error(
        "german_headers.csv",
        text(
            CLEAN.rename(columns={"age": "Alter", "sex": "Geschlecht", "patient_id": "Patient"}).iloc[:, :3],
            sep=";",
        ),
        r"no column of the findings is a data-dictionary column",
        "no canonical column (German headers)",
    )
    error(
        "pipe_delimited.csv",
        text(CLEAN, sep="|"),
        r"no column of the findings is a data-dictionary column",
        "pipe-separated (not a supported delimiter)",
    )
    error(
        "html_as_csv.csv",
        "<html><body><table><tr><td>age</td></tr></table></body></html>\n",
        r"no column of the findings is a data-dictionary column",
        "a web page saved as .csv",
    )
    error(
        "mixed_decimal_marks.csv",
        text(with_column("hemoglobin", {1: "13.8"}, comma_decimals()), sep=";"),
        r"column 'hemoglobin'.*'13\.8'.*decimal comma",
        "decimal commas and one decimal point",
    )
    error(
        "decimal_comma_in_comma_csv.csv",
        text(with_column("hemoglobin", {1: "13,8"})),
        r"column 'hemoglobin'.*'13,8'.*numbers only",
        "a quoted decimal comma in a comma-separated file",
    )
    error(
        "thousands_separator.csv",
        text(with_column("platelets", {1: "1.250,5"}, comma_decimals()), sep=";"),
        r"column 'platelets': got '1\.250,5'",
        "thousands separator in a number",
    )
    error(
        "units_in_cells.csv",
        text(with_column("tryptase", {1: "35 ng/mL"})),
        r"column 'tryptase'.*'35 ng/mL'",
        "units written in the cells",
    )
    error(
        "percent_sign.csv",
        text(with_column("atypical_mc_pct", {1: "40%"})),
        r"column 'atypical_mc_pct'.*'40%'",
        "a percent sign in a percentage column",
    )
    error(
        "hemoglobin_g_per_l.csv",
        text(with_column("hemoglobin", {1: "138"})),
        r"column 'hemoglobin'.*138.*g/L",
        "hemoglobin in g/L",
    )
    error(
        "platelets_per_ul.csv",
        text(with_column("platelets", {1: "250000"})),
        r"column 'platelets'.*250000.*per µL",
        "platelets per µL",
    )
    error(
        "sex_x.csv",
        text(with_column("sex", {1: "X"})),
        r"column 'sex': got 'X'",
        "sex X (a column classify does not read: still validated)",
    )
    error(
        "alp_negative.csv",
        text(with_column("alp", {1: "-10"})),
        r"column 'alp': got -10",
        "negative ALP (a column classify does not read: still validated)",
    )
    error("negative_age.csv", text(with_column("age", {1: "-4"})), r"column 'age': got -4", "negative age")
    error("age_130.csv", text(with_column("age", {1: "130"})), r"column 'age': got 130", "age 130")
    error(
        "age_as_date.csv",
        text(with_column("age", {1: "1970-01-01"})),
        r"column 'age': got '1970-01-01'",
        "a birth date in the age column",
    )
    error(
        "tryptase_word.csv",
        text(with_column("tryptase", {1: "high"})),
        r"column 'tryptase': got 'high'",
        "a word in a number column",
    )
    error(
        "boolean_word.csv",
        text(with_column("kit_d816", {1: "positive"})),
        r"column 'kit_d816': got 'positive'",
        "'positive' in a yes/no column",
    )
    error(
        "ahn_unknown_label.csv",
        text(with_column("ahn", {4: "leukaemia-ish"})),
        r"column 'ahn': got 'leukaemia-ish'",
        "an AHN that is not in the list",
    )
    error(
        "who_subtype_bad.csv",
        text(CLEAN.assign(who_subtype=["SM-AHNMD"] + [""] * 7)),
        r"column 'who_subtype': got 'SM-AHNMD'",
        "an old subtype name",
    )
    error(
        "kit_vaf_over_100.csv",
        text(with_column("kit_vaf_pct", {1: "140"})),
        r"column 'kit_vaf_pct': got 140",
        "a VAF above 100 %",
    )
    error(
        "sar_count_inconsistent.csv",
        text(CLEAN.assign(sar_count=["", "2", "", "", "", "", "", ""])),
        r"column 'sar_count': got 2",
        "sar_count that contradicts the genes",
    )
    error(
        "sar_count_fraction.csv",
        text(
            CLEAN.drop(columns=["srsf2", "asxl1", "runx1"]).assign(
                sar_count=["", "1.5", "", "", "", "", "", ""]
            )
        ),
        r"column 'sar_count': got 1.5",
        "a fractional gene count",
    )
    error(
        "event_2.csv",
        text(CLEAN.assign(time=["12"] * 8, event=["0", "2", "1", "0", "1", "1", "0", "0"])),
        r"column 'event': got 2",
        "event 2",
    )
    error(
        "time_in_days.csv",
        text(CLEAN.assign(time=["3650"] * 8)),
        r"column 'time': got 3650.*days",
        "follow-up in days",
    )
    error(
        "duplicate_patient_id.csv",
        text(with_column("patient_id", {1: "EX01-CM-child"})),
        r"column 'patient_id': got 'EX01-CM-child'.*more than once",
        "a patient id twice",
    )
    error(
        "latin1_sex_word.csv",
        text(with_column("sex", {1: "féminin"})),
        r"column 'sex': got 'féminin'",
        "a French word for sex, Latin-1 (read with its accent)",
        encoding="latin-1",
    )
    error("empty.csv", "", r"not a readable \.csv table", "an empty file")
    error("header_only.csv", text(CLEAN.iloc[:0]), r"no patients", "a header and no patients")
    error("binary.csv", b"PK\x03\x04\x00\x00binary", r"not a text table", "binary data named .csv")
    error(
        "ragged_rows.csv",
        text(CLEAN) + "EX09,40,F,yes" + "," * CLEAN.shape[1] + "extra\n",
        r"not a readable \.csv table: .*Expected 34 fields",
        "a row with more fields than the header",
    )
    error(
        "unclosed_quote.csv",
        text(CLEAN) + 'EX09,"40\n',
        r"not a readable \.csv table: .*EOF",
        "an unclosed quote",
    )
    error(
        "truncated_utf16.txt",
        ("\ufeff" + text(CLEAN, sep="\t")).encode("utf-16-le")[:-1],
        r"not readable as UTF-16",
        "UTF-16 cut in the middle of a character",
    )
    error(
        "old_excel.xls",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64,
        r"save it as \.xlsx or CSV",
        "an old Excel .xls file",
    )
    error("spreadsheet.ods", b"PK\x03\x04", r"save it as \.xlsx or CSV", "an OpenDocument spreadsheet")
    error(
        "corrupt.xlsx",
        b"PK\x03\x04 this is not a workbook",
        r"not a readable Excel workbook",
        "a damaged workbook",
    )
    error(
        "duplicate_headers.xlsx",
        xlsx(CLEAN.assign(AGE=CLEAN["age"])),
        r"'age' given as \['age', 'AGE'\]",
        "a workbook with age twice",
    )
    error(
        "no_canonical.xlsx",
        xlsx(pd.DataFrame({"Name": ["A"], "Alter": ["54"]})),
        r"no column of the findings is a data-dictionary column",
        "a workbook without a canonical column",
    )
    error("invalid.json", "{not json", r"not valid JSON", "broken JSON")
    error(
        "duplicate_key.json",
        '[{"age": 54, "age": 60, "sex": "F"}]',
        r"key\(s\) \['age'\] appear more than once",
        "a JSON key given twice",
    )
    error("numbers.json", "[1, 2, 3]", r"expected a JSON object", "a JSON list of numbers")
    error(
        "deep.json",
        "[" * 100_000 + "]" * 100_000,
        r"nested too deeply|not valid JSON",
        "JSON nested 100,000 deep",
    )
    error(
        "json_sex_x.json",
        json.dumps([{**records(CLEAN)[0], "sex": "X"}]),
        r"column 'sex': got 'X'",
        "JSON with sex X",
    )


def main() -> None:
    for old in HERE.iterdir():
        if old.name not in {Path(__file__).name, "README.md"} and old.is_file():
            old.unlink()
    make_same()
    make_errors()
    pd.DataFrame(MANIFEST).to_csv(HERE / "manifest.csv", index=False)
    print(
        f"{len(MANIFEST)} files ({sum(m['expect'] == 'same' for m in MANIFEST)} same, "
        f"{sum(m['expect'] == 'error' for m in MANIFEST)} error) in {HERE}"
    )


if __name__ == "__main__":
    main()
