"""Cohort files: write and read simulated cohorts with their provenance, and simulate straight to disk.

Every file is written through :mod:`mastoprog._files`: under a temporary name in the target's
folder, moved into place when complete (a CSV and its JSON sidecar together), removed on an
error, Ctrl-C or SIGTERM; an existing file is replaced only with ``force=True``.
"""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._files import atomic_outputs, refuse_existing
from ..findings import read_findings
from ..scenarios import Scenario, check_patient_count, load_scenario
from .cohort import _METADATA_KEY, _load_default_model, simulate_cohort

__all__ = [
    "BYTES_PER_PATIENT",
    "estimated_file_bytes",
    "read_cohort",
    "simulate_cohort_to_file",
    "simulate_cohort_to_parquet",
    "write_cohort",
]

_SUFFIXES = (".csv", ".parquet", ".pq")
#: File size per simulated patient (bytes), rounded up from ``simulate_cohort_to_file`` with the
#: lim2009 scenario, 200,000 patients, default options (measured 121 for Parquet, 439 for CSV;
#: mastoprog 0.1, pyarrow 15+): an estimate for the disk-space check, not a bound.
BYTES_PER_PATIENT = {".csv": 440, ".parquet": 125, ".pq": 125}

#: pyarrow's DataFrame conversion in one thread. With more, it starts a Python thread pool per call;
#: Ctrl-C or a signal handler's exception that interrupts that pool's join can mark a still-running
#: worker as finished (CPython issue 90882, Python < 3.13), and the interpreter's shutdown then runs
#: beside it. One thread is also faster on 20,000-patient chunks (6 ms against 9) and 20 ms slower on
#: 250,000 (a chunk that takes seconds to simulate).
_NTHREADS = 1


def estimated_file_bytes(n: int, path: str | PathLike) -> int:
    """Estimated size in bytes of a simulated cohort of ``n`` patients written to ``path``.

    Examples
    --------
    >>> estimated_file_bytes(1_000_000, "big.parquet") / 1e6
    125.0
    """
    return int(n) * BYTES_PER_PATIENT.get(Path(path).suffix.lower(), max(BYTES_PER_PATIENT.values()))


def _metadata(df: pd.DataFrame) -> dict[str, Any]:
    meta = dict(df.attrs.get(_METADATA_KEY, {}))
    dtypes = {}
    for c in df.columns:
        dt = df[c].dtype
        if isinstance(dt, pd.CategoricalDtype):
            dtypes[c] = {"kind": "category", "categories": [str(x) for x in dt.categories]}
        else:
            dtypes[c] = {"kind": str(dt)}
    meta["columns"] = dtypes
    return meta


def _dictionary_columns(table: Any) -> list[str]:
    """Dictionary-encode the categorical columns only: trying it on a million distinct floats
    (pyarrow's default) costs more than half of the write time and gains nothing."""
    import pyarrow as pa

    return [f.name for f in table.schema if pa.types.is_dictionary(f.type)]


def _without_attrs(df: pd.DataFrame) -> pd.DataFrame:
    """A shallow view without ``attrs``: pandas would embed them in the Parquet schema too."""
    view = df.copy(deep=False)
    view.attrs = {}
    return view


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _outputs(path: str | PathLike) -> tuple[Path, ...]:
    """The files of a cohort: ``(path,)`` for Parquet, ``(path, sidecar)`` for CSV."""
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(f"cohort file {str(out)!r}: expected a .csv or .parquet suffix")
    return (out, _sidecar(out)) if suffix == ".csv" else (out,)


