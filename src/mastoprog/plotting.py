"""Plots of model outputs (matplotlib is imported inside each function).

Every function takes ``ax=None`` and returns the Axes it drew on.
"""

from __future__ import annotations

from os import PathLike
from typing import Any, cast

import numpy as np

from ._files import atomic_output
from .findings import to_frame

__all__ = ["plot_patient_curve", "save_figure"]

#: Default time grid of a patient plot (months): 0-20 years by 1 month.
PLOT_TIMES = np.arange(0.0, 241.0)


def plot_patient_curve(
    model: Any,
    patient: Any,
    ax: Any = None,
    *,
    times: Any = None,
    level: float = 0.95,
    year: float | None = None,
) -> Any:
    """One patient's overall-survival curve with its band, the matched population and the median.

    Parameters
    ----------
    model : SurvivalModel
        E.g. ``mastoprog.load_model("lim2009")``.
    patient : mapping, one-row DataFrame or path
        Findings of one patient (see :func:`mastoprog.read_findings`).
    ax : matplotlib Axes, optional
        Drawn on if given, else a new figure.
    times : array_like, optional
        Months (default 0-240).
    level : float
        Band level (default 0.95): parameter uncertainty by the model's stored draws, widened to
        the envelope over the possibilities when findings are missing.
    year : float, optional
        Calendar year of diagnosis when the patient has no ``diagnosis_year``.

    Returns
    -------
    matplotlib.axes.Axes
        Lines labelled ``"patient"`` (curve), ``"population"`` (matched general population), the
        ``"band"`` collection, a ``"median"`` marker and the annotation texts.
    """
    import matplotlib.pyplot as plt

    from ._about import RESEARCH_USE_NOTICE

    t = PLOT_TIMES if times is None else np.asarray(times, dtype=float)
    res = model.predict(patient, t, level=level, year=year)
    if res.survival.shape[1] != 1:
        raise ValueError(f"plot_patient_curve draws one patient; got {res.survival.shape[1]}")
    details = model.predict_details(patient, year=year)
    median = float(res.median["median"].iloc[0])
    s = res.survival.iloc[:, 0].to_numpy()
    lo = res.lower.iloc[:, 0].to_numpy()
    up = res.upper.iloc[:, 0].to_numpy()
    pop = res.population.iloc[:, 0].to_numpy()
    envelope = bool(res.notes["envelope"].iloc[0])
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    years = t / 12.0
    band_label = f"{level:.0%} band" + (" + range over missing findings" if envelope else "")
    ax.fill_between(years, lo, up, color="C0", alpha=0.2, linewidth=0, label=band_label)
    ax.collections[-1].set_gid("band")
    ax.plot(years, s, color="C0", linewidth=2, label="patient", gid="patient")
    ax.plot(years, pop, color="0.4", linestyle="--", linewidth=1.5,
            label="matched population (same age, sex, calendar year)", gid="population")
    if np.isfinite(median) and median <= t[-1]:
        ax.plot(
            [median / 12.0],
            [0.5],
            marker="o",
            color="C3",
            linestyle="none",
            gid="median",
            label=f"median {median / 12.0:.1f} y",
        )
    row = details.iloc[0]
    cands = ", ".join(row["candidates"])
    subtype = row["subtype"] if row["subtype"] != "indeterminate" else f"one of {cands}"
    lp = row["linear_predictor"]
    # the excess-hazard multiplier against the subtype's reference patient, in words
    excess = (
        f"disease-related hazard x{np.exp(lp):.2f} of the subtype's reference patient"
        if not envelope
        else f"disease-related hazard x{np.exp(row['linear_predictor_min']):.2f} to "
        f"x{np.exp(row['linear_predictor_max']):.2f} of the subtype's reference (missing findings)"
    )
    score = f"{_score_text(patient)}\n{excess}"
    target_set = res.notes["target_set"].iloc[0]
    ax.set_title(f"Overall survival: {subtype}; {_who(patient)}\ncalibrated to {target_set}", loc="left",
                 fontsize=9)
    ax.text(
        0.99,
        0.97,
        score,
        transform=ax.transAxes,
        ha="right",
        va="top",
        fontsize=8,
        gid="score",
        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
    )
    ax.text(
        0.0,
        -0.2,
        RESEARCH_USE_NOTICE,
        transform=ax.transAxes,
        ha="left",
        va="top",
        fontsize=7,
        color="0.3",
        wrap=True,
        gid="notice",
    )
    ax.set_xlabel("years since diagnosis")
    ax.set_ylabel("probability of being alive")
    ax.set_ylim(0, 1.02)
    # the axis fits the prognosis: three upper-band medians (at least 2 years), not always 20 years
    upper_median = float(res.median["upper"].iloc[0]) if "upper" in res.median else median
    horizon = years[-1] if not np.isfinite(upper_median) else min(years[-1], max(2.0, 3 * upper_median / 12))
    ax.set_xlim(0, horizon)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return ax


