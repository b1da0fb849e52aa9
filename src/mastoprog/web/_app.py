"""WSGI application of the clinician page (standard library only; no clinical logic here).

Routes
------
``GET /``
    The findings form (fields grouped as a clinician reads a chart). A query string pre-fills it,
    which is how the result page's "edit these findings" link keeps the values.
``POST /result`` (or ``GET /result?...``)
    Subtype, risk score, the survival curve with its band and the matched population, survival at
    1/2/5/10 years, the median; bad findings send the form back (HTTP 400) with the messages of
    :class:`mastoprog.FindingsError` beside the fields and the typed values kept.
``GET /api/patient?...`` or ``POST /api/patient`` (JSON object)
    The same content as JSON for scripts.

Every number and sentence about the patient comes from the public API (``mp.read_findings``,
``mp.classify``, ``mp.risk_score``, the model's ``predict_*`` methods and
``mastoprog.plotting.plot_patient_curve``); this module only parses the form, calls them and
escapes what it shows.
"""

from __future__ import annotations

import html
import io
import json
import logging
import math
import signal
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pandas as pd

import mastoprog as mp
from mastoprog.findings import AHN_LABELS, column_spec

__all__ = ["make_app", "serve"]

log = logging.getLogger("mastoprog.web")

#: Classification editions offered (the names ``mp.classify`` accepts).
EDITIONS: tuple[tuple[str, str], ...] = (
    ("who2016", "WHO 2016 (Arber 2016; default)"),
    ("who2022", "WHO 2022 (Khoury 2022)"),
    ("icc2022", "ICC 2022 (Arber 2022)"),
)
#: Built-in survival models offered (the names ``mp.load_model`` accepts).
MODELS: tuple[tuple[str, str], ...] = (
    ("lim2009", "lim2009 (Lim 2009; default)"),
    ("mayo2025", "mayo2025 (Mayo Clinic 2025)"),
    ("midostaurin", "midostaurin (Gotlib 2016)"),
)
#: Horizons of the survival table (years since diagnosis).
HORIZONS_YEARS: tuple[int, ...] = (1, 2, 5, 10)

#: The form: (group title, ((column, label), ...)). Every canonical column except the follow-up
#: columns ``time`` and ``event`` appears once (tests/test_web.py checks it).
FIELD_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Patient", (
        ("patient_id", "Patient identifier (optional)"),
        ("age", "Age at diagnosis"),
        ("sex", "Sex"),
    )),
    ("SM criteria (bone marrow, KIT, immunophenotype, tryptase)", (
        ("skin_lesions", "Typical skin lesions"),
        ("bm_examined", "Bone-marrow biopsy done"),
        ("bm_mc_aggregates", "Multifocal dense mast-cell aggregates (major criterion)"),
        ("atypical_mc_pct", "Spindle-shaped / atypical mast cells"),
        ("kit_d816", "KIT D816 mutation (extracutaneous)"),
        ("kit_other", "Other activating KIT mutation"),
        ("cd2_cd25", "Mast cells CD2 and/or CD25 positive"),
        ("cd30", "Mast cells CD30 positive"),
        ("tryptase", "Baseline serum tryptase"),
        ("hat", "Hereditary alpha-tryptasemia"),
        ("bm_mc_infiltration_pct", "Marrow mast-cell infiltration"),
        ("mc_aspirate_pct", "Mast cells on aspirate smears"),
        ("kit_vaf_pct", "KIT D816V allele frequency"),
    )),
    ("B findings", (
        ("dysplasia_myeloproliferation", "Dysplasia or myeloproliferation (short of an AHN)"),
        ("hepatomegaly", "Palpable hepatomegaly"),
        ("splenomegaly", "Splenomegaly (palpable or on imaging)"),
        ("lymphadenopathy", "Lymph nodes > 2 cm"),
        ("lymphadenopathy_1cm", "Lymph nodes > 1 cm (ICC 2022 B3)"),
    )),
    ("C findings and blood counts", (
        ("hepatic_dysfunction", "Hepatomegaly with impaired liver function"),
        ("hypersplenism", "Splenomegaly with hypersplenism"),
        ("malabsorption", "Malabsorption with hypoalbuminemia and weight loss"),
        ("osteolysis", "Large osteolyses and/or pathological fractures"),
        ("anc", "Absolute neutrophil count"),
        ("hemoglobin", "Hemoglobin"),
        ("platelets", "Platelets"),
        ("leukocytes", "White blood cell count"),
    )),
    ("Associated neoplasm and prior diagnosis", (
        ("ahn", "Associated hematologic neoplasm (AHN)"),
        ("mc_sarcoma", "Mast-cell sarcoma diagnosed"),
        ("who_subtype", "Subtype already assigned (optional)"),
    )),
    ("Risk inputs", (
        ("alp", "Alkaline phosphatase"),
        ("alp_uln", "ALP upper limit of normal (your lab)"),
        ("srsf2", "SRSF2 mutated"),
        ("asxl1", "ASXL1 mutated"),
        ("runx1", "RUNX1 mutated"),
        ("nras", "NRAS mutated (MAPS)"),
        ("sar_count", "Number of mutated S/A/R genes (if genes not given)"),
    )),
)

