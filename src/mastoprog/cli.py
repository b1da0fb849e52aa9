"""The ``mastoprog`` command line: the only module that prints.

Exit codes: 0 success; 2 bad input (one clear message, no traceback); 1 unexpected error.
Each sub-command is one ``_cmd_*`` function registered in ``_build_parser``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from .exceptions import FindingsWarning, MastoprogError

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT = 0, 1, 2

RESEARCH_NOTE = (
    "Research software, not a medical device: not for individual treatment decisions."
)


class BadInput(MastoprogError, ValueError):
    """A command-line argument or file that the user has to fix."""


# --------------------------------------------------------------------------- shared helpers


def example_path(name: str = "patients.csv") -> Path:
    """Path of an example file shipped in ``mastoprog/data/examples``."""
    from importlib import resources

    return Path(str(resources.files("mastoprog").joinpath("data", "examples", name)))


def resolve_input(arg: str) -> str:
    """``example`` (or ``example:NAME``) names a shipped example file; anything else is a path."""
    if arg == "example":
        return str(example_path())
    if arg.startswith("example:"):
        return str(example_path(arg.split(":", 1)[1]))
    return arg


def check_output(path: str | None, force: bool, allowed: Sequence[str]) -> Path | None:
    """Refuse to overwrite an existing file without --force, and unknown extensions."""
    if path is None:
        return None
    out = Path(path)
    if out.suffix.lower() not in allowed:
        raise BadInput(f"output {path!r}: expected one of {', '.join(allowed)}")
    if out.exists() and not force:
        raise BadInput(f"output {path!r} exists; pass --force to overwrite it")
    if not out.parent.exists():
        raise BadInput(f"output folder {str(out.parent)!r} does not exist")
    return out


def write_table(frame: pd.DataFrame, out: Path) -> None:
    """Write CSV, JSON (records) or Parquet by extension; tuples become '|'-joined strings."""
    flat = frame.copy()
    for c in flat.columns:
        if flat[c].dtype == object and flat[c].map(lambda v: isinstance(v, tuple)).any():
            flat[c] = flat[c].map(lambda v: "|".join(map(str, v)) if isinstance(v, tuple) else v)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        flat.to_csv(out, index=False)
    elif suffix == ".json":
        flat.to_json(out, orient="records", indent=2)
    elif suffix in {".parquet", ".pq"}:
        flat.to_parquet(out, index=False)
    else:  # pragma: no cover - check_output filters extensions first
        raise BadInput(f"cannot write {out.suffix} files")


def print_table(frame: pd.DataFrame, columns: Sequence[str], max_rows: int = 30) -> None:
    show = frame[[c for c in columns if c in frame.columns]]
    with pd.option_context("display.max_colwidth", 60, "display.width", 160):
        print(show.head(max_rows).to_string())
    if len(frame) > max_rows:
        print(f"... {len(frame) - max_rows} more rows (use -o FILE to write them all)")


# --------------------------------------------------------------------------- sub-commands


def _cmd_classify(args: argparse.Namespace) -> int:
    from .classification import classify

    out = check_output(args.output, args.force, (".csv", ".json", ".parquet"))
    result = classify(resolve_input(args.input), edition=args.edition)
    if out is None:
        print_table(result, ["patient_id", "subtype", "candidates", "missing", "rationale"])
        print(RESEARCH_NOTE)
    else:
        write_table(result.reset_index(drop=True), out)
        print(f"wrote {len(result)} classification(s) to {out}")
    return EXIT_OK


def _add_classify(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("classify", help="WHO subtype of each patient, with the deciding criteria")
    p.add_argument("input", help="CSV/JSON/Parquet findings file, or 'example'")
    p.add_argument("--edition", default="who2016", choices=["who2016", "who2022", "icc2022"])
    p.add_argument("-o", "--output", help="write CSV, JSON or Parquet (by extension)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=_cmd_classify)


# Sub-commands are added by their modules' owners: one ``_add_*`` function each.
_SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_classify]


def _build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="mastoprog",
        description="Prognostic modelling in mastocytosis. " + RESEARCH_NOTE,
    )
    parser.add_argument("--version", action="version", version=f"mastoprog {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mastoprog`` console script; returns the exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FindingsWarning)
            code = args.func(args)
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
        return code
    except (MastoprogError, FileNotFoundError) as exc:
        # Our own errors and bad files: one clear message, no traceback.
        print(f"mastoprog {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"mastoprog {args.command}: unexpected error: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
