"""Events per parameter and Riley's minimum sample size for developing a survival model.

Riley et al. (2019, 2020; R/Stata ``pmsampsize``, time-to-event outcomes) ask that a new model be
developed on enough patients for

1. expected uniform shrinkage of the log-HRs >= 0.9:
   ``n1 = p / ((S - 1) ln(1 - R2 / S))`` with ``S = 0.9``;
2. a small optimism in the apparent Nagelkerke R2 (<= 0.05):
   ``S2 = R2 / (R2 + 0.05 max_R2)``, ``n2 = p / ((S2 - 1) ln(1 - R2 / S2))``;
3. a precise overall risk at a time point (margin of error <= 0.05 on the cumulative incidence
   ``1 - exp(-rate t)`` from an exponential event rate).

``R2`` is Cox-Snell's ``1 - exp(-LR / n)``; pmsampsize asks for an anticipated value from earlier
work, here the fitted model's apparent value (LR against the model with the subtype baselines
only) is used, which is optimistic, so the criteria are if anything too lenient. ``max_R2`` uses
pmsampsize's exponential null log-likelihood ``E ln(E / n) - E``. ``p`` counts the log-HR
parameters; the subtype baselines play the role of the intercept (a stratified model).

References
----------
Riley RD, Snell KIE, Ensor J et al. Minimum sample size for developing a multivariable prediction
model: part II - binary and time-to-event outcomes. Stat Med 2019;38:1276-96. doi:10.1002/sim.7992
Riley RD, Ensor J, Snell KIE et al. Calculating the sample size required for developing a clinical
prediction model. BMJ 2020;368:m441. doi:10.1136/bmj.m441
van Houwelingen JC, le Cessie S. Predictive value of statistical models. Stat Med 1990;9:1303-25
(heuristic shrinkage 1 - p / LR).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["sample_size_report"]

_Z = 1.959963984540054


def _n_for_shrinkage(p: int, r2: float, shrinkage: float) -> float:
    if p == 0:
        return 0.0
    if not 0 < r2 < shrinkage:
        return float("inf")
    return float(p / ((shrinkage - 1) * np.log(1 - r2 / shrinkage)))


def _risk_margin(rate: float, person_time: float, t: float) -> float:
    """Largest distance of the 95 % limits of ``1 - exp(-rate t)`` from the estimate (pmsampsize)."""
    half = _Z * np.sqrt(rate / person_time)
    risk = 1 - np.exp(-rate * t)
    return float(max(1 - np.exp(-(rate + half) * t) - risk, risk - (1 - np.exp(-max(rate - half, 0) * t))))


def _n_for_risk(n: int, rate: float, mean_followup: float, t: float, margin: float) -> float:
    if rate <= 0:
        return float("inf")
    lo, hi = 1.0, float(max(n, 1))
    while _risk_margin(rate, hi * mean_followup, t) > margin:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _risk_margin(rate, mid * mean_followup, t) > margin else (lo, mid)
    return float(np.ceil(hi))


def sample_size_report(
    *,
    n: int,
    events: int,
    parameters: int,
    log_likelihood: float,
    null_log_likelihood: float | None,
    person_months: float,
    timepoint: float = 60.0,
    shrinkage: float = 0.9,
    optimism: float = 0.05,
    margin: float = 0.05,
) -> dict[str, Any]:
    """Events per parameter and Riley's three criteria for a fitted model (JSON-able).

    Parameters
    ----------
    n, events, parameters : int
        Patients, deaths and log-HR parameters of the fit.
    log_likelihood, null_log_likelihood : float
        Of the fitted model and of the model with the subtype baselines only (None when that has
        no finite maximum: criteria 1 and 2 are then not computed, ``met`` None).
    person_months : float
        Total follow-up (months, from entry).
    timepoint : float
        Months at which the overall risk must be precise (criterion 3).
    shrinkage, optimism, margin : float
        Riley's targets (0.9, 0.05, 0.05).

    Returns
    -------
    dict
        ``events_per_parameter``, ``r2_cox_snell`` (apparent), ``max_r2_cox_snell``,
        ``heuristic_shrinkage`` (1 - p / LR), ``criteria`` (per criterion: required n, met),
        ``required_n``, ``below`` (bool) and ``message``.

    References
    ----------
    Riley RD et al. Stat Med 2019;38:1276-96. doi:10.1002/sim.7992

    Examples
    --------
    >>> r = sample_size_report(n=300, events=40, parameters=5, log_likelihood=-200.0,
    ...                        null_log_likelihood=-215.0, person_months=12000.0)
    >>> r["events_per_parameter"], r["below"]
    (8.0, True)
    """
    lr = max(2.0 * (log_likelihood - null_log_likelihood), 0.0) if null_log_likelihood is not None else 0.0
    r2 = 1 - np.exp(-lr / n)
    ln_null = events * np.log(events / n) - events if events > 0 else 0.0
    max_r2 = 1 - np.exp(2 * ln_null / n)
    s2 = r2 / (r2 + optimism * max_r2) if r2 > 0 else shrinkage
    rate = events / person_months
    criteria: dict[str, dict[str, Any]] = {
        "shrinkage": {"target": shrinkage, "required_n": _n_for_shrinkage(parameters, r2, shrinkage)},
        "optimism_r2": {"target": optimism, "required_n": _n_for_shrinkage(parameters, r2, s2)},
        "overall_risk": {"target": margin, "timepoint_months": timepoint,
                         "required_n": _n_for_risk(n, rate, person_months / n, timepoint, margin)},
    }
    for c in criteria.values():
        c["met"] = bool(n >= c["required_n"])
    if null_log_likelihood is None:
        for key in ("shrinkage", "optimism_r2"):
            criteria[key].update(required_n=float("nan"), met=None)
    required = max((c["required_n"] for c in criteria.values() if c["met"] is not None), default=0.0)
    below = any(c["met"] is False for c in criteria.values())
    epp = events / parameters if parameters else float("inf")
    message = (f"{n} patients, {events} deaths, {parameters} log-HR parameter(s) ({epp:.1f} events per "
               f"parameter); Riley's criteria ask for n >= {required:.0f} "
               f"({', '.join(k for k, c in criteria.items() if c['met'] is False)} not met): expect "
               "over-fitting; consider ridge= or fewer terms") if below else ""
    return {
        "n": n, "events": events, "parameters": parameters,
        "events_per_parameter": epp,
        "r2_cox_snell": float(r2), "max_r2_cox_snell": float(max_r2),
        "heuristic_shrinkage": float(1 - parameters / lr) if lr > 0 else None,
        "criteria": criteria, "required_n": required, "below": below, "message": message,
    }