_OPTION_FIELDS = ("edition", "model", "year")
_MAX_BODY = 100_000  # bytes: a full form is about 1 kB
_COMPUTE_LOCK = threading.Lock()  # warnings.catch_warnings is process-global: one patient at a time

ModelLoader = Callable[[str], Any]


class _FormError(Exception):
    """Bad input: a message for the page and, per field, the problems to show beside it."""

    def __init__(self, message: str, fields: Mapping[str, list[str]] | None = None,
                 problems: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = dict(fields or {})
        self.problems = problems or []


# --------------------------------------------------------------------------- parsing


def _kind(column: str) -> str:
    return column_spec(column)["kind"]


def _unit(column: str) -> str:
    unit = column_spec(column)["unit"]
    return "" if unit in ("", "genes") else unit


def _form_to_request(values: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Form or query values -> (findings mapping, options). An empty field means unknown.

    Selects send ``"unknown"`` explicitly, so ``ahn`` and ``mc_sarcoma`` (where the data
    dictionary reads an empty cell as "none") stay unknown unless the clinician says otherwise.
    """
    findings: dict[str, Any] = {}
    for _, fields in FIELD_GROUPS:
        for column, _label in fields:
            raw = str(values.get(column, "")).strip()
            kind = _kind(column)
            if kind in ("bool", "ahn"):
                findings[column] = raw or "unknown"
            elif raw:
                findings[column] = raw
    return findings, _options(values)


def _options(values: Mapping[str, Any]) -> dict[str, Any]:
    """Edition, model and calendar year of diagnosis, checked against what the page offers."""
    errors: dict[str, list[str]] = {}
    edition = str(values.get("edition") or EDITIONS[0][0]).strip()
    if edition not in dict(EDITIONS):
        errors["edition"] = [f"edition: got {edition!r}; expected one of {[e for e, _ in EDITIONS]}"]
    model = str(values.get("model") or MODELS[0][0]).strip()
    if model not in dict(MODELS):
        errors["model"] = [f"model: got {model!r}; expected one of {[m for m, _ in MODELS]}"]
    year_raw = values.get("year")
    year: float | None = None
    if year_raw not in (None, ""):
        try:
            year = float(str(year_raw).strip())
        except ValueError:
            year = math.nan
        if not (math.isfinite(year) and 1900 <= year <= 2100):
            errors["year"] = [f"year: got {year_raw!r}; expected a calendar year between 1900 and 2100 "
                              "(empty = the life table's latest year)"]
    if errors:
        raise _FormError("\n".join(m for ms in errors.values() for m in ms), errors)
    return {"edition": edition, "model": model, "year": year}


def _json_to_request(body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A JSON object: the findings (data-dictionary semantics) plus optional edition/model/year."""
    if not isinstance(body, dict):
        raise _FormError(f"expected a JSON object of findings; got {type(body).__name__}")
    findings = {k: v for k, v in body.items() if k not in _OPTION_FIELDS}
    return findings, _options(body)


# --------------------------------------------------------------------------- the computation


def _clean(value: Any) -> Any:
    """JSON-safe plain Python: tuples -> lists, NaN/inf/NA -> None, numpy scalars -> Python."""
    if isinstance(value, (tuple, list)):
        return [_clean(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if value is None or value is pd.NA:
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _problems(exc: mp.FindingsError) -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    by_field: dict[str, list[str]] = {}
    listed = []
    for p in getattr(exc, "problems", []):
        text = str(p)
        # beside the field, the row and column are obvious: value, expected range and hint only
        short = f"got {p.value!r}; expected {p.expected}" + (f" (hint: {p.hint})" if p.hint else "")
        by_field.setdefault(p.column or "", []).append(short if p.column else text)
        listed.append({"column": p.column, "value": _clean(p.value) if isinstance(p.value, (int, float, str))
                       else None, "expected": p.expected, "hint": p.hint, "message": text})
    return by_field, listed


def _report(findings: Mapping[str, Any], options: Mapping[str, Any], load: ModelLoader,
            with_svg: bool) -> dict[str, Any]:
    """Everything the result page and the JSON API show, from the public API only."""
    with _COMPUTE_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", mp.FindingsWarning)
        try:
            frame = mp.read_findings(dict(findings))  # every problem at once, before any result
        except mp.FindingsError as exc:
            fields, listed = _problems(exc)
            raise _FormError(str(exc), fields, listed) from None
        edition, year = options["edition"], options["year"]
        cls = mp.classify(frame, edition=edition).iloc[0]
        score = mp.risk_score(frame).iloc[0]
        model = load(options["model"])
        out: dict[str, Any] = {
            "notice": mp.RESEARCH_USE_NOTICE,
            "patient_id": _clean(frame["patient_id"].iloc[0]) if "patient_id" in frame.columns else None,
            "edition": edition,
            "model": options["model"],
            "year": year,
            "classification": {k: _clean(cls[k]) for k in (
                "subtype", "candidates", "sm_criteria_met", "major_criterion", "minor_criteria",
                "b_findings", "c_findings", "sm_component", "missing", "rationale")},
            "score": {k: _clean(score[k]) for k in score.index if k != "patient_id"},
            "survival": None,
            "median": None,
            "envelope": None,
            "model_notes": [],
            "curve_error": None,
        }
        notes = score.get("notes")
        out["score"]["notes"] = _clean(notes) if isinstance(notes, (tuple, list)) else (
            [n for n in str(notes).split("; ") if n] if isinstance(notes, str) else [])
        try:
            months = [12.0 * y for y in HORIZONS_YEARS]
            iv = model.predict_survival_interval(frame, months, year=year, edition=edition)
            med = model.predict_median(frame, interval=True, year=year, edition=edition).iloc[0]
        except mp.CalibrationError as exc:  # e.g. MCS: no calibrated curve, said plainly
            out["curve_error"] = str(exc)
        else:
            out["survival"] = [
                {"years": y, "months": m,
                 "survival": _clean(iv["survival"].iloc[i, 0]), "lower": _clean(iv["lower"].iloc[i, 0]),
                 "upper": _clean(iv["upper"].iloc[i, 0]), "population": _clean(iv["population"].iloc[i, 0])}
                for i, (y, m) in enumerate(zip(HORIZONS_YEARS, months, strict=True))]
            out["median"] = {"months": _clean(med["median_months"]), "lower": _clean(med["lower"]),
                             "upper": _clean(med["upper"])}
            out["envelope"] = bool(iv["survival"].attrs.get("envelope", [False])[0])
            out["model_notes"] = [str(n) for n in iv["survival"].attrs.get("notes", [])]
            if with_svg:
                out["svg"] = _curve_svg(model, frame, year)
        out["warnings"] = list(dict.fromkeys(str(w.message) for w in caught
                                             if issubclass(w.category, mp.FindingsWarning)))
    return out


def _curve_svg(model: Any, frame: pd.DataFrame, year: float | None) -> str:
    """plot_patient_curve drawn on an Agg-backed Figure (no pyplot state) and saved as inline SVG."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from mastoprog.plotting import plot_patient_curve

    fig = Figure(figsize=(7.5, 4.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    plot_patient_curve(model, frame, ax=ax, year=year)
    buf = io.StringIO()
    # real <text> elements (XML-escaped by matplotlib) and stable ids: smaller, selectable, testable
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "mastoprog-web"}):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


# --------------------------------------------------------------------------- HTML


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _pct(p: float | None) -> str:
    """A probability as shown on the page: ``0.7552`` -> ``"75.5 %"`` (``"–"`` when unknown)."""
    return "–" if p is None else f"{100 * p:.1f} %"


def _months(m: float | None) -> str:
    if m is None:
        return "not reached"
    return f"{m:.1f} months ({m / 12:.1f} years)"


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
header{background:#1f3a5f;color:#fff;padding:.8rem 1.5rem}header h1{margin:0;font-size:1.3rem}
header a{color:#fff}
.notice{background:#fff4d6;border-bottom:2px solid #e0b243;padding:.6rem 1.5rem;font-weight:600}
main{max-width:1100px;margin:0 auto;padding:1rem 1.5rem 3rem}
fieldset{background:#fff;border:1px solid #d5d9e0;border-radius:6px;margin:0 0 1rem;padding:.6rem 1rem 1rem}
legend{font-weight:700;padding:0 .3rem}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:.5rem 1.2rem}
label{display:block;font-size:.88rem;margin-bottom:.15rem}
.unit{color:#5a6475;font-weight:600}
input,select{width:100%;box-sizing:border-box;padding:.3rem .4rem;font-size:.95rem;border:1px solid #aab2bf;
border-radius:4px;background:#fff}
.field.bad input,.field.bad select{border:2px solid #b3261e;background:#fff1f0}
.ferr{color:#b3261e;font-size:.82rem;margin-top:.15rem}
.errors{background:#fff1f0;border:1px solid #b3261e;border-radius:6px;padding:.6rem 1rem;margin-bottom:1rem}
.errors pre{white-space:pre-wrap;margin:.3rem 0 0;font-size:.85rem}
button{background:#1f3a5f;color:#fff;border:0;border-radius:4px;padding:.55rem 1.4rem;font-size:1rem;
cursor:pointer}
.card{background:#fff;border:1px solid #d5d9e0;border-radius:6px;padding:.8rem 1rem;margin-bottom:1rem}
.card h2{margin:.1rem 0 .5rem;font-size:1.1rem}
.subtype{font-size:1.6rem;font-weight:700}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:1rem}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e3e6eb;padding:.3rem .5rem;
text-align:right}th:first-child,td:first-child{text-align:left}
.envelope{background:#eef4ff;border:1px solid #7a9cd6;border-radius:6px;padding:.6rem 1rem;margin-bottom:1rem}
.muted{color:#5a6475;font-size:.88rem}
#curve{margin:0}#curve svg{width:100%;max-width:860px;height:auto}
ul{margin:.3rem 0;padding-left:1.2rem}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        "<header><h1><a href=\"/\">mastoprog</a>: one patient's estimated survival</h1></header>"
        f"<div class=\"notice\" role=\"note\" id=\"research-notice\">{_e(mp.RESEARCH_USE_NOTICE)}</div>"
        f"<main>{body}</main></body></html>"
    )


def _field_html(column: str, label: str, value: str, errors: list[str]) -> str:
    kind = _kind(column)
    unit = _unit(column)
    fid = f"f-{column}"
    unit_html = f" <span class=\"unit\">({_e(unit)})</span>" if unit else ""
    attrs = f'id="{fid}" name="{column}"' + (' aria-invalid="true"' if errors else "")

    def select(options: Iterable[tuple[str, str]]) -> str:
        opts = "".join(
            f'<option value="{_e(v)}"{" selected" if v == value else ""}>{_e(text)}</option>'
            for v, text in options)
        return f"<select {attrs}>{opts}</select>"

    if kind == "bool":
        widget = select((("unknown", "unknown"), ("yes", "yes"), ("no", "no")))
    elif kind == "sex":
        widget = select((("", "unknown"), ("F", "female (F)"), ("M", "male (M)")))
    elif kind == "ahn":
        widget = select((("unknown", "unknown"), ("none", "none"), *((a, a) for a in AHN_LABELS)))
    elif kind == "subtype":
        widget = select((("", "not assigned"), *((s, s) for s in mp.SUBTYPE_LABELS)))
    elif kind == "id":
        widget = f'<input type="text" {attrs} value="{_e(value)}" autocomplete="off">'
    else:  # numbers: free text so that the server's message (with units) explains any problem
        widget = f'<input type="text" inputmode="decimal" {attrs} value="{_e(value)}" placeholder="unknown">'
    err = "".join(f'<div class="ferr">{_e(m)}</div>' for m in errors)
    cls = "field bad" if errors else "field"
    return f'<div class="{cls}"><label for="{fid}">{_e(label)}{unit_html}</label>{widget}{err}</div>'


def _form_page(values: Mapping[str, str], error: _FormError | None = None) -> str:
    fields_err = error.fields if error else {}
    parts = []
    if error is not None:
        parts.append('<div class="errors" role="alert"><strong>Please check the findings marked below.'
                     f"</strong><pre>{_e(error.message)}</pre></div>")
    parts.append('<form method="post" action="/result">')
    for title, fields in FIELD_GROUPS:
        inner = "".join(_field_html(c, label, str(values.get(c, "")), fields_err.get(c, []))
                        for c, label in fields)
        parts.append(f'<fieldset><legend>{_e(title)}</legend><div class="grid">{inner}</div></fieldset>')
    opts = "".join([
        _option_select("edition", "Classification edition", EDITIONS, values.get("edition"),
                       fields_err.get("edition", [])),
        _option_select("model", "Survival model", MODELS, values.get("model"), fields_err.get("model", [])),
        '<div class="field{bad}"><label for="f-year">Calendar year of diagnosis '
        '<span class="unit">(empty = latest life-table year)</span></label>'
        '<input type="text" inputmode="numeric" id="f-year" name="year" value="{v}">{err}</div>'.format(
            bad=" bad" if fields_err.get("year") else "", v=_e(values.get("year", "")),
            err="".join(f'<div class="ferr">{_e(m)}</div>' for m in fields_err.get("year", []))),
    ])
    parts.append(f'<fieldset><legend>Model</legend><div class="grid">{opts}</div></fieldset>')
    parts.append('<p class="muted">An empty field or "unknown" means the finding is not known: the '
                 "result then shows every subtype and the range of curves consistent with it.</p>")
    parts.append('<button type="submit">Estimate survival</button></form>')
    return _page("mastoprog: findings", "".join(parts))


def _option_select(name: str, label: str, choices: Iterable[tuple[str, str]], value: str | None,
                   errors: list[str]) -> str:
    value = value or next(iter(choices))[0]
    opts = "".join(f'<option value="{_e(v)}"{" selected" if v == value else ""}>{_e(t)}</option>'
                   for v, t in choices)
    err = "".join(f'<div class="ferr">{_e(m)}</div>' for m in errors)
    return (f'<div class="field{" bad" if errors else ""}"><label for="f-{name}">{_e(label)}</label>'
            f'<select id="f-{name}" name="{name}">{opts}</select>{err}</div>')


def _list(items: Iterable[Any], empty: str = "none") -> str:
    items = [i for i in items if i not in (None, "")]
    return ", ".join(_e(i) for i in items) if items else _e(empty)


def _yes_no(v: Any) -> str:
    return {True: "yes", False: "no"}.get(v, "undecided")


def _result_page(r: Mapping[str, Any], values: Mapping[str, str]) -> str:
    c, s = r["classification"], r["score"]
    edit = "/?" + urlencode({k: v for k, v in values.items() if v not in ("", None)})
    who = f" for patient {_e(r['patient_id'])}" if r.get("patient_id") else ""
    parts = [f'<p><a href="{_e(edit)}">&larr; edit these findings</a> &middot; <a href="/">new patient</a>'
             f'</p><h2>Result{who}</h2>']
    if r.get("warnings"):
        parts.append('<div class="errors"><strong>Plausibility warnings</strong><ul>'
                     + "".join(f"<li>{_e(w)}</li>" for w in r["warnings"]) + "</ul></div>")
    lo, hi = s["points_min"], s["points_max"]
    score_range = _e(lo) if lo == hi else f"{_e(lo)}-{_e(hi)}"
    if c["subtype"] == "indeterminate" or r.get("envelope") or c["missing"]:
        parts.append(
            '<div class="envelope" id="envelope"><strong>Findings are missing.</strong> The subtype is '
            f"one of {_list(c['candidates'])}; the score is {score_range} points; the band around the "
            "curve also covers the range over what the missing findings "
            f"could be. Findings that would decide the subtype: {_list(c['missing'])}.</div>")
    subtype = c["subtype"]
    edition = dict(EDITIONS).get(r["edition"], r["edition"])
    parts.append(
        f'<div class="cols"><div class="card"><h2>Subtype ({_e(edition)})</h2>'
        f'<div class="subtype" id="subtype">{_e(subtype)}</div>'
        f'<p>Candidates: {_list(c["candidates"])}<br>SM criteria met: {_yes_no(c["sm_criteria_met"])} '
        f'(major criterion: {_yes_no(c["major_criterion"])}; minor criteria met for sure: '
        f'{_e(c["minor_criteria"])})<br>B findings: {_list(c["b_findings"])}; C findings: '
        f'{_list(c["c_findings"])}'
        + (f'<br>SM component: {_e(c["sm_component"])}' if c.get("sm_component") else "")
        + f'<br>Missing findings that would decide it: {_list(c["missing"])}</p>'
        f'<p class="muted">{_e(c["rationale"])}</p></div>')
    points = (f"{_e(s['points'])} points" if s.get("points") is not None
              else f"{_e(s['points_min'])}-{_e(s['points_max'])} points")
    group = _e(s["group"]) if s.get("group") else "one of " + _list(s.get("possible_groups") or [])
    parts.append(
        '<div class="card"><h2>mastoprog risk score</h2>'
        f'<div class="subtype" id="score">{points}, {group} risk</div>'
        f'<p>Points range {score_range}; possible groups '
        f'{_list(s.get("possible_groups") or [])}</p><ul class="muted">'
        + "".join(f"<li>{_e(n)}</li>" for n in s.get("notes") or []) + "</ul></div></div>")
    model_label = dict(MODELS).get(r["model"], r["model"])
    if r.get("curve_error"):
        parts.append(f'<div class="errors" id="curve-error"><strong>No survival curve.</strong> '
                     f'{_e(r["curve_error"])}</div>')
    else:
        rows = "".join(
            f"<tr><td>{row['years']} year{'s' if row['years'] != 1 else ''}</td>"
            f"<td>{_pct(row['survival'])}</td><td>{_pct(row['lower'])} – {_pct(row['upper'])}</td>"
            f"<td>{_pct(row['population'])}</td></tr>" for row in r["survival"])
        m = r["median"]
        parts.append(
            f'<div class="card"><h2>Estimated overall survival</h2><p class="muted">Model: {_e(model_label)};'
            f' edition {_e(r["edition"])}.</p>'
            + (f'<figure id="curve">{r["svg"]}</figure>' if r.get("svg") else "")
            + '<table id="survival"><thead><tr><th>Since diagnosis</th><th>Survival</th><th>95 % band</th>'
            f'<th>Matched population</th></tr></thead><tbody>{rows}</tbody></table>'
            f'<p id="median"><strong>Median overall survival:</strong> {_months(m["months"])}; 95 % '
            f'{_months(m["lower"])} to {_months(m["upper"])}</p>'
            '<p class="muted">Band: the model\'s parameter uncertainty (95 %), widened to the range over '
            "the possibilities when findings are missing. Matched population: the general population of "
            "the same age, sex and calendar year (Human Mortality Database, US period life tables).</p>"
            + ("<ul class=\"muted\">" + "".join(f"<li>{_e(n)}</li>" for n in r["model_notes"]) + "</ul>"
               if r.get("model_notes") else "")
            + "</div>")
    return _page(f"mastoprog: result{' ' + str(r['patient_id']) if r.get('patient_id') else ''}",
                 "".join(parts))


def _message_page(title: str, text: str) -> str:
    return _page(f"mastoprog: {title}", f'<div class="errors"><strong>{_e(title)}</strong>'
                 f'<p>{_e(text)}</p></div><p><a href="/">back to the form</a></p>')


# --------------------------------------------------------------------------- WSGI


_STATUS = {200: "200 OK", 400: "400 Bad Request", 404: "404 Not Found", 405: "405 Method Not Allowed",
           413: "413 Content Too Large", 500: "500 Internal Server Error"}


def _read_body(environ: Mapping[str, Any]) -> bytes:
    try:
        n = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        n = 0
    if n > _MAX_BODY:
        raise _TooLarge
    return environ["wsgi.input"].read(n) if n > 0 else b""


class _TooLarge(Exception):
    pass


def _flat(qs: str) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(qs, keep_blank_values=True).items()}


def make_app(load_model: ModelLoader | None = None) -> Callable[..., Iterable[bytes]]:
    """The clinician page as a WSGI application.

    Parameters
    ----------
    load_model : callable, optional
        ``name -> SurvivalModel`` (default :func:`mastoprog.load_model`); each model is loaded once.

    Returns
    -------
    callable
        A WSGI application (``app(environ, start_response)``) serving ``/``, ``/result`` and
        ``/api/patient``. Unexpected errors give HTTP 500 with a generic message; the traceback goes
        to the ``mastoprog.web`` logger, never to the page.
    """
    loader = load_model or mp.load_model
    cache: dict[str, Any] = {}
    cache_lock = threading.Lock()

    def load(name: str) -> Any:
        with cache_lock:
            if name not in cache:
                cache[name] = loader(name)
            return cache[name]

    def respond(start_response: Callable, code: int, body: str, ctype: str) -> list[bytes]:
        data = body.encode("utf-8")
        start_response(_STATUS[code], [("Content-Type", f"{ctype}; charset=utf-8"),
                                       ("Content-Length", str(len(data))),
                                       ("X-Content-Type-Options", "nosniff"),
                                       ("Cache-Control", "no-store")])
        return [data]

    def as_json(obj: Any) -> str:
        return json.dumps(_clean(obj), indent=2, allow_nan=False)

    def app(environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO", "/") or "/"
        api = path == "/api/patient"
        try:
            if path == "/" and method in ("GET", "HEAD"):
                return respond(start_response, 200, _form_page(_flat(environ.get("QUERY_STRING", ""))),
                               "text/html")
            if path == "/favicon.ico":
                start_response("204 No Content", [("Content-Length", "0")])
                return [b""]
            if path == "/result" and method in ("GET", "POST"):
                values = (_flat(_read_body(environ).decode("utf-8", "replace")) if method == "POST"
                          else _flat(environ.get("QUERY_STRING", "")))
                try:
                    findings, options = _form_to_request(values)
                    report = _report(findings, options, load, with_svg=True)
                except _FormError as exc:
                    return respond(start_response, 400, _form_page(values, exc), "text/html")
                return respond(start_response, 200, _result_page(report, values), "text/html")
            if api and method in ("GET", "POST"):
                try:
                    if method == "POST":
                        try:
                            body = json.loads(_read_body(environ).decode("utf-8") or "null")
                        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                            raise _FormError(f"request body is not valid JSON: {exc}") from None
                        findings, options = _json_to_request(body)
                    else:
                        findings, options = _form_to_request(_flat(environ.get("QUERY_STRING", "")))
                    report = _report(findings, options, load, with_svg=False)
                except _FormError as exc:
                    return respond(start_response, 400, as_json({
                        "error": exc.message, "problems": exc.problems, "notice": mp.RESEARCH_USE_NOTICE}),
                        "application/json")
                return respond(start_response, 200, as_json(report), "application/json")
            if path in ("/", "/result") or api:
                return respond(start_response, 405, _message_page("Method not allowed",
                               f"{method} is not supported on {path}."), "text/html")
            return respond(start_response, 404, _message_page("Not found", f"No page at {path}."),
                           "text/html")
        except _TooLarge:
            return respond(start_response, 413, _message_page("Request too large",
                           f"At most {_MAX_BODY} bytes are accepted."), "text/html")
        except Exception:  # the page never shows a traceback; the log keeps it
            log.exception("unexpected error serving %s %s", method, path)
            if api:
                return respond(start_response, 500, as_json({
                    "error": "internal error; the details are in the server log",
                    "notice": mp.RESEARCH_USE_NOTICE}), "application/json")
            return respond(start_response, 500, _message_page(
                "Internal error", "Something went wrong while computing this page; the details are in "
                "the server log. Please report it."), "text/html")

    return app


# --------------------------------------------------------------------------- server


class _QuietHandler(WSGIRequestHandler):
    """Request lines go to the ``mastoprog.web`` logger instead of raw stderr."""

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


class _Server(WSGIServer):
    url: str = ""


def _make_server(host: str, port: int, app: Callable | None = None) -> _Server:
    server = make_server(host, port, app or make_app(), server_class=_Server, handler_class=_QuietHandler)
    h, p = server.server_address[:2]
    shown = f"[{h}]" if ":" in str(h) else h
    server.url = f"http://{shown}:{p}/"
    return server


def serve(host: str = "127.0.0.1", port: int = 8000, *, ready: Callable[[Any], None] | None = None,
          app: Callable | None = None) -> None:
    """Serve the clinician page until Ctrl-C, SIGTERM or ``server.shutdown()``.

    Parameters
    ----------
    host : str
        Interface to bind (default ``127.0.0.1``: this machine only). The page has no login; bind
        to another interface only on a network you trust.
    port : int
        TCP port (default 8000; 0 picks a free port).
    ready : callable, optional
        Called once with the bound server (``server.url`` is the page's address) before serving;
        e.g. to print the address, or to keep the server to ``shutdown()`` it from another thread.
    app : WSGI application, optional
        Default :func:`make_app` ``()``.
    """
    server = _make_server(host, port, app)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        # wsgiref's handler swallows a KeyboardInterrupt raised while it answers a request, so
        # Ctrl-C (and SIGTERM) ask the loop to stop instead: the current page is finished first.
        def stop(signum: int, frame: Any) -> None:
            log.info("signal %d: stopping", signum)
            threading.Thread(target=server.shutdown, daemon=True).start()

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, stop)
    try:
        if ready is not None:
            ready(server)
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:  # a second Ctrl-C while stopping, or another handler raised it
        log.info("interrupted; stopping")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.server_close()