def write_cohort(df: pd.DataFrame, path: str | PathLike, force: bool = False) -> Path:
    """Write a cohort to CSV (with a JSON sidecar ``<file>.json``) or Parquet, with provenance.

    Parquet keeps the provenance (scenario, seed, mastoprog version, model, censoring) and the
    column dtypes in its key-value metadata under ``"mastoprog"``; CSV gets them in the sidecar.
    ``read_cohort`` restores the frame exactly (dtypes and ``attrs``). The file appears complete
    or not at all (see :mod:`mastoprog._files`).

    Raises
    ------
    FileExistsError
        If the file (or the CSV sidecar) exists and ``force`` is False
        (:class:`~mastoprog.exceptions.OutputExistsError`).
    """
    outputs = _outputs(path)
    meta = _metadata(df)
    with atomic_outputs(*outputs, force=force) as tmp:
        if len(outputs) == 2:
            df.to_csv(tmp[0], index=False)
            tmp[1].write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(_without_attrs(df), preserve_index=False, nthreads=_NTHREADS)
            table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                                   _METADATA_KEY.encode(): json.dumps(meta, default=str)})
            pq.write_table(table, tmp[0], use_dictionary=_dictionary_columns(table))
    return outputs[0]


def read_cohort(path: str | PathLike) -> pd.DataFrame:
    """Read a cohort written by ``write_cohort``/``simulate_cohort_to_file`` (dtypes and attrs).

    A CSV without its sidecar is read with canonical dtypes for canonical columns only.
    """
    src = Path(path)
    if not src.exists():
        raise FileNotFoundError(f"cohort file not found: {str(src)!r}")
    suffix = src.suffix.lower()
    if suffix in (".parquet", ".pq"):
        df, meta = _read_parquet(src)
    elif suffix == ".csv":
        df, meta = _read_csv(src)
    else:
        raise ValueError(f"cohort file {str(src)!r}: expected a .csv or .parquet suffix")
    meta.pop("columns", None)
    if meta:
        df.attrs[_METADATA_KEY] = meta
    return df


def _read_parquet(src: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    import pyarrow.parquet as pq

    table = pq.read_table(src)
    # Chunked files carry the provenance in the footer's key-value metadata (written last),
    # which read_table does not put on the schema: read the footer itself.
    raw = (pq.read_metadata(src).metadata or {}).get(_METADATA_KEY.encode())
    return table.to_pandas(), (json.loads(raw) if raw else {})


def _read_csv(src: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    side = _sidecar(src)
    meta = json.loads(side.read_text(encoding="utf-8")) if side.exists() else {}
    cols = meta.get("columns", {})
    df = pd.read_csv(src, dtype={c: "string" for c, d in cols.items()
                                 if d["kind"] in ("category", "object")},
                     keep_default_na=True)
    for c, d in cols.items():
        if c not in df.columns:
            continue
        if d["kind"] == "category":
            df[c] = pd.Categorical(df[c].astype(object).where(df[c].notna(), None),
                                   categories=d["categories"])
        elif d["kind"] == "object":
            df[c] = df[c].astype(object).where(df[c].notna(), None)
        else:
            df[c] = df[c].astype(d["kind"])
    if not cols:
        df = read_findings(df)
    return df, meta


def _check_file_arguments(n: Any, chunk_size: Any, random_state: Any) -> tuple[int, int]:
    n = check_patient_count(n)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer) or chunk_size < 1:
        raise ValueError("The 'chunk_size' parameter of simulate_cohort_to_file must be a positive "
                         f"whole number of patients. Got {chunk_size!r} instead.")
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer) or random_state < 0:
        raise ValueError("The 'random_state' parameter of simulate_cohort_to_file must be a non-negative "
                         f"whole number (chunks are seeded from it). Got {random_state!r} instead.")
    return n, int(chunk_size)


class _ChunkWriter:
    """Appends chunks to a CSV or a Parquet file (the Parquet footer carries the provenance)."""

    def __init__(self, path: Path):
        self.path = path
        self.csv = path.suffix.lower() == ".csv"
        self.parquet: Any = None

    def write(self, chunk: pd.DataFrame, first: bool) -> None:
        if self.csv:
            chunk.to_csv(self.path, index=False, header=first, mode="w" if first else "a")
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(_without_attrs(chunk), preserve_index=False, nthreads=_NTHREADS)
        if self.parquet is None:
            self.parquet = pq.ParquetWriter(self.path, table.schema,
                                            use_dictionary=_dictionary_columns(table))
        self.parquet.write_table(table.cast(self.parquet.schema))

    def close(self, meta: dict[str, Any] | None) -> None:
        if self.parquet is not None:
            if meta is not None:
                # Footer key-value metadata written last: it carries the whole-file figures.
                self.parquet.add_key_value_metadata({_METADATA_KEY: json.dumps(meta, default=str)})
            self.parquet.close()
            self.parquet = None


