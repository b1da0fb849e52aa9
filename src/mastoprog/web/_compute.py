"""The one adapter between the page and the library: findings in, a JSON-able report out.

Every number comes from the public API (``read_findings``, ``classify``, ``risk_score``, the model's
``predict_*`` methods and :mod:`mastoprog.survival.outcomes`). Notes come as data: the plausibility
notes of the findings (and the model's subtype check) are collected with
:func:`mastoprog.findings.collect_notes`, whose scope is the running thread or task, so computations
run concurrently without any lock (in the server's worker processes, or in threads when embedded);
the model's envelope flag and notes come with its prediction
(:func:`~mastoprog.survival.outcomes.predict_curves`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, cast

import numpy as np
import pandas as pd

from .._about import RESEARCH_USE_NOTICE, __version__
from ..classification import classify
from ..exceptions import CalibrationError, FindingsError, MastoprogError
from ..findings import already_validated, collect_notes, read_findings
from ..risk import risk_score
from ..survival import load_model
from ..survival.outcomes import (
    BAND_NOTE,
    DEFAULT_HORIZONS_MONTHS,
    conditional_survival,
    crude_outcomes,
    icon_counts,
    life_expectancy_loss,
    predict_curves,
)
from ._fields import EDITIONS, MODELS, RequestProblems, read_options, split_request

#: Horizon of the loss of life expectancy and the longest curve drawn (months).
LLE_HORIZON_MONTHS = 240.0
#: Risk inputs whose absence is flagged with what was assumed.
_RISK_INPUTS = ("age", "sex", "splenomegaly", "alp", "alp_uln", "srsf2", "asxl1", "runx1")

ModelLoader = Callable[[str], Any]


class RequestInvalid(MastoprogError, ValueError):
    """Bad input: every problem of the request (shown beside its field, listed by the API)."""

    def __init__(self, problems: RequestProblems):
        super().__init__("; ".join(p["message"] for p in problems.listed))
        self.problems = problems


def clean(value: Any) -> Any:
    """JSON-safe plain Python: tuples -> lists, NaN/inf/NA -> None, numpy scalars -> Python."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.ndim == 1:
        # a curve: one tolist() instead of a recursive call per point
        return [v if math.isfinite(v) else None for v in value.tolist()]
    if isinstance(value, (tuple, list, np.ndarray)):
        return [clean(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _findings_problems(exc: FindingsError, problems: RequestProblems) -> None:
    for p in getattr(exc, "problems", []):
        problems.add(p.column or "", p.value, p.expected, p.hint)
    if not getattr(exc, "problems", None):
        problems.add("", None, str(exc))


def _flags(
    frame: pd.DataFrame, cls: pd.Series, score: pd.Series, options: Mapping[str, Any], last_year: int
) -> list[str]:
    """Every missing or assumed input, with what was assumed (QRISK3 style)."""
    row = frame.iloc[0]
    out = []
    for column in _RISK_INPUTS:
        if column in frame.columns and pd.isna(row[column]):
            if column == "alp_uln":
                out.append(f"ALP upper limit of normal not given: {score['alp_uln_used']:g} U/L assumed")
            elif column == "sex":
                out.append("sex not given: the matched population is the mean of women and men")
            elif column != "age":
                out.append(f"{column} not given: score and curve cover both values (range)")
    if options["year"] is None:
        out.append(f"calendar year of diagnosis not given: {last_year} assumed (the life table's latest)")
    if cls["missing"]:
        out.append("findings that would decide the subtype: " + ", ".join(cls["missing"]))
    if bool(score.get("uses_assumption")):
        out.append("the risk score uses an assumed effect (see its notes)")
    return out


class Computer:
    """Computes reports; loads each model once (per process).

    Parameters
    ----------
    load : callable, optional
        ``name -> SurvivalModel`` (default :func:`mastoprog.load_model`).
    """

    def __init__(self, load: ModelLoader | None = None) -> None:
        self._load = load or load_model
        self._models: dict[str, Any] = {}
        # the calibration targets of each loaded model, read once from its card (a deep copy of
        # the model's state: milliseconds a page otherwise)
        self._targets: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def model(self, name: str) -> Any:
        """The model called ``name`` (loaded on first use)."""
        with self._lock:
            if name not in self._models:
                self._models[name] = self._load(name)
                self._targets[name] = list(self._models[name].card().get("targets") or [])
            return self._models[name]

    def compute(self, values: dict[str, Any], *, strict: bool, figures: bool = False) -> dict[str, Any]:
        """One patient's report from raw request values.

        Parameters
        ----------
        values : dict
            Form fields or the JSON object (findings plus options).
        strict : bool
            Unknown fields are problems (JSON API).
        figures : bool
            Also draw the curve and icon array as inline SVG (``svg_curve``, ``svg_icons``).

        Returns
        -------
        dict
            JSON-able report.

        Raises
        ------
        RequestInvalid
            Listing every problem of the request.
        """
        with collect_notes() as notes:  # this thread's notes only: no lock, no warnings filter
            report = self._compute(values, strict=strict, figures=figures)
        report["warnings"] = list(notes)
        return report

    def _read(self, values: dict[str, Any], strict: bool) -> tuple[pd.DataFrame, dict[str, Any], Any]:
        findings, raw_options, problems = split_request(values, strict=strict)
        options = read_options(raw_options, problems)
        # a JSON body can give any type (a list is unhashable): only a known model name loads one
        name = options["model"]
        model = self.model(name) if isinstance(name, str) and name in MODELS else None
        frame = None
        try:
            frame = read_findings(findings if findings else {"patient_id": None})
        except FindingsError as exc:
            _findings_problems(exc, problems)
        age_given = findings.get("age") not in (None, "") and not (
            isinstance(findings.get("age"), str) and not findings["age"].strip()
        )
        if (frame is None and not age_given) or (
            frame is not None and ("age" not in frame.columns or pd.isna(frame["age"].iloc[0]))
        ):
            problems.add(
                "age",
                findings.get("age"),
                "the age at diagnosis in years, from 0 to 120 (needed "
                "for the matched population and the curve)",
            )
        if problems:
            raise RequestInvalid(problems)
        assert frame is not None and model is not None
        return frame, options, model

    def _compute(self, values: dict[str, Any], *, strict: bool, figures: bool) -> dict[str, Any]:
        frame, options, model = self._read(values, strict)
        # Validated once above: the classifier (two editions), the scores and the model select
        # its columns instead of parsing every finding again (half of a page's time otherwise).
        with already_validated(frame):
            return self._report(frame, options, model, figures)

    def _report(self, frame: pd.DataFrame, options: dict[str, Any], model: Any,
                figures: bool) -> dict[str, Any]:
        edition, year = options["edition"], options["year"]
        cls = cast(pd.DataFrame, classify(frame, edition=edition)).iloc[0]
        score = cast(pd.DataFrame, risk_score(frame)).iloc[0]
        row = frame.iloc[0]
        out: dict[str, Any] = {
            "notice": RESEARCH_USE_NOTICE,
            "version": __version__,
            "date": date.today().isoformat(),
            "patient_id": clean(row.get("patient_id")),
            "age": clean(row["age"]),
            "sex": clean(row.get("sex")),
            "edition": edition,
            "edition_label": EDITIONS[edition],
            "model": options["model"],
            "model_label": MODELS[options["model"]],
            "year": year if year is not None else int(model.life_table_.last_year),
            "findings": {k: clean(v) for k, v in row.items() if clean(v) is not None},
            "classification": {
                k: clean(cls[k])
                for k in (
                    "subtype",
                    "candidates",
                    "sm_criteria_met",
                    "major_criterion",
                    "minor_criteria",
                    "b_findings",
                    "c_findings",
                    "sm_component",
                    "missing",
                    "rationale",
                )
            },
            "score": _score(score),
            "flags": _flags(frame, cls, score, options, int(model.life_table_.last_year)),
            "curve_error": None,
            "median": None,
            "outcomes": None,
            "conditional": None,
            "life_expectancy_loss": None,
            "envelope": None,
            "model_notes": [],
            "band_note": BAND_NOTE,
            "targets": _targets(self._targets[options["model"]], cls),
        }
        try:
            # one model call: curves, their draws (for the bands) and the median with its band
            curves = predict_curves(model, frame, LLE_HORIZON_MONTHS, year=year, edition=edition)
        except CalibrationError as exc:  # e.g. MCS: no calibrated curve, said plainly
            out["curve_error"] = str(exc)
            return out
        assert curves.median is not None  # predict_curves always carries it
        _add_survival(out, curves, curves.median.iloc[0], options["survived_months"])
        if figures:
            from .report import curve_svg, icons_svg  # matplotlib: only when a page is drawn

            out["svg_curve"] = curve_svg(out)
            out["svg_icons"] = icons_svg(out["outcomes"][-1])
        return out


def _score(score: pd.Series) -> dict[str, Any]:
    out = {k: clean(score[k]) for k in score.index if k != "patient_id" and not k.startswith(("pts_", "lp_"))}
    notes = score.get("notes")
    out["notes"] = [n for n in str(notes).split("; ") if n] if isinstance(notes, str) else clean(notes) or []
    out["contributions"] = [
        {"factor": k[4:], "points": clean(score[k]), "log_hazard_ratio": clean(score.get("lp_" + k[4:]))}
        for k in score.index
        if k.startswith("pts_")
    ]
    return out


def _targets(rows: list[dict[str, Any]], cls: pd.Series) -> list[dict[str, Any]]:
    """The calibration targets (``rows``, the model card's) behind the patient's candidate
    subtypes (source = target set, era)."""
    wanted = set(cls["candidates"]) or {cls["subtype"]}
    return [
        {k: clean(r.get(k))
         for k in ("subtype", "target_set", "kind", "value", "time_months", "source", "era")}
        for r in rows
        if r.get("subtype") in wanted
    ]


def _curve_window(curves: Any, median: float | None) -> dict[str, Any]:
    """The curves over the window worth drawing: until the curve is near 0 (at least 1 year).

    An MCL curve (median a few months) is drawn over months, an ISM curve over 20 years.
    """
    s = curves.survival[:, 0]
    low = np.nonzero(s <= 0.02)[0]
    end = curves.months[low[0]] * 1.25 if low.size else curves.months[-1]
    if median is not None:
        end = max(end, 2.0 * median)
    end = float(min(max(end, 12.0), curves.months[-1]))
    keep = curves.months <= end
    return {
        "months": clean(curves.months[keep]),
        "unit": "months" if end <= 36 else "years",
        **{
            k: clean(np.round(getattr(curves, k)[keep, 0], 6))
            for k in ("survival", "lower", "upper", "population")
        },
    }


def _add_survival(out: dict[str, Any], curves: Any, med: pd.Series, survived: float | None) -> None:
    table = crude_outcomes(curves, DEFAULT_HORIZONS_MONTHS)
    out["outcomes"] = []
    for rec in table.to_dict("records"):
        rec = {k: clean(v) for k, v in rec.items() if k not in ("patient", "envelope")}
        rec["of_100"] = icon_counts(rec["alive"], rec["died_mastocytosis"], rec["died_other_causes"])
        out["outcomes"].append(rec)
    out["median"] = {
        "months": clean(med["median"]),
        "lower": clean(med["lower"]),
        "upper": clean(med["upper"]),
    }
    lle = life_expectancy_loss(curves).iloc[0]
    out["life_expectancy_loss"] = {
        k: clean(lle[k])
        for k in (
            "horizon_months",
            "rmst_months",
            "rmst_population_months",
            "loss_months",
            "loss_lower",
            "loss_upper",
        )
    }
    out["envelope"] = bool(curves.envelope[0])
    out["curve"] = _curve_window(curves, out["median"]["months"])
    out["model_notes"] = list(curves.notes)
    if survived is not None:
        ahead = [t for t in DEFAULT_HORIZONS_MONTHS if survived + t <= curves.months[-1]]
        cond = conditional_survival(curves, survived, ahead)
        out["conditional"] = {
            "survived_months": survived,
            "rows": [{k: clean(v) for k, v in r.items() if k != "patient"} for r in cond.to_dict("records")],
        }
