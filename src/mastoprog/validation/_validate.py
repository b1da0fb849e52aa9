"""``validate``: every TRIPOD validation item for one model on one cohort, as one result object."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .._files import write_text
from ..exceptions import MetricInputError, Problem
from ..findings import already_validated, read_findings
from ..metrics import (
    KaplanMeier,
    brier_score,
    calibration_at,
    calibration_uncertainty,
    censoring_survival,
    check_outcome,
    compare_models,
    concordance_indices,
    integrated_brier_terms,
    kaplan_meier,
    median_table,
    shared_cohort_results,
    time_dependent_auc,
    wald_interval,
)
from ..survival import SurvivalModel
from ._bootstrap import bootstrap_optimism

__all__ = ["ValidationResult", "validate"]

# predicted subtype medians: mean curves up to 50 years, read by linear interpolation: every
# week to 2 years (MCL), monthly to 20 years, then every 3 months (a smooth mean curve: the
# interpolation error of a median beyond 20 years is under 0.01 month; 433 points instead of 673
# halve the chunk's curves, the largest cost of validating a large cohort)
_MEDIAN_GRID = np.unique(np.concatenate([np.arange(0.0, 24.0, 0.25), np.arange(24.0, 240.0),
                                         np.arange(240.0, 601.0, 3.0)]))
# patients per prediction call: bounds memory (about 8 x 440 x _CHUNK bytes per curve array)
_CHUNK = 20_000
# points of the per-patient curves kept for the Kaplan-Meier-vs-predicted plots (float32)
_PLOT_POINTS = 61
# above this many patients the AUC interval comes from the influence function, not the bootstrap
_AUC_BOOTSTRAP_MAX_N = 50_000
# fewer deaths by a horizon than this: the metrics there are flagged as imprecise. Collins GS,
# Ogundimu EO, Altman DG. Stat Med 2016;35:214-26 (doi:10.1002/sim.6787): at least 100 events,
# preferably 200, for external validation.
_MIN_EVENTS = 100

# how each interval of the metrics table is obtained, or why there is none (``ci_note`` column)
_CI_NOTES = {
    "c_harrell": "Wald; infinitesimal-jackknife SE (as R survival::concordance)",
    "c_uno": "Wald; infinitesimal-jackknife SE with the IPC weights treated as fixed (their "
             "estimation variability is ignored)",
    "brier": "Wald; SE of the per-patient IPCW terms, censoring weights treated as fixed; "
             "clipped to [0, 1]",
    "integrated_brier": "Wald; SE of the per-patient integrated IPCW terms, censoring weights "
                        "treated as fixed; clipped to [0, 1]",
    "ipa": "Wald; delta-method influence-function SE of 1 - Brier / null-model Brier, censoring "
           "weights treated as fixed (riskRegression::Score, conservative = TRUE)",
    "observed_risk": "1 - Kaplan-Meier log-log (Greenwood) interval",
    "expected_risk": "no CI: mean of the model's own predictions on this cohort, not an estimate "
                     "from outcomes (the model's parameter uncertainty is predict's)",
    "oe_ratio": "log-scale interval from the Kaplan-Meier Greenwood SE; predictions fixed",
    "calibration_intercept": "Wald; delta method from the Kaplan-Meier Greenwood SE, predictions fixed",
    "calibration_slope": "Wald (Cox). Caveat: background + excess hazards are not proportional, "
                         "so a correct model scores about 1.03, not exactly 1",
    "ici": "no CI: no analytic variance (bootstrap intervals: validate(calibration_bootstrap=200))",
    "e50": "no CI: no analytic variance (bootstrap intervals: validate(calibration_bootstrap=200))",
    "e90": "no CI: no analytic variance (bootstrap intervals: validate(calibration_bootstrap=200))",
    "emax": "no CI: no analytic variance; the maximum is unstable (Austin et al. 2020)",
}


@dataclass(frozen=True)
class ValidationResult:
    """What :func:`validate` found, with the data its plots are drawn from.

    Attributes
    ----------
    metrics : DataFrame
        Tidy: one row per metric and horizon: ``section`` (discrimination, calibration, overall),
        ``metric``, ``horizon`` (months; NaN when not horizon-specific), ``estimate``, ``ci_low``,
        ``ci_high``, ``note`` and ``ci_note``: how the interval was obtained and what it ignores,
        or, where ``ci_low``/``ci_high`` are NaN, why there is none (starts with ``"no CI:"``).
    calibration : dict of float -> Calibration
        Per horizon: groups, smoothed curve, slope, O/E, ICI/E50/E90.
    medians : DataFrame
        Predicted vs Kaplan-Meier median by prognostic subtype (:func:`median_recovery`).
    data_summary : DataFrame
        Patients, deaths, follow-up (reverse Kaplan-Meier median) overall and per subtype.
    optimism : OptimismResult or None
        Bootstrap internal validation (``n_bootstrap > 0``).
    """

    metrics: pd.DataFrame
    calibration: dict[float, Any]
    medians: pd.DataFrame
    data_summary: pd.DataFrame
    optimism: Any
    horizons: tuple[float, ...]
    model_card: dict[str, Any] | None
    notes: tuple[str, ...]
    # what the plots are drawn from (positional: one entry per patient)
    time: np.ndarray = field(repr=False)
    event: np.ndarray = field(repr=False)
    subtype: np.ndarray = field(repr=False)
    risk_group: np.ndarray = field(repr=False)
    grid: np.ndarray = field(repr=False)
    predicted: np.ndarray = field(repr=False)  # (len(grid), n) float32: predicted survival
    # ``grid``: at most _PLOT_POINTS months from 0 to the last horizon, plus the horizons

    def plot_calibration(self, horizon: float | None = None, ax: Any = None) -> Any:
        """Observed vs predicted risk at ``horizon`` (default: the middle horizon)."""
        from ._plots import plot_calibration  # matplotlib: imported only when plotting

        h = self.horizons[len(self.horizons) // 2] if horizon is None else float(horizon)
        if h not in self.calibration:
            raise KeyError(f"horizon {horizon!r}: expected one of {list(self.calibration)} (months)")
        return plot_calibration(self.calibration[h], ax=ax)

    def plot_km(self, by: str = "subtype", ax: Any = None, at_risk: bool = True) -> Any:
        """Kaplan-Meier (solid) vs mean predicted curve (dashed) per subtype or risk group,
        with a number-at-risk table under the axes."""
        from ._plots import plot_km_vs_predicted  # matplotlib: imported only when plotting

        if by not in ("subtype", "risk_group"):
            raise ValueError(f"by: expected 'subtype' or 'risk_group'; got {by!r}")
        groups = self.subtype if by == "subtype" else self.risk_group
        return plot_km_vs_predicted(self.time, self.event, groups, self.grid, self.predicted, ax=ax,
                                    at_risk=at_risk, max_time=max(self.horizons))

    def to_html(self, path: str | PathLike | None = None, *, title: str = "mastoprog validation report",
                model_name: str = "", force: bool = False) -> str:
        """Self-contained HTML report (TRIPOD-style sections, figures inline); written if ``path``.

        The file is written atomically (complete or absent) and an existing file is replaced only
        with ``force`` (:class:`~mastoprog.exceptions.OutputExistsError` otherwise).
        """
        from ._report import render_html  # matplotlib: imported only when rendering

        text = render_html(self, title=title, model_name=model_name)
        if path is not None:
            write_text(path, text, force=force)
        return text


@dataclass
class _Pass:
    """What one chunked pass of predictions leaves behind (no (n_times, n) float64 matrix)."""

    at: dict[float, np.ndarray]
    ibs_terms: np.ndarray
    plot: np.ndarray
    subtype: np.ndarray
    sums: dict[Any, np.ndarray]


def _followup_median(time: np.ndarray, event: np.ndarray) -> float:
    """Median follow-up by the reverse Kaplan-Meier method (Schemper & Smith 1996)."""
    return kaplan_meier(time, ~event).quantile(0.5)[0]


def _chunk_subtype(model: Any, part: pd.DataFrame) -> np.ndarray:
    if hasattr(model, "predict_details"):
        return np.asarray(model.predict_details(part)["subtype"].astype(object))
    if "who_subtype" in part.columns:
        return np.asarray(part["who_subtype"].astype(object))
    return np.full(len(part), "all", dtype=object)


def _chunk_curves(model: Any, part: pd.DataFrame, union: np.ndarray, validated: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(curves (n_times, n), subtype (n,)) of one chunk; a chunk of the validated cohort is not
    parsed again by the model's own check of its input."""
    with already_validated(part) if validated else nullcontext():
        return (np.asarray(model.predict_survival_function(part, union).to_numpy(dtype=float)),
                _chunk_subtype(model, part))


