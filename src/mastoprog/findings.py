"""Patient findings: the one way patients enter mastoprog.

``read_findings`` turns a DataFrame, a mapping (one patient) or a CSV/JSON/Parquet file into the
canonical frame every other module reads: one row per patient, the columns of the data dictionary
with fixed dtypes, unknown = missing (never 0 or False), extra columns passed through unchanged.

Impossible values raise :class:`~mastoprog.FindingsError` listing every problem at once (row, column,
value, expected range and unit, and a hint when the value looks like another unit). Possible but
implausible values warn with :class:`~mastoprog.PlausibilityWarning`.

Canonical dtypes: numbers ``float64`` (NaN = unknown); yes/no findings pandas ``boolean`` (<NA> =
unknown); ``sex`` categorical F/M; ``ahn`` categorical over ``AHN_LABELS`` plus ``"none"``;
``who_subtype`` categorical over ``SUBTYPE_LABELS``.
"""

from __future__ import annotations

import difflib
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._resources import load_table
from .exceptions import FindingsError, PlausibilityWarning, Problem, UnknownColumnWarning

__all__ = [
    "AHN_LABELS",
    "CANONICAL_COLUMNS",
    "SUBTYPE_LABELS",
    "FindingsSource",
    "column_spec",
    "read_findings",
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

FindingsSource = pd.DataFrame | Mapping[str, Any] | str | PathLike


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


def _read_file(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"findings file not found: {str(path)!r}")
    suffix = path.suffix.lower()
    if path.is_dir():
        raise FindingsError(f"cannot read {str(path)!r}: it is a folder; expected a .csv, .tsv, "
                            ".json or .parquet file")
    if suffix in {".csv", ".tsv", ".txt"}:
        # dtype=str: no type guessing by pandas; every column is parsed by our rules below.
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False,
                               sep="\t" if suffix == ".tsv" else ",")
        except UnicodeDecodeError as exc:
            raise FindingsError(f"{str(path)!r} is not UTF-8 text ({exc.reason} at byte "
                                f"{exc.start}); expected a UTF-8 {suffix} file") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise FindingsError(f"{str(path)!r} is not a readable {suffix} table: "
                                f"{str(exc).strip()}") from None
    if suffix == ".json":
        with path.open(encoding="utf-8") as fh:
            try:
                obj = json.load(fh)
            except json.JSONDecodeError as exc:
                raise FindingsError(f"{str(path)!r} is not valid JSON: {exc}") from None
            except UnicodeDecodeError as exc:
                raise FindingsError(f"{str(path)!r} is not UTF-8 text ({exc.reason} at byte "
                                    f"{exc.start}); expected a UTF-8 JSON file") from None
        if isinstance(obj, Mapping) and "patients" in obj:
            obj = obj["patients"]
        if isinstance(obj, Mapping):
            obj = [obj]
        if not isinstance(obj, list) or not all(isinstance(r, Mapping) for r in obj):
            raise FindingsError(
                f"{str(path)!r}: expected a JSON object (one patient), a list of objects, "
                "or {\"patients\": [...]}"
            )
        return pd.DataFrame.from_records(obj)
    if suffix in {".parquet", ".pq"}:
        try:
            return pd.read_parquet(path)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FindingsError(f"{str(path)!r} is not a readable Parquet file: {first}") from None
    raise FindingsError(
        f"cannot read {str(path)!r}: expected a .csv, .tsv, .json or .parquet file"
    )


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
        return _read_file(Path(source)), False
    raise TypeError(
        "findings must be a pandas DataFrame, a mapping for one patient, or a path to a "
        f"CSV/JSON/Parquet file; got {type(source).__name__}"
    )


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


