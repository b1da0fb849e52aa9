"""Paired comparison of several models' predictions on the same patients.

Every metric is written as a mean of per-patient influence terms (the infinitesimal jackknife, as
R ``survival::concordance`` does for several predictors and ``riskRegression::Score`` does with
``conservative = TRUE``), so the difference between two models on the same patients has the SE of
the difference of their influences: the pairing (the same patients scored twice) is kept, which
makes a contrast far more precise than two separate intervals suggest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import MetricInputError, Problem
from ._checks import _check_predicted, _check_times, check_outcome, normal_quantile
from ._nonparametric import censoring_left, censoring_survival, cohort_kaplan_meier, shared_cohort_results
from .auc import auc_influence
from .brier import ipcw_terms
from .concordance import concordance_indices

ArrayLike = Any

__all__ = ["ModelComparison", "compare_models"]

NULL_MODEL = "null model (Kaplan-Meier)"
_METRICS = ("c_harrell", "c_uno", "auc", "brier", "ipa")


@dataclass(frozen=True)
class ModelComparison:
    """Per-model metrics and paired contrasts against a reference model.

    Attributes
    ----------
    table : DataFrame
        One row per model, metric and horizon: ``model``, ``metric``, ``horizon`` (months),
        ``estimate``, ``se``, ``ci_low``, ``ci_high``. The null model (every patient predicted the
        cohort's Kaplan-Meier S(h)) is a benchmark row for ``brier``; ``ipa`` (index of prediction
        accuracy, 1 - Brier / null Brier) is relative to it.
    contrasts : DataFrame
        One row per model (other than the reference), metric and horizon: ``model``,
        ``reference``, ``difference`` (model - reference), ``se``, ``ci_low``, ``ci_high``,
        ``p_value`` (two-sided Wald test of no difference).
    reference : str
    conf_level : float
    """

    table: pd.DataFrame
    contrasts: pd.DataFrame
    reference: str
    conf_level: float


def _brier_influence(t: np.ndarray, e: np.ndarray, s: np.ndarray, h: float, g_left: np.ndarray,
                     g_h: float) -> tuple[float, np.ndarray]:
    terms = ipcw_terms(t, e, s, h, g_left, g_h)
    est = float(terms.mean())
    return est, (terms - est) / t.size


def _per_model(t: np.ndarray, e: np.ndarray, preds: dict[str, np.ndarray], ts: np.ndarray,
               metrics: Sequence[str]) -> dict[tuple[str, str, float], tuple[float, np.ndarray]]:
    """(model, metric, horizon) -> (estimate, per-patient influence); Brier weights held fixed."""
    cens = censoring_survival(t, e)
    g_left = censoring_left(t, e)
    null_s = cohort_kaplan_meier(t, e).at(ts)
    out: dict[tuple[str, str, float], tuple[float, np.ndarray]] = {}
    for k, h in enumerate(ts):  # loop over horizons and models, not patients
        g_h = float(cens.at(h))
        null = _brier_influence(t, e, np.full(t.size, null_s[k]), h, g_left, g_h)
        if {"brier", "ipa"} & set(metrics):
            out[(NULL_MODEL, "brier", h)] = null
        for name, p in preds.items():
            s = p[k]
            methods = [m.split("_")[1] for m in ("c_harrell", "c_uno") if m in metrics]
            if methods:
                for method, c in concordance_indices(t, e, s, methods, tau=h).items():
                    out[(name, f"c_{method}", h)] = (c.estimate, c.influence)
            if "auc" in metrics:
                out[(name, "auc", h)] = auc_influence(t, e, s, h, g_left)
            if {"brier", "ipa"} & set(metrics):
                b = _brier_influence(t, e, s, h, g_left, g_h)
                if "brier" in metrics:
                    out[(name, "brier", h)] = b
                if "ipa" in metrics:
                    # delta method for 1 - B / B0
                    out[(name, "ipa", h)] = (1.0 - b[0] / null[0],
                                             -(b[1] / null[0] - b[0] * null[1] / null[0] ** 2))
    return out


def _predictions(predictions: Mapping[str, ArrayLike], n: int, ts: np.ndarray) -> dict[str, np.ndarray]:
    if not isinstance(predictions, Mapping) or len(predictions) < 1:
        raise MetricInputError([Problem(None, "predictions", type(predictions).__name__,
                                        "a mapping model name -> predicted survival")])
    out = {}
    for name, pred in predictions.items():
        arr = np.asarray(pred.to_numpy() if isinstance(pred, pd.DataFrame | pd.Series) else pred, float)
        rows = arr[None, :] if arr.ndim == 1 else arr
        if rows.shape not in ((1, n), (ts.size, n)):
            raise MetricInputError([Problem(None, f"predictions[{name!r}]", f"shape {arr.shape}",
                                            f"({n},) or ({ts.size}, {n}): S(h) per horizon and patient")])
        out[str(name)] = np.vstack([_check_predicted(r, n, f"predictions[{name!r}]", lo=0.0, hi=1.0)
                                    for r in np.broadcast_to(rows, (ts.size, n))])
    return out


def compare_models(time: ArrayLike, event: ArrayLike, predictions: Mapping[str, ArrayLike],
                   times: Sequence[float], *, metrics: Sequence[str] = _METRICS,
                   reference: str | None = None, conf_level: float = 0.95) -> ModelComparison:
    """Compare models' survival predictions on the same cohort, with paired CIs and p-values.

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Follow-up (months) and event indicator.
    predictions : mapping of str -> array, shape (n,) or (len(times), n)
        Each model's predicted probability of surviving beyond each horizon (rows: horizons, as
        ``SurvivalModel.predict_survival(...).to_numpy()``); a 1-D array is used at every horizon.
    times : sequence of float
        Increasing horizons (months) inside the follow-up.
    metrics : subset of {"c_harrell", "c_uno", "auc", "brier", "ipa"}
        C indices use S(h) as the score truncated at tau = h; AUC is cumulative/dynamic; Brier
        and IPA are IPCW (Kaplan-Meier censoring weights).
    reference : str, optional
        Model the others are contrasted with (default: the first). The null model (Kaplan-Meier)
        is also a contrast reference for ``brier``.
    conf_level : float
        Level of the Wald intervals.

    Returns
    -------
    ModelComparison

    Notes
    -----
    Standard errors are infinitesimal-jackknife (influence-function) SEs with the censoring
    weights treated as fixed: ``sqrt(sum(influence ** 2))`` for C, times ``sqrt(n / (n - 1))`` for
    AUC, Brier and IPA (the sample-SD convention of riskRegression); a contrast uses the difference of the
    two models' influences, so the correlation between models on the same patients is kept. For
    Harrell's C this is exactly R ``survival::concordance``'s variance for several predictors; for
    Brier it is ``riskRegression::Score(..., conservative = TRUE)``. IPA's SE is the delta method.

    References
    ----------
    Kattan MW, Gerds TA. The index of prediction accuracy: an intuitive measure useful for
    evaluating risk prediction models. Diagn Progn Res 2018;2:7. doi:10.1186/s41512-018-0029-2.
    Therneau TM, Atkinson EJ. Concordance. Vignette of R package survival (2023).
    Gerds TA, Kattan MW. Medical Risk Prediction Models: With Ties to Machine Learning. Chapman &
    Hall/CRC, 2021. doi:10.1201/9781138384484.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.array([2.0, 4.0, 5.0, 7.0, 9.0, 12.0])
    >>> e = np.array([1, 1, 0, 1, 0, 1])
    >>> res = compare_models(t, e, {"a": np.array([.2, .4, .6, .5, .8, .9]),
    ...                             "b": np.array([.5, .5, .5, .5, .5, .5])}, [6.0], metrics=["c_harrell"])
    >>> res.contrasts[["model", "metric", "difference"]].round(3).to_dict("records")
    [{'model': 'b', 'metric': 'c_harrell', 'difference': -0.5}]
    """
    t, e = check_outcome(time, event)
    ts = _check_times(times, t)
    bad = [m for m in metrics if m not in _METRICS]
    if bad or not metrics:
        raise MetricInputError([Problem(None, "metrics", bad or list(metrics), f"a subset of {_METRICS}")])
    preds = _predictions(predictions, t.size, ts)
    ref = next(iter(preds)) if reference is None else str(reference)
    if ref not in preds:
        raise MetricInputError([Problem(None, "reference", reference, f"one of {list(preds)}")])
    z = normal_quantile(conf_level)
    with shared_cohort_results():  # every model and horizon: one censoring curve, one time order
        res = _per_model(t, e, preds, ts, metrics)
    # C: the IJ sum of squares (R survival::concordance); mean-type metrics: the sample SD / sqrt(n)
    # (divisor n - 1, as riskRegression::Score and brier_score)
    scale = {k: 1.0 if k.startswith("c_") else float(np.sqrt(t.size / max(t.size - 1, 1))) for k in _METRICS}
    table = pd.DataFrame([(m, k, h, est, scale[k] * float(np.sqrt(np.sum(inf**2))))
                          for (m, k, h), (est, inf) in res.items()],
                         columns=["model", "metric", "horizon", "estimate", "se"])
    table["ci_low"] = table["estimate"] - z * table["se"]
    table["ci_high"] = table["estimate"] + z * table["se"]
    bounded = table["metric"] != "ipa"
    table.loc[bounded, ["ci_low", "ci_high"]] = table.loc[bounded, ["ci_low", "ci_high"]].clip(0.0, 1.0)
    # IPA = 1 - Brier / null Brier lies in (-inf, 1]: its Wald interval is capped at 1
    table.loc[~bounded, "ci_high"] = table.loc[~bounded, "ci_high"].clip(upper=1.0)
    rows = []
    for (m, k, h), (est, inf) in res.items():
        base = ref if m != ref else (NULL_MODEL if k == "brier" else None)
        if base is None or m == NULL_MODEL or (base, k, h) not in res:
            continue
        diff = est - res[(base, k, h)][0]
        se = scale[k] * float(np.sqrt(np.sum(np.square(inf - res[(base, k, h)][1]))))
        p = 2.0 * (1.0 - NormalDist().cdf(abs(diff) / se)) if se > 0 else float("nan")
        rows.append((m, base, k, h, diff, se, diff - z * se, diff + z * se, p))
    contrasts = pd.DataFrame(rows, columns=["model", "reference", "metric", "horizon", "difference", "se",
                                            "ci_low", "ci_high", "p_value"])
    return ModelComparison(table, contrasts, ref, conf_level)
