"""Model files and model cards: the JSON document ``SurvivalModel.save`` writes and ``load_model`` reads.

A model file is plain JSON (no pickle): ``{"format": "mastoprog-survival-model", "schema_version": 1,
"mastoprog_version", "created", "edition", "notice", "model": <SurvivalModel.state_.to_dict()>}``.
Reading treats the file as data from outside: size limit before parsing, then the schema of
``_model_schema`` (published as ``data/model_schema.json``), every problem named by its key path.
"""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .._files import write_text
from .._resources import data_path, existing_path
from ..exceptions import ModelFileError, ModelFileExistsError
from ._calibration import BUILTIN_MODELS
from ._evidence import calibration_summary, fidelity_markdown, sar_sensitivity_markdown
from ._model_schema import FORMAT, SCHEMA_VERSION, validate_document
from ._state import PROGNOSTIC_SUBTYPES

#: Largest model file ``load_model`` reads (bytes); the shipped models are ~80 kB.
MAX_FILE_BYTES = 16 * 1024 * 1024

# Method-level assumptions shown in every model card.
_METHOD_ASSUMPTIONS = (
    "relative-survival structure: overall survival = general-population survival (life table) x "
    "excess survival; the excess hazard is Weibull proportional hazards per prognostic subtype",
    "the risk factors multiply the excess hazard only (not the background), with the same log HR "
    "in every subtype (the seed review: splenomegaly and ALP predict prognosis in ISM and AdvSM)",
    "calibration matches the population-averaged curve of a synthetic reference cohort (scenario "
    "file) to each published figure; the cohort's covariate distributions are partly assumptions "
    "(see the scenario file)",
    "features are centred on the reference-cohort mean of each subtype; an unknown feature takes "
    "that mean in the central curve, and its 0/1 range in the envelope",
    "calendar years after the life table's last year use the last year (no projected mortality "
    "improvement); the default prediction year is the table's last year",
    "deaths behind a published median, when not reported, are taken as ceil(n/2) for the "
    "uncertainty draws (the fewest consistent with a reached median: a wider band)",
)


# --------------------------------------------------------------------------- writing


def to_document(state: dict, edition: str) -> dict[str, Any]:
    """The JSON document of a model state (what :meth:`SurvivalModel.save` writes)."""
    from .._about import RESEARCH_USE_NOTICE, __version__

    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "mastoprog_version": __version__,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "edition": edition,
        "notice": RESEARCH_USE_NOTICE,
        "model": state,
    }


