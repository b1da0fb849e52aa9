"""The printable report and the page's figures, drawn from a computed report (no model maths here).

:func:`render_pdf` writes one patient's one-page PDF (A4): findings entered, subtype and scores, the
curve with its band beside the matched population, causes of death at 1/2/5/10 years as a table and
an icon array of 100 similar patients, the model and its targets, date, package version and the
research-use notice. The CLI's ``mastoprog curve ... -o report.pdf`` and the page's ``/report.pdf``
both call it. matplotlib is imported inside the functions (``import mastoprog`` stays light).
"""

from __future__ import annotations

import html
import io
import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["curve_svg", "icons_svg", "pdf_bytes", "render_pdf"]

#: Colours of the three outcomes (colour-blind safe: Okabe-Ito blue, vermillion, grey).
COLOURS = {"alive": "#0072B2", "died_mastocytosis": "#D55E00", "died_other_causes": "#999999"}
LABELS = {
    "alive": "alive",
    "died_mastocytosis": "died of mastocytosis",
    "died_other_causes": "died of other causes",
}


def _pct(p: float | None) -> str:
    return "–" if p is None else f"{100 * p:.1f} %"


def _sex_word(sex: Any) -> str:
    return {"F": "female", "M": "male"}.get(str(sex), "sex unknown")


def title_lines(report: Mapping[str, Any]) -> tuple[str, str]:
    """Figure title and subtitle: patient, age, sex, subtype; the matched population and the model."""
    who = f"Patient {report['patient_id']}, " if report.get("patient_id") else ""
    c = report["classification"]
    subtype = c["subtype"] if c["subtype"] != "indeterminate" else "one of " + ", ".join(c["candidates"])
    title = f"{who}{report['age']:g} y, {_sex_word(report.get('sex'))}: {subtype} ({report['edition_label']})"
    sub = (
        f"Matched population: US general population, {_sex_word(report.get('sex'))}, age {report['age']:g}, "
        f"{report['year']} (HMD); model {report['model_label']}"
    )
    return title, sub


def draw_curve(ax: Any, report: Mapping[str, Any]) -> Any:
    """The patient's curve with its band beside the matched population, axis fitted to the prognosis.

    Parameters
    ----------
    ax : matplotlib Axes
    report : mapping
        A computed report (``report["curve"]``: months, survival, lower, upper, population).

    Returns
    -------
    matplotlib Axes
    """
    cv = report["curve"]
    scale = 1.0 if cv["unit"] == "months" else 12.0
    x = [m / scale for m in cv["months"]]
    band = f"{report.get('level', 0.95):.0%} band" + (
        " + range over missing findings" if report.get("envelope") else ""
    )
    ax.fill_between(x, cv["lower"], cv["upper"], color=COLOURS["alive"], alpha=0.2, linewidth=0, label=band)
    ax.plot(x, cv["survival"], color=COLOURS["alive"], linewidth=2, label="this patient (model)")
    ax.plot(
        x,
        cv["population"],
        color="0.35",
        linestyle="--",
        linewidth=1.5,
        label="matched population (same age, sex, year)",
    )
    med = report["median"]["months"] if report.get("median") else None
    if med is not None and med <= cv["months"][-1]:
        ax.plot(
            [med / scale],
            [0.5],
            "o",
            color=COLOURS["died_mastocytosis"],
            label=f"median {med / scale:.1f} {cv['unit']}",
        )
    title, sub = title_lines(report)
    ax.set_title(f"{title}\n{sub}", loc="left", fontsize=9)
    ax.set_xlabel(f"{cv['unit']} since diagnosis")
    ax.set_ylabel("probability of being alive")
    ax.set_xlim(0, x[-1])
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=7)
    return ax


def _ticks(end: float) -> list[float]:
    """Round tick positions from 0 to ``end`` (about 5 to 10 of them)."""
    step = next(s for s in (0.5, 1, 2, 3, 6, 12, 24, 60) if end / s <= 10)
    return [i * step for i in range(int(end / step) + 1)]


