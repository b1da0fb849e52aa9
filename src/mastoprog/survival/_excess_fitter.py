"""lifelines fitter for a relative-survival (excess-hazard) Weibull PH model.

Imported lazily by :meth:`mastoprog.SurvivalModel.fit` only (it imports lifelines and autograd).

Model for patient i with prognostic subtype s(i), covariates x_i and time T_i (months)::

    h_i(t) = h_bg,i(t) + exp(x_i @ beta) * rho_s / lambda_s * (t / lambda_s) ** (rho_s - 1)
    H_i(t) = H_bg,i(t) + exp(x_i @ beta) * (t / lambda_s) ** rho_s

where ``h_bg``/``H_bg`` are the known general-population hazard and cumulative hazard of that patient
(from the life table, for their age, sex and calendar year), an *offset* that has no parameter.

How the known background hazard enters (why not a regressor column): lifelines' parameters are
linear in their regressor columns, and ParametricRegressionFitter has no way to hold a coefficient
fixed; a column would also be rescaled by its standard deviation before optimisation. Instead we
override ``_log_likelihood_right_censoring``: lifelines calls it with the full design matrix ``Xs``
and the durations in the original row order (see ``ParametricRegressionFitter._fit``), so per-row
arrays stored on the fitter before ``fit`` line up with ``T`` and ``E``. The log-likelihood is the
full one (``sum E log(h_bg + h_exc) - sum (H_bg + H_exc)``); ``H_bg`` does not depend on the
parameters, but keeping it makes ``log_likelihood_``/AIC the likelihood of the whole model.
Everything else (BFGS, Hessian from autograd, ``variance_matrix_``, ``summary``, ``AIC_``) is
lifelines' own machinery. ``predict_survival_function`` of this fitter gives the *excess* survival
``exp(-H_exc)`` (the background is not a covariate); the full curve is mastoprog's business.

Parameters (lifelines names): ``log_lambda_`` (one column per subtype dummy: log scale in months),
``log_rho_`` (per subtype dummy: log Weibull shape), ``beta_`` (covariates, no intercept: log hazard
ratios on the excess hazard).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from autograd import numpy as anp
from lifelines.fitters import ParametricRegressionFitter

__all__ = ["ExcessHazardFitter"]


class ExcessHazardFitter(ParametricRegressionFitter):
    """Weibull proportional-hazards excess-hazard model with a known background hazard offset.

    Use :meth:`fit` with two extra columns holding each row's background hazard at its observed time
    (per month) and background cumulative hazard up to it. Right censoring only; no delayed entry.
    """

    # Sorted order on purpose: lifelines flattens the parameter dict with autograd's ``flatten``
    # (keys sorted) when it builds the Hessian, but labels ``variance_matrix_`` in regressor order;
    # the two only agree when the names are listed (and passed) in sorted order.
    _fitted_parameter_names = ["beta_", "log_lambda_", "log_rho_"]  # noqa: RUF012 (lifelines API)
    _FAST_MEDIAN_PREDICT = False
    _scipy_fit_method = "BFGS"

    def fit(
        self,
        df: pd.DataFrame,
        duration_col: str,
        event_col: str,
        *,
        bg_hazard_col: str,
        bg_cumhaz_col: str,
        regressors: dict[str, list[str]],
        initial_point: dict[str, np.ndarray] | None = None,
        show_progress: bool = False,
        fit_options: dict | None = None,
    ) -> ExcessHazardFitter:
        """Fit by maximum likelihood (lifelines' optimiser, Hessian and summaries).

        Parameters
        ----------
        df : DataFrame
            Durations (months), events (0/1), the two background columns and the regressors.
        duration_col, event_col : str
            Names of the duration (months, > 0) and event (0/1) columns.
        bg_hazard_col, bg_cumhaz_col : str
            Background hazard per month at the row's duration, and cumulative hazard up to it.
        regressors : dict
            ``{"log_lambda_": [subtype dummies], "log_rho_": [subtype dummies], "beta_": [covariates]}``.
        initial_point, show_progress, fit_options
            Passed to lifelines' ``ParametricRegressionFitter.fit``.

        Returns
        -------
        self
            With lifelines' ``params_``, ``variance_matrix_``, ``summary``, ``log_likelihood_``,
            ``AIC_``; ``log_lambda_`` in log months.

        References
        ----------
        Esteve J et al. Relative survival and the estimation of net survival. Stat Med
        1990;9:529-38. doi:10.1002/sim.4780090506
        """
        df = df.copy()
        self._bg_hazard = df.pop(bg_hazard_col).to_numpy(dtype=float)
        self._bg_cumhaz = df.pop(bg_cumhaz_col).to_numpy(dtype=float)
        regressors = {k: list(regressors[k]) for k in self._fitted_parameter_names}
        self._regressor_spec = regressors
        self._dummies = df[list(regressors["log_lambda_"])].to_numpy(dtype=float)
        return super().fit(
            df,
            duration_col,
            event_col=event_col,
            regressors=regressors,
            initial_point=initial_point,
            show_progress=show_progress,
            fit_options=fit_options,
        )

    # ------------------------------------------------------------------ model

    def _parts(self, params, T, Xs):
        log_lambda = anp.dot(Xs["log_lambda_"], params["log_lambda_"])
        rho = anp.exp(anp.dot(Xs["log_rho_"], params["log_rho_"]))
        lp = anp.dot(Xs["beta_"], params["beta_"])
        return log_lambda, rho, lp

    def _cumulative_hazard(self, params, T, Xs):
        log_lambda, rho, lp = self._parts(params, T, Xs)
        return anp.exp(lp + rho * (anp.log(anp.clip(T, 1e-300, np.inf)) - log_lambda))

    def _log_hazard(self, params, T, Xs):
        # Excess hazard alone (used by lifelines' generic helpers, not by our likelihood).
        log_lambda, rho, lp = self._parts(params, T, Xs)
        log_t = anp.log(anp.clip(T, 1e-300, np.inf))
        return lp + anp.log(rho) - log_lambda + (rho - 1.0) * (log_t - log_lambda)

    def _log_likelihood_right_censoring(self, params, Ts, E, W, entries, Xs):
        T = Ts[0]
        log_h_exc = self._log_hazard(params, T, Xs)
        H_exc = self._cumulative_hazard(params, T, Xs)
        # log(h_bg + h_exc) computed stably as logaddexp.
        log_h = anp.logaddexp(anp.log(anp.clip(self._bg_hazard, 1e-300, np.inf)), log_h_exc)
        ll = (W * E * log_h).sum() - (W * (H_exc + self._bg_cumhaz)).sum()
        return ll / anp.sum(W)

    def _create_initial_point(self, Ts, E, entries, weights, Xs):
        # lifelines' default (all zeros: lambda = 1 month, rho = 1) starts far from typical scales
        # (years to decades); start at lambda = mean duration instead. Xs here is already divided
        # by the column standard deviations, so scale the intercept-like start accordingly.
        T = Ts[0]
        X = Xs["log_lambda_"]
        scale = np.log(np.mean(T))
        start = scale / np.where(np.asarray(X).max(axis=0) > 0, np.asarray(X).max(axis=0), 1.0)
        return {
            "log_lambda_": start,
            "log_rho_": np.zeros(Xs["log_rho_"].shape[1]),
            "beta_": np.zeros(Xs["beta_"].shape[1]),
        }

    # ------------------------------------------------------------------ lifelines hooks

    @property
    def _ll_null_dof(self) -> int:
        return 2 * len(self._regressor_spec["log_lambda_"])

    @property
    def _ll_null(self) -> float:
        # lifelines refits a no-covariate model with a fresh fitter that would not know the
        # background offset; refit here with the same offset and beta fixed at 0 instead.
        if hasattr(self, "_ll_null_"):
            return self._ll_null_
        from scipy.optimize import minimize

        T = self.durations.to_numpy(float)
        E = self.event_observed.to_numpy(bool)
        W = self.weights.to_numpy(float)
        D = self._dummies
        bg_h, bg_H = self._bg_hazard, self._bg_cumhaz
        k = D.shape[1]

        def negll(p):
            log_lambda = D @ p[:k]
            rho = np.exp(D @ p[k:])
            log_t = np.log(T)
            H = np.exp(rho * (log_t - log_lambda))
            log_h = np.log(rho) - log_lambda + (rho - 1) * (log_t - log_lambda)
            ll = (W * E * np.logaddexp(np.log(np.clip(bg_h, 1e-300, None)), log_h)).sum()
            return -(ll - (W * (H + bg_H)).sum())

        x0 = np.concatenate([self.params_["log_lambda_"].to_numpy(), self.params_["log_rho_"].to_numpy()])
        res = minimize(negll, x0, method="Nelder-Mead" if k == 1 else "BFGS", options={"maxiter": 20000})
        self._ll_null_ = -float(res.fun)
        return self._ll_null_