def _predict_pass(model: Any, frame: pd.DataFrame, time: np.ndarray, event: np.ndarray,
                  keep: list[float], grids: dict[str, np.ndarray], cens: KaplanMeier, bar: Any,
                  validated: bool = False) -> _Pass:
    """Predict every patient once, chunk by chunk, on the union of the grids the metrics need;
    keep per patient only S(h) at the horizons, the integrated Brier term and a float32 plot
    curve, and per subtype the sum of the fine-grid curves (for the predicted medians).
    ``validated``: ``frame`` is the canonical frame of the cohort (from ``read_findings``)."""
    n = time.size
    union = grids["union"]
    idx = {k: np.searchsorted(union, g) for k, g in grids.items() if k != "union"}
    out = _Pass({h: np.empty(n) for h in keep}, np.empty(n),
                np.empty((grids["plot"].size, n), dtype=np.float32), np.empty(n, dtype=object), {})
    for start in range(0, n, _CHUNK):
        stop = min(n, start + _CHUNK)
        part = frame.iloc[start:stop]
        curves, sub = _chunk_curves(model, part, union, validated)
        if curves.shape != (union.size, stop - start):
            raise MetricInputError([Problem(None, "model.predict_survival_function", f"shape {curves.shape}",
                                            f"(n_times, n_patients) = ({union.size}, {stop - start})")])
        for h in keep:
            out.at[h][start:stop] = curves[np.searchsorted(union, h)]
        if grids["ibs"].size >= 2:
            out.ibs_terms[start:stop] = integrated_brier_terms(time[start:stop], event[start:stop],
                                                               curves[idx["ibs"]], grids["ibs"], cens)
        out.plot[:, start:stop] = curves[idx["plot"]]
        out.subtype[start:stop] = sub
        # per-subtype sums as one matrix product (no copy of the curves per subtype)
        codes, labels = pd.factorize(pd.Series(sub, dtype=object))
        onehot = np.zeros((codes.size, labels.size))
        onehot[np.flatnonzero(codes >= 0), codes[codes >= 0]] = 1.0
        sums = (curves @ onehot)[idx["median"]]
        for j, g in enumerate(labels):  # loop over subtypes, not patients
            out.sums[g] = out.sums.get(g, 0.0) + sums[:, j]
        bar.update(stop - start)
    return out


