"""One patient's one-page PDF report: computed by :mod:`._compute`, drawn by :mod:`.report`.

Kept apart from the figures so that the page's computations (``_compute``, which draws the SVG
figures) and the PDF (which runs a computation) do not import each other.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .._files import refuse_existing, write_bytes
from ._compute import Computer
from .report import pdf_bytes

__all__ = ["render_pdf"]


def _raw_findings(patient: Any) -> dict[str, Any]:
    """Raw findings of one patient from a mapping, a one-row DataFrame or a JSON/CSV file."""
    if isinstance(patient, Mapping):
        return dict(patient)
    if isinstance(patient, (str, os.PathLike)):
        path = Path(patient)
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text("utf-8"))
            return data if isinstance(data, dict) else _raw_findings(pd.DataFrame(data))
        patient = pd.read_csv(path, dtype=str, keep_default_na=False)
    if isinstance(patient, pd.DataFrame):
        if len(patient) != 1:
            raise ValueError(f"render_pdf draws one patient; got {len(patient)} rows")
        return {k: (None if pd.isna(v) else v) for k, v in patient.iloc[0].items()}
    raise TypeError(
        f"patient: expected a mapping, a one-row DataFrame or a file path; got {type(patient).__name__}"
    )


def render_pdf(
    patient: Any,
    output: str | os.PathLike,
    *,
    model: str = "lim2009",
    edition: str = "who2016",
    year: float | None = None,
    survived_months: float | None = None,
    overwrite: bool = False,
) -> Path:
    """Write one patient's one-page PDF report (A4).

    Parameters
    ----------
    patient : mapping, one-row DataFrame or path
        Raw findings as in a clinic file (data-dictionary columns and units), not the output of
        ``read_findings``.
    output : path
        The PDF to write; written atomically (a temporary file in the same folder, then renamed).
    model : str
        Built-in model name (``lim2009``, ``mayo2025``, ``midostaurin``).
    edition : str
        Classification edition.
    year : float, optional
        Calendar year of diagnosis (default: the life table's latest).
    survived_months : float, optional
        Months already survived (adds conditional survival to the report data).
    overwrite : bool
        Replace an existing file (default: refuse).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    FileExistsError
        If ``output`` exists and ``overwrite`` is false.
    ValueError
        Listing every problem of the findings or options (field, value, expected range and unit).
    """
    out = refuse_existing(output, overwrite)
    values = {
        **_raw_findings(patient),
        "model": model,
        "edition": edition,
        "year": year,
        "survived_months": survived_months,
    }
    data = pdf_bytes(Computer().compute(values, strict=False))
    return write_bytes(out, data, force=overwrite)  # the package's one atomic writer