def _who(patient: Any) -> str:
    """'patient P1, 58 y, male' from the findings (what is known of them)."""
    from .findings import to_frame

    row = to_frame(patient).iloc[0]
    named = "patient_id" in row and isinstance(row["patient_id"], str)
    parts = [f"patient {row['patient_id']}"] if named else []
    if "age" in row and np.isfinite(float(row["age"])):
        parts.append(f"{float(row['age']):.0f} y")
    sex = {"F": "female", "M": "male"}.get(str(row.get("sex", "")).strip().upper())
    parts.append(sex or "sex unknown")
    return ", ".join(parts)


def _score_text(patient: Any) -> str:
    """The mastoprog composite score of one patient, as a range when findings are missing."""
    import pandas as pd

    from .risk import risk_score

    raw = to_frame(patient)
    r = cast(pd.DataFrame, risk_score(raw, score="mastoprog")).iloc[0]  # a table in, a table out
    if pd.isna(r["points"]):
        groups = ", ".join(r["possible_groups"])
        return f"mastoprog score {r['points_min']}-{r['points_max']} points ({groups})"
    return f"mastoprog score {r['points']} points ({r['group']} risk)"


def save_figure(figure: Any, path: str | PathLike, *, force: bool = False, dpi: int = 150) -> None:
    """Save a matplotlib figure to ``path`` (format by extension), complete or not at all.

    Parameters
    ----------
    figure : matplotlib Figure
        E.g. ``plot_patient_curve(...).figure``.
    path : str or path
        ``.png``, ``.svg``, ``.pdf`` or any other format matplotlib writes.
    force : bool
        Replace an existing file (default: refuse with
        :class:`~mastoprog.exceptions.OutputExistsError`).
    dpi : int
        Resolution of raster formats (dots per inch).

    Notes
    -----
    Written under a temporary name in the same folder and renamed when complete (see
    :mod:`mastoprog._files`): an error, Ctrl-C or SIGTERM never leaves a half-written figure.
    """
    with atomic_output(path, force=force) as tmp:
        figure.savefig(tmp, bbox_inches="tight", dpi=dpi)


# ------------------------------------------------------------------ relative survival (owner: relative)

__all__ += ["plot_crude_mortality", "plot_net_survival", "plot_years_lost"]


_DASHES = ("--", ":", "-.", (0, (5, 1)))


def _groups(table: Any) -> list[tuple[Any, Any]]:
    """``[(None, table)]``, or ``(label, rows)`` per group of a table with a ``group`` column."""
    if "group" not in table.columns:
        return [(None, table)]
    return [(label, rows) for label, rows in table.groupby("group", sort=False)]


def _step_band(ax: Any, years: np.ndarray, lower: np.ndarray, upper: np.ndarray, color: str, gid: str,
               label: str) -> None:
    ax.fill_between(years, lower, upper, step="post", color=color, alpha=0.2, linewidth=0, label=label)
    ax.collections[-1].set_gid(gid)