def _grids(keep: list[float]) -> dict[str, np.ndarray]:
    hmax = max(keep)
    plot = np.unique(np.concatenate([np.linspace(0.0, hmax, _PLOT_POINTS), keep]))
    ibs = np.unique(np.concatenate([np.arange(1.0, hmax + 1.0), keep]))
    ibs = ibs[(ibs >= 1.0) & (ibs <= hmax)]
    union = np.unique(np.concatenate([_MEDIAN_GRID, plot, ibs, keep]))
    return {"union": union, "plot": plot, "ibs": ibs, "median": _MEDIAN_GRID}


def _check_arguments(model: Any, n_bootstrap: Any, random_state: Any) -> None:
    """scikit-learn-style parameter checks, before any work (and before numpy's own errors)."""
    if not callable(getattr(model, "predict_survival_function", None)):
        raise TypeError("The 'model' parameter of validate must be a SurvivalModel (e.g. "
                        f"load_model('lim2009')) or have predict_survival_function. Got {model!r} instead.")
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int | np.integer) or n_bootstrap < 0:
        raise ValueError("The 'n_bootstrap' parameter of validate must be a whole number >= 0. "
                         f"Got {n_bootstrap!r} instead.")
    ok_seed = random_state is None or isinstance(random_state, np.random.Generator) or (
        isinstance(random_state, int | np.integer) and not isinstance(random_state, bool)
        and random_state >= 0)
    if not ok_seed:
        raise ValueError("The 'random_state' parameter of validate must be None, a whole number "
                         f">= 0 or a numpy Generator. Got {random_state!r} instead.")


#: Column names that usually hold a delayed-entry time, which validate does not use.
_ENTRY_NAMES = ("entry", "entry_time", "entry_months", "tstart")


def _unused_entry_columns(cohort: Any) -> list[str]:
    columns = getattr(cohort, "columns", ())
    return [f"column {c!r} is not used: validate takes every patient as followed from diagnosis "
            "(no delayed entry), which favours the longer-lived if they entered later"
            for c in columns if isinstance(c, str) and c.strip().lower() in _ENTRY_NAMES]