def curve_svg(report: Mapping[str, Any]) -> str:
    """The curve as a small hand-written SVG for the result page (the PDF uses :func:`draw_curve`).

    The same content as :func:`draw_curve` (band, patient, matched population, median, title), written
    directly: a page is drawn in about a millisecond instead of matplotlib's few hundred.

    Parameters
    ----------
    report : mapping
        A computed report (``report["curve"]``).

    Returns
    -------
    str
        SVG markup with ids ``band``, ``patient``, ``population``, ``median``.
    """
    cv = report["curve"]
    scale = 1.0 if cv["unit"] == "months" else 12.0
    x_end = cv["months"][-1] / scale
    left, top, width, height = 60.0, 52.0, 560.0, 280.0

    def pts(ys: list[float]) -> str:
        return " ".join(
            f"{left + width * m / scale / x_end:.1f},{top + height * (1 - y):.1f}"
            for m, y in zip(cv["months"], ys, strict=True)
        )

    band = pts(cv["upper"]) + " " + " ".join(reversed(pts(cv["lower"]).split(" ")))
    title, sub = (html.escape(t) for t in title_lines(report))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 640 390" role="img" '
        f'aria-label="{title}" font-family="sans-serif" font-size="11">',
        f'<text x="{left}" y="18" font-size="13">{title}</text>',
        f'<text x="{left}" y="36" fill="#444">{sub}</text>',
        f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="none" stroke="#999"/>',
    ]
    for y in (0, 0.2, 0.4, 0.6, 0.8, 1.0):
        yy = top + height * (1 - y)
        parts.append(
            f'<line x1="{left}" x2="{left + width}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#eee"/>'
            f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{y:.1f}</text>'
        )
    for t in _ticks(x_end):
        xx = left + width * t / x_end
        parts.append(f'<text x="{xx:.1f}" y="{top + height + 16}" text-anchor="middle">{t:g}</text>')
    parts += [
        f'<polygon id="band" points="{band}" fill="{COLOURS["alive"]}" fill-opacity="0.2"/>',
        f'<polyline id="population" points="{pts(cv["population"])}" fill="none" stroke="#555" '
        'stroke-dasharray="6 4" stroke-width="1.5"/>',
        f'<polyline id="patient" points="{pts(cv["survival"])}" fill="none" stroke="{COLOURS["alive"]}" '
        'stroke-width="2.5"/>',
        f'<text x="{left + width / 2}" y="{top + height + 34}" text-anchor="middle">{cv["unit"]} since '
        "diagnosis</text>",
        f'<text transform="translate(16,{top + height / 2}) rotate(-90)" text-anchor="middle">probability '
        "of being alive</text>",
    ]
    med = (report.get("median") or {}).get("months")
    if med is not None and med <= cv["months"][-1]:
        mx = left + width * med / scale / x_end
        parts.append(
            f'<circle id="median" cx="{mx:.1f}" cy="{top + height / 2:.1f}" r="4.5" '
            f'fill="{COLOURS["died_mastocytosis"]}"><title>median {med / scale:.1f} {cv["unit"]}'
            "</title></circle>"
        )
    level = f"{report.get('level', 0.95):.0%} band" + (
        " + range over missing findings" if report.get("envelope") else ""
    )
    legend = [
        (COLOURS["alive"], "this patient (model)"),
        ("#555", "matched population (same age, sex, year)"),
        ("#9cc3e0", level),
    ]
    for x_offset, (colour, text) in zip((0, 150, 420), legend, strict=True):
        x, y = left + x_offset, top + height + 52
        parts.append(
            f'<rect x="{x}" y="{y - 8}" width="14" height="6" fill="{colour}"/>'
            f'<text x="{x + 18}" y="{y}">{html.escape(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _icon_kinds(counts: Mapping[str, int]) -> list[str]:
    return [k for k in ("alive", "died_mastocytosis", "died_other_causes") for _ in range(int(counts[k]))]


def icons_svg(outcome: Mapping[str, Any]) -> str:
    """An icon array of 100 similar patients at one horizon (10 x 10; one ``<circle>`` each).

    Parameters
    ----------
    outcome : mapping
        One row of ``report["outcomes"]`` (``of_100`` counts and ``years``).

    Returns
    -------
    str
        SVG markup; each icon has ``class="icon <outcome>"``.
    """
    kinds = _icon_kinds(outcome["of_100"])
    cells = "".join(
        f'<circle class="icon {k}" cx="{12 + 22 * (i % 10)}" cy="{12 + 22 * (i // 10)}" r="9" '
        f'fill="{COLOURS[k]}"><title>{LABELS[k]}</title></circle>'
        for i, k in enumerate(kinds)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 222 222" width="222" height="222" role="img" '
        f'aria-label="100 similar patients after {outcome["years"]:g} years">{cells}</svg>'
    )


def _draw_icons(ax: Any, outcome: Mapping[str, Any]) -> None:
    kinds = _icon_kinds(outcome["of_100"])
    for i, k in enumerate(kinds):
        ax.add_patch(_circle((i % 10 + 0.5, 9.5 - i // 10), 0.4, COLOURS[k]))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.set_aspect("equal")
    ax.axis("off")
    counts = outcome["of_100"]
    ax.set_title(
        f"100 similar patients after {outcome['years']:g} years:\n"
        + "\n".join(f"{counts[k]} {LABELS[k]}" for k in COLOURS),
        fontsize=7,
        loc="left",
    )


def _circle(xy: tuple[float, float], r: float, colour: str) -> Any:
    from matplotlib.patches import Circle

    return Circle(xy, r, color=colour)


def _findings_text(report: Mapping[str, Any]) -> str:
    items = [f"{k}={v}" for k, v in report["findings"].items()]
    lines, line = [], ""
    for it in items:
        if len(line) + len(it) > 95:
            lines.append(line)
            line = ""
        line += ("; " if line else "") + it
    return "\n".join([*lines, line])


def _summary_text(report: Mapping[str, Any]) -> str:
    c, s = report["classification"], report["score"]
    points = s["points"] if s.get("points") is not None else f"{s['points_min']}-{s['points_max']}"
    group = s.get("group") or "one of " + ", ".join(s.get("possible_groups") or [])
    contrib = ", ".join(f"{d['factor']} {d['points']}" for d in s["contributions"] if d["points"])
    lines = [
        f"Subtype: {c['subtype']} (candidates {', '.join(c['candidates'])}); {c['rationale']}",
        f"mastoprog score: {points} points, {group} risk" + (f" ({contrib})" if contrib else ""),
    ]
    if report.get("median"):
        m = report["median"]
        lines.append(
            f"Median overall survival {m['months']:.1f} months (95 % {m['lower']:.1f} to {m['upper']:.1f})"
        )
    if report.get("life_expectancy_loss"):
        e = report["life_expectancy_loss"]
        lines.append(
            f"Loss of life expectancy over {e['horizon_months'] / 12:g} years: {e['loss_months']:.1f} "
            f"months (band {e['loss_lower']:.1f} to {e['loss_upper']:.1f})"
        )
    lines += [f"Flag: {f}" for f in report.get("flags", [])]
    return "\n".join(lines)


def _table(ax: Any, report: Mapping[str, Any]) -> None:
    rows = [
        [
            f"{o['years']:g} y",
            f"{_pct(o['alive'])} ({_pct(o['alive_lower'])}-{_pct(o['alive_upper'])})",
            _pct(o["died_mastocytosis"]),
            _pct(o["died_other_causes"]),
            _pct(o["population_alive"]),
        ]
        for o in report["outcomes"]
    ]
    ax.axis("off")
    tab = ax.table(
        cellText=rows,
        colLabels=[
            "after",
            "alive (band)",
            "died of\nmastocytosis",
            "died of\nother causes",
            "population\nalive",
        ],
        colWidths=[0.1, 0.36, 0.18, 0.18, 0.18],
        loc="upper center",
        cellLoc="center",
    )
    tab.auto_set_font_size(False)
    tab.set_fontsize(7)
    tab.scale(1, 1.5)


def pdf_bytes(report: Mapping[str, Any]) -> bytes:
    """One A4 page (portrait) holding everything a clinician files; see the module docstring.

    Parameters
    ----------
    report : mapping
        A computed report.

    Returns
    -------
    bytes
        The PDF.
    """
    buf = io.BytesIO()
    report_figure(report).savefig(
        buf, format="pdf", metadata={"Title": "mastoprog report", "Creator": f"mastoprog {report['version']}"}
    )
    return buf.getvalue()


def report_figure(report: Mapping[str, Any]) -> Any:
    """The report page as a matplotlib Figure (A4 portrait, no pyplot state).

    Parameters
    ----------
    report : mapping
        A computed report.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.27, 11.69))
    FigureCanvasAgg(fig)
    fig.text(0.06, 0.965, "mastoprog: estimated survival of one patient", fontsize=14, weight="bold")
    fig.text(0.06, 0.945, report["notice"], fontsize=8, color="#8a5a00")
    fig.text(
        0.06,
        0.93,
        f"Date {report['date']}; mastoprog {report['version']}; model {report['model_label']};"
        f" edition {report['edition_label']}",
        fontsize=7,
    )
    fig.text(
        0.06, 0.918, "Findings entered:\n" + _findings_text(report), fontsize=6, va="top", family="monospace"
    )
    fig.text(0.06, 0.8, _summary_text(report), fontsize=6.5, va="top", wrap=True)
    if report.get("curve_error"):
        fig.text(0.06, 0.6, "No survival curve: " + report["curve_error"], fontsize=9, wrap=True)
    else:
        draw_curve(fig.add_axes((0.1, 0.41, 0.85, 0.26)), report)
        _table(fig.add_axes((0.06, 0.22, 0.58, 0.13)), report)
        _draw_icons(fig.add_axes((0.7, 0.17, 0.24, 0.14)), report["outcomes"][-1])
        sources = "; ".join(
            dict.fromkeys(f"{t['subtype']}: {t['source']}" for t in report.get("targets", []))
        )
        fig.text(
            0.06, 0.16, f"Target set {report['model']}: {sources[:600]}", fontsize=5.5, va="top", wrap=True
        )
        fig.text(
            0.06,
            0.1,
            "Causes of death are crude probabilities from the relative-survival model; "
            + report.get("band_note", ""),
            fontsize=5.5,
            va="top",
            wrap=True,
        )
    fig.text(0.06, 0.03, report["notice"], fontsize=7, color="#8a5a00")
    return fig


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
    from ._compute import Computer

    out = Path(output)
    if out.exists() and not overwrite:
        raise FileExistsError(f"{str(out)!r} exists; pass overwrite=True (CLI: --force) to replace it")
    values = {
        **_raw_findings(patient),
        "model": model,
        "edition": edition,
        "year": year,
        "survived_months": survived_months,
    }
    data = pdf_bytes(Computer().compute(values, strict=False))
    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.part")
    try:
        with open(tmp, "xb") as f:  # ordinary permissions (umask), unlike mkstemp's 0600
            f.write(data)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
