"""Patient findings: the one way patients enter mastoprog.

``read_findings`` turns a DataFrame, a mapping (one patient) or a CSV/TSV/Excel/JSON/Parquet file
into the canonical frame every other module reads: one row per patient, the columns of the data
dictionary with fixed dtypes, unknown = missing (never 0 or False), extra columns passed through
unchanged. Every public function validates its input here, every canonical column present
(``ensure_findings``), whether or not it reads that column.

Files are read as clinics save them (``read_findings_file``): the delimiter (comma, semicolon,
tab), the decimal comma, the encoding (UTF-8 with or without byte-order mark, UTF-16, Windows-1252
/ Latin-1) and Excel ``.xlsx`` workbooks (optional ``excel`` extra) are detected, and what was
detected is returned as data (``FindingsFile.notes``; the command line prints it on stderr).
Headers are compared without case, surrounding spaces or hyphens; a renamed header warns
(``RenamedColumnWarning``), a column given twice or a file without any canonical column is
refused.

Impossible values raise :class:`~mastoprog.FindingsError` listing every problem at once (row, column,
value, expected range and unit, and a hint when the value looks like another unit). Possible but
implausible values warn with :class:`~mastoprog.PlausibilityWarning`; as data instead:
``read_findings(..., return_notes=True)``, or every validation inside a :func:`collect_notes`
block (per thread and task: concurrent callers need no lock).

Canonical dtypes: numbers ``float64`` (NaN = unknown); yes/no findings pandas ``boolean`` (<NA> =
unknown, also on input: ``mc_sarcoma``, where an empty cell means "not diagnosed", keeps a
boolean column's <NA> unknown, so that validating a canonical frame again changes nothing);
``sex`` categorical F/M; ``ahn`` categorical over ``AHN_LABELS`` plus ``"none"``; ``who_subtype``
categorical over ``SUBTYPE_LABELS``.
"""

from __future__ import annotations

import csv
import datetime
import difflib
import json
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any, Literal, TypeAlias, overload

import numpy as np
import pandas as pd

from ._resources import load_table
from .exceptions import (
    FindingsError,
    PlausibilityWarning,
    Problem,
    RenamedColumnWarning,
    UnknownColumnWarning,
)

__all__ = [
    "AHN_LABELS",
    "CANONICAL_COLUMNS",
    "MAX_FILE_BYTES",
    "MAX_XLSX_BYTES",
    "SUBTYPE_LABELS",
    "FindingsFile",
    "FindingsSource",
    "already_validated",
    "collect_notes",
    "column_spec",
    "note",
    "example_names",
    "example_path",
    "read_findings",
    "read_findings_file",
    "resolve_example",
    "to_frame",
]

#: Subtype labels, exactly as in the data dictionary (BMM: WHO 2022 only; SM-AMN, SM-ALN: ICC 2022 only).
SUBTYPE_LABELS: tuple[str, ...] = (
    "CM", "ISM", "SSM", "SM-AHN", "ASM", "MCL", "MCS", "none", "BMM", "SM-AMN", "SM-ALN",
)

_TRUE = frozenset({"true", "t", "1", "1.0", "yes", "y"})
_FALSE = frozenset({"false", "f", "0", "0.0", "no", "n"})
_MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "unknown", "?", ".", "<na>"})
# For `ahn` the data dictionary says empty = no AHN; an explicit "unknown" keeps it unknown.
_AHN_NONE = frozenset({"", "none", "no", "false", "0", "nan", "<na>"})
_AHN_UNKNOWN = frozenset({"unknown", "?", "na", "n/a", "not assessed"})

FindingsSource: TypeAlias = pd.DataFrame | Mapping[str, Any] | str | PathLike


@dataclass(frozen=True)
class _Spec:
    column: str
    kind: str
    unit: str
    min: float
    max: float
    min_exclusive: bool
    plausible_min: float
    plausible_max: float
    wrong_unit_above: float
    wrong_unit_hint: str | None
    empty_means: str | None  # "false"/"none": an empty cell records the absence of a diagnosis

    @property
    def unit_text(self) -> str:
        return f" {self.unit}" if self.unit else ""

    def range_text(self) -> str:
        lo = "" if np.isnan(self.min) else f"{'>' if self.min_exclusive else '>='} {self.min:g}"
        hi = "" if np.isnan(self.max) else f"<= {self.max:g}"
        parts = [p for p in (lo, hi) if p]
        return f"a number {' and '.join(parts)}{self.unit_text}" if parts else "a number"


@cache
def _schema() -> dict[str, _Spec]:
    table = load_table("findings_schema.csv")

    def num(v: Any) -> float:
        return float(v) if pd.notna(v) and v != "" else float("nan")

    specs = {}
    for rec in table.to_dict("records"):
        specs[rec["column"]] = _Spec(
            column=rec["column"],
            kind=rec["kind"],
            unit="" if pd.isna(rec["unit"]) else str(rec["unit"]),
            min=num(rec["min"]),
            max=num(rec["max"]),
            min_exclusive=str(rec["min_exclusive"]).strip().lower() == "true",
            plausible_min=num(rec["plausible_min"]),
            plausible_max=num(rec["plausible_max"]),
            wrong_unit_above=num(rec["wrong_unit_above"]),
            wrong_unit_hint=None if pd.isna(rec["wrong_unit_hint"]) else rec["wrong_unit_hint"],
            empty_means=None if pd.isna(rec["empty_means"]) else str(rec["empty_means"]),
        )
    return specs


@cache
def _ahn_table() -> tuple[dict[str, str], dict[str, str]]:
    """(alias -> label, label -> lineage), aliases lower-cased."""
    table = load_table("ahn_entities.csv")
    alias, lineage = {}, {}
    for rec in table.to_dict("records"):
        label = rec["label"]
        lineage[label] = rec["lineage"]
        alias[label.lower()] = label
        if isinstance(rec["aliases"], str):
            for a in rec["aliases"].split("|"):
                alias[a.strip().lower()] = label
    return alias, lineage


CANONICAL_COLUMNS: tuple[str, ...] = tuple(_schema())
AHN_LABELS: tuple[str, ...] = tuple(_ahn_table()[1])


def ahn_lineage() -> dict[str, str]:
    """Mapping AHN label -> ``"myeloid"`` or ``"lymphoid"`` (from ``data/ahn_entities.csv``)."""
    return dict(_ahn_table()[1])


def column_spec(column: str) -> dict[str, Any]:
    """Kind, unit and valid range of a canonical column, e.g. ``column_spec("hemoglobin")["unit"]``."""
    s = _schema()[column]
    return {"kind": s.kind, "unit": s.unit, "min": s.min, "max": s.max,
            "plausible_min": s.plausible_min, "plausible_max": s.plausible_max}


# --------------------------------------------------------------------------- reading sources

