"""Self-contained HTML validation report (TRIPOD-style sections; figures inline as base64 PNG)."""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from ..metrics import decision_curve
from ._plots import plot_decision_curve

__all__ = ["render_html"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:980px;margin:2em auto;
color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.6em} h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;font-size:.88em;margin:.6em 0}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right} th{background:#f4f4f4}
td:first-child,th:first-child{text-align:left}
.notice{background:#fff4e5;border:1px solid #f0b45a;padding:.7em 1em;border-radius:4px}
.note{color:#555;font-size:.9em} figure{margin:1em 0} img{max-width:100%}
"""


def _decision_section(result: Any) -> str:
    """Decision curve at the middle horizon (clinical usefulness, TRIPOD item 'model usefulness')."""
    h = result.horizons[len(result.horizons) // 2]
    s_h = result.predicted[int(np.searchsorted(result.grid, h))].astype(float)
    curve = decision_curve(result.time, result.event, {"model": 1.0 - s_h}, h,
                           np.round(np.arange(0.05, 0.96, 0.05), 2).tolist())
    text = (f"<h3>Clinical usefulness: decision curve at {h:g} months</h3><p>Net benefit of acting "
            "on patients whose predicted risk of death by the horizon reaches a threshold, against "
            "acting on everybody and on nobody (Vickers &amp; Elkin 2006; Kaplan-Meier of the "
            "patients acted on).</p>")
    return text + _figure(lambda ax: plot_decision_curve(curve, ax=ax),
                          f"Decision curve at {h:g} months.")


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _table(frame: pd.DataFrame, digits: int = 3) -> str:
    show = frame.copy()
    for c in show.columns:
        if pd.api.types.is_float_dtype(show[c]):
            show[c] = show[c].map(lambda v: "" if pd.isna(v) else f"{v:.{digits}f}")
    return show.to_html(index=False, escape=True, border=0)


def _figure(draw, caption: str, figsize=(6.4, 5.0)) -> str:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize)
    draw(ax)
    data = _png(fig)
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption class='note'>{html.escape(caption)}</figcaption></figure>")


def render_html(result: Any, *, title: str, model_name: str = "") -> str:
    """The report as one HTML string (no external files, scripts or fonts)."""
    from .._about import RESEARCH_USE_NOTICE, __version__

    m = result.metrics
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>",
             f"<p class='notice'><strong>{html.escape(RESEARCH_USE_NOTICE)}</strong></p>",
             f"<p class='note'>mastoprog {html.escape(__version__)}; generated "
             f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; horizons "
             f"{', '.join(f'{h:g}' for h in result.horizons)} months. Sections follow the TRIPOD "
             "items for validation studies (Collins et al., BMJ 2015;350:g7594; TRIPOD+AI 2024).</p>"]
    if result.notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in result.notes) + "</ul>")

    # 1. data
    parts.append("<h2>1. Data</h2><p>Patients, deaths and follow-up (median by reverse "
                 "Kaplan-Meier) overall and by prognostic subtype.</p>")
    parts.append(_table(result.data_summary, 1))

    # 2. model
    parts.append("<h2>2. Model</h2>")
    card = result.model_card
    if model_name:
        parts.append(f"<p>Model: <strong>{html.escape(model_name)}</strong></p>")
    if isinstance(card, dict):
        simple = {k: v for k, v in card.items() if isinstance(v, str | int | float)}
        if simple:
            parts.append(_table(pd.DataFrame({"item": list(simple),
                                              "value": [str(v) for v in simple.values()]})))
        params = card.get("parameters")
        if isinstance(params, list) and params and isinstance(params[0], dict):
            parts.append(_table(pd.DataFrame(params)))
    else:
        parts.append("<p class='note'>The model provides no card.</p>")

    # 3. discrimination
    parts.append("<h2>3. Discrimination</h2><p>Score at horizon h: the predicted survival S(h) "
                 "(higher = longer survival). Harrell's and Uno's C truncated at h (Wald 95% CI, "
                 "infinitesimal-jackknife SE), cumulative/dynamic AUC(h) with IPCW (percentile "
                 "bootstrap CI).</p>")
    parts.append(_table(m[m["section"] == "discrimination"].drop(columns="section")))
    parts.append("<h3>Overall accuracy</h3><p>IPCW Brier score and the index of prediction "
                 "accuracy (IPA = 1 - Brier / Brier of the Kaplan-Meier null model, which predicts "
                 "the cohort's survival for everybody: above 0 = better than no model).</p>")
    parts.append(_table(m[m["section"] == "overall"].drop(columns="section"), 4))
    parts.append(_decision_section(result))

    # 4. calibration
    parts.append("<h2>4. Calibration</h2><p>Calibration-in-the-large (observed 1 - KM(h) vs mean "
                 "predicted risk, O/E ratio), calibration slope (Cox coefficient of log(-log S(h))), "
                 "and ICI/E50/E90 from a smoothed Cox/restricted-cubic-spline calibration curve "
                 "(Austin, Harrell &amp; van Klaveren, Stat Med 2020).</p>"
                 "<p class='notice'><strong>Calibration slope caveat:</strong> the slope is exactly "
                 "1 for correct predictions only when hazards are proportional on the log(-log) "
                 "scale. mastoprog's curves combine a background (life-table) hazard with an "
                 "excess hazard, which are not proportional, so a correct model scores slightly "
                 "above 1 (about 1.03 for lim2009 on its own simulated cohorts). Judge the slope "
                 "against that, not against exactly 1.</p>"
                 "<p class='note'>Every row states in <code>ci_note</code> how its interval was "
                 "obtained or why there is none.</p>")
    parts.append(_table(m[m["section"] == "calibration"].drop(columns="section")))
    for h in result.horizons:
        parts.append(_figure(lambda ax, h=h: result.plot_calibration(h, ax=ax),
                             f"Calibration at {h:g} months: quantile groups of predicted risk "
                             "(Kaplan-Meier with 95% CI) and the smoothed curve."))
    parts.append("<h3>Observed vs predicted survival by subtype and risk group</h3>")
    n_sub = len(set(result.subtype.tolist()))
    parts.append(_figure(lambda ax: result.plot_km("subtype", ax=ax),
                         "Kaplan-Meier (solid, 95% band) vs mean predicted curve (dashed) by "
                         "prognostic subtype, with numbers at risk.", figsize=(7.2, 5.2 + 0.3 * n_sub)))
    parts.append(_figure(lambda ax: result.plot_km("risk_group", ax=ax),
                         "Kaplan-Meier vs mean predicted curve by quartile of predicted risk at "
                         f"{result.horizons[len(result.horizons) // 2]:g} months.",
                         figsize=(7.2, 6.4)))
    parts.append("<h3>Median survival by subtype</h3><p>Kaplan-Meier median with its 95% CI "
                 "(Brookmeyer-Crowley, log-log) vs the median of the subtype's mean predicted curve; "
                 "<code>inf</code> = not reached.</p>")
    med = result.medians.copy()
    med["covered"] = med["covered"].map({True: "yes", False: "no"})
    parts.append(_table(med, 1))

    # 5. internal validation
    parts.append("<h2>5. Internal validation</h2>")
    if result.optimism is None:
        parts.append("<p>Not run (bootstrap optimism correction refits the model on every "
                     "replicate; request it with <code>n_bootstrap</code> / <code>--bootstrap N</code>)."
                     "</p>")
    else:
        opt = result.optimism
        parts.append(f"<p>Harrell's bootstrap optimism correction ({int(opt.table['n_bootstrap'].iloc[0])} "
                     "replicates used): the model structure is refitted on each resample and scored on "
                     "the resample and on the original cohort. Intervals: percentile interval of the "
                     "bootstrap performance re-centred on the corrected estimate (approximate; Noma "
                     "et al., Stat Med 2021).</p>")
        if opt.interrupted or int(opt.table["n_failed"].iloc[0]) > 0:
            parts.append(f"<p class='notice'>{html.escape(opt.summary())}</p>")
        parts.append(_table(opt.table))
        if len(opt.loob):
            parts.append("<h3>Leave-one-out bootstrap and .632+</h3><p>Efron &amp; Tibshirani (1997), "
                         "from the same resamples: each patient scored only by models fitted without "
                         "them (Brier: per-patient IPCW terms averaged over the resamples leaving "
                         "them out, as riskRegression <code>split.method = \"loob\"</code>; C: "
                         "mean out-of-bag C), then weighted with the apparent value by the relative "
                         "overfitting rate R (no-information Brier: every outcome against every "
                         "prediction; C: 0.5).</p>")
            parts.append(_table(opt.loob))
    parts.append(f"<hr><p class='note'>{html.escape(RESEARCH_USE_NOTICE)}</p></body></html>")
    return "\n".join(parts)