def write_document(doc: dict[str, Any], path: str | os.PathLike, overwrite: bool) -> Path:
    """Write ``doc`` as JSON; refuse to replace a file unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise ModelFileExistsError(f"{str(path)!r} exists; pass overwrite=True to replace it")
    text = json.dumps(doc, indent=1, allow_nan=False, default=_json_default)
    return write_text(path, text + "\n", force=True)  # atomic: complete or absent (existence checked above)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# --------------------------------------------------------------------------- reading


def read_document(name_or_path: str | os.PathLike, life_table_given: bool) -> tuple[dict, dict]:
    """``(document, validated model state dict)`` of a built-in model name or a JSON path.

    A model file is data from outside: its size is checked before it is read
    (:data:`MAX_FILE_BYTES`), the JSON parser's own failures (invalid text, nesting too deep for
    the parser, integers too long to convert) become :class:`ModelFileError`, and the document is
    validated against the schema (:mod:`._model_schema`), which reports every problem with its key
    path. Nothing but :class:`ModelFileError` leaves this function for a bad file.

    Raises
    ------
    ModelFileError
        Naming what is wrong (size, encoding, JSON, every invalid field), or asking for the life
        table of a model built on a user table when ``life_table_given`` is False.
    """
    path = existing_path(
        name_or_path, BUILTIN_MODELS,
        type_message=f"The 'name_or_path' parameter of load_model must be one of {list(BUILTIN_MODELS)} "
        "or the path of a saved model (str or os.PathLike). Got {got} instead.",
        missing_message="model {got}: expected one of " + str(list(BUILTIN_MODELS))
        + " or an existing JSON file",
    )
    if path is None:
        where = f"built-in model {name_or_path!r}"
        with data_path(f"models/{name_or_path}.json").open("r", encoding="utf-8") as fh:
            text = fh.read()
    else:
        where = str(path)
        text = _read_text(path, where)
    doc = _parse_json(text, where)
    validate_document(doc, where)
    st = doc["model"]
    lt_name = st["life_table"]["name"]
    if lt_name != "hmd_us" and not life_table_given:
        raise ModelFileError(
            f"{where}: built on the life table {lt_name!r}; pass it as "
            "load_model(..., life_table=LifeTable.from_frame(df))"
        )
    return doc, st


def _read_text(path: Path, where: str) -> str:
    """The file's text, refusing folders, unreadable files, oversized files and non-UTF-8 bytes."""
    if path.is_dir():
        raise ModelFileError(f"{where}: is a folder; expected a saved model JSON file")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:  # checked before reading a byte
            raise ModelFileError(
                f"{where}: {size:,} bytes; a model file is at most {MAX_FILE_BYTES:,} bytes "
                "(expected a saved model JSON file)"
            )
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)  # the file may have grown since stat()
    except OSError as exc:
        raise ModelFileError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise ModelFileError(f"{where}: more than {MAX_FILE_BYTES:,} bytes; expected a saved model JSON file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                             "expected a saved model JSON file") from None


def _parse_json(text: str, where: str) -> Any:
    """``json.loads`` whose every failure is a :class:`ModelFileError`.

    Besides invalid JSON, the parser fails on nesting deeper than Python's recursion limit
    (RecursionError) and on integers longer than ``sys.get_int_max_str_digits()`` (ValueError).
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{where}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ModelFileError(f"{where}: JSON nested too deeply; expected a saved model file "
                             "(a few levels of objects and lists)") from None
    except ValueError as exc:  # e.g. "Exceeds the limit (4300 digits) for integer string conversion"
        raise ModelFileError(f"{where}: a number in the file cannot be read ({exc}); expected a "
                             "saved model JSON file") from None


# --------------------------------------------------------------------------- model card


def model_card(st: dict) -> dict[str, Any]:
    """Model card of a state: every parameter with source and evidence, reference cohorts,
    residuals, life table, band method, assumptions and the research-use notice."""
    from .._about import RESEARCH_USE_NOTICE

    params = []
    for f in st["factors"]:
        b = st["beta"][f]
        params.append(
            {
                "parameter": f"log HR {f}",
                "value": b["log_hr"],
                "se": b.get("se_log_hr"),
                "source": b.get("source", ""),
                "evidence": b.get("evidence", ""),
                "assumption": b.get("assumption", False),
            }
        )
    for s in (*PROGNOSTIC_SUBTYPES, "MCS"):
        p = st["subtypes"].get(s)
        if p is None:
            continue
        if p["excess"] == "weibull":
            params.append(
                {
                    "parameter": f"{s} lambda (months)",
                    "value": math.exp(p["log_lambda"]),
                    "source": p.get("source", ""),
                    "evidence": p.get("evidence", ""),
                    "target": p.get("target"),
                }
            )
            params.append(
                {
                    "parameter": f"{s} rho (Weibull shape)",
                    "value": p["rho"],
                    "source": p.get("rho_source", ""),
                    "evidence": p.get("rho_evidence", ""),
                }
            )
        else:
            params.append(
                {
                    "parameter": f"{s} excess hazard",
                    "value": p["excess"],
                    "source": p.get("source", ""),
                    "evidence": p.get("evidence", ""),
                    "note": p.get("reason", ""),
                }
            )
    assumptions = list(_METHOD_ASSUMPTIONS) + list(st.get("assumptions", []))
    assumptions += [
        f"{q['parameter']}: {q['source']}" for q in params if q.get("evidence") == "assumption"
    ]
    targets = [
        {"subtype": s, **p["target"]}
        for s, p in st["subtypes"].items()
        if isinstance(p.get("target"), dict)
    ]
    assumptions += [
        f"{t['subtype']} target ({t['target_set']}): {t['note']}"
        for t in targets
        if t.get("note") and ("assum" in t["note"] or t.get("evidence") == "assumption")
    ]
    card = {
        "kind": st["kind"],
        "structure": "S(t) = S_pop(t; age, sex, year) * exp(-exp(lp) * (t/lambda_s)^rho_s), "
        "lp = (x - c_s) @ beta, t in months",
        "parameters": params,
        "residuals": st.get("residuals", []),
        "targets": targets,
        "reference_cohorts": {
            s: p.get("reference_cohort") for s, p in st["subtypes"].items() if p.get("reference_cohort")
        },
        "life_table": st.get("life_table"),
        "band_method": st.get("band_method"),
        "provenance": st.get("provenance"),
        "assumptions": assumptions,
        "calibrated_to": calibration_summary(st),
        "fidelity": (st.get("provenance") or {}).get("fidelity"),
        "sar_sensitivity": (st.get("provenance") or {}).get("sar_sensitivity"),
        "fit": {k: v for k, v in st.get("fit", {}).items() if k != "variance_matrix"} or None,
        "notice": RESEARCH_USE_NOTICE,
    }
    return card


def card_markdown(card: dict[str, Any]) -> str:
    """The card of :func:`model_card` as Markdown."""
    from .._about import RESEARCH_USE_NOTICE

    params, targets, assumptions = card["parameters"], card["targets"], card["assumptions"]
    lines = [
        "# mastoprog survival model card",
        "",
        f"> {RESEARCH_USE_NOTICE}",
        "",
        f"Kind: {card['kind']}. Structure: `{card['structure']}`.",
        "",
        "## Parameters",
        "",
        "| parameter | value | evidence | source |",
        "|---|---|---|---|",
    ]
    for q in params:
        v = q["value"]
        vs = f"{v:.4g}" if isinstance(v, float) else str(v)
        lines.append(f"| {q['parameter']} | {vs} | {q['evidence']} | {q['source']} |")
    lines += ["", "## Calibration residuals (achieved - target)", ""]
    for r in card["residuals"]:
        if r.get("target") is not None:
            lines.append(
                f"- {r['subtype']} {r['kind']}: target {r['target']:.6g}, achieved "
                f"{r['achieved']:.6g}, residual {r['residual']:.2e}"
            )
    lines += ["", "## Targets", ""]
    for t in targets:
        when = f" at {t['time_months']:g} months" if t.get("time_months") else ""
        val = f" {t['value']:g}" if t.get("value") is not None else ""
        n_txt = "not reported" if t.get("n_patients") is None else f"{t['n_patients']:g}"
        e_txt = "not reported" if t.get("events") is None else f"{t['events']:g}"
        lines.append(
            f"- {t['subtype']} ({t['target_set']}): {t['kind']}{val}{when}, n = {n_txt}, "
            f"events = {e_txt}, evidence {t['evidence']}; {t['source']}. {t.get('note', '')}"
        )
    lines += ["", "## Calibrated to (target set and era)", ""]
    lines += [f"- {line}" for line in card.get("calibrated_to") or []]
    lines += fidelity_markdown(card.get("fidelity"))
    lines += sar_sensitivity_markdown(card.get("sar_sensitivity"))
    lines += ["", "## Reference cohorts", ""]
    for s, rc in card["reference_cohorts"].items():
        lines.append(
            f"- {s}: scenario {rc['scenario']}, n = {rc['n']}, seed {rc['seed']}, "
            f"median age {rc['age_median']:.1f} y"
        )
    lt = card["life_table"] or {}
    lines += [
        "",
        "## Life table",
        "",
        f"{lt.get('citation', '')}",
        "",
        f"Rule: {lt.get('rule', '')}",
        "",
        "## Uncertainty band",
        "",
        str(card["band_method"]),
        "",
        "## Assumptions",
        "",
    ]
    lines += [f"- {a}" for a in assumptions]
    return "\n".join(lines) + "\n"