def plot_net_survival(result: Any, ax: Any = None) -> Any:
    """Net survival of a cohort with its interval (a :func:`mastoprog.relative.net_survival` result).

    Parameters
    ----------
    result : NetSurvivalResult
        From :func:`mastoprog.relative.net_survival` (rows at every follow-up time draw the steps;
        a few requested times draw a coarser curve).
    ax : matplotlib Axes, optional
        Drawn on if given, else a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The line ``"net_survival"`` (x: years since diagnosis, y: the estimate, starting at (0, 1)),
        the band ``"net_survival_band"`` and a title naming the life table; with groups
        (``group_col``) one line and band per group, ``"net_survival:<group>"``.

    References
    ----------
    Pohar Perme M, Stare J, Estève J. Biometrics 2012;68:113-20. doi:10.1111/j.1541-0420.2011.01640.x
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    name = {"pohar-perme": "Pohar Perme", "ederer2": "Ederer II"}.get(result.method, result.method)
    top, last = 1.02, 0.0
    for i, (label, table) in enumerate(_groups(result.table)):
        years = np.concatenate([[0.0], table["time"].to_numpy() / 12.0])
        est = np.concatenate([[1.0], table["estimate"].to_numpy()])
        suffix = "" if label is None else f":{label}"
        _step_band(ax, years, np.concatenate([[1.0], table["lower"].to_numpy()]),
                   np.concatenate([[1.0], table["upper"].to_numpy()]), f"C{i}", f"net_survival_band{suffix}",
                   f"{result.conf_level:.0%} interval" + ("" if label is None else f" ({label})"))
        ax.step(years, est, where="post", color=f"C{i}", linewidth=2, gid=f"net_survival{suffix}",
                label=f"net survival ({name})" if label is None else f"{label} ({name})")
        top, last = max(top, float(np.nanmax(est)) + 0.02), max(last, years[-1])
    lt = result.life_table
    ax.set_title(f"Net survival of {result.n_patients} patients ({result.n_events} deaths)\nagainst "
                 f"{lt['name']} {lt['first_year']}-{lt['last_year']}", loc="left", fontsize=9)
    ax.set_xlabel("years since diagnosis")
    ax.set_ylabel("net survival")
    ax.set_xlim(0, last)
    ax.set_ylim(0, top)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return ax


def plot_crude_mortality(result: Any, ax: Any = None) -> Any:
    """Crude probabilities of death from the disease and from other causes, with their intervals.

    Parameters
    ----------
    result : CrudeMortalityResult
        From :func:`mastoprog.relative.crude_mortality`.
    ax : matplotlib Axes, optional
        Drawn on if given, else a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        Lines ``"crude_disease"`` and ``"crude_other"`` (x: years since diagnosis, y: probability,
        starting at (0, 0)) and bands ``"crude_disease_band"``, ``"crude_other_band"``; with groups
        one pair per group, ``"crude_disease:<group>"`` etc.

    References
    ----------
    Pavlič K, Pohar Perme M. Biostatistics 2019;20:384-99. doi:10.1093/biostatistics/kxy008
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    labels = {"disease": "death from the disease", "other": "death from other causes"}
    top, last = 0.0, 0.0
    for i, (label, table) in enumerate(_groups(result.table)):
        for color, style, cause in ((f"C{2 * i + 3}", "-", "disease"), ("0.4", _DASHES[i % 4], "other")):
            part = table[table["cause"] == cause]
            years = np.concatenate([[0.0], part["time"].to_numpy() / 12.0])
            upper = np.concatenate([[0.0], part["upper"].to_numpy()])
            suffix = cause if label is None else f"{cause}:{label}"
            _step_band(ax, years, np.concatenate([[0.0], part["lower"].to_numpy()]), upper, color,
                       f"crude_{suffix}_band", f"{result.conf_level:.0%} interval ({suffix})")
            ax.step(years, np.concatenate([[0.0], part["estimate"].to_numpy()]), where="post", color=color,
                    linestyle=style, linewidth=2, gid=f"crude_{suffix}",
                    label=labels[cause] + ("" if label is None else f" ({label})"))
            top, last = max(top, float(np.nanmax(upper))), max(last, years[-1])
    lt = result.life_table
    ax.set_title(f"Crude probability of death by cause, {result.n_patients} patients\nagainst "
                 f"{lt['name']} {lt['first_year']}-{lt['last_year']}", loc="left", fontsize=9)
    ax.set_xlabel("years since diagnosis")
    ax.set_ylabel("probability of having died")
    ax.set_xlim(0, last)
    ax.set_ylim(0, min(1.0, top + 0.05))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return ax


def plot_years_lost(result: Any, ax: Any = None) -> Any:
    """Restricted-mean years of life lost up to each horizon (a :func:`mastoprog.relative.years_lost` result).

    Parameters
    ----------
    result : YearsLostResult
        From :func:`mastoprog.relative.years_lost`.
    ax : matplotlib Axes, optional
        Drawn on if given, else a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The line ``"years_lost"`` (x: horizon, years since diagnosis; y: years lost up to it,
        starting at (0, 0)); for ``"yl2017"`` the band ``"years_lost_band"`` (the interval at the
        result's ``conf_level``); for ``"yl2013"`` the title says why there is none. A title names
        the measure, the cohort and the life table.

    References
    ----------
    Andersen PK. Stat Med 2013;32:5278-85. doi:10.1002/sim.5903
    Andersen PK. Stat Med 2017;36:3573-82. doi:10.1002/sim.7357
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5))
    table = result.table
    years = np.concatenate([[0.0], table["time"].to_numpy() / 12.0])
    lost = np.concatenate([[0.0], table["years_lost"].to_numpy()])
    measure = {"yl2013": "Years of life lost to the disease (Andersen 2013)",
               "yl2017": "Years of life lost against the matched population (Andersen 2017)"}
    ends = [lost]
    if "lower" in table.columns:
        lower = np.concatenate([[0.0], table["lower"].to_numpy()])
        upper = np.concatenate([[0.0], table["upper"].to_numpy()])
        ax.fill_between(years, lower, upper, color="C3", alpha=0.2, linewidth=0,
                        label=f"{result.conf_level:.0%} interval")
        ax.collections[-1].set_gid("years_lost_band")
        ends += [lower, upper]
        interval = ""
    else:
        interval = "; no interval (relsurv gives this measure one only by bootstrap)"
    ax.plot(years, lost, color="C3", linewidth=2, marker="o" if years.size <= 40 else None, markersize=3,
            gid="years_lost", label=f"years lost ({result.measure})")
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    lt = result.life_table
    ax.set_title(f"{measure.get(result.measure, result.measure)}\n{result.n_patients} patients "
                 f"({result.n_events} deaths) against {lt['name']} {lt['first_year']}-{lt['last_year']}"
                 f"{interval}", loc="left", fontsize=9)
    ax.set_xlabel("horizon, years since diagnosis")
    ax.set_ylabel("years of life lost up to the horizon")
    ax.set_xlim(0, years[-1])
    low, high = float(np.nanmin(np.concatenate(ends))), float(np.nanmax(np.concatenate(ends)))
    pad = 0.05 * max(high - low, 0.1)
    ax.set_ylim(min(0.0, low) - pad, high + pad)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return ax
