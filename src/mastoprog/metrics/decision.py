"""Decision curves for a survival outcome at a horizon (net benefit over risk thresholds)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import MetricInputError, Problem
from ._checks import _check_predicted, _check_times, check_outcome
from ._nonparametric import kaplan_meier

ArrayLike = Any

__all__ = ["decision_curve"]

_DEFAULT_THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)


def _net_benefit(t: np.ndarray, e: np.ndarray, treated: np.ndarray, h: float, odds: float
                 ) -> tuple[float, float, float]:
    """(net benefit, true-positive rate, false-positive rate) of treating ``treated`` patients.

    TP/n = P(treated) (1 - S_KM(h | treated)), FP/n = P(treated) S_KM(h | treated): the
    Kaplan-Meier of the treated estimates who among them has the event by h despite censoring.
    """
    share = float(treated.mean())
    if share == 0.0:
        return 0.0, 0.0, 0.0
    km = kaplan_meier(t[treated], e[treated])
    last = float(t[treated].max())
    if last < h and float(km.at(last)) > 0.0:
        # the treated group's follow-up ends before h with survivors left: its Kaplan-Meier is not
        # defined at h (dcurves gives NA); carrying the last value forward would invent it. (Once
        # the Kaplan-Meier reaches 0 it stays 0: defined.)
        return np.nan, np.nan, np.nan
    s = float(km.at(h))
    tp, fp = share * (1.0 - s), share * s
    return tp - fp * odds, tp, fp


def decision_curve(time: ArrayLike, event: ArrayLike, predicted_risk: Mapping[str, ArrayLike], t: float,
                   thresholds: Sequence[float] | None = None) -> pd.DataFrame:
    """Net benefit of treating patients whose predicted risk of death by ``t`` reaches a threshold.

    For threshold p_t, a patient is "treated" when predicted risk >= p_t, and

        net benefit = TP/n - FP/n * p_t / (1 - p_t),

    with TP/n = P(risk >= p_t) (1 - S(t | risk >= p_t)) and FP/n = P(risk >= p_t) S(t | risk >= p_t),
    S the Kaplan-Meier of the treated (Vickers et al. 2008; the survival formula of R ``dcurves``).
    "treat all" uses every patient; "treat none" is 0.

    Parameters
    ----------
    time, event : array-like, shape (n,)
        Follow-up (months) and event indicator.
    predicted_risk : mapping of str -> array of float in [0, 1], shape (n,)
        Each model's predicted risk of death by ``t`` (1 - S(t)).
    t : float
        Horizon (months) inside the follow-up.
    thresholds : sequence of float in [0, 1), optional
        Risk thresholds (default 0.01 to 0.99 by 0.01).

    Returns
    -------
    DataFrame
        One row per strategy and threshold: ``strategy`` (model name, ``"treat all"``,
        ``"treat none"``), ``threshold``, ``net_benefit``, ``true_positive_rate`` and
        ``false_positive_rate`` (per patient), ``n_treated``. NaN where the treated patients'
        follow-up ends before ``t`` with survivors left (their Kaplan-Meier is not defined
        there), as in dcurves.

    References
    ----------
    Vickers AJ, Elkin EB. Decision curve analysis: a novel method for evaluating prediction models.
    Med Decis Making 2006;26:565-74. doi:10.1177/0272989X06295361.
    Vickers AJ, Cronin AM, Elkin EB, Gonen M. Extensions to decision curve analysis, a novel method
    for evaluating diagnostic tests, prediction models and molecular markers. BMC Med Inform Decis
    Mak 2008;8:53. doi:10.1186/1472-6947-8-53.

    Examples
    --------
    >>> dc = decision_curve([2, 4, 6, 8], [1, 1, 0, 0], {"m": [0.9, 0.6, 0.2, 0.1]}, 5.0, [0.5])
    >>> dc.loc[dc["strategy"] == "m", "net_benefit"].round(3).tolist()
    [0.5]
    """
    tt, e = check_outcome(time, event)
    h = _check_times([t], tt, "t")[0]
    ths = _DEFAULT_THRESHOLDS if thresholds is None else np.atleast_1d(np.asarray(thresholds, float))
    if ths.size == 0 or np.any(~np.isfinite(ths)) or np.any((ths < 0) | (ths >= 1)):
        raise MetricInputError([Problem(None, "thresholds", list(ths), "risk thresholds in [0, 1)")])
    if not isinstance(predicted_risk, Mapping) or not predicted_risk:
        raise MetricInputError([Problem(None, "predicted_risk", type(predicted_risk).__name__,
                                        "a mapping model name -> predicted risk by t")])
    risks = {str(k): _check_predicted(v, tt.size, f"predicted_risk[{k!r}]", lo=0.0, hi=1.0)
             for k, v in predicted_risk.items()}
    everyone = np.ones(tt.size, dtype=bool)
    rows = []
    for p in ths:  # loop over thresholds and strategies, not patients
        odds = p / (1.0 - p)
        rows.append(("treat all", p, *_net_benefit(tt, e, everyone, h, odds), tt.size))
        rows.append(("treat none", p, 0.0, 0.0, 0.0, 0))
        for name, r in risks.items():
            treated = r >= p
            rows.append((name, p, *_net_benefit(tt, e, treated, h, odds), int(treated.sum())))
    return pd.DataFrame(rows, columns=["strategy", "threshold", "net_benefit", "true_positive_rate",
                                       "false_positive_rate", "n_treated"])