#: Largest findings file read (bytes), refused before parsing: a clinic table of 100,000 patients
#: is about 30 MB as CSV, a simulated cohort of a million patients about 350 MB.
MAX_FILE_BYTES = 2**30
#: Largest Excel workbook read (bytes): openpyxl holds every cell as a Python object, about 50
#: times the size of the compressed file in memory.
MAX_XLSX_BYTES = 50 * 2**20
#: What a text file's encoding, delimiter and decimal mark are detected from (bytes, lines).
_SAMPLE_BYTES = 1 << 16
_SAMPLE_LINES = 50
_DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
_ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with byte-order mark",
                   "utf-16": "UTF-16 (Excel 'Unicode text')", "cp1252": "Windows-1252 (Latin-1)",
                   "latin-1": "ISO-8859-1 (Latin-1)"}
_READABLE = ".csv, .tsv, .txt, .xlsx, .json or .parquet"
_COMMA_NUMBER = r"^\s*[+-]?\d+,\d+\s*$"
_POINT_NUMBER = r"^\s*[+-]?\d*\.\d+\s*$"
_NUMBER_OR_COMMA_NUMBER = r"^\s*[+-]?\d+(,\d+)?\s*$"
_EXAMPLE = "example"


def example_names() -> tuple[str, ...]:
    """Names of the example files shipped in ``mastoprog/data/examples``.

    Examples
    --------
    >>> example_names()
    ('patient.json', 'patients.csv')
    """
    folder = resources.files("mastoprog").joinpath("data", "examples")
    return tuple(sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")))


def example_path(name: str = "patients.csv") -> Path:
    """Path of the example file ``name`` shipped with mastoprog.

    Parameters
    ----------
    name : str
        One of :func:`example_names` (default ``"patients.csv"``: eight patients, one per subtype).

    Returns
    -------
    Path

    Raises
    ------
    FindingsError
        If no shipped example has that name (the message lists them).

    Examples
    --------
    >>> example_path().name
    'patients.csv'
    """
    names = example_names()
    if name not in names:
        raise FindingsError(f"no shipped example named {name!r}; the examples are {list(names)} "
                            f"(write {_EXAMPLE!r} or '{_EXAMPLE}:NAME')")
    return Path(str(resources.files("mastoprog").joinpath("data", "examples", name)))


def resolve_example(source: str | PathLike) -> str | PathLike:
    """``"example"`` and ``"example:NAME"`` as the shipped example's path; anything else unchanged.

    The one place where the command line, :func:`read_findings` and the notebooks turn the word
    ``example`` into a file: ``"example"`` is ``patients.csv``, ``"example:patient.json"`` the
    one-patient JSON file (see :func:`example_names`).

    Examples
    --------
    >>> resolve_example("example:patient.json").name
    'patient.json'
    >>> resolve_example("clinic.csv")
    'clinic.csv'
    """
    if not isinstance(source, str):
        return source
    if source == _EXAMPLE:
        return example_path()
    if source.startswith(_EXAMPLE + ":"):
        return example_path(source.split(":", 1)[1])
    return source


@dataclass(frozen=True, eq=False)
class FindingsFile:
    """A findings file as read, before validation: its cells and how it was written.

    Attributes
    ----------
    path : Path
        The file read.
    format : str
        ``"text"`` (CSV/TSV), ``"xlsx"``, ``"json"`` or ``"parquet"``.
    frame : DataFrame
        The table as read: headers as written (normalised later by :func:`read_findings`, with a
        warning), text cells as strings, decimal commas already turned into points, rows and
        unnamed columns that are entirely empty left out.
    encoding, delimiter, decimal : str or None
        Detected for text files (``None`` for the other formats): e.g. ``"cp1252"``, ``";"``, ``","``.
    sheet : str or None
        The worksheet read from a workbook (the first one).
    skipped : tuple of str
        What was left out, in words (empty rows, empty unnamed columns, other worksheets).
    """

    path: Path
    format: str
    frame: pd.DataFrame = field(repr=False)
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str | None = None
    sheet: str | None = None
    skipped: tuple[str, ...] = ()

    @property
    def notes(self) -> tuple[str, ...]:
        """What was detected, in words, when the file is not plain comma-separated UTF-8.

        Examples
        --------
        >>> read_findings_file(example_path()).notes
        ()
        """
        notes = []
        if self.format == "text":
            plain = (self.encoding, self.delimiter, self.decimal) == ("utf-8", ",", ".")
            if not plain:
                notes.append(f"read {self.path.name} as {_DELIMITERS[str(self.delimiter)]}-separated "
                             f"text, decimal {'comma' if self.decimal == ',' else 'point'}, "
                             f"{_ENCODING_NAMES[str(self.encoding)]}")
        elif self.format == "xlsx":
            notes.append(f"read {self.path.name}: Excel worksheet {self.sheet!r}")
        return (*notes, *self.skipped)


def read_findings_file(path: str | PathLike) -> FindingsFile:
    """Read a findings file as clinics save it, detecting how it was written; no validation.

    Text files (``.csv``, ``.tsv``, ``.txt``): the encoding (UTF-8 with or without byte-order
    mark, UTF-16 with one, else Windows-1252/Latin-1), the delimiter (comma, semicolon or tab:
    the one under which the header names the most canonical columns) and the decimal comma
    (numbers like ``12,5`` in a semicolon- or tab-separated file) are detected. Excel ``.xlsx``
    needs the optional dependency openpyxl (``pip install 'mastoprog[excel]'``); its first
    worksheet is read. ``"example"`` names a shipped example (:func:`resolve_example`).

    Parameters
    ----------
    path : str or path
        The file; at most :data:`MAX_FILE_BYTES` (:data:`MAX_XLSX_BYTES` for a workbook), checked
        before parsing.

    Returns
    -------
    FindingsFile
        The raw table and what was detected (:attr:`FindingsFile.notes` says it in words).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    FindingsError
        For a folder, an unknown suffix, a file too large, unreadable text or workbook, a file
        mixing decimal commas and points, or a table in which no column is a data-dictionary
        column (the message names the closest ones).

    Examples
    --------
    >>> f = read_findings_file("example")
    >>> f.format, f.delimiter, f.decimal, len(f.frame)
    ('text', ',', '.', 8)
    """
    src = Path(resolve_example(path))
    if not src.exists():
        raise FileNotFoundError(f"findings file not found: {str(src)!r}")
    if src.is_dir():
        raise FindingsError(f"cannot read {str(src)!r}: it is a folder; expected a {_READABLE} file")
    suffix = src.suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        hint = (" (save it as .xlsx or CSV)" if suffix in {".xls", ".ods", ".xlsm", ".xlsb", ".numbers"}
                else "")
        raise FindingsError(f"cannot read {str(src)!r}: expected a {_READABLE} file{hint}")
    limit = MAX_XLSX_BYTES if suffix == ".xlsx" else MAX_FILE_BYTES
    size = src.stat().st_size
    if size > limit:
        raise FindingsError(f"{str(src)!r} is {size / 2**20:.0f} MiB; findings files of at most "
                            f"{limit / 2**20:.0f} MiB are read (split the file, or save it as Parquet)")
    read = reader(src)
    if not any(_column_key(c) in _schema() for c in read.frame.columns):
        raise FindingsError(f"{str(src)!r}: " + _no_canonical_message([str(c) for c in read.frame.columns]))
    return read


def _read_text(path: Path) -> FindingsFile:
    with path.open("rb") as fh:
        sample = fh.read(_SAMPLE_BYTES)
    encoding = _sniff_encoding(path, sample, full=len(sample) < _SAMPLE_BYTES)
    lines = sample.decode(encoding, errors="replace").splitlines()
    if len(sample) == _SAMPLE_BYTES:
        lines = lines[:-1]  # the last line may be cut in the middle
    delimiter = _sniff_delimiter(lines[:_SAMPLE_LINES], path.suffix.lower())
    frame, encoding = _parse_text(path, encoding, delimiter)
    frame, skipped = _drop_empty(_header_from_first_row(frame))
    frame, decimal = _decimal_commas(frame, delimiter)
    return FindingsFile(path, "text", frame, encoding=encoding, delimiter=delimiter, decimal=decimal,
                        skipped=skipped)


def _sniff_encoding(path: Path, sample: bytes, full: bool) -> str:
    """Byte-order marks first; then UTF-8 if the sample decodes; else Windows-1252 or Latin-1."""
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if b"\x00" in sample:
        raise FindingsError(f"{str(path)!r} is not a text table (it holds NUL bytes); expected a "
                            "CSV or tab-separated text file, or save it as .xlsx")
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if not full and exc.start >= len(sample) - 3:
            return "utf-8"  # a multi-byte character cut by the end of the sample
    return _single_byte(sample)


def _single_byte(data: bytes) -> str:
    # Windows-1252 leaves five bytes undefined; Latin-1 decodes every byte.
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _sniff_delimiter(lines: list[str], suffix: str) -> str:
    """The delimiter under which the header names the most canonical columns.

    Ties go to the one giving the same number of fields on every sampled line, then to more
    fields; then tab for ``.tsv``, else comma.
    """
    order = ["\t", ",", ";"] if suffix == ".tsv" else [",", ";", "\t"]
    lines = [line for line in lines if line.strip()]
    if not lines:
        return order[0]
    canon = _schema()

    def score(delimiter: str) -> tuple[int, bool, int, int]:
        rows = list(csv.reader(lines, delimiter=delimiter))
        header = rows[0]
        recognised = sum(_column_key(h) in canon for h in header)
        regular = len(header) > 1 and len({len(r) for r in rows}) == 1
        return recognised, regular, len(header), -order.index(delimiter)

    return max(order, key=score)


def _parse_text(path: Path, encoding: str, delimiter: str) -> tuple[pd.DataFrame, str]:
    """Every cell as a string (no type guessing by pandas: our parsers decide); header in row 0."""
    name = str(path)
    try:
        try:
            frame = pd.read_csv(path, sep=delimiter, header=None, dtype=str, keep_default_na=False,
                                encoding=encoding)
        except UnicodeDecodeError:
            if encoding != "utf-8":
                raise
            # The sample was UTF-8 but a later byte is not: a single-byte file after all.
            with path.open("rb") as fh:
                encoding = _single_byte(fh.read())
            frame = pd.read_csv(path, sep=delimiter, header=None, dtype=str, keep_default_na=False,
                                encoding=encoding)
    except UnicodeError as exc:
        reason = getattr(exc, "reason", str(exc))
        raise FindingsError(f"{name!r} is not readable as {_ENCODING_NAMES.get(encoding, encoding)} "
                            f"text ({reason}); save it as UTF-8 CSV") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise FindingsError(f"{name!r} is not a readable {path.suffix.lower()} table: "
                            f"{str(exc).strip()}") from None
    return frame, encoding


def _header_from_first_row(frame: pd.DataFrame) -> pd.DataFrame:
    """Row 0 as the column labels, exactly as written (pandas would rename a repeated ``age``)."""
    header = ["" if pd.isna(h) else str(h) for h in frame.iloc[0]]
    header = [h if h.strip() else f"Unnamed: {i}" for i, h in enumerate(header)]
    body = frame.iloc[1:].reset_index(drop=True)
    body.columns = pd.Index(header, dtype=object)
    return body


def _drop_empty(frame: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Without rows that are entirely empty and unnamed columns that are (Excel leaves both).

    Also strips the spaces around patient identifiers (``" P1 "`` in a hand-typed table); the
    other canonical cells are compared without them anyway, extra columns stay as written.
    """
    if frame.shape[1] == 0:
        return frame, ()
    for i, c in enumerate(frame.columns):
        if _column_key(c) == "patient_id" and frame.dtypes.iloc[i] is np.dtype(object):
            frame.isetitem(i, frame.iloc[:, i].str.strip())
    blank = frame.isna() | (frame == "")
    empty_rows = blank.all(axis=1).to_numpy()
    unnamed = [i for i, c in enumerate(frame.columns)
               if str(c).startswith("Unnamed: ") and bool(blank.iloc[:, i].all())]
    skipped = []
    if empty_rows.any():
        skipped.append(f"{int(empty_rows.sum())} empty row(s) left out")
        frame = frame.loc[~empty_rows].reset_index(drop=True)
    if unnamed:
        skipped.append(f"{len(unnamed)} empty column(s) without a header left out")
        frame = frame.iloc[:, [i for i in range(frame.shape[1]) if i not in unnamed]]
    return frame, tuple(skipped)


def _decimal_commas(frame: pd.DataFrame, delimiter: str | None) -> tuple[pd.DataFrame, str]:
    """Numbers written ``12,5`` as ``12.5``, in the columns that hold numbers only.

    Only where the comma cannot be the delimiter or a thousands separator (a semicolon- or
    tab-separated file, or a workbook); in a comma-separated file a quoted ``"1,234"`` stays as
    written and is refused by the number parser. A file that writes decimals both ways is refused:
    ``1.234`` next to ``12,5`` may mean one thousand two hundred and thirty-four.
    """
    if delimiter == ",":
        return frame, "."
    numeric = {c for c, s in _schema().items() if s.kind in {"float", "count", "event"}}
    convert = []
    for i, c in enumerate(frame.columns):
        s = frame.iloc[:, i]
        if s.dtype != object:
            continue
        text = s.astype(str)
        if not text.str.match(_COMMA_NUMBER).any():
            continue
        all_numbers = (text.str.match(_NUMBER_OR_COMMA_NUMBER) | (text.str.strip() == "") | s.isna()).all()
        if _column_key(c) in numeric or all_numbers:
            convert.append(i)
    if not convert:
        return frame, "."
    _refuse_mixed_decimals(frame, numeric, str(frame.columns[convert[0]]))
    frame = frame.copy()
    for i in convert:
        frame.isetitem(i, frame.iloc[:, i].str.replace(",", ".", regex=False))
    return frame, ","


def _refuse_mixed_decimals(frame: pd.DataFrame, numeric: set[str], comma_column: str) -> None:
    ids = next((frame.iloc[:, i] for i, c in enumerate(frame.columns) if _column_key(c) == "patient_id"),
               None)
    problems = []
    for i, c in enumerate(frame.columns):
        s = frame.iloc[:, i]
        if _column_key(c) not in numeric or s.dtype != object:
            continue
        for row in np.flatnonzero(s.astype(str).str.match(_POINT_NUMBER).to_numpy())[:5]:
            label = ids.iloc[row] if ids is not None and isinstance(ids.iloc[row], str) and ids.iloc[row] \
                else int(row)
            problems.append(Problem(
                label, str(c), s.iloc[row], "a decimal comma, as in the rest of the file",
                f"column {comma_column!r} writes decimals with a comma; a point is ambiguous there "
                "(1.234 means 1234 in some locales): use one decimal mark"))
    if problems:
        raise FindingsError(problems)


def _read_xlsx(path: Path) -> FindingsFile:
    try:
        import openpyxl  # noqa: F401  (optional dependency: the `excel` extra)
    except ImportError:
        raise FindingsError(f"cannot read {str(path)!r}: Excel files need the optional dependency "
                            "openpyxl (pip install 'mastoprog[excel]'), or save the sheet as CSV") from None
    try:
        with pd.ExcelFile(path, engine="openpyxl") as book:
            sheets = [str(s) for s in book.sheet_names]
            raw = book.parse(sheets[0], header=None, dtype=object)
    # A workbook is a zip of XML from outside: openpyxl and zipfile raise many different
    # exception types on a damaged one; each becomes one clear message.
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise FindingsError(f"{str(path)!r} is not a readable Excel workbook: {first}") from None
    if raw.shape[0] == 0:
        raise FindingsError(f"{str(path)!r}: the worksheet {sheets[0]!r} is empty")
    frame, skipped = _drop_empty(_header_from_first_row(raw.map(_cell_text)))
    if len(sheets) > 1:
        skipped = (*skipped, f"worksheet(s) {sheets[1:]} not read (only the first one is)")
    frame, decimal = _decimal_commas(frame, None)
    return FindingsFile(path, "xlsx", frame, decimal=decimal, sheet=sheets[0], skipped=skipped)


def _cell_text(value: Any) -> str:
    """A workbook cell as the text a CSV export would hold (so both read alike)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return str(value)


def _read_json(path: Path) -> FindingsFile:
    try:
        with path.open(encoding="utf-8-sig") as fh:
            obj = json.load(fh, object_pairs_hook=_no_repeated_keys)
    except json.JSONDecodeError as exc:
        raise FindingsError(f"{str(path)!r} is not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise FindingsError(f"{str(path)!r} is not UTF-8 text ({exc.reason} at byte "
                            f"{exc.start}); expected a UTF-8 JSON file") from None
    except RecursionError:
        raise FindingsError(f"{str(path)!r}: JSON nested too deeply; expected a patient object or a "
                            "list of them") from None
    if isinstance(obj, Mapping) and "patients" in obj:
        obj = obj["patients"]
    if isinstance(obj, Mapping):
        obj = [obj]
    if not isinstance(obj, list) or not all(isinstance(r, Mapping) for r in obj):
        raise FindingsError(
            f"{str(path)!r}: expected a JSON object (one patient), a list of objects, "
            "or {\"patients\": [...]}"
        )
    return FindingsFile(path, "json", pd.DataFrame.from_records(obj))


def _no_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object; a key given twice is refused (``json`` would keep the last one silently)."""
    keys = [k for k, _ in pairs]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise FindingsError(f"key(s) {repeated} appear more than once in one JSON object")
    return dict(pairs)


def _read_parquet(path: Path) -> FindingsFile:
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise FindingsError(f"{str(path)!r} is not a readable Parquet file: {first}") from None
    return FindingsFile(path, "parquet", frame)


_READERS: dict[str, Callable[[Path], FindingsFile]] = {
    ".csv": _read_text, ".tsv": _read_text, ".txt": _read_text, ".xlsx": _read_xlsx,
    ".json": _read_json, ".parquet": _read_parquet, ".pq": _read_parquet,
}


def _to_frame(source: FindingsSource) -> tuple[pd.DataFrame, bool]:
    if isinstance(source, pd.DataFrame):
        return source, False
    if isinstance(source, pd.Series):
        return source.to_frame().T.infer_objects(), True
    if isinstance(source, Mapping):
        # A mapping is one patient: each value must be one cell. A dict of lists is the usual
        # mistake (several patients), which pandas would otherwise store as list-valued cells.
        nested = [k for k, v in source.items() if not pd.api.types.is_scalar(v)]
        if nested:
            k = nested[0]
            raise FindingsError([Problem(None, str(k), source[k],
                                         "a single value (a mapping is one patient)",
                                         "for several patients pass pd.DataFrame(...) instead")])
        return pd.DataFrame([dict(source)]), True
    if isinstance(source, str | PathLike):
        return read_findings_file(source).frame, False
    raise TypeError(
        "findings must be a pandas DataFrame, a mapping for one patient, or a path to a "
        f"CSV/JSON/Parquet/xlsx file; got {type(source).__name__}"
    )


def to_frame(source: FindingsSource) -> pd.DataFrame:
    """The findings as a table before validation (a file read, a mapping as one row).

    For functions that also read non-canonical columns (``diagnosis_year``, ``nras``): the
    canonical ones always go through :func:`read_findings`.

    Parameters
    ----------
    source : DataFrame, mapping or path
        As in :func:`read_findings` (a DataFrame is returned as it is, not copied).

    Returns
    -------
    DataFrame
        The cells as given or read (see :func:`read_findings_file` for files).

    Examples
    --------
    >>> list(to_frame({"age": 54, "my_note": "x"}).columns)
    ['age', 'my_note']
    """
    return _to_frame(source)[0]


def _column_key(label: Any) -> str:
    """A header as compared with the canonical names: case, surrounding and inner spaces, hyphens."""
    return re.sub(r"[\s\-]+", "_", str(label).strip()).lower()


# --------------------------------------------------------------------------- column parsers


class _RowLabels:
    """Row label for messages: the patient_id when given, else the index label.

    Computed per row on demand: building a million labels up front would cost more than the
    validation itself, and they are only needed when something is wrong.
    """

    def __init__(self, frame: pd.DataFrame):
        self._index = frame.index
        self._ids = frame["patient_id"] if "patient_id" in frame.columns else None

    def __getitem__(self, i: int) -> Any:
        if self._ids is not None:
            pid = self._ids.iloc[i]
            if pid is not None and not (isinstance(pid, float) and np.isnan(pid)):
                return _py(pid)
        return _py(self._index[i])


class _Collector:
    """Collects problems across columns so that one error lists them all."""

    def __init__(self, labels: _RowLabels):
        self.labels = labels
        self.problems: list[Problem] = []
        self.count = 0

    def add(self, mask: np.ndarray, column: str, values: Any, expected: str,
            hint: str | None = None) -> None:
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return
        self.count += idx.size
        vals = np.asarray(values, dtype=object)
        for i in idx[: FindingsError.MAX_SHOWN]:
            self.problems.append(Problem(self.labels[i], column, _py(vals[i]), expected, hint))

    def raise_if_any(self) -> None:
        if self.problems:
            raise FindingsError(self.problems, self.count)


def _py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


#: ``pd.factorize`` of a column (codes, distinct values), computed once per column.
_Hashed: TypeAlias = "tuple[np.ndarray, Any] | None"


def _factorize(s: pd.Series, hashed: _Hashed = None) -> tuple[np.ndarray, list[str]]:
    """(codes, normalised distinct strings); missing values get the last code, whose text is ''.

    Works on the distinct values only, so a million-row column of a few distinct strings costs
    one ``pd.factorize`` pass, not a million Python string operations; ``hashed`` is that pass
    when the caller already made it (:func:`_single_values`).
    """
    codes, uniques = hashed if hashed is not None else pd.factorize(s.astype(object), use_na_sentinel=True)
    norm = [str(u).strip().lower() for u in uniques] + [""]
    codes = np.where(codes < 0, len(norm) - 1, codes)
    return codes, norm


def _lookup(codes: np.ndarray, norm: list[str], fn) -> np.ndarray:
    """Apply ``fn`` to each distinct normalised string and spread the result over the rows."""
    return np.array([fn(u) for u in norm], dtype=object)[codes]


def _boolean(values: np.ndarray, mask: np.ndarray) -> pd.arrays.BooleanArray:
    return pd.arrays.BooleanArray(np.asarray(values, dtype=bool), np.asarray(mask, dtype=bool))


def _parse_bool(s: pd.Series, spec: _Spec, col: _Collector, hashed: _Hashed = None) -> pd.Series:
    out = _parse_bool_raw(s, spec, col, hashed)
    if spec.empty_means == "false" and s.dtype != "boolean":
        # (a pandas boolean column, e.g. a canonical frame validated again, says unknown with
        # <NA> itself: kept, so that validating twice changes nothing)
        # Like `ahn`, `mc_sarcoma` records a diagnosis when one is made: an empty cell means
        # "not diagnosed". Only an explicit "unknown"/"?" keeps it open.
        explicit_unknown = np.zeros(len(s), bool)
        if s.dtype == object:
            codes, norm = _factorize(s, hashed)
            explicit_unknown = np.array([u in _AHN_UNKNOWN or u == "?" for u in norm])[codes]
        values = np.asarray(out.fillna(False), dtype=bool)
        return _boolean(values, explicit_unknown)
    return out


def _parse_bool_raw(s: pd.Series, spec: _Spec, col: _Collector, hashed: _Hashed = None) -> pd.Series:
    if s.dtype == "boolean":
        return s
    if s.dtype == bool:
        return s.astype("boolean")
    if pd.api.types.is_complex_dtype(s.dtype):
        col.add(s.notna().to_numpy(), spec.column, s, "true/false, yes/no or 1/0, not a complex number")
        return _boolean(np.zeros(len(s), bool), np.ones(len(s), bool))
    if pd.api.types.is_numeric_dtype(s.dtype):
        v = s.to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isnan(v) & (v != 0) & (v != 1)
        col.add(bad, spec.column, s, "true/false, yes/no or 1/0 (empty = unknown)")
        return _boolean(v == 1, np.isnan(v) | bad)
    codes, norm = _factorize(s, hashed)
    is_true = np.array([u in _TRUE for u in norm])[codes]
    is_false = np.array([u in _FALSE for u in norm])[codes]
    is_missing = np.array([u in _MISSING for u in norm])[codes]
    bad = ~(is_true | is_false | is_missing)
    col.add(bad, spec.column, s, "true/false, yes/no, y/n or 1/0 (empty = unknown)")
    return _boolean(is_true, ~(is_true | is_false))


def _parse_number(s: pd.Series, spec: _Spec, col: _Collector, hashed: _Hashed = None) -> np.ndarray:
    if s.dtype == bool or s.dtype == "boolean":
        col.add(np.ones(len(s), bool), spec.column, s, f"{spec.range_text()}, not true/false")
        return np.full(len(s), np.nan)
    if pd.api.types.is_complex_dtype(s.dtype):
        # Casting to float would silently drop the imaginary part: a number from nonsense.
        col.add(s.notna().to_numpy(), spec.column, s, f"{spec.range_text()} (a real number, not complex)")
        return np.full(len(s), np.nan)
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.to_numpy(dtype=float, na_value=np.nan)
    codes, norm = _factorize(s, hashed)
    missing = np.array([u in _MISSING for u in norm])[codes]
    parsed = pd.to_numeric(pd.Series([("nan" if u in _MISSING else u) for u in norm]),
                           errors="coerce").to_numpy(dtype=float)
    nums = parsed[codes]
    bad = np.isnan(nums) & ~missing
    col.add(bad, spec.column, s, f"{spec.range_text()} (empty = unknown)",
            "numbers only: no units or comparison signs in the cell")
    return nums


def _check_range(v: np.ndarray, spec: _Spec, col: _Collector, rows_with_warnings: list) -> None:
    with np.errstate(invalid="ignore"):
        known = ~np.isnan(v)
        above_unit = known & (v > spec.wrong_unit_above) if not np.isnan(spec.wrong_unit_above) \
            else np.zeros(len(v), bool)
        col.add(above_unit, spec.column, v, spec.range_text(), spec.wrong_unit_hint)
        bad = np.zeros(len(v), bool)
        if not np.isnan(spec.min):
            bad |= known & ((v <= spec.min) if spec.min_exclusive else (v < spec.min))
        if not np.isnan(spec.max):
            bad |= known & (v > spec.max) & ~above_unit
        bad |= np.isinf(v)
        col.add(bad, spec.column, v, spec.range_text())
        low = known & ~bad & ~above_unit & (v < spec.plausible_min) \
            if not np.isnan(spec.plausible_min) else np.zeros(len(v), bool)
        high = known & ~bad & ~above_unit & (v > spec.plausible_max) \
            if not np.isnan(spec.plausible_max) else np.zeros(len(v), bool)
    for mask, what in ((low, f"below {spec.plausible_min:g}"), (high, f"above {spec.plausible_max:g}")):
        n = int(mask.sum())
        if n:
            first = [col.labels[i] for i in np.flatnonzero(mask)[:5]]
            rows_with_warnings.append(
                f"{spec.column}: {n} value(s) {what}{spec.unit_text} are possible but implausible "
                f"(rows {first}{' ...' if n > 5 else ''}); check the unit ({spec.unit or 'none'})"
            )


def _category_labels(kind: str) -> list[str]:
    if kind == "sex":
        return ["F", "M"]
    if kind == "ahn":
        return ["none", *_ahn_table()[1]]
    return list(SUBTYPE_LABELS)


def _parse_category(s: pd.Series, spec: _Spec, col: _Collector, hashed: _Hashed = None) -> pd.Categorical:
    cats = _category_labels(spec.kind)
    if isinstance(s.dtype, pd.CategoricalDtype) and list(s.dtype.categories) == cats:
        return s.array  # already canonical
    codes, norm = _factorize(s, hashed)
    if spec.kind == "sex":
        mapping = {"f": "F", "female": "F", "m": "M", "male": "M"}
        missing_ok = _MISSING
        expected = "'F' or 'M' (empty = unknown)"
    elif spec.kind == "ahn":
        alias, lineage = _ahn_table()
        mapping = dict(alias) | {u: "none" for u in _AHN_NONE}
        missing_ok = _AHN_UNKNOWN
        expected = f"one of {list(lineage)}, empty or 'none' for no AHN, or 'unknown'"
    else:  # who_subtype
        mapping = {label.lower(): label for label in SUBTYPE_LABELS}
        missing_ok = _MISSING - {"none"}
        expected = f"one of {list(SUBTYPE_LABELS)} (empty = not assigned)"
    position = {c: i for i, c in enumerate(cats)}
    cat_code = np.array([position.get(mapping.get(u, ""), -1) for u in norm])
    bad_u = np.array([u not in mapping and u not in missing_ok for u in norm])
    col.add(bad_u[codes], spec.column, s, expected)
    return pd.Categorical.from_codes(np.where(bad_u, -1, cat_code)[codes], categories=cats)


# --------------------------------------------------------------------------- notes as data

# The notes of the validations running in this context (thread or asyncio task), or None: warn.
_NOTES: ContextVar[list[str] | None] = ContextVar("mastoprog_findings_notes", default=None)


@contextmanager
def collect_notes() -> Iterator[list[str]]:
    """Collect the notes about the findings as data instead of warnings, inside this block.

    Every validation in the block (:func:`read_findings` and each public function's own check of
    its input) adds its plausibility notes (:class:`~mastoprog.PlausibilityWarning`), renamed and
    misspelt headers and the model's subtype-check notes (:func:`note`) to the yielded list, once
    each, instead of warning. The scope is the current thread or asyncio task (a context
    variable), so concurrent callers, e.g. a web server's threads, need no lock; outside the block
    nothing changes.

    Yields
    ------
    list of str
        The notes, in order, without repeats (filled as the block runs).

    Examples
    --------
    >>> with collect_notes() as notes:
    ...     frame = read_findings({"age": 54, "hemoglobin": 2.5})
    >>> notes
    ['hemoglobin: 1 value(s) below 3 g/dL are possible but implausible (rows [0]); check the unit (g/dL)']
    """
    token = _NOTES.set([])
    try:
        sink = _NOTES.get()
        assert sink is not None
        yield sink
    finally:
        _NOTES.reset(token)


def note(message: str, category: type[Warning], *, stacklevel: int = 1) -> None:
    """Warn ``message`` (a ``category`` warning), or inside :func:`collect_notes` record it as data.

    Parameters
    ----------
    message : str
        What the caller must see (it names rows and columns, never more patient data than that).
    category : type of Warning
        E.g. :class:`~mastoprog.PlausibilityWarning` or :class:`~mastoprog.FindingsWarning`.
    stacklevel : int
        As in :func:`warnings.warn`, counted from the caller of ``note``.
    """
    sink = _NOTES.get()
    if sink is None:
        warnings.warn(message, category, stacklevel=stacklevel + 1)
    elif message not in sink:
        sink.append(message)


# --------------------------------------------------------------------------- validated once

# The canonical frames that validations in this context (thread or asyncio task) take as already
# validated, compared by identity (``is``): see already_validated.
_VALIDATED: ContextVar[tuple[pd.DataFrame, ...]] = ContextVar("mastoprog_findings_validated", default=())


@contextmanager
def already_validated(*frames: pd.DataFrame) -> Iterator[None]:
    """Inside this block, public functions given one of ``frames`` do not validate it again.

    For a caller that validated its input once (:func:`read_findings`) and then hands the same
    frame to several public functions (the web page: classification in two editions, the scores
    and the model), or to the model chunk by chunk (``validate`` on a million patients): each
    function's own check of its input (:func:`ensure_findings`) is then a column selection
    instead of a second parse of every column, and the plausibility notes are not repeated.

    The frames are compared by identity (``is``), so a copy, a column selection or any other new
    frame is validated as usual. The scope is the current thread or asyncio task (a context
    variable) and ends with the block; the block holds a reference to each frame, so an identity
    cannot be reused by another object inside it.

    Parameters
    ----------
    *frames : DataFrame
        Canonical frames: returned by :func:`read_findings` (every canonical column present), or
        row selections of one (``frame.iloc[a:b]``), and not modified since. A frame without
        every canonical column is refused.

    Raises
    ------
    ValueError
        For a frame that is not canonical (a canonical column is missing).

    Examples
    --------
    >>> frame = read_findings({"age": 54, "hemoglobin": 2.5, "sex": "F"}, return_notes=True)[0]
    >>> with already_validated(frame):
    ...     again = read_findings(frame)  # no second parse: no second plausibility warning
    >>> again.equals(frame)
    True
    """
    required = [c for c in CANONICAL_COLUMNS if c != "patient_id"]
    for frame in frames:
        if not isinstance(frame, pd.DataFrame) or frame.columns.get_indexer(required).min() < 0:
            raise ValueError("already_validated takes canonical frames (from read_findings, every "
                             f"canonical column present); got {type(frame).__name__} without them")
    token = _VALIDATED.set(_VALIDATED.get() + frames)
    try:
        yield
    finally:
        _VALIDATED.reset(token)


def _trusted(frame: pd.DataFrame) -> bool:
    return any(frame is f for f in _VALIDATED.get())


def _revalidate(frame: pd.DataFrame, columns: tuple[str, ...] | None) -> pd.DataFrame:
    """What :func:`_validate` returns for a frame it already returned (validation is idempotent:
    ``tests/test_findings_validated_once.py`` holds the two equal), as a new frame."""
    if columns is None:
        return frame.copy()
    if set(columns) - set(CANONICAL_COLUMNS):
        raise ValueError(f"not canonical columns: {sorted(set(columns) - set(CANONICAL_COLUMNS))}")
    keep = [c for c in CANONICAL_COLUMNS if (c in columns or c == "patient_id") and c in frame.columns]
    return frame[keep]


# --------------------------------------------------------------------------- public entry


@overload
def read_findings(source: FindingsSource, *, return_notes: Literal[False] = False) -> pd.DataFrame: ...


@overload
def read_findings(source: FindingsSource, *,
                  return_notes: Literal[True]) -> tuple[pd.DataFrame, tuple[str, ...]]: ...


def read_findings(
    source: FindingsSource, *, return_notes: bool = False
) -> pd.DataFrame | tuple[pd.DataFrame, tuple[str, ...]]:
    """Read and validate patient findings into the canonical frame.

    Parameters
    ----------
    source : DataFrame, mapping or path
        One row per patient with columns from the data dictionary (units: age in years, Hb in
        g/dL, ALP in U/L, tryptase in ng/mL, counts in 10^9/L, percentages 0-100, time in
        months); a mapping for one patient; or a ``.csv``/``.tsv``/``.txt``/``.xlsx``/``.json``/
        ``.parquet`` path, read as clinics save it (see :func:`read_findings_file`: delimiter,
        decimal comma and encoding detected); ``"example"`` is the shipped example. Headers that
        differ from a canonical name only by case, spaces or hyphens are renamed to it (with a
        warning). Extra columns are kept and passed through unchanged.
    return_notes : bool
        Also return the plausibility notes (and renamed or misspelt headers) as data instead of
        warning them (default False: they warn, as listed under Warns).

    Returns
    -------
    DataFrame
        Indexed like the input (a file or mapping gets a RangeIndex). Every canonical column is
        present (absent ones as all-unknown) in dictionary order, then the extra columns. With
        ``return_notes``: ``(frame, notes)``, notes a tuple of str (empty when none).

    Raises
    ------
    FindingsError
        Listing every impossible value (row, column, value, expected range and unit, hint), or
        for empty input, a column given twice (also as ``age`` and ``AGE``), duplicate
        ``patient_id``, S/A/R genes that contradict ``sar_count``, or a file that cannot be
        read (see :func:`read_findings_file`).

    Warns
    -----
    PlausibilityWarning
        For possible but implausible values (e.g. hemoglobin 2.5 g/dL).
    RenamedColumnWarning
        Naming every header read as a canonical column (``'AGE' -> 'age'``).
    UnknownColumnWarning
        For a column that looks like a misspelt canonical one (``tryptse``).

    Examples
    --------
    >>> f = read_findings({"patient_id": "P1", "age": 54, "sex": "f", "tryptase": "35",
    ...                    "splenomegaly": "yes"})
    >>> f.loc[0, "sex"], float(f.loc[0, "tryptase"]), bool(f.loc[0, "splenomegaly"])
    ('F', 35.0, True)
    >>> bool(pd.isna(f.loc[0, "hemoglobin"]))
    True
    >>> f, notes = read_findings({"age": 54, "hemoglobin": 25}, return_notes=True)
    >>> notes
    ('hemoglobin: 1 value(s) above 20 g/dL are possible but implausible (rows [0]); check the unit (g/dL)',)
    """
    if not return_notes:
        frame, _ = _to_frame(source)
        return _validate(frame)
    with collect_notes() as notes:
        frame, _ = _to_frame(source)
        result = _validate(frame)
    return result, tuple(notes)


def _validate(frame: pd.DataFrame, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Canonical frame; with ``columns``, only those canonical columns (plus patient_id), no extras.

    Every canonical column present is checked whatever ``columns`` asks for: a function that
    reads six columns still refuses ``sex="X"`` in a seventh, as every other entry point does.
    """
    if _trusted(frame):
        return _revalidate(frame, columns)
    if len(frame) == 0:
        raise FindingsError("no patients: the findings are empty (0 rows)")
    _check_labels(frame)
    schema = _schema()
    if columns is not None and set(columns) - set(schema):
        raise ValueError(f"not canonical columns: {sorted(set(columns) - set(schema))}")
    frame = _canonical_names(frame)
    labels = _RowLabels(frame)
    col = _Collector(labels)
    plaus: list[str] = []
    out = {name: _parse_column(frame[name], spec, col, plaus, frame.index)
           for name, spec in schema.items() if name in frame.columns}
    _check_sar_consistency(out, col)
    _check_fraction_percentages(out, plaus)
    col.raise_if_any()
    for msg in plaus:
        note(msg, PlausibilityWarning, stacklevel=3)
    _warn_contradictions(out, labels)
    if columns is not None:
        schema = {k: v for k, v in schema.items() if k in columns or k == "patient_id"}
    result = _assemble(out, schema, frame.index)
    extras = [c for c in frame.columns if c not in _schema()] if columns is None else []
    if extras:
        result = pd.concat([result, frame[extras]], axis=1)
    return result


def _check_labels(frame: pd.DataFrame) -> None:
    not_str = [c for c in frame.columns if not isinstance(c, str)]
    if not_str:
        shown = ", ".join(f"{c!r} ({type(c).__name__})" for c in not_str[:5])
        raise FindingsError(
            f"column labels must be strings (data-dictionary names such as 'age'); got {shown}"
            f"{' ...' if len(not_str) > 5 else ''} (was the table read without its header row?)"
        )


def _canonical_names(frame: pd.DataFrame) -> pd.DataFrame:
    """Headers that differ from a canonical name only by case, spaces or hyphens renamed to it.

    Warns (:class:`~mastoprog.exceptions.RenamedColumnWarning`) naming every renamed column;
    refuses a column given twice (also as ``Age`` and ``age``).
    """
    schema = _schema()
    given = [str(c) for c in frame.columns]
    names = [c if c in schema else (_column_key(c) if _column_key(c) in schema else c) for c in given]
    seen: dict[str, list[str]] = {}
    for original, name in zip(given, names, strict=True):
        seen.setdefault(name, []).append(original)
    repeated = {name: originals for name, originals in seen.items() if len(originals) > 1}
    if repeated:
        shown = "; ".join(f"{name!r} given as {originals}" for name, originals in repeated.items())
        raise FindingsError(f"column(s) appear more than once in the findings: {shown}; keep one "
                            "column per finding")
    renamed = [(a, b) for a, b in zip(given, names, strict=True) if a != b]
    if renamed:
        note("column(s) renamed to their canonical names: "
             + ", ".join(f"{a!r} -> {b!r}" for a, b in renamed),
             RenamedColumnWarning, stacklevel=4)
    _warn_near_miss(names, schema)
    # set_axis without copy: the data are only read here
    return frame.set_axis(names, axis=1, copy=False)


def _no_canonical_message(given: list[str]) -> str:
    canon = list(_schema())
    close = []
    for c in given[:200]:
        match = difflib.get_close_matches(_column_key(c), canon, n=1, cutoff=0.6)
        if match:
            close.append(f"{c!r} -> {match[0]!r}?")
    shown = ", ".join(repr(c) for c in given[:8]) + (" ..." if len(given) > 8 else "")
    text = (f"no column of the findings is a data-dictionary column (such as 'patient_id', 'age', "
            f"'sex', 'tryptase'); got {shown}")
    if close:
        text += f"; closest: {', '.join(close[:8])}"
    if any(d in c for c in given for d in (";", "\t", ",")):
        text += "; a header holds ';', ',' or a tab: was the table read with the wrong delimiter?"
    return text


def _parse_column(s: pd.Series, spec: _Spec, col: _Collector, plaus: list[str], index: pd.Index) -> Any:
    """One canonical column parsed by its kind; problems go to ``col``, warnings to ``plaus``."""
    hashed: _Hashed = None
    if s.dtype == object:
        s, hashed = _single_values(s, spec.column, col)
    if spec.kind == "id":
        return _parse_id(s, spec, col, index, None if hashed is None else len(hashed[1]))
    if spec.kind == "bool":
        return _parse_bool(s, spec, col, hashed)
    if spec.kind in {"float", "count", "event"}:
        v = _parse_number(s, spec, col, hashed)
        if spec.kind == "event":
            bad = ~np.isnan(v) & (v != 0) & (v != 1)
            col.add(bad, spec.column, v, "0 (censored) or 1 (death observed)")
            return v
        _check_range(v, spec, col, plaus)
        if spec.kind == "count":
            with np.errstate(invalid="ignore"):
                frac = ~np.isnan(v) & (v != np.round(v))
            col.add(frac, spec.column, v, f"a whole number of {spec.unit}")
        return v
    return _parse_category(s, spec, col, hashed)


def _parse_id(s: pd.Series, spec: _Spec, col: _Collector, index: pd.Index,
              distinct: int | None = None) -> pd.Series:
    """``patient_id`` as objects (missing = None); repeated ids are problems naming their rows.

    ``distinct`` is the number of distinct non-missing ids when the caller already hashed them
    (:func:`_single_values`): no second hash pass over a million ids.
    """
    has_na = bool(s.isna().any())
    ids = s.astype(object).where(s.notna(), None) if has_na or s.dtype != object else s
    # One hash pass when the ids are unique (the usual case); the full duplicate mask only
    # when they are not, to name every offending row.
    if distinct is not None:
        unique = distinct == int(s.notna().sum())
    else:
        unique = (ids.dropna() if has_na else ids).is_unique
    if unique:
        return ids
    pos = np.flatnonzero((ids.notna() & ids.duplicated(keep=False)).to_numpy())
    col.count += pos.size
    for i in pos[: FindingsError.MAX_SHOWN]:
        col.problems.append(Problem(f"#{i} (index {index[i]!r})", spec.column, _py(ids.iloc[i]),
                                    "unique patient identifiers", "this patient_id occurs more than once"))
    return ids


def _assemble(out: dict[str, Any], schema: dict[str, _Spec], index: pd.Index) -> pd.DataFrame:
    """The canonical frame: parsed columns, absent ones as unknown (or "none" where empty means so)."""
    n = len(index)
    data: dict[str, Any] = {}
    for name, spec in schema.items():
        if name in out:
            v = out[name]
            data[name] = v.to_numpy() if isinstance(v, pd.Series) and spec.kind == "id" else v
        elif spec.kind != "id":
            data[name] = _absent_column(spec, n)
    # One block per column (copy=False): pandas' default for a dict, copy=True, consolidates
    # the same-dtype columns into 2-D blocks, i.e. stacks every float column into one new
    # array (most of the validation time on a million rows). What that copy guaranteed is
    # kept: the result never shares memory with the input. Extension arrays are copied, as
    # copy=True does; a numpy array that is a view (of an input column) is copied; arrays
    # allocated here are used as they are.
    return pd.DataFrame({k: _owned(v) for k, v in data.items()}, index=index, copy=False)


def _absent_column(spec: _Spec, n: int) -> Any:
    if spec.kind == "bool":
        # An absent column is unknown, except where an empty cell means "not diagnosed".
        return _boolean(np.zeros(n, bool), np.full(n, spec.empty_means != "false"))
    if spec.kind in {"float", "count", "event"}:
        return np.full(n, np.nan)
    # An absent `ahn` column means "no AHN" (data dictionary: empty = none).
    code = 0 if spec.kind == "ahn" else -1
    return pd.Categorical.from_codes(np.full(n, code), categories=_category_labels(spec.kind))


def _single_values(s: pd.Series, name: str, col: _Collector) -> tuple[pd.Series, _Hashed]:
    """``s`` with list/dict/array cells reported and blanked (they would crash the parsers), and
    its ``pd.factorize`` (None when a cell was not a single value).

    Tried with one hash pass first (``pd.factorize`` fails only when a cell is unhashable), so
    the per-cell check runs only on columns that hold such a cell; the parsers reuse the same
    pass (their distinct values), and :func:`_parse_id` its count for the uniqueness check.
    """
    try:
        return s, pd.factorize(s, use_na_sentinel=True)
    except TypeError:
        pass
    bad = np.fromiter((not pd.api.types.is_scalar(v) for v in s), bool, len(s))
    col.add(bad, name, s, "a single value per cell, not a list or mapping")
    return s.where(~bad, None), None


def _owned(v: Any) -> Any:
    """``v`` as an array the validated frame can hold without sharing memory with the input."""
    if isinstance(v, pd.Series):
        v = v.array
    if isinstance(v, pd.api.extensions.ExtensionArray):
        return v.copy()
    v = np.asarray(v)
    return v if v.flags.owndata else v.copy()


def _check_sar_consistency(out: dict[str, Any], col: _Collector) -> None:
    """Genes given one by one must agree with ``sar_count`` when both are present."""
    if "sar_count" not in out or not any(g in out for g in ("srsf2", "asxl1", "runx1")):
        return
    count = out["sar_count"]
    n = len(count)
    genes = [out[g] if g in out else pd.array([pd.NA] * n, dtype="boolean")
             for g in ("srsf2", "asxl1", "runx1")]
    pos = sum(np.asarray(g.fillna(False), dtype=int) for g in genes)
    unknown = sum(np.asarray(g.isna(), dtype=int) for g in genes)
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(count) & ((count < pos) | (count > pos + unknown))
    col.add(bad, "sar_count", count,
            "the number of S/A/R genes marked mutated in srsf2/asxl1/runx1",
            "give either the three gene columns or sar_count, or make them agree")


def _check_fraction_percentages(out: dict[str, Any], plaus: list[str]) -> None:
    for name in ("atypical_mc_pct", "bm_mc_infiltration_pct", "mc_aspirate_pct", "kit_vaf_pct"):
        v = out.get(name)
        if v is None:
            continue
        known = v[~np.isnan(v)]
        if known.size >= 5 and known.max() <= 1 and np.any((known > 0) & (known < 1)):
            plaus.append(f"{name}: every value is <= 1; this column is a percentage (0-100), "
                         "not a fraction (0-1): check the unit")


def _warn_contradictions(out: dict[str, Any], labels: _RowLabels) -> None:
    pairs = (("hepatic_dysfunction", "hepatomegaly"), ("hypersplenism", "splenomegaly"))
    for c_find, organ in pairs:
        if c_find in out and organ in out:
            c_true = np.asarray(out[c_find].fillna(False), dtype=bool)
            organ_false = ~np.asarray(out[organ].fillna(True), dtype=bool)
            mask = c_true & organ_false
            if mask.any():
                first = [labels[i] for i in np.flatnonzero(mask)[:5]]
                note(
                    f"{c_find} is true but {organ} is false in {int(mask.sum())} row(s) "
                    f"{first}: {c_find} implies {organ}; check the findings",
                    PlausibilityWarning, stacklevel=4,
                )


def _warn_near_miss(columns: list[str], schema: dict[str, _Spec]) -> None:
    """Warn about a non-canonical column that is probably a misspelt canonical one (``tryptse``)."""
    canon = list(schema)
    for c in columns:
        if c in schema:
            continue
        close = difflib.get_close_matches(_column_key(c), canon, n=1, cutoff=0.85)
        if close and close[0] not in columns:
            note(
                f"column {c!r} is not a canonical column and is passed through unused; "
                f"did you mean {close[0]!r}?", UnknownColumnWarning, stacklevel=5,
            )


def ensure_findings(
    data: FindingsSource, columns: tuple[str, ...] | None = None
) -> tuple[pd.DataFrame, bool]:
    """Validate ``data`` for a public function: (canonical frame, True if one mapping was given).

    Every canonical column present is validated (one validation for every entry point); with
    ``columns`` only those canonical columns (and ``patient_id``) are returned.
    """
    frame, single = _to_frame(data)
    return _validate(frame, columns), single