def _outcome(frame: pd.DataFrame, duration_col: str, event_col: str) -> tuple[np.ndarray, np.ndarray]:
    missing = [c for c in (duration_col, event_col) if c not in frame.columns]
    if missing:
        raise MetricInputError([Problem(None, c, "missing column",
                                        "follow-up time (months) and event (0/1) for every patient")
                                for c in missing])
    return check_outcome(frame[duration_col], frame[event_col])


def _horizons(horizons: Sequence[float], time: np.ndarray, event: np.ndarray, notes: list[str]
              ) -> list[float]:
    hs = sorted({float(h) for h in horizons})
    keep = [h for h in hs if 0 < h < time.max() and np.any(event & (time <= h))]
    if len(keep) < len(hs):
        notes.append(f"horizons {[h for h in hs if h not in keep]} months dropped: no death before "
                     f"them or beyond the last follow-up ({time.max():.1f} months)")
    if not keep:
        raise MetricInputError([Problem(None, "horizons", list(horizons),
                                        f"at least one horizon inside the follow-up (0, {time.max():g}) "
                                        "months with a death before it")])
    for h in keep:
        deaths = int(np.sum(event & (time <= h)))
        if deaths < _MIN_EVENTS:
            notes.append(f"only {deaths} death(s) by {h:g} months (fewer than {_MIN_EVENTS}, the minimum "
                         "recommended for validation): the metrics at this horizon are imprecise and "
                         "their intervals approximate")
    return keep


