"""The ``mastoprog`` command line: the only module that prints.

Exit codes: 0 success; 2 bad input (one clear message, no traceback); 1 unexpected error.
Each sub-command is one ``_cmd_*`` function registered in ``_build_parser``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from ._files import atomic_output, write_text
from .exceptions import MastoprogError
from .findings import example_path, read_findings_file, resolve_example
from .survival import BUILTIN_MODELS

# example_path: kept importable from here for existing callers (its owner is findings).
__all__ = ["EXIT_BAD_INPUT", "EXIT_ERROR", "EXIT_OK", "EXIT_SIGPIPE", "example_path", "main"]

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT = 0, 1, 2
#: A closed stdout (``mastoprog classify big.csv | head``): the status of a process ended by SIGPIPE.
EXIT_SIGPIPE = 128 + 13
#: The largest cohort ``simulate`` draws (patients); 10 million take about 10 minutes and 1.5 GB.
MAX_SIMULATE_N = 1_000_000_000
#: Outputs larger than this (bytes, estimated) need --force, as do outputs larger than the free space.
SIMULATE_SIZE_LIMIT = 20 * 10**9

RESEARCH_NOTE = (
    "Research software, not a medical device: not for individual treatment decisions."
)


class BadInput(MastoprogError, ValueError):
    """A command-line argument or file that the user has to fix."""


# --------------------------------------------------------------------------- shared helpers


def read_input(arg: str) -> pd.DataFrame:
    """The findings table of a file argument (``example`` or ``example:NAME`` names a shipped one),
    unvalidated; what was detected (delimiter, decimal comma, encoding, sheet) is noted on stderr."""
    read = read_findings_file(resolve_example(arg))
    for note in read.notes:
        print(f"note: {note}", file=sys.stderr)
    return read.frame


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
    if not out.parent.is_dir():
        raise BadInput(f"output folder {str(out.parent)!r} is a file, not a folder")
    if not os.access(out.parent, os.W_OK):
        raise BadInput(f"output folder {str(out.parent)!r} is not writable")
    if out.is_dir():
        raise BadInput(f"output {path!r} is a folder; expected a file name")
    return out


def write_table(frame: pd.DataFrame, out: Path, force: bool = False) -> None:
    """Write CSV, JSON (records) or Parquet by extension, atomically; tuples become '|'-joined strings."""
    flat = frame.copy()
    for c in flat.columns:
        if flat[c].dtype != object:
            continue
        # per distinct value, not per row: a million classifications have a few dozen tuples
        codes, uniques = pd.factorize(flat[c], use_na_sentinel=True)
        if any(isinstance(u, tuple) for u in uniques):
            joined = np.array(["|".join(map(str, u)) if isinstance(u, tuple) else u for u in uniques]
                              + [None], dtype=object)
            flat[c] = joined[codes]
    with atomic_output(out, force=force) as tmp:
        suffix = out.suffix.lower()
        if suffix == ".csv":
            flat.to_csv(tmp, index=False)
        elif suffix == ".json":
            flat.to_json(tmp, orient="records", indent=2)
        elif suffix in {".parquet", ".pq"}:
            flat.to_parquet(tmp, index=False)
        else:  # pragma: no cover - check_output filters extensions first
            raise BadInput(f"cannot write {out.suffix} files")


TABLE_SUFFIXES = (".csv", ".json", ".parquet")


def emit_table(result: pd.DataFrame, out: Path | None, columns: Sequence[str], what: str,
               force: bool = False) -> int:
    """Print a short table (no ``-o``) or write the whole result; both end with the research note."""
    if out is None:
        print_table(result, columns)
    else:
        write_table(result.reset_index(drop=True), out, force)
        print(f"wrote {len(result)} {what} to {out}")
    print(RESEARCH_NOTE)
    return EXIT_OK


def print_table(frame: pd.DataFrame, columns: Sequence[str], max_rows: int = 30) -> None:
    show = frame[[c for c in columns if c in frame.columns]]
    with pd.option_context("display.max_colwidth", 60, "display.width", 160):
        print(show.head(max_rows).to_string())
    if len(frame) > max_rows:
        print(f"... {len(frame) - max_rows} more rows (use -o FILE to write them all)")


# --------------------------------------------------------------------------- sub-commands


def _cmd_classify(args: argparse.Namespace) -> int:
    from .classification import classify

    out = check_output(args.output, args.force, TABLE_SUFFIXES)
    result = classify(read_input(args.input), edition=args.edition)
    return emit_table(result, out, ["patient_id", "subtype", "candidates", "missing", "rationale"],
                      "classification(s)", args.force)


def _add_classify(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("classify", help="WHO subtype of each patient, with the deciding criteria")
    p.add_argument("input", help="CSV/JSON/Parquet findings file, or 'example'")
    p.add_argument("--edition", default="who2016", choices=["who2016", "who2022", "icc2022"])
    p.add_argument("-o", "--output", help="write CSV, JSON or Parquet (by extension)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=_cmd_classify)


def _cmd_score(args: argparse.Namespace) -> int:
    from .risk import risk_score

    out = check_output(args.output, args.force, TABLE_SUFFIXES)
    # a table in, a table out (RiskResult is for one mapping)
    result = cast(pd.DataFrame, risk_score(read_input(args.input), score=args.score))
    if out is None:
        # each distinct note once, with how many patients it concerns
        counts = result["notes"].str.split("; ").explode().value_counts(sort=False)
        for text, k in counts.items():
            print(f"note ({k} of {len(result)}): {text}")
    return emit_table(result, out, ["patient_id", "points", "points_min", "points_max", "group",
                                     "linear_predictor", "median_os_training", "median_os_validation"],
                      f"{args.score} score(s)", args.force)


def _add_score(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="risk score of each patient (mastoprog composite, MARS, MAPS, IPSM)")
    p.add_argument("input", help="CSV/JSON/Parquet findings file, or 'example'")
    p.add_argument("--score", default="mastoprog", choices=["mastoprog", "mars", "maps", "ipsm"],
                   help="mastoprog = this package's own composite (not MAPS or MARS); default mastoprog")
    p.add_argument("-o", "--output", help="write CSV, JSON or Parquet (by extension)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=_cmd_score)


def _cmd_validate(args: argparse.Namespace) -> int:
    from .findings import read_findings
    from .survival import load_model
    from .validation import validate

    out = check_output(args.output, args.force, (".html", ".htm", ".csv", ".json", ".parquet"))
    try:
        horizons = tuple(float(h) for h in args.horizons.split(","))
    except ValueError:
        raise BadInput(f"--horizons {args.horizons!r}: expected comma-separated months, e.g. 12,60,120") \
            from None
    for flag, value in (("--bootstrap", args.bootstrap), ("--seed", args.seed)):
        if value < 0:
            raise BadInput(f"{flag} {value}: expected a whole number >= 0")
    raw = read_input(args.cohort)
    _require_outcome(raw)
    cohort = read_findings(raw)
    model = load_model(args.model)
    result = validate(model, cohort, horizons=horizons, n_bootstrap=args.bootstrap,
                      random_state=args.seed, progress=args.bootstrap > 0)
    if out is None:
        print_table(result.metrics, ["section", "metric", "horizon", "estimate", "ci_low", "ci_high"],
                    max_rows=60)
        print(RESEARCH_NOTE)
    elif out.suffix.lower() in (".html", ".htm"):
        html = result.to_html(None, title=f"mastoprog validation: {Path(args.cohort).name}",
                              model_name=str(args.model))
        write_text(out, html, force=args.force)
        print(f"wrote validation report ({len(result.time)} patients) to {out}")
    else:
        write_table(result.metrics, out)
        print(f"wrote {len(result.metrics)} metric(s) to {out}")
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return EXIT_OK


def _require_outcome(raw: pd.DataFrame) -> None:
    """A cohort file without ``time`` or ``event``: one message, not one per patient."""
    given = {str(c).strip().lower() for c in raw.columns}
    missing = [c for c in ("time", "event") if c not in given]
    if missing:
        raise BadInput(f"column(s) {missing} missing: validation needs the follow-up time ('time', months) "
                       "and the outcome ('event': 0 = censored, 1 = death) of every patient")


def _add_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="validate a survival model on a cohort (discrimination, "
                       "calibration, internal validation); HTML report")
    p.add_argument("cohort", help="CSV/JSON/Parquet cohort: findings plus time (months) and event (0/1)")
    _add_model_argument(p)
    p.add_argument("--horizons", default="12,60,120", help="months, comma-separated (default 12,60,120)")
    p.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help="bootstrap replicates for optimism-corrected C, slope and Brier (refits the model)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap (default 0)")
    p.add_argument("-o", "--output", help="write an HTML report (.html) or the metrics table "
                   "(.csv/.json/.parquet)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=_cmd_validate)


def _duration(months: float) -> str:
    """A survival time for people: months below two years (never "0.0 years"), else years."""
    if not np.isfinite(months):
        return "not reached"
    return f"{months:.1f} months" if months < 24 else f"{months / 12:.1f} years"


def _cmd_curve(args: argparse.Namespace) -> int:
    from .findings import read_findings
    from .survival import load_model

    out = check_output(args.output, args.force, (".png", ".svg", ".pdf"))
    patient = read_findings(read_input(args.input))
    if len(patient) != 1:
        raise BadInput(f"{args.input!r} holds {len(patient)} patients; 'curve' draws one (JSON object "
                       "or one-row CSV)")
    model = load_model(args.model)
    if args.table or out is None:
        months = np.array([12.0, 24.0, 60.0, 120.0])
        iv = model.predict(patient, months)
        table = pd.DataFrame({
            "years": months / 12, "survival": iv.survival.iloc[:, 0].to_numpy(),
            "lower_95": iv.lower.iloc[:, 0].to_numpy(), "upper_95": iv.upper.iloc[:, 0].to_numpy(),
            "population": iv.population.iloc[:, 0].to_numpy()})
        details = model.predict_details(patient).iloc[0]
        med = iv.median.iloc[0]
        print(f"subtype: {details['subtype']} (candidates: {', '.join(details['candidates'])}); "
              f"model: {args.model}; calibrated to: {iv.notes['target_set'].iloc[0]}")
        with pd.option_context("display.float_format", "{:.3f}".format):
            print(table.to_string(index=False))
        print(f"median overall survival: {_duration(med['median'])} "
              f"(95 % {_duration(med['lower'])} to {_duration(med['upper'])})")
        if bool(iv.notes["envelope"].iloc[0]):
            print("note: findings are missing, so the band includes the range over the possibilities")
        for note in filter(None, iv.notes["notes"]):
            print(f"note: {note}")
        print(RESEARCH_NOTE)
    if out is not None and out.suffix.lower() == ".pdf":  # the one-page report (owner: web)
        from .web.pdf import render_pdf

        render_pdf(resolve_example(args.input), out, model=args.model, overwrite=args.force)
        print(f"wrote the one-page report to {out}")
    elif out is not None:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt

        from .plotting import plot_patient_curve, save_figure

        ax = plot_patient_curve(model, patient)
        try:
            save_figure(ax.figure, out, force=args.force)
        finally:
            plt.close(ax.figure)
        print(f"wrote the survival curve to {out}")
    return EXIT_OK


def _add_curve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("curve", help="one patient's survival curve with its 95 %% band and the matched "
                       "general population")
    p.add_argument("input", help="JSON (one patient) or one-row CSV of findings, or 'example:patient.json'")
    p.add_argument("-o", "--output", help="write the plot (.png, .svg or .pdf)")
    p.add_argument("--table", action="store_true", help="print survival at 1, 2, 5 and 10 years with "
                   "95 %% bands and the population value (default when no -o is given)")
    _add_model_argument(p)
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=_cmd_curve)


def _check_simulate_size(n: int, out: Path, force: bool) -> None:
    """Refuse an absurd ``-n``; past the size limit or the free disk space, ask for ``--force``."""
    from .synthetic.io import estimated_file_bytes

    if n > MAX_SIMULATE_N:
        raise BadInput(f"-n {n:,}: expected at most {MAX_SIMULATE_N:,} patients (about "
                       f"{estimated_file_bytes(n, out) / 1e9:,.0f} GB and {n / 2e7:,.0f} hours); draw "
                       "a smaller cohort, or several with different --seed")
    size = estimated_file_bytes(n, out)
    free = shutil.disk_usage(out.parent).free
    if not force and (size > SIMULATE_SIZE_LIMIT or size > 0.9 * free):
        raise BadInput(f"-n {n:,} writes about {size / 1e9:.1f} GB to {str(out.parent)!r} "
                       f"({free / 1e9:.1f} GB free); pass --force to go ahead")


def _cmd_simulate(args: argparse.Namespace) -> int:
    from .synthetic import simulate_cohort_to_file

    out = check_output(args.output, args.force, (".csv", ".parquet"))
    assert out is not None  # -o is required by the parser
    _check_simulate_size(args.n, out, args.force)
    kwargs = {
        "censoring": None if args.censoring == "none" else "scenario",
        "missingness": None if args.missingness == "none" else "scenario",
        "subtype": args.subtype,
    }
    if args.model:
        from .survival import load_model

        kwargs["model"] = load_model(args.model)
    try:
        info = simulate_cohort_to_file(out, args.n, scenario=args.scenario, random_state=args.seed,
                                       chunk_size=args.chunk_size, force=args.force,
                                       progress=None if args.progress else False, **kwargs)
    except (ValueError, FileExistsError) as exc:
        raise BadInput(str(exc)) from None
    print(f"wrote {args.n} synthetic patients (scenario {info['scenario']}, seed {args.seed}) to {out}; "
          f"censored fraction {info.get('censored_fraction', 0.0):.3f}")
    print("synthetic data drawn from a model, not patients. " + RESEARCH_NOTE)
    return EXIT_OK


def _add_simulate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="draw a synthetic cohort with a known truth (findings, "
                       "survival, true_* columns)")
    p.add_argument("-n", type=int, required=True, help="number of patients")
    p.add_argument("--scenario", default="lim2009",
                   help="shipped scenario (lim2009, referral_advanced) or a TOML file (default lim2009)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--censoring", choices=["none", "scenario"], default="scenario",
                   help="follow-up censoring: the scenario's default or none (default scenario)")
    p.add_argument("--missingness", choices=["none", "scenario"], default="none",
                   help="missing findings: none (default) or the scenario's rules")
    p.add_argument("--subtype", help="draw one WHO subtype only (e.g. ASM)")
    p.add_argument("--model", help="survival model (default: the scenario's target set, e.g. lim2009)")
    p.add_argument("--chunk-size", type=int, default=250_000, help="patients per chunk (default 250000)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("-o", "--output", required=True, help="write CSV (+ JSON sidecar) or Parquet")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file; also needed "
                   "for an output estimated above 20 GB or the free disk space")
    p.set_defaults(func=_cmd_simulate)


def _cmd_web(args: argparse.Namespace) -> int:
    import logging

    from .web import serve

    # request lines and server-side errors (with tracebacks) go to stderr; the page shows none
    if not 0 <= args.port <= 65535:
        raise BadInput(f"--port {args.port}: expected a TCP port from 0 to 65535 (0 = any free port)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        serve(args.host, args.port, allow_remote=args.allow_remote, ready=lambda server: print(
            f"serving the clinician page at {server.url} (Ctrl-C stops it)\n{RESEARCH_NOTE}", flush=True))
    except ValueError as exc:  # a non-loopback host without --allow-remote
        raise BadInput(str(exc).replace("allow_remote=True (CLI: --allow-remote)", "--allow-remote")) \
            from None
    except OSError as exc:  # port taken, address not available
        raise BadInput(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    print("stopped")
    return EXIT_OK


def _add_web(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("web", help="the clinician page: a local web page for one patient's subtype, score "
                       "and curve")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this "
                   "machine only; the page has no login)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0 = any free port)")
    p.add_argument("--allow-remote", action="store_true", help="allow a --host other than this machine "
                   "(warning: the page has no login)")
    p.set_defaults(func=_cmd_web)


def _add_model_argument(p: argparse.ArgumentParser) -> None:
    """``--model``: a built-in model (every name listed, from the package) or a saved model file."""
    p.add_argument("--model", default="lim2009", help=f"built-in model ({', '.join(BUILTIN_MODELS)}) "
                   "or a saved model file (default lim2009)")


def _cmd_fidelity(args: argparse.Namespace) -> int:
    from .survival import load_model

    model = load_model(args.model)
    stored = model.state_.provenance.get("fidelity")
    table = pd.DataFrame(stored) if stored else model.fidelity(bands=False)
    verdict = table["inside"].map({True: "inside", False: "OUTSIDE"}).fillna("no published interval")
    shown = pd.DataFrame({
        "figure": table["figure_id"], "measure": table["measure"],
        "published": table["published"].astype(float).round(3),
        "95% interval": (table["published_low"].astype(float).round(3).astype(str) + "-"
                         + table["published_high"].astype(float).round(3).astype(str)).replace("nan-nan", ""),
        "model": table["model"].astype(float).round(3), "used for": table["used_for"], "verdict": verdict,
    })
    card = model.card()
    assert isinstance(card, dict)  # card(markdown=False) is a dict
    print(f"model {args.model}: " + "; ".join(card["calibrated_to"]))
    print(shown.to_string(index=False))
    print(RESEARCH_NOTE)
    return EXIT_OK


def _add_fidelity(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fidelity", help="the survival model against every published figure it can be "
                       "compared with (calibration targets and checks)")
    _add_model_argument(p)
    p.set_defaults(func=_cmd_fidelity)


def _cmd_net_survival(args: argparse.Namespace) -> int:
    from .lifetables import LifeTable
    from .relative import net_survival

    out = check_output(args.output, args.force, (*TABLE_SUFFIXES, ".png", ".svg", ".pdf"))
    figure = out is not None and out.suffix.lower() in {".png", ".svg", ".pdf"}
    table = None
    if args.life_table:
        path = Path(args.life_table)
        table = LifeTable.from_frame(pd.read_csv(path), name=path.stem, citation=f"user file {path.name}")
    cohort = read_input(args.input)
    columns = {f"{k}_col": getattr(args, f"{k}_col") for k in ("duration", "event", "age", "sex", "year")}
    times = args.times
    if times is None and not figure:  # a short table: whole years of follow-up
        last = pd.to_numeric(cohort.get(args.duration_col), errors="coerce").max()
        times = list(np.arange(12.0, last, 12.0)) if np.isfinite(last) and last > 12 else None
    res = net_survival(cohort, life_table=table, method=args.method, times=times, group_col=args.group_col,
                       **columns)
    lt = res.life_table
    print(f"{res.method} net survival of {res.n_patients} patients ({res.n_events} deaths) against "
          f"{lt['name']} ({lt['first_year']}-{lt['last_year']}); time in months")
    for note in res.notes[1:]:
        print(f"note: {note}")
    if figure and out is not None:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt

        from .plotting import plot_net_survival, save_figure

        ax = plot_net_survival(res)
        try:
            save_figure(ax.figure, out, force=args.force)
        finally:
            plt.close(ax.figure)
        print(f"wrote the net survival curve to {out}")
        print(RESEARCH_NOTE)
        return EXIT_OK
    return emit_table(res.table, out, list(res.table.columns), "time point(s)", args.force)


def _add_net_survival(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("net-survival", help="net survival of a cohort against its general population "
                       "(Pohar Perme or Ederer II, as R's relsurv)")
    p.add_argument("input", help="cohort CSV: follow-up (months), event (0/1), age, sex, year of diagnosis")
    p.add_argument("--life-table", help="CSV with year, age, sex (F/M), mx (deaths per person-year); "
                   "default: HMD United States")
    p.add_argument("--times", type=float, nargs="+", help="months to report (default: every whole year; "
                   "a figure draws every follow-up time)")
    p.add_argument("--method", choices=["pohar-perme", "ederer2"], default="pohar-perme")
    for key, default in (("duration", "time"), ("event", "event"), ("age", "age"), ("sex", "sex"),
                         ("year", "diagnosis_year")):
        p.add_argument(f"--{key}-col", default=default, help=f"column of the {key} (default {default})")
    p.add_argument("--group-col", help="one curve per value of this column (e.g. subtype)")
    p.add_argument("-o", "--output", help="write the table (.csv, .json, .parquet) or the plot "
                   "(.png, .svg, .pdf)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(func=_cmd_net_survival)


def _cmd_card(args: argparse.Namespace) -> int:
    from .survival import load_model

    print(load_model(args.model).card(markdown=True))
    return EXIT_OK


def _add_card(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("card", help="the survival model's card (Markdown): parameters with sources, targets "
                       "with their era, fidelity, the S/A/R sensitivity and every assumption")
    _add_model_argument(p)
    p.set_defaults(func=_cmd_card)


# Sub-commands are added by their modules' owners: one ``_add_*`` function each.
_SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_classify, _add_score,
                                                                     _add_validate, _add_curve,
                                                                     _add_simulate, _add_web,
                                                                     _add_fidelity, _add_card,
                                                                     _add_net_survival]


def _build_parser() -> argparse.ArgumentParser:
    from ._about import __version__

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
    """Entry point of the ``mastoprog`` console script; returns the exit code.

    Every warning raised while the command runs is shown on stderr, one line each (the same
    message once), also when the command then fails.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            code = args.func(args)
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        except BrokenPipeError:
            return _closed_stdout()
        except (MastoprogError, FileNotFoundError) as exc:
            # Our own errors and bad files: one clear message, no traceback.
            _show_warnings(caught)
            print(f"mastoprog {args.command}: error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except Exception as exc:
            _show_warnings(caught)
            print(f"mastoprog {args.command}: unexpected error: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            return EXIT_ERROR
    _show_warnings(caught)
    return code


def _show_warnings(caught: list[warnings.WarningMessage]) -> None:
    shown = set()
    for w in caught:
        text = " ".join(str(w.message).split())
        if text not in shown:
            shown.add(text)
            print(f"warning: {text}", file=sys.stderr)


def _closed_stdout() -> int:
    """The reader of stdout went away: stop quietly, as ``cat`` does, with 128 + SIGPIPE."""
    try:
        # Python flushes stdout once more at exit; point it at /dev/null so that flush is silent.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout replaced by a non-file (tests)
        pass
    return EXIT_SIGPIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