def simulate_cohort_to_file(
    path: str | PathLike,
    n: int,
    scenario: str | PathLike | Scenario = "lim2009",
    random_state: int = 0,
    *,
    chunk_size: int = 250_000,
    force: bool = False,
    progress: bool | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Simulate a large cohort chunk by chunk into a Parquet or CSV file, without holding it all.

    Chunk ``k`` is drawn with its own generator, ``SeedSequence(random_state, spawn_key=(k,))``, so the
    file is reproducible for a given (``random_state``, ``chunk_size``) and chunks are independent. The
    file is written under a temporary name in the target folder and renamed when complete; an
    error, Ctrl-C or SIGTERM removes the temporary file (see :mod:`mastoprog._files`).

    Parameters
    ----------
    path : str or path
        ``.parquet`` (provenance in the key-value metadata) or ``.csv`` (with a JSON sidecar).
    n, scenario, random_state
        As in ``simulate_cohort``.
    chunk_size : int
        Patients per chunk (memory grows with it; 250,000 uses ~ 0.3 GB).
    force : bool
        Overwrite an existing file.
    progress : bool, optional
        Show a tqdm progress bar (default: when more than one chunk).
    **kwargs
        Passed to ``simulate_cohort`` (model, censoring, missingness, truth, ...).

    Returns
    -------
    dict
        The provenance written with the file, plus ``path``, ``n_chunks`` and the overall
        ``censored_fraction``.
    """
    from tqdm.auto import tqdm

    n, chunk_size = _check_file_arguments(n, chunk_size, random_state)
    outputs = _outputs(path)
    for out in outputs:
        refuse_existing(out, force)
    scn = load_scenario(scenario)
    if kwargs.get("survival", True) and kwargs.get("model") is None:
        kwargs["model"] = _load_default_model(scn)  # load once, not per chunk
    n_chunks = -(-n // chunk_size)
    show = progress if progress is not None else n_chunks > 1
    meta: dict[str, Any] = {}
    events = 0.0
    with atomic_outputs(*outputs, force=force) as tmp:
        writer = _ChunkWriter(tmp[0])
        try:
            with tqdm(total=n, unit="patients", disable=not show, desc="simulating") as bar:
                for k in range(n_chunks):
                    m = min(chunk_size, n - k * chunk_size)
                    chunk_seed = np.random.SeedSequence(random_state, spawn_key=(k,))
                    chunk = simulate_cohort(m, scn, chunk_seed, **kwargs)
                    chunk.index = pd.RangeIndex(k * chunk_size, k * chunk_size + m)
                    if k == 0:
                        meta = {**_metadata(chunk), "n": n, "seed": random_state, "chunk_size": chunk_size,
                                "n_chunks": n_chunks}
                    events += float(np.nansum(chunk["event"].to_numpy(dtype=float)))
                    writer.write(chunk, first=k == 0)
                    bar.update(m)
            if kwargs.get("survival", True):
                meta["censored_fraction"] = 1.0 - events / n
                for key in ("expected_censored_fraction", "administrative_censored_fraction"):
                    meta.pop(key, None)  # per-chunk figures: not meaningful for the whole file
            writer.close(meta)
        finally:
            writer.close(None)
        if len(tmp) == 2:
            tmp[1].write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
    return {**{k: v for k, v in meta.items() if k != "columns"}, "path": str(outputs[0])}


def simulate_cohort_to_parquet(path: str | PathLike, n: int, **kwargs: Any) -> dict[str, Any]:
    """``simulate_cohort_to_file`` for a ``.parquet`` path (see there)."""
    if Path(path).suffix.lower() not in (".parquet", ".pq"):
        raise ValueError(f"{str(path)!r}: expected a .parquet file")
    return simulate_cohort_to_file(path, n, **kwargs)
