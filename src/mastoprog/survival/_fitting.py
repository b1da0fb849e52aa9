"""Fitting the excess-hazard model to a cohort: design matrix, lifelines fit, model state.

``fit_state`` takes the patients as the prediction path prepares them (one prognostic subtype and
complete risk features per patient), fits :class:`~mastoprog._excess_fitter.ExcessHazardFitter`
(lifelines) with each patient's life-table hazard as a known offset, and returns the model state:
estimates, centres (the fitting data's feature means per subtype) and multivariate normal
parameter draws from ``variance_matrix_`` for the uncertainty bands.

References
----------
Esteve J, Benhamou E, Croasdale M, Raymond L. Relative survival and the estimation of net survival:
elements for further discussion. Stat Med 1990;9:529-38. doi:10.1002/sim.4780090506 (the
full-likelihood excess-hazard model with a known background hazard).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import FindingsError
from ..lifetables import LifeTable
from ._curves import PROGNOSTIC_SUBTYPES

_DRAWS_METHOD = (
    "fitted: multivariate normal draws from lifelines' variance_matrix_ "
    "(inverse observed information) of (beta, log lambda_s, log rho_s)"
)


def fit_state(
    P: dict,
    T: np.ndarray,
    E: np.ndarray,
    F: list[str],
    *,
    life_table: LifeTable,
    alpha: float,
    zero_excess: tuple[str, ...],
    min_events: int,
    n_draws: int,
    random_state: int,
) -> tuple[dict, Any]:
    """``(state, fitter)`` of the excess-hazard model fitted to prepared patients.

    ``T`` (months > 0) and ``E`` (0/1) per patient; ``F`` the factor names (``P["X"]`` columns).
    See :meth:`SurvivalModel.fit` for the parameters and errors.
    """
    from ._excess_fitter import ExcessHazardFitter

    if (P["cand"].sum(axis=1) > 1).any():
        rows = list(P["labels"][P["cand"].sum(axis=1) > 1][:5])
        raise FindingsError(
            f"fitting needs one subtype per patient; row(s) {rows} are undecided: give who_subtype"
        )
    if np.isnan(P["X"]).any():
        rows = list(P["labels"][np.isnan(P["X"]).any(axis=1)][:5])
        raise FindingsError(
            f"fitting needs complete risk features; row(s) {rows} have unknown ones "
            f"({', '.join(F)}): impute or drop them first"
        )
    k_all = P["cand"].argmax(axis=1)
    bad_zero = sorted(set(zero_excess) - set(PROGNOSTIC_SUBTYPES))
    if bad_zero:
        raise ValueError(
            f"zero_excess: {bad_zero} are not prognostic subtypes {list(PROGNOSTIC_SUBTYPES)}"
        )
    fixed = np.isin(k_all, [PROGNOSTIC_SUBTYPES.index(z) for z in zero_excess])
    k, T, E = k_all[~fixed], T[~fixed], E[~fixed]
    X = P["X"][~fixed]
    bgP = {key: P[key][~fixed] for key in ("age", "sex", "year")}
    present = [s for j, s in enumerate(PROGNOSTIC_SUBTYPES) if (k == j).any()]
    few = {s: int(E[k == PROGNOSTIC_SUBTYPES.index(s)].sum()) for s in present}
    few = {s: e for s, e in few.items() if e < min_events}
    if not present or few:
        raise FindingsError(
            f"too few deaths to fit: {few or 'no rows outside zero_excess'} (at least {min_events} "
            "per subtype); drop those patients, pass them in zero_excess=, or lower min_events"
        )
    centers = {s: X[k == PROGNOSTIC_SUBTYPES.index(s)].mean(axis=0) for s in present}
    Xc = X - np.array([centers[PROGNOSTIC_SUBTYPES[j]] for j in k])
    varying = [j for j in range(len(F)) if np.std(X[:, j]) > 0]
    lt = life_table
    design = pd.DataFrame(
        {
            "T": T,
            "E": E,
            "bg_h": lt.hazard(bgP["age"], bgP["sex"], bgP["year"], T),
            "bg_H": lt.cumulative_hazard(bgP["age"], bgP["sex"], bgP["year"], T),
        }
    )
    dummies = [f"is_{s}" for s in present]
    for s, name in zip(present, dummies, strict=True):
        design[name] = (k == PROGNOSTIC_SUBTYPES.index(s)).astype(float)
    for j in varying:
        design[F[j]] = Xc[:, j]
    fitter = ExcessHazardFitter(alpha=alpha)
    fitter.fit(
        design,
        "T",
        "E",
        bg_hazard_col="bg_h",
        bg_cumhaz_col="bg_H",
        regressors={"beta_": [F[j] for j in varying], "log_lambda_": dummies, "log_rho_": dummies},
    )
    params = fitter.params_
    cov = fitter.variance_matrix_
    se = np.sqrt(np.diag(cov.to_numpy()))
    se = pd.Series(se, index=params.index)
    beta_state = {}
    for f in F:
        if ("beta_", f) in params.index:
            beta_state[f] = {
                "log_hr": float(params[("beta_", f)]),
                "se_log_hr": float(se[("beta_", f)]),
                "source": "fitted by maximum likelihood (mastoprog ExcessHazardFitter, lifelines)",
                "evidence": "fitted",
                "assumption": False,
            }
        else:
            beta_state[f] = {
                "log_hr": 0.0,
                "se_log_hr": 0.0,
                "evidence": "fitted",
                "assumption": True,
                "source": "not estimable: the feature does not vary in the data; fixed at 0",
            }
    subtypes = {
        z: {
            "excess": "none",
            "source": "fixed at no excess hazard (fit(zero_excess=...))",
            "evidence": "assumption",
            "n": int((k_all == PROGNOSTIC_SUBTYPES.index(z)).sum()),
        }
        for z in zero_excess
    }
    for s, name in zip(present, dummies, strict=True):
        subtypes[s] = {
            "excess": "weibull",
            "log_lambda": float(params[("log_lambda_", name)]),
            "rho": float(np.exp(params[("log_rho_", name)])),
            "rho_source": "fitted",
            "rho_evidence": "fitted",
            "center": {f: float(c) for f, c in zip(F, centers[s], strict=True)},
            "source": "fitted by maximum likelihood",
            "evidence": "fitted",
            "n": int((k == PROGNOSTIC_SUBTYPES.index(s)).sum()),
            "events": int(E[k == PROGNOSTIC_SUBTYPES.index(s)].sum()),
        }
    rng = np.random.default_rng(random_state)
    D = int(n_draws)
    draws = rng.multivariate_normal(params.to_numpy(), cov.to_numpy(), size=D, method="svd")
    dd = pd.DataFrame(draws, columns=params.index)
    d_beta = np.column_stack([dd[("beta_", f)] if ("beta_", f) in dd.columns else np.zeros(D) for f in F])
    st = {
        "kind": "fitted",
        "factors": F,
        "beta": beta_state,
        "subtypes": subtypes,
        "draws": {
            "n": D,
            "beta": d_beta.tolist(),
            "log_lambda": {
                s: dd[("log_lambda_", nm)].tolist() for s, nm in zip(present, dummies, strict=True)
            },
            "log_rho": {s: dd[("log_rho_", nm)].tolist() for s, nm in zip(present, dummies, strict=True)},
            "method": _DRAWS_METHOD,
            "seed": random_state,
        },
        "residuals": [],
        "life_table": lt.describe(),
        "fit": {
            "n": len(T),
            "events": int(E.sum()),
            "log_likelihood": float(fitter.log_likelihood_),
            "AIC": float(fitter.AIC_),
            "alpha": alpha,
            "variance_matrix": {"index": [list(i) for i in cov.index], "values": cov.to_numpy().tolist()},
        },
        "provenance": {"fitted": datetime.now(UTC).strftime("%Y-%m-%d")},
        "assumptions": [],
    }
    st["band_method"] = st["draws"]["method"]
    return st, fitter
