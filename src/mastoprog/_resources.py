"""Load the package's data files (published constants, schemas, scenarios) once, validated.

Convention for every citable CSV under ``mastoprog/data/`` (see ``data/README.md``): one row per
constant with non-empty ``source`` (author, journal, year) and ``evidence`` (``P``, ``S``, ``U``,
``assumption``, as in ``published_figures.md``, or ``definition`` for schema entries and definitions)
columns. ``load_table`` refuses a file that breaks it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Collection
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from .exceptions import ModelFileError

EVIDENCE_LEVELS = frozenset({"P", "S", "U", "assumption", "definition"})


def data_path(name: str):
    """Traversable for ``mastoprog/data/<name>``."""
    return resources.files("mastoprog").joinpath("data", *name.split("/"))


@cache
def _load_table_cached(name: str) -> pd.DataFrame:
    path = data_path(name)
    with path.open("r", encoding="utf-8") as fh:
        frame = pd.read_csv(fh, comment=None, keep_default_na=False, na_values=[""])
    missing = {"source", "evidence"} - set(frame.columns)
    if missing:
        raise ModelFileError(f"data file {name!r} lacks the column(s) {sorted(missing)}")
    bad_source = frame["source"].isna() | (frame["source"].astype(str).str.strip() == "")
    bad_level = ~frame["evidence"].isin(EVIDENCE_LEVELS)
    if bad_source.any() or bad_level.any():
        rows = list(frame.index[bad_source | bad_level] + 2)  # +2: header line and 1-based
        raise ModelFileError(
            f"data file {name!r}: every row needs a source and an evidence level in "
            f"{sorted(EVIDENCE_LEVELS)}; check line(s) {rows}"
        )
    return frame


def load_table(name: str) -> pd.DataFrame:
    """A validated copy of the CSV data file ``name`` (callers may modify the copy)."""
    return _load_table_cached(name).copy()


@cache
def _load_toml_cached(name: str) -> dict[str, Any]:
    with data_path(name).open("rb") as fh:
        return tomllib.load(fh)


def load_toml(name: str) -> dict[str, Any]:
    """A parsed TOML data file (deep copies are the caller's business; treat as read-only)."""
    return _load_toml_cached(name)


def existing_path(name_or_path: object, builtins: Collection[str], *, type_message: str,
                  missing_message: str) -> Path | None:
    """None when ``name_or_path`` names a built-in, else the existing ``Path`` it points to.

    ``type_message`` (a TypeError, for something that is neither a name nor a path) and
    ``missing_message`` (a ModelFileError, for a path that does not exist) are the caller's own
    wording; ``{got}`` in them is replaced by the argument's repr.
    """
    if isinstance(name_or_path, str) and name_or_path in builtins:
        return None
    if not isinstance(name_or_path, str | os.PathLike):
        raise TypeError(type_message.format(got=repr(name_or_path)))
    path = Path(name_or_path)
    if not path.exists():
        raise ModelFileError(missing_message.format(got=repr(str(name_or_path))))
    return path