def _risk_groups(s_mid: np.ndarray, n_groups: int) -> np.ndarray:
    k = max(1, int(n_groups))
    rank = pd.Series(1.0 - s_mid).rank(method="first").to_numpy()
    rg = np.minimum((rank - 1) * k // s_mid.size, k - 1).astype(int)
    names = np.array([f"Q{g + 1}" + (" (lowest risk)" if g == 0 else " (highest risk)" if g == k - 1
                                     else "") for g in range(k)], dtype=object)
    return names[rg]


def _auc_rows(time: np.ndarray, event: np.ndarray, at: dict[float, np.ndarray], keep: list[float],
              conf_level: float, auc_bootstrap: int | None, random_state: Any) -> tuple[pd.DataFrame, str]:
    if auc_bootstrap is None:
        n_boot = 200 if time.size <= _AUC_BOOTSTRAP_MAX_N else 0
    else:
        n_boot = int(auc_bootstrap)
    influence = auc_bootstrap is None and n_boot == 0
    res = time_dependent_auc(time, event, np.vstack([at[h] for h in keep]), keep, conf_level=conf_level,
                             n_bootstrap=n_boot, random_state=random_state if random_state is not None else 0,
                             interval="influence" if influence else "bootstrap")
    if influence:
        note = (f"Wald; infinitesimal-jackknife SE with the IPC weights treated as fixed (more than "
                f"{_AUC_BOOTSTRAP_MAX_N:,} patients: no bootstrap)")
    elif n_boot > 0:
        note = (f"percentile bootstrap ({n_boot} resamples of patients; censoring weights "
                "re-estimated in each; predictions held fixed)")
    else:
        note = "no CI: auc_bootstrap=0"
    return res.table.set_index("time"), note


def _few_cases(auc_row: Any) -> str:
    cases, controls = int(auc_row["n_cases"]), int(auc_row["n_controls"])
    if min(cases, controls) < 10:
        return f"only {cases} case(s) and {controls} control(s): the interval is unreliable"
    return ""


def _horizon_rows(time: np.ndarray, event: np.ndarray, h: float, s_h: np.ndarray, auc_row: Any,
                  auc_note: str, conf_level: float) -> list[tuple]:
    cs = concordance_indices(time, event, s_h, ("harrell", "uno"), tau=h, conf_level=conf_level)
    c_h, u_h = cs["harrell"], cs["uno"]
    b_h = brier_score(time, event, s_h, h, conf_level=conf_level)
    ipa = compare_models(time, event, {"model": s_h}, [h], metrics=["ipa"], conf_level=conf_level).table
    ipa_row = ipa[ipa["model"] == "model"].iloc[0]
    return [("discrimination", "c_harrell", h, c_h.estimate, c_h.ci_low, c_h.ci_high,
             "; ".join(filter(None, ["score S(h), tau = h", c_h.note])), _CI_NOTES["c_harrell"]),
            ("discrimination", "c_uno", h, u_h.estimate, u_h.ci_low, u_h.ci_high,
             "; ".join(filter(None, ["score S(h), tau = h, IPCW", u_h.note])), _CI_NOTES["c_uno"]),
            ("discrimination", "auc", h, auc_row["auc"], auc_row["ci_low"], auc_row["ci_high"],
             "; ".join(filter(None, ["cumulative/dynamic, IPCW", _few_cases(auc_row)])), auc_note),
            ("overall", "brier", h, b_h.estimate, b_h.ci_low, b_h.ci_high, "IPCW (Graf 1999)",
             _CI_NOTES["brier"]),
            ("overall", "ipa", h, ipa_row["estimate"], ipa_row["ci_low"], ipa_row["ci_high"],
             "index of prediction accuracy: 1 - Brier / Brier of the Kaplan-Meier null model "
             "(Kattan & Gerds 2018)", _CI_NOTES["ipa"])]


def _data_summary(time: np.ndarray, event: np.ndarray, subtype: np.ndarray) -> pd.DataFrame:
    labels = ["all", *sorted(pd.unique(subtype))]
    summ = []
    for lab in labels:  # loop over subtypes, not patients
        m = np.ones(time.size, bool) if lab == "all" else subtype == lab
        summ.append((lab, int(m.sum()), int(event[m].sum()), float(_followup_median(time[m], event[m])),
                     float(time[m].max())))
    return pd.DataFrame(summ, columns=["group", "n", "deaths", "median_followup_months",
                                       "max_followup_months"])


_NO_CURVE = ("fewer than two deaths by the horizon or identical predictions: no calibration model "
             "can be fitted")


def _calibration_note(metric: str, estimate: float, cal: Any) -> str:
    """Why a calibration row is NaN, or that ICI/E50/E90/Emax fall back on the overall risk."""
    if metric == "calibration_slope" and not np.isfinite(estimate):
        return f"not estimable: {_NO_CURVE}"
    if metric in ("ici", "e50", "e90", "emax") and not np.isfinite(cal.slope):
        return f"against the overall observed risk (no smoothed curve: {_NO_CURVE})"
    return "at horizon"


def _calibration_rows(time: np.ndarray, event: np.ndarray, s_h: np.ndarray, h: float, cal: Any,
                      options: dict[str, Any]) -> list[tuple]:
    """The calibration rows at h; ICI/E50/E90 get percentile-bootstrap intervals when asked."""
    summary = cal.summary().set_index("metric")
    notes = dict(_CI_NOTES)
    n_boot = int(options.get("calibration_bootstrap") or 0)
    if n_boot >= 2 and np.isfinite(cal.slope):
        seed = options["random_state"] if options["random_state"] is not None else 0
        boot = calibration_uncertainty(time, event, s_h, h, n_bootstrap=n_boot, random_state=seed,
                                       conf_level=options["conf_level"]).set_index("metric")
        for name in ("ici", "e50", "e90"):
            summary.loc[name, ["ci_low", "ci_high"]] = boot.loc[name, ["ci_low", "ci_high"]].to_numpy()
            notes[name] = (f"percentile bootstrap ({int(boot.loc[name, 'n_bootstrap'])} resamples of "
                           "patients; calibration curve refitted in each, predictions fixed)")
    return [("calibration", m, h, r["estimate"], r["ci_low"], r["ci_high"],
             _calibration_note(str(m), r["estimate"], cal), notes[str(m)]) for m, r in summary.iterrows()]


def _metrics_table(time: np.ndarray, event: np.ndarray, passed: _Pass, keep: list[float],
                   grids: dict[str, np.ndarray], options: dict[str, Any], bar: Any
                   ) -> tuple[pd.DataFrame, dict[float, Any]]:
    conf_level = options["conf_level"]
    auc_tab, auc_note = _auc_rows(time, event, passed.at, keep, conf_level, options["auc_bootstrap"],
                                  options["random_state"])
    bar.update(1)
    rows: list[tuple] = []
    cal = {}
    for h in keep:  # loop over horizons
        rows += _horizon_rows(time, event, h, passed.at[h], auc_tab.loc[h], auc_note, conf_level)
        cal[h] = calibration_at(time, event, passed.at[h], h, n_groups=options["n_calibration_groups"],
                                conf_level=conf_level)
        rows += _calibration_rows(time, event, passed.at[h], h, cal[h], options)
        bar.update(1)
    if grids["ibs"].size >= 2:
        terms = passed.ibs_terms
        ibs = float(terms.mean())
        se = float(terms.std(ddof=1) / np.sqrt(terms.size)) if terms.size > 1 else float("nan")
        low, high = wald_interval(ibs, se, conf_level, 0.0, 1.0)
        rows.append(("overall", "integrated_brier", np.nan, ibs, low, high,
                     f"months 1-{max(keep):g}", _CI_NOTES["integrated_brier"]))
    metrics = pd.DataFrame(rows, columns=["section", "metric", "horizon", "estimate", "ci_low",
                                          "ci_high", "note", "ci_note"])
    return metrics, cal


def validate(model: Any, cohort: Any, horizons: Sequence[float] = (12, 60, 120), *,
             duration_col: str = "time", event_col: str = "event", n_risk_groups: int = 4,
             n_calibration_groups: int = 10, n_bootstrap: int = 0,
             random_state: int | np.random.Generator | None = None, progress: bool | None = None,
             conf_level: float = 0.95, auc_bootstrap: int | None = None,
             calibration_bootstrap: int = 0) -> ValidationResult:
    """Validate a survival model on a cohort: discrimination, calibration, overall accuracy,
    median recovery by subtype and (optionally) bootstrap internal validation.

    Parameters
    ----------
    model : SurvivalModel or compatible
        Needs ``predict_survival_function(cohort, times)`` (rows: months, columns: patients); for the
        subtype split ``predict_details(cohort)`` (else a ``who_subtype`` column is used); for
        internal validation ``fit(df)``.
    cohort : DataFrame or path
        Findings the model needs plus ``duration_col`` (months) and ``event_col`` (0/1).
    horizons : sequence of float
        Horizons (months). Horizons at or beyond the last follow-up time are dropped (with a note).
    n_risk_groups : int
        Quantile groups of predicted survival at the middle horizon for the KM-vs-predicted plot.
    n_calibration_groups : int
        Groups of the grouped calibration table.
    n_bootstrap : int
        Replicates of Harrell's bootstrap optimism correction (refits the model each time;
        0 = skip). Resamples on which the refit fails (e.g. fewer than 10 deaths in a subtype)
        are skipped and counted (``optimism.failures``, ``n_failed``; warning above 5 %).
    random_state : None, int or numpy Generator
        Seeds the bootstrap resampling (optimism and the AUC interval; the AUC uses 0 if None).
    progress : bool or None
        Progress bar on stderr (tqdm): predictions by patient, then the metrics by horizon.
        None (default): shown for cohorts of 50,000 patients or more when stderr is a terminal.
    auc_bootstrap : int or None
        Resamples for the percentile interval of AUC(h) (0: no interval, stated in ``ci_note``).
        None (default): 200 up to 50,000 patients; above, the influence-function Wald interval
        (IPC weights fixed, as for the C indices), which is O(n log n) instead of O(B n).
    calibration_bootstrap : int
        Resamples for percentile intervals of ICI, E50 and E90
        (:func:`~mastoprog.metrics.calibration_uncertainty`: the smoothed calibration curve is
        refitted on each; about 3 x n_bootstrap Cox fits per horizon). 0 (default): no interval,
        said so in ``ci_note``.

    Returns
    -------
    ValidationResult
        ``metrics`` (tidy, with CIs), per-horizon ``calibration``, ``medians`` and plot methods.
        ``notes`` lists the findings' plausibility notes (``"findings: ..."``, e.g. follow-up
        beyond 600 months), dropped horizons and horizons with fewer than 100 deaths.

    Raises
    ------
    MetricInputError
        Missing or invalid time/event columns (a column read as wholly empty is reported once as
        missing), or no usable horizon.

    Notes
    -----
    Discrimination at horizon h uses the predicted S(h) as the score (higher = longer survival) with
    Harrell's and Uno's C truncated at tau = h, and the cumulative/dynamic AUC(h). Brier scores are
    IPCW (Graf 1999); the integrated Brier score runs over months 1 to max(horizons).

    Intervals (see ``metrics["ci_note"]``): C indices, Brier and integrated Brier use
    influence-function/Wald standard errors in which Uno's and the Brier scores' estimated
    censoring weights are treated as fixed; AUC(h) uses the percentile bootstrap (weights
    re-estimated per resample) or, on large cohorts, the influence function; O/E and the observed
    risk use the Kaplan-Meier Greenwood SE; the calibration slope is a Cox Wald interval. Expected
    risk and ICI/E50/E90/Emax have none. Every interval lies inside the metric's range; a
    degenerate one (a zero SE, e.g. C = 1 on three patients) is said so in ``note``.

    **Scale.** The model is asked for predictions once per chunk of 20,000 patients, and only
    S(h), the integrated-Brier terms, a 61-point float32 curve per patient (for the plots) and the
    per-subtype sums of the fine-grid curves (for the predicted medians) are kept: memory grows
    by about 300 bytes per patient (``benchmarks/bench_validation.py``).

    **Follow-up from diagnosis.** Every metric takes each patient as followed from diagnosis
    (time 0). A cohort with delayed entry (a registry's prevalent cases, what ``fit(...,
    entry_col=...)`` accepts) would favour the longer-lived; ``validate`` has no delayed entry, and a
    column named like an entry time (``entry``, ``entry_time``, ``entry_months``, ``tstart``) is
    reported in ``notes`` as not used.

    **Calibration slope caveat.** The slope (Cox coefficient of log(-log S(h))) is exactly 1 for
    correct predictions only when hazards are proportional on that scale. mastoprog's curves are
    background (life table) x excess survival, whose hazards are not proportional, so a correct
    model scores slightly above 1 (about 1.03 for lim2009 on its own cohorts): judge the slope
    against that, not against exactly 1 (the report repeats this).

    References
    ----------
    Collins GS et al. TRIPOD+AI statement. BMJ 2024;385:e078378. doi:10.1136/bmj-2023-078378.
    Riley RD et al. Evaluation of clinical prediction models (part 2): how to undertake an external
    validation study. BMJ 2024;384:e074820. doi:10.1136/bmj-2023-074820.
    """
    _check_arguments(model, n_bootstrap, random_state)
    notes: list[str] = []
    # mastoprog's models read the findings: validated once here (its notes kept as data), the
    # chunks are not parsed again. Another model gets a DataFrame as given.
    validated = isinstance(model, SurvivalModel) or not isinstance(cohort, pd.DataFrame)
    if validated:
        frame, findings_notes = read_findings(cohort, return_notes=True)
        notes += [f"findings: {text}" for text in findings_notes]
    else:
        frame = cohort
    time, event = _outcome(frame, duration_col, event_col)
    notes += _unused_entry_columns(frame)
    keep = _horizons(horizons, time, event, notes)
    grids = _grids(keep)
    if progress is None:  # tqdm's disable=None: shown only when stderr is a terminal
        disable: bool | None = None if time.size >= 50_000 else True
    else:
        disable = not progress
    # the cohort's Kaplan-Meier curves, time order and prediction ranks: once for every metric
    with shared_cohort_results():
        with tqdm(total=time.size, desc="validate: predicting", unit="patient", disable=disable,
                  leave=False) as bar:
            passed = _predict_pass(model, frame, time, event, keep, grids, censoring_survival(time, event),
                                   bar, validated)
        with tqdm(total=len(keep) + 1, desc="validate: metrics", unit="step", disable=disable,
                  leave=False) as bar:
            metrics, cal = _metrics_table(time, event, passed, keep, grids, {
                "conf_level": conf_level, "auc_bootstrap": auc_bootstrap, "random_state": random_state,
                "calibration_bootstrap": calibration_bootstrap,
                "n_calibration_groups": n_calibration_groups}, bar)
        subtype = passed.subtype
        labels = pd.Series(subtype)
        counts = labels.value_counts()
        means = {g: passed.sums[g] / counts[g] for g in pd.unique(labels.dropna())}
        medians = median_table(time, event, labels, _MEDIAN_GRID, means, conf_level)
    optimism = None
    if n_bootstrap and int(n_bootstrap) > 0:
        optimism = bootstrap_optimism(model, frame, keep, duration_col=duration_col,
                                      event_col=event_col, n_bootstrap=int(n_bootstrap),
                                      conf_level=conf_level, random_state=random_state,
                                      progress=bool(progress))
    card = model.card() if hasattr(model, "card") else None
    risk_group = _risk_groups(passed.at[keep[len(keep) // 2]], n_risk_groups)
    return ValidationResult(metrics, cal, medians, _data_summary(time, event, subtype), optimism,
                            tuple(keep), card, tuple(notes), time, event, subtype, risk_group,
                            grids["plot"], passed.plot)