def _factorize(s: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(codes, normalised distinct strings); missing values get the last code, whose text is ''.

    Works on the distinct values only, so a million-row column of a few distinct strings costs
    one ``pd.factorize`` pass, not a million Python string operations.
    """
    codes, uniques = pd.factorize(s.astype(object), use_na_sentinel=True)
    norm = [str(u).strip().lower() for u in uniques] + [""]
    codes = np.where(codes < 0, len(norm) - 1, codes)
    return codes, norm


def _lookup(codes: np.ndarray, norm: list[str], fn) -> np.ndarray:
    """Apply ``fn`` to each distinct normalised string and spread the result over the rows."""
    return np.array([fn(u) for u in norm], dtype=object)[codes]


def _boolean(values: np.ndarray, mask: np.ndarray) -> pd.arrays.BooleanArray:
    return pd.arrays.BooleanArray(np.asarray(values, dtype=bool), np.asarray(mask, dtype=bool))


def _parse_bool(s: pd.Series, spec: _Spec, col: _Collector) -> pd.Series:
    out = _parse_bool_raw(s, spec, col)
    if spec.empty_means == "false":
        # Like `ahn`, `mc_sarcoma` records a diagnosis when one is made: an empty cell means
        # "not diagnosed". Only an explicit "unknown"/"?" keeps it open.
        explicit_unknown = np.zeros(len(s), bool)
        if s.dtype == object:
            codes, norm = _factorize(s)
            explicit_unknown = np.array([u in _AHN_UNKNOWN or u == "?" for u in norm])[codes]
        values = np.asarray(out.fillna(False), dtype=bool)
        return _boolean(values, explicit_unknown)
    return out


def _parse_bool_raw(s: pd.Series, spec: _Spec, col: _Collector) -> pd.Series:
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
    codes, norm = _factorize(s)
    is_true = np.array([u in _TRUE for u in norm])[codes]
    is_false = np.array([u in _FALSE for u in norm])[codes]
    is_missing = np.array([u in _MISSING for u in norm])[codes]
    bad = ~(is_true | is_false | is_missing)
    col.add(bad, spec.column, s, "true/false, yes/no, y/n or 1/0 (empty = unknown)")
    return _boolean(is_true, ~(is_true | is_false))


def _parse_number(s: pd.Series, spec: _Spec, col: _Collector) -> np.ndarray:
    if s.dtype == bool or s.dtype == "boolean":
        col.add(np.ones(len(s), bool), spec.column, s, f"{spec.range_text()}, not true/false")
        return np.full(len(s), np.nan)
    if pd.api.types.is_complex_dtype(s.dtype):
        # Casting to float would silently drop the imaginary part: a number from nonsense.
        col.add(s.notna().to_numpy(), spec.column, s, f"{spec.range_text()} (a real number, not complex)")
        return np.full(len(s), np.nan)
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.to_numpy(dtype=float, na_value=np.nan)
    codes, norm = _factorize(s)
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


def _parse_category(s: pd.Series, spec: _Spec, col: _Collector) -> pd.Categorical:
    cats = _category_labels(spec.kind)
    if isinstance(s.dtype, pd.CategoricalDtype) and list(s.dtype.categories) == cats:
        return s.array  # already canonical
    codes, norm = _factorize(s)
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


# --------------------------------------------------------------------------- public entry


def read_findings(source: FindingsSource) -> pd.DataFrame:
    """Read and validate patient findings into the canonical frame.

    Parameters
    ----------
    source : DataFrame, mapping or path
        One row per patient with columns from the data dictionary (units: age in years, Hb in
        g/dL, ALP in U/L, tryptase in ng/mL, counts in 10^9/L, percentages 0-100, time in
        months); a mapping for one patient; or a ``.csv``/``.tsv``/``.json``/``.parquet`` path.
        Extra columns are kept and passed through unchanged.

    Returns
    -------
    DataFrame
        Indexed like the input (a file or mapping gets a RangeIndex). Every canonical column is
        present (absent ones as all-unknown) in dictionary order, then the extra columns.

    Raises
    ------
    FindingsError
        Listing every impossible value (row, column, value, expected range and unit, hint), or
        for empty input, duplicate ``patient_id``, or S/A/R genes that contradict ``sar_count``.

    Warns
    -----
    PlausibilityWarning
        For possible but implausible values (e.g. hemoglobin 2.5 g/dL).

    Examples
    --------
    >>> f = read_findings({"patient_id": "P1", "age": 54, "sex": "f", "tryptase": "35",
    ...                    "splenomegaly": "yes"})
    >>> f.loc[0, "sex"], float(f.loc[0, "tryptase"]), bool(f.loc[0, "splenomegaly"])
    ('F', 35.0, True)
    >>> bool(pd.isna(f.loc[0, "hemoglobin"]))
    True
    """
    frame, _ = _to_frame(source)
    return _validate(frame)


def _validate(frame: pd.DataFrame, columns: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Canonical frame; with ``columns``, only those canonical columns (plus patient_id), no extras."""
    if len(frame) == 0:
        raise FindingsError("no patients: the findings are empty (0 rows)")
    if frame.columns.duplicated().any():
        dup = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise FindingsError(f"column(s) {dup} appear more than once in the findings")
    schema = _schema()
    if columns is not None:
        unknown = set(columns) - set(schema)
        if unknown:
            raise ValueError(f"not canonical columns: {sorted(unknown)}")
        schema = {k: v for k, v in schema.items() if k in columns or k == "patient_id"}
    n = len(frame)
    not_str = [c for c in frame.columns if not isinstance(c, str)]
    if not_str:
        shown = ", ".join(f"{c!r} ({type(c).__name__})" for c in not_str[:5])
        raise FindingsError(
            f"column labels must be strings (data-dictionary names such as 'age'); got {shown}"
            f"{' ...' if len(not_str) > 5 else ''} (was the table read without its header row?)"
        )
    columns_in = [str(c) for c in frame.columns]
    frame = frame.set_axis(columns_in, axis=1, copy=False)  # read only here: no data copy
    if columns is None:
        _warn_near_miss(columns_in, schema)

    labels = _RowLabels(frame)
    col = _Collector(labels)
    plaus: list[str] = []

    out: dict[str, Any] = {}
    for name, spec in schema.items():
        if name not in frame.columns:
            continue
        s = frame[name]
        if s.dtype == object:
            s = _single_values(s, name, col)
        if spec.kind == "id":
            has_na = bool(s.isna().any())
            ids = s.astype(object).where(s.notna(), None) if has_na or s.dtype != object else s
            out[name] = ids
            # One hash pass when the ids are unique (the usual case); the full duplicate mask only
            # when they are not, to name every offending row.
            unique = (ids.dropna() if has_na else ids).is_unique
            dup = np.zeros(n, bool) if unique else (ids.notna() & ids.duplicated(keep=False)).to_numpy()
            if dup.any():
                pos = np.flatnonzero(dup)
                col.count += pos.size
                for i in pos[: FindingsError.MAX_SHOWN]:
                    col.problems.append(Problem(
                        f"#{i} (index {frame.index[i]!r})", name, _py(ids.iloc[i]),
                        "unique patient identifiers", "this patient_id occurs more than once"))
        elif spec.kind == "bool":
            out[name] = _parse_bool(s, spec, col)
        elif spec.kind in {"float", "count", "event"}:
            v = _parse_number(s, spec, col)
            if spec.kind == "event":
                bad = ~np.isnan(v) & (v != 0) & (v != 1)
                col.add(bad, name, v, "0 (censored) or 1 (death observed)")
            else:
                _check_range(v, spec, col, plaus)
                if spec.kind == "count":
                    with np.errstate(invalid="ignore"):
                        frac = ~np.isnan(v) & (v != np.round(v))
                    col.add(frac, name, v, f"a whole number of {spec.unit}")
            out[name] = v
        else:
            out[name] = _parse_category(s, spec, col)

    _check_sar_consistency(out, col)
    _check_fraction_percentages(out, plaus)
    col.raise_if_any()
    for msg in plaus:
        warnings.warn(msg, PlausibilityWarning, stacklevel=3)
    _warn_contradictions(out, labels)

    data: dict[str, Any] = {}
    for name, spec in schema.items():
        if name in out:
            v = out[name]
            data[name] = v.to_numpy() if isinstance(v, pd.Series) and spec.kind == "id" else v
        elif spec.kind == "id":
            continue
        elif spec.kind == "bool":
            # An absent column is unknown, except where an empty cell means "not diagnosed".
            data[name] = _boolean(np.zeros(n, bool), np.full(n, spec.empty_means != "false"))
        elif spec.kind in {"float", "count", "event"}:
            data[name] = np.full(n, np.nan)
        else:
            # An absent `ahn` column means "no AHN" (data dictionary: empty = none).
            cats = _category_labels(spec.kind)
            code = 0 if spec.kind == "ahn" else -1
            data[name] = pd.Categorical.from_codes(np.full(n, code), categories=cats)
    # One block per column (copy=False): pandas' default for a dict, copy=True, consolidates
    # the same-dtype columns into 2-D blocks, i.e. stacks every float column into one new
    # array (most of the validation time on a million rows). What that copy guaranteed is
    # kept: the result never shares memory with the input. Extension arrays are copied, as
    # copy=True does; a numpy array that is a view (of an input column) is copied; arrays
    # allocated here are used as they are.
    result = pd.DataFrame({k: _owned(v) for k, v in data.items()}, index=frame.index, copy=False)
    extras = [c for c in frame.columns if c not in _schema()] if columns is None else []
    if extras:
        result = pd.concat([result, frame[extras]], axis=1)
    return result


def _single_values(s: pd.Series, name: str, col: _Collector) -> pd.Series:
    """``s`` with list/dict/array cells reported and blanked (they would crash the parsers).

    Tried with one hash pass first (``pd.factorize`` fails only when a cell is unhashable), so
    the per-cell check runs only on columns that hold such a cell.
    """
    try:
        pd.factorize(s)
        return s
    except TypeError:
        pass
    bad = np.fromiter((not pd.api.types.is_scalar(v) for v in s), bool, len(s))
    col.add(bad, name, s, "a single value per cell, not a list or mapping")
    return s.where(~bad, None)


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
                warnings.warn(
                    f"{c_find} is true but {organ} is false in {int(mask.sum())} row(s) "
                    f"{first}: {c_find} implies {organ}; check the findings",
                    PlausibilityWarning, stacklevel=4,
                )


def _warn_near_miss(columns: list[str], schema: dict[str, _Spec]) -> None:
    canon = list(schema)
    for c in columns:
        if c in schema:
            continue
        key = c.strip().lower().replace(" ", "_").replace("-", "_")
        match = key if key in schema else None
        if match is None:
            close = difflib.get_close_matches(key, canon, n=1, cutoff=0.85)
            match = close[0] if close else None
        if match is not None and match not in columns:
            warnings.warn(
                f"column {c!r} is not a canonical column and is passed through unused; "
                f"did you mean {match!r}?", UnknownColumnWarning, stacklevel=4,
            )


def ensure_findings(
    data: FindingsSource, columns: tuple[str, ...] | None = None
) -> tuple[pd.DataFrame, bool]:
    """Validate ``data`` for a public function: (canonical frame, True if one mapping was given).

    With ``columns``, only those canonical columns (and ``patient_id``) are validated and
    returned: a function that reads six columns does not pay for validating forty.
    """
    frame, single = _to_frame(data)
    return _validate(frame, columns), single
