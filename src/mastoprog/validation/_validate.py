"""``validate``: every TRIPOD validation item for one model on one cohort, as one result object."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import Problem

__all__ = ["ValidationResult", "validate"]

# predicted subtype medians: mean curves on a fine grid up to 50 years, in chunks of patients
_MEDIAN_GRID = np.unique(np.concatenate([np.arange(0.0, 24.0, 0.25), np.arange(24.0, 601.0)]))
_CHUNK = 4000

# how each interval of the metrics table is obtained, or why there is none (``ci_note`` column)
_CI_NOTES = {
    "c_harrell": "Wald; infinitesimal-jackknife SE (as R survival::concordance)",
    "c_uno": "Wald; infinitesimal-jackknife SE with the IPC weights treated as fixed (their "
             "estimation variability is ignored)",
    "brier": "Wald; SE of the per-patient IPCW terms, censoring weights treated as fixed",
    "integrated_brier": "Wald; SE of the per-patient integrated IPCW terms, censoring weights "
                        "treated as fixed",
    "observed_risk": "1 - Kaplan-Meier log-log (Greenwood) interval",
    "expected_risk": "no CI: mean of the model's own predictions on this cohort, not an estimate "
                     "from outcomes (the model's parameter uncertainty is predict's)",
    "oe_ratio": "log-scale interval from the Kaplan-Meier Greenwood SE; predictions fixed",
    "calibration_slope": "Wald (Cox). Caveat: background + excess hazards are not proportional, "
                         "so a correct model scores about 1.03, not exactly 1",
    "ici": "no CI: no analytic variance (Austin et al. 2020 bootstrap the smoothed curve; not run)",
    "e50": "no CI: no analytic variance (Austin et al. 2020 bootstrap the smoothed curve; not run)",
    "e90": "no CI: no analytic variance (Austin et al. 2020 bootstrap the smoothed curve; not run)",
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
    predicted: np.ndarray = field(repr=False)  # (len(grid), n): predicted survival

    def plot_calibration(self, horizon: float | None = None, ax: Any = None) -> Any:
        """Observed vs predicted risk at ``horizon`` (default: the middle horizon)."""
        from ._plots import plot_calibration

        h = self.horizons[len(self.horizons) // 2] if horizon is None else float(horizon)
        if h not in self.calibration:
            raise KeyError(f"horizon {horizon!r}: expected one of {list(self.calibration)} (months)")
        return plot_calibration(self.calibration[h], ax=ax)

    def plot_km(self, by: str = "subtype", ax: Any = None, at_risk: bool = True) -> Any:
        """Kaplan-Meier (solid) vs mean predicted curve (dashed) per subtype or risk group,
        with a number-at-risk table under the axes."""
        from ._plots import plot_km_vs_predicted

        if by not in ("subtype", "risk_group"):
            raise ValueError(f"by: expected 'subtype' or 'risk_group'; got {by!r}")
        groups = self.subtype if by == "subtype" else self.risk_group
        return plot_km_vs_predicted(self.time, self.event, groups, self.grid, self.predicted, ax=ax,
                                    at_risk=at_risk, max_time=max(self.horizons))

    def to_html(self, path: str | PathLike | None = None, *, title: str = "mastoprog validation report",
                model_name: str = "") -> str:
        """Self-contained HTML report (TRIPOD-style sections, figures inline); written if ``path``."""
        from ._report import render_html

        text = render_html(self, title=title, model_name=model_name)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text


def _followup_median(time: np.ndarray, event: np.ndarray) -> float:
    """Median follow-up by the reverse Kaplan-Meier method (Schemper & Smith 1996)."""
    from ..metrics import kaplan_meier

    return kaplan_meier(time, ~event).quantile(0.5)[0]


def _subtype_medians(model: Any, frame: pd.DataFrame, time: np.ndarray, event: np.ndarray,
                     subtype: np.ndarray, conf_level: float) -> pd.DataFrame:
    """KM vs predicted median per subtype; mean predicted curves accumulated chunk by chunk so
    memory stays bounded on large cohorts."""
    from ..metrics import median_table

    labels = pd.Series(subtype)
    groups = list(pd.unique(labels.dropna()))
    sums = {g: np.zeros(_MEDIAN_GRID.size) for g in groups}
    for start in range(0, time.size, _CHUNK):
        part = model.predict_survival_function(frame.iloc[start:start + _CHUNK], _MEDIAN_GRID).to_numpy(float)
        lab = subtype[start:start + _CHUNK]
        for g in groups:
            sums[g] += part[:, lab == g].sum(axis=1)
    counts = labels.value_counts()
    means = {g: sums[g] / counts[g] for g in groups}
    return median_table(time, event, labels, _MEDIAN_GRID, means, conf_level)


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


def validate(model: Any, cohort: Any, horizons: Sequence[float] = (12, 60, 120), *,
             duration_col: str = "time", event_col: str = "event", n_risk_groups: int = 4,
             n_calibration_groups: int = 10, n_bootstrap: int = 0,
             random_state: int | np.random.Generator | None = None, progress: bool = False,
             conf_level: float = 0.95, auc_bootstrap: int = 200) -> ValidationResult:
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
    auc_bootstrap : int
        Resamples for the percentile interval of AUC(h) (0: no interval, stated in ``ci_note``).

    Returns
    -------
    ValidationResult
        ``metrics`` (tidy, with CIs), per-horizon ``calibration``, ``medians`` and plot methods.

    Notes
    -----
    Discrimination at horizon h uses the predicted S(h) as the score (higher = longer survival) with
    Harrell's and Uno's C truncated at tau = h, and the cumulative/dynamic AUC(h). Brier scores are
    IPCW (Graf 1999); the integrated Brier score runs over months 1 to max(horizons).

    Intervals (see ``metrics["ci_note"]``): C indices, Brier and integrated Brier use
    influence-function/Wald standard errors in which Uno's and the Brier scores' estimated
    censoring weights are treated as fixed; AUC(h) uses the percentile bootstrap (weights
    re-estimated per resample); O/E and the observed risk use the Kaplan-Meier Greenwood SE;
    the calibration slope is a Cox Wald interval. Expected risk and ICI/E50/E90/Emax have none.

    **Calibration slope caveat.** The slope (Cox coefficient of log(-log S(h))) is exactly 1 for
    correct predictions only when hazards are proportional on that scale. mastoprog's curves are
    background (life table) x excess survival, whose hazards are not proportional, so a correct
    model scores slightly above 1 (about 1.03 for lim2009 on its own cohorts): judge the slope
    against that, not against exactly 1 (the report repeats this).
    """
    from ..exceptions import MetricInputError
    from ..findings import read_findings
    from ..metrics import (
        brier_score,
        calibration_at,
        check_outcome,
        concordance_index,
        integrated_brier_terms,
        normal_quantile,
        time_dependent_auc,
    )

    _check_arguments(model, n_bootstrap, random_state)
    frame = cohort if isinstance(cohort, pd.DataFrame) else read_findings(cohort)
    missing = [c for c in (duration_col, event_col) if c not in frame.columns]
    if missing:
        raise MetricInputError([Problem(None, c, "missing column",
                                        "follow-up time (months) and event (0/1) for every patient")
                                for c in missing])
    time, event = check_outcome(frame[duration_col], frame[event_col])
    notes: list[str] = []
    hs = sorted({float(h) for h in horizons})
    keep = [h for h in hs if 0 < h < time.max() and np.any(event & (time <= h))]
    if len(keep) < len(hs):
        notes.append(f"horizons {[h for h in hs if h not in keep]} months dropped: no death before "
                     f"them or beyond the last follow-up ({time.max():.1f} months)")
    if not keep:
        raise MetricInputError([Problem(None, "horizons", list(horizons),
                                        f"at least one horizon inside the follow-up (0, {time.max():g}) "
                                        "months with a death before it")])
    hmax = max(keep)
    grid = np.unique(np.concatenate([np.arange(0.0, hmax + 1.0), keep]))
    pred = np.asarray(model.predict_survival_function(frame, grid).to_numpy(dtype=float))
    if pred.shape != (grid.size, time.size):
        raise MetricInputError([Problem(None, "model.predict_survival_function", f"shape {pred.shape}",
                                        f"(n_times, n_patients) = ({grid.size}, {time.size})")])
    at = {h: pred[np.searchsorted(grid, h)] for h in keep}

    if hasattr(model, "predict_details"):
        subtype = np.asarray(model.predict_details(frame)["subtype"].astype(object))
    elif "who_subtype" in frame.columns:
        subtype = np.asarray(frame["who_subtype"].astype(object))
    else:
        subtype = np.full(time.size, "all", dtype=object)
    h_mid = keep[len(keep) // 2]
    risk = 1.0 - at[h_mid]
    k = max(1, int(n_risk_groups))
    rank = pd.Series(risk).rank(method="first").to_numpy()
    rg = np.minimum((rank - 1) * k // time.size, k - 1).astype(int)
    risk_group = np.array([f"Q{g + 1}" + (" (lowest risk)" if g == 0 else " (highest risk)" if g == k - 1
                                          else "") for g in rg], dtype=object)

    rows = []
    cal = {}
    auc_res = time_dependent_auc(time, event, np.vstack([at[h] for h in keep]), keep,
                                 conf_level=conf_level, n_bootstrap=int(auc_bootstrap),
                                 random_state=random_state if random_state is not None else 0)
    auc_tab = auc_res.table.set_index("time")
    auc_note = (f"percentile bootstrap ({int(auc_bootstrap)} resamples of patients; censoring "
                "weights re-estimated in each; predictions held fixed)" if int(auc_bootstrap) > 0
                else "no CI: auc_bootstrap=0")
    for h in keep:
        c_h = concordance_index(time, event, at[h], tau=h, conf_level=conf_level)
        u_h = concordance_index(time, event, at[h], method="uno", tau=h, conf_level=conf_level)
        b_h = brier_score(time, event, at[h], h, conf_level=conf_level)
        a_h = auc_tab.loc[h]
        rows += [("discrimination", "c_harrell", h, c_h.estimate, c_h.ci_low, c_h.ci_high,
                  "score S(h), tau = h", _CI_NOTES["c_harrell"]),
                 ("discrimination", "c_uno", h, u_h.estimate, u_h.ci_low, u_h.ci_high,
                  "score S(h), tau = h, IPCW", _CI_NOTES["c_uno"]),
                 ("discrimination", "auc", h, a_h["auc"], a_h["ci_low"], a_h["ci_high"],
                  "cumulative/dynamic, IPCW", auc_note),
                 ("overall", "brier", h, b_h.estimate, b_h.ci_low, b_h.ci_high, "IPCW (Graf 1999)",
                  _CI_NOTES["brier"])]
        cal[h] = calibration_at(time, event, at[h], h, n_groups=n_calibration_groups,
                                conf_level=conf_level)
        for _, r in cal[h].summary().iterrows():
            rows.append(("calibration", r["metric"], h, r["estimate"], r["ci_low"], r["ci_high"],
                         "at horizon", _CI_NOTES[r["metric"]]))
    ibs_grid = grid[(grid >= 1.0) & (grid <= hmax)]
    if ibs_grid.size >= 2:
        terms = integrated_brier_terms(time, event, pred[(grid >= 1.0) & (grid <= hmax)], ibs_grid)
        ibs = float(terms.mean())
        se = float(terms.std(ddof=1) / np.sqrt(terms.size)) if terms.size > 1 else float("nan")
        z = normal_quantile(conf_level)
        rows.append(("overall", "integrated_brier", np.nan, ibs, ibs - z * se, ibs + z * se,
                     f"months 1-{hmax:g}", _CI_NOTES["integrated_brier"]))
    metrics = pd.DataFrame(rows, columns=["section", "metric", "horizon", "estimate", "ci_low",
                                          "ci_high", "note", "ci_note"])

    medians = _subtype_medians(model, frame, time, event, subtype, conf_level)

    labels = ["all", *sorted(pd.unique(subtype))]
    summ = []
    for lab in labels:
        m = np.ones(time.size, bool) if lab == "all" else subtype == lab
        summ.append((lab, int(m.sum()), int(event[m].sum()), float(_followup_median(time[m], event[m])),
                     float(time[m].max())))
    data_summary = pd.DataFrame(summ, columns=["group", "n", "deaths", "median_followup_months",
                                               "max_followup_months"])

    optimism = None
    if n_bootstrap and int(n_bootstrap) > 0:
        from ._bootstrap import bootstrap_optimism

        optimism = bootstrap_optimism(model, frame, keep, duration_col=duration_col,
                                      event_col=event_col, n_bootstrap=int(n_bootstrap),
                                      conf_level=conf_level, random_state=random_state,
                                      progress=progress)
    card = model.card() if hasattr(model, "card") else None
    return ValidationResult(metrics, cal, medians, data_summary, optimism, tuple(keep), card,
                            tuple(notes), time, event, subtype, risk_group, grid, pred)
