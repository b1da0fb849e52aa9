"""The survival model: general-population survival times a calibrated (or fitted) excess survival.

For patient i of prognostic subtype s (months since diagnosis ``t``)::

    S_i(t) = S_pop,i(t) * exp(-exp(lp_i) * (t / lambda_s) ** rho_s)
    lp_i   = (x_i - c_s) @ beta

* ``S_pop,i`` is the general-population survival for the patient's age, sex and calendar year of
  diagnosis (:class:`~mastoprog.LifeTable`; default Human Mortality Database US period tables).
* ``x_i`` are :func:`mastoprog.risk.risk_features` (age > 60, splenomegaly, ALP > ULN, one S/A/R
  gene, two or more), ``beta`` their log hazard ratios on the *excess* hazard
  (:func:`mastoprog.risk.mastoprog_coefficients` for the calibrated model, estimated for a fitted one).
* Centering: ``c_s`` is the mean of the features in subtype s's reference cohort (calibrated model)
  or in the fitting data (fitted model), so ``lambda_s`` is the Weibull scale (months) of the excess
  hazard of a patient with average features and ``lp_i`` is the log relative excess hazard against
  that average patient.
* ``rho_s`` (Weibull shape) cannot be identified from one published median: it is an assumption
  stored with the targets (``data/targets_*.csv``, kind ``weibull_shape``).
* Prognostic subtypes: CM, ISM, SSM, SM-AHN, ASM, MCL, SM-ALN; BMM counts as ISM and SM-AMN as
  SM-AHN (``classification.PROGNOSTIC_GROUP``), and a WHO SM-AHN whose AHN is lymphoid is the SM-ALN
  group (``classification.with_lymphoid_group``). CM has no excess hazard (ECNM: 5-year OS 100 %); MCS has no
  confirmed survival figure, so asking for its curve raises :class:`~mastoprog.CalibrationError`.

Calibration (``calibrate``) solves ``lambda_s`` so that the *population-averaged* curve of a fixed
reference cohort of subtype s (``scenarios.reference_cohort``) meets the published target exactly:
a median, a survival probability at a time, or a relative survival (mean S / mean S_pop) at a time.

Missing findings: unknown features give a range of ``lp``; an undecided subtype gives several
candidate subtypes. The curve is then an *envelope* (lower/upper over the possibilities) and the
central curve sets each unknown binary feature to its reference mean ``c_s`` (zero contribution)
and averages the candidate subtypes' curves with equal weights; unknown sex gives the range over
F and M (central: their mean). :meth:`SurvivalModel.predict` flags such patients in its ``notes``
frame (``envelope``, ``notes``).
Age is required (it drives both the background and the age > 60 factor).

Subtype: ``who_subtype`` when given, else ``classify`` (the model's ``edition`` or ``edition=``);
when both exist and the classifier is decided and disagrees, a FindingsWarning is raised and
``who_subtype`` is used. Calendar year of diagnosis: an extra ``diagnosis_year`` column, else the
``year=`` argument, else the life table's last year.

Medians: the root of S(t) = 0.5 on [0, 160 years] (the year by bisection, then regula falsi inside
it; 1e-13 relative), solved once per distinct curve and draw; with a life table whose open age
interval has a positive rate (HMD) every curve crosses 0.5, so ``inf`` appears only for user tables
that never let the population curve fall below 0.5.

Uncertainty bands: ``draws`` of the parameters (200 by default) stored in the model. For a calibrated
model they come from the published inputs (lognormal hazard-ratio draws from their 95 % intervals;
each target drawn from its sampling distribution given the number of patients / deaths behind it),
re-calibrated draw by draw. For a fitted model, multivariate normal draws from lifelines'
``variance_matrix_``. A band is the pointwise 2.5-97.5 % percentile of the curves over the draws.

Where the code lives (this module keeps the model class and its predictions):
``_patients`` (findings -> validated arrays, candidate subtypes, linear-predictor ranges),
``_curves`` (closed-form curves, envelopes and medians), ``_calibration`` (target sets and
calibration), ``_fitting`` with ``_excess_fitter`` (maximum likelihood with lifelines) and
``_model_file`` (JSON model files, schema validation, model card).

References
----------
Lim KH et al. Systemic mastocytosis in 342 consecutive adults: survival studies and prognostic
factors. Blood 2009;113:5727-36. doi:10.1182/blood-2009-02-205237
Ederer F, Axtell LM, Cutler SJ. The relative survival rate: a statistical methodology. Natl Cancer
Inst Monogr 1961;6:101-21 (overall survival = expected survival x relative survival).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from .._random import as_generator
from ..exceptions import CalibrationError, FindingsError, ModelFileError, NotFittedError
from ..findings import column_spec, ensure_findings, to_frame
from ..lifetables import LifeTable
from . import _curves, _model_file
from ._calibration import BUILTIN_MODELS as BUILTIN_MODELS  # re-exported names: "X as X"
from ._calibration import TARGET_KINDS as TARGET_KINDS
from ._calibration import calibrate_state, load_targets
from ._curves import DEFAULT_TIMES, PROGNOSTIC_SUBTYPES, excess_survival
from ._model_file import FORMAT as FORMAT
from ._model_file import SCHEMA_VERSION as SCHEMA_VERSION
from ._patients import Patients, feature_patterns, lp_ranges, prepare
from ._prediction import SurvivalDraws, SurvivalPrediction, patient_notes
from ._state import Coefficient, ModelArrays, ModelState, SubtypeParameters
from .fidelity import fidelity as _fidelity

__all__ = ["PROGNOSTIC_SUBTYPES", "SurvivalModel", "excess_survival", "load_model", "load_targets"]


class SurvivalModel:
    """Relative-survival model: life-table background times a Weibull PH excess hazard per subtype.

    Parameters
    ----------
    life_table : LifeTable, optional
        General-population mortality; default :meth:`LifeTable.hmd_us`.
    edition : {"who2016", "who2022", "icc2022"}
        Classification edition used when ``who_subtype`` is not given.
    n_draws : int
        Parameter draws kept for the uncertainty bands (default 200).
    random_state : int
        Seed of those draws.

    Notes
    -----
    ``__init__`` stores its arguments only (scikit-learn convention). Get a usable model with
    :func:`load_model` (calibrated default), :meth:`calibrate` or :meth:`fit`. Fitted state lives in
    ``state_``, a frozen :class:`~mastoprog.survival.ModelState` (:meth:`save` writes its
    ``to_dict()``).

    Examples
    --------
    >>> from mastoprog import load_model
    >>> model = load_model("lim2009")
    >>> s = model.predict_survival_at({"age": 58, "sex": "M", "who_subtype": "ASM"}, 41.0)
    >>> 0.0 < float(s.iloc[0]) < 1.0
    True
    """

    def __init__(
        self,
        life_table: LifeTable | None = None,
        edition: str = "who2016",
        n_draws: int = 200,
        random_state: int = 20090601,
    ) -> None:
        self.life_table = life_table
        self.edition = edition
        self.n_draws = n_draws
        self.random_state = random_state

    # ------------------------------------------------------------------ state

    @property
    def life_table_(self) -> LifeTable:
        """The life table in use: ``life_table`` or the default HMD US period tables."""
        return self.life_table if self.life_table is not None else LifeTable.hmd_us()

    @property
    def factors_(self) -> list[str]:
        """Risk-factor names, in the order of the ``beta_`` coefficients."""
        return list(self._check_ready().factors)

    @property
    def beta_(self) -> pd.Series:
        """Log hazard ratios of the excess hazard, indexed by factor (dimensionless)."""
        st = self._check_ready()
        return pd.Series(st.log_hr, index=list(st.factors), name="log_hr")

    @property
    def parameters_(self) -> pd.DataFrame:
        """One row per prognostic subtype: excess kind, log lambda, lambda (months), rho, source,
        evidence."""
        st = self._check_ready()
        rows = []
        for s in (*PROGNOSTIC_SUBTYPES, "MCS"):
            p = st.subtypes.get(s)
            if p is None:
                continue
            rows.append(
                {
                    "subtype": s,
                    "excess": p.excess,
                    "log_lambda": p.log_lambda,
                    "lambda_months": float(np.exp(p.log_lambda)) if p.log_lambda is not None else None,
                    "rho": p.rho,
                    "source": p.source,
                    "evidence": p.evidence,
                }
            )
        return pd.DataFrame(rows).set_index("subtype")

    def _check_ready(self) -> ModelState:
        if not hasattr(self, "state_"):
            raise NotFittedError(
                "this SurvivalModel has no parameters yet: use load_model(), calibrate() or fit() first"
            )
        return self.state_

    def _set_state(self, st: ModelState) -> None:
        self.state_ = st

    def _arrays(self) -> ModelArrays:
        """``state_`` as arrays (:attr:`ModelState.arrays`, computed once per state)."""
        return self._check_ready().arrays

    def _prepare(
        self, data: Any, year: float | None = None, edition: str | None = None, require_sex: bool = False
    ) -> Patients:
        """Validated per-patient arrays (:func:`mastoprog._patients.prepare`)."""
        from ..classification import EDITIONS

        if edition is not None and (not isinstance(edition, str) or edition not in EDITIONS):
            # Checked even when who_subtype is given (the classifier then never sees it).
            allowed = "{" + ", ".join(repr(e) for e in sorted(EDITIONS)) + "}"
            raise ValueError(f"The 'edition' parameter of SurvivalModel must be one of {allowed}. "
                             f"Got {edition!r} instead.")
        return prepare(
            data,
            arr=self._arrays(),
            state=self._check_ready(),
            factors=self.factors_,
            life_table=self.life_table_,
            edition=edition or self.edition,
            year=year,
            require_sex=require_sex,
        )

    def _redo_lp(self, P: Patients, params: ModelArrays) -> Patients:
        """``P`` with the linear predictors of another parameter set (a draw)."""
        mid, lo, hi = lp_ranges(P["X"], params.beta, params.center, self.factors_, params.weights)
        return {**P, "lp_mid": mid, "lp_lo": lo, "lp_hi": hi}

    @staticmethod
    def _excess_cumhaz(lp: np.ndarray, log_lambda: float, rho: float, t: np.ndarray) -> np.ndarray:
        """exp(lp) * (t / lambda) ** rho for lp (n,) and t (T,) -> (n, T): the plain broadcast
        (benchmarks/bench_survival.py times it against :func:`excess_survival`)."""
        with np.errstate(divide="ignore"):
            log_t = np.log(t)
        return np.exp(lp[:, None] + rho * (log_t[None, :] - log_lambda))

    @staticmethod
    def _frame(values: np.ndarray, t: np.ndarray, P: Patients) -> pd.DataFrame:
        return pd.DataFrame(values.T, index=pd.Index(t, name="months"), columns=P["labels"])

    @staticmethod
    def _times(times: Any) -> np.ndarray:
        if times is None:
            return DEFAULT_TIMES
        raw = np.atleast_1d(np.asarray(times))
        # Booleans, strings and complex numbers are not months; refuse them instead of casting.
        if raw.dtype == bool or raw.dtype.kind not in "iuf":
            raise ValueError(f"times: expected a 1-D list of months >= 0 (real numbers); got {times!r}")
        t = raw.astype(float)
        if t.ndim != 1 or not np.all(np.isfinite(t)) or np.any(t < 0):
            raise ValueError(f"times: expected a 1-D list of months >= 0; got {times!r}")
        # Same bound and hint as the `time` column of the data dictionary (findings_schema.csv):
        # beyond it the times are almost surely days, and the curve would be a silent ~0.
        spec = column_spec("time")
        if np.any(t > spec["max"]):
            raise ValueError(
                f"times: got {float(t.max()):g}; expected months >= 0 and <= {spec['max']:g} "
                "(hint: looks like days; times are months)"
            )
        return t

    @staticmethod
    def _level(level: Any) -> float:
        real = isinstance(level, int | float | np.integer | np.floating)
        if isinstance(level, bool | np.bool_) or not real or not 0 < level < 1:
            raise ValueError(f"level: expected a probability in (0, 1); got {level!r}")
        return float(level)

    # ------------------------------------------------------------------ curves

    def predict(
        self,
        data: Any,
        times: Any = None,
        *,
        interval: bool = True,
        level: float = 0.95,
        year: float | None = None,
        edition: str | None = None,
        chunk: int | None = None,
        draws: bool = False,
    ) -> SurvivalPrediction:
        """Curves, band or envelope, population curve, medians and notes of each patient.

        Parameters
        ----------
        data : DataFrame, mapping or path
            Findings with at least ``age`` (years at diagnosis) and ``sex``; ``who_subtype`` or the
            findings the classifier needs; the risk findings (unknown = a range). An extra column
            ``diagnosis_year`` sets the calendar year per patient.
        times : array_like, optional
            Months since diagnosis (default 0-240 by 1).
        interval : bool
            True (default): ``lower``/``upper`` are the pointwise band over the parameter draws
            at ``level`` (widened by the envelope of missing findings) and the medians get a
            band too. False: ``lower``/``upper`` are the envelope over missing findings alone
            (no draws needed, faster).
        level : float
            Band level in (0, 1).
        year : float, optional
            Calendar year of diagnosis when there is no ``diagnosis_year`` column (default: the
            life table's last year).
        edition : str, optional
            Classification edition (default: the model's ``edition``).
        chunk : int, optional
            Patients per pass of the band (default: keep each draws x patients x times stack near
            20 MB).
        draws : bool
            With ``interval``: also return every parameter draw's curves
            (:class:`SurvivalDraws` in ``draws``: draws x times x patients, so bound the number of
            patients), for quantities whose band is computed draw by draw
            (:mod:`mastoprog.survival.outcomes`).

        Returns
        -------
        SurvivalPrediction
            ``survival``, ``lower``, ``upper``, ``population`` (rows: months; columns: patients),
            ``median`` and ``notes`` (rows: patients).

        Raises
        ------
        CalibrationError
            With ``interval`` when the model stores no parameter draws; for a patient whose only
            possible subtype has no calibrated curve (MCS, no mastocytosis).
        FindingsError
            For invalid findings or a missing age.

        Examples
        --------
        >>> from mastoprog import load_model
        >>> res = load_model("lim2009").predict({"age": 58, "sex": "M", "who_subtype": "ASM"}, [12, 60])
        >>> list(res.median.columns), bool(res.notes["envelope"].iloc[0])
        (['median', 'lower', 'upper'], True)
        """
        t = self._times(times)
        band = self._level(level) if interval else None
        P = self._prepare(data, year, edition)
        lt, arr = self.life_table_, self._arrays()
        kept = None
        if band is not None:
            c = _curves.curves(lt, P, t, arr, envelope=False)
            lower, upper, kept = self._band(P, t, c, band, chunk, keep_draws=bool(draws))
        else:
            if draws:
                raise ValueError("draws=True needs interval=True (the draws are those of the band)")
            c = _curves.curves(lt, P, t, arr)
            lower, upper = c["lower"], c["upper"]
        return SurvivalPrediction(
            survival=self._frame(c["mid"], t, P),
            lower=self._frame(lower, t, P),
            upper=self._frame(upper, t, P),
            population=self._frame(_curves.population(c), t, P),
            median=self._medians(P, band),
            notes=patient_notes(P, self._check_ready(), self.factors_),
            level=band,
            draws=kept,
        )

    def predict_survival_function(
        self, data: Any, times: Any = None, *, year: float | None = None, edition: str | None = None
    ) -> pd.DataFrame:
        """Central overall-survival curves: rows = times (months), columns = patients (lifelines' name).

        Parameters
        ----------
        data, times, year, edition
            As in :meth:`predict`.

        Returns
        -------
        DataFrame
            Probabilities. For patients with missing findings this is the central curve; the
            envelope, band and notes come with :meth:`predict`.

        Raises
        ------
        CalibrationError
            For a patient whose only possible subtype has no calibrated curve (MCS, no mastocytosis).
        FindingsError
            For invalid findings or a missing age.
        """
        t = self._times(times)
        P = self._prepare(data, year, edition)
        c = _curves.curves(self.life_table_, P, t, self._arrays(), envelope=False)
        return self._frame(c["mid"], t, P)

    def predict_survival_at(self, data: Any, t: float, **kwargs: Any) -> pd.Series:
        """Survival probability at ``t`` months for each patient.

        Parameters
        ----------
        data
            As in :meth:`predict`.
        t : float
            Months since diagnosis.
        **kwargs
            ``year``, ``edition`` as in :meth:`predict`.

        Returns
        -------
        Series
            Indexed by patient, named ``survival_at_<t>_months``.
        """
        if isinstance(t, bool | np.bool_) or not isinstance(t, int | float | np.integer | np.floating):
            raise ValueError(f"The 't' parameter of predict_survival_at must be a number of months "
                             f">= 0. Got {t!r} instead.")
        curve = self.predict_survival_function(data, [float(t)], **kwargs)
        return curve.iloc[0].rename(f"survival_at_{float(t):g}_months")

    def predict_population_survival(
        self, data: Any, times: Any = None, *, year: float | None = None
    ) -> pd.DataFrame:
        """The matched general-population survival (same age, sex, calendar year) as a frame.

        Parameters
        ----------
        data : DataFrame, mapping or path
            ``age`` (years), ``sex`` (unknown: the mean of the F and M curves), optionally
            ``diagnosis_year``.
        times : array_like, optional
            Months since diagnosis (default 0-240 by 1).
        year : float, optional
            Calendar year of diagnosis when there is no ``diagnosis_year`` column.

        Returns
        -------
        DataFrame
            Rows: months; columns: patients.

        References
        ----------
        Human Mortality Database, US period life tables 1x1 (the default table; see
        :meth:`LifeTable.hmd_us` for the citation).
        """
        t = self._times(times)
        raw = to_frame(data)
        frame, _ = ensure_findings(raw, columns=("patient_id", "age", "sex"))
        lt = self.life_table_
        y = np.full(len(frame), float(lt.last_year if year is None else year))
        if "diagnosis_year" in raw.columns:
            yy = pd.to_numeric(raw["diagnosis_year"], errors="coerce").to_numpy(float)
            y = np.where(np.isnan(yy), y, yy)
        unknown = frame["sex"].isna().to_numpy()
        P = {
            "age": frame["age"].to_numpy(float),
            "year": y,
            "sex_unknown": unknown,
            "sex": np.where(unknown, "F", np.asarray(frame["sex"].astype(object))),
        }
        S_u, inv = _curves.background(lt, P, t)  # unknown sex: mean of the F and M curves
        labels = (
            frame["patient_id"].fillna(pd.Series(frame.index, index=frame.index))
            if "patient_id" in frame.columns
            else frame.index
        )
        return pd.DataFrame(S_u["mid"][inv].T, index=pd.Index(t, name="months"), columns=pd.Index(labels))

    def _draw_chunks(
        self, P: Patients, t: np.ndarray, central: dict[str, Any], chunk: int | None
    ) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
        """``(patients, lower, upper)`` per chunk of patients: the envelope's curves under every
        parameter draw, (D, m, T) each (:func:`._curves.draw_envelopes`), all draws at once.

        ``chunk`` patients per pass (default: each (D, m, T) array near 20 MB).
        """
        arr = self._arrays()
        arr.require_draws()
        assert arr.d_beta is not None and arr.d_log_lambda is not None and arr.d_log_rho is not None
        bg_lo, bg_hi = _curves.population(central, "lo"), _curves.population(central, "hi")
        codes, _, lp_lo, lp_hi = self._draw_lp(P)  # gathered per chunk of patients below
        rho = np.exp(arr.d_log_rho)
        D = arr.d_beta.shape[0]
        if chunk is None:
            chunk = max(1, int(2e7 / (8 * D * max(t.size, 1))))
        for start in range(0, P["n"], chunk):
            sl = slice(start, min(start + chunk, P["n"]))
            sub = {"cand": P["cand"][sl], "n": sl.stop - sl.start}
            pattern = codes[sl]
            lower, upper = _curves.draw_envelopes(sub, t, bg_lo[sl], bg_hi[sl], lp_lo[:, pattern],
                                                  lp_hi[:, pattern], arr.d_log_lambda, rho, arr.excess)
            yield sl, lower, upper

    def _band(self, P: Patients, t: np.ndarray, central: dict[str, Any], level: float,
              chunk: int | None, keep_draws: bool = False
              ) -> tuple[np.ndarray, np.ndarray, SurvivalDraws | None]:
        """Pointwise ``level`` band (n, T) over the draws of the envelope's lower and upper curves.

        The ``(1 - level) / 2`` percentile of the lower curve and the ``(1 + level) / 2``
        percentile of the upper curve; for complete findings the two coincide, so this is the
        usual parameter band. With ``keep_draws`` also the per-draw curves (:class:`SurvivalDraws`).
        """
        lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
        lower = np.empty((P["n"], t.size))
        upper = np.empty((P["n"], t.size))
        kept_lo: list[np.ndarray] = []
        kept_hi: list[np.ndarray] = []
        for sl, lows, highs in self._draw_chunks(P, t, central, chunk):
            lower[sl] = np.percentile(lows, lo_q, axis=0)
            upper[sl] = np.percentile(highs, hi_q, axis=0)
            if keep_draws:
                kept_lo.append(lows.transpose(0, 2, 1))
                kept_hi.append(highs.transpose(0, 2, 1))
        if not keep_draws:
            return lower, upper, None
        draws = SurvivalDraws(
            months=t,
            lower=np.concatenate(kept_lo, axis=2),
            upper=np.concatenate(kept_hi, axis=2),
            population_lower=_curves.population(central, "lo").T,
            population_upper=_curves.population(central, "hi").T,
            patients=list(P["labels"]),
        )
        return lower, upper, draws

    # ------------------------------------------------------------------ per-patient summaries

    def predict_median(
        self,
        data: Any,
        *,
        interval: bool = False,
        level: float = 0.95,
        year: float | None = None,
        edition: str | None = None,
    ) -> pd.DataFrame:
        """Median overall survival (months) per patient, always as a DataFrame.

        The curve always reaches 0.5 when the life table's open age interval has a positive death
        rate (HMD: yes), so medians are finite; ``inf`` is returned only when a curve stays above 0.5
        for the whole horizon (160 years), e.g. with a user table of zero rates.

        Parameters
        ----------
        data, year, edition
            As in :meth:`predict`.
        interval : bool
            Also return ``lower``/``upper``: the ``(1 - level) / 2`` and ``(1 + level) / 2``
            percentiles of the median over the parameter draws, widened by the envelope for
            patients with missing findings.
        level : float
            Band level in (0, 1) (with ``interval``).

        Returns
        -------
        DataFrame
            One row per patient; column ``median`` (months), with ``interval`` also ``lower`` and
            ``upper`` (months).

        Raises
        ------
        CalibrationError
            With ``interval`` when the model stores no parameter draws.

        Notes
        -----
        Solved per distinct curve, vectorised over patients and draws
        (``_curves.curve_medians``): accurate to 1e-13 relative.

        Examples
        --------
        >>> from mastoprog import load_model
        >>> med = load_model("lim2009").predict_median({"age": 58, "sex": "M", "who_subtype": "ASM"})
        >>> list(med.columns)
        ['median']
        """
        level_ = self._level(level) if interval else None
        return self._medians(self._prepare(data, year, edition), level_)

    def _draw_lp(self, P: Patients) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(pattern, first, lp_lo, lp_hi)``: each patient's feature pattern, a row of each, and every
        draw's smallest/largest linear predictors per pattern, (D, patterns, 6) (the same centres
        for every draw), computed once per prepared patients (the band and the medians share it)."""
        cached = P.get("draw_lp")
        if cached is None:
            arr = self._arrays()
            assert arr.d_beta is not None
            codes, first = feature_patterns(P["X"], self.factors_)
            _, lp_lo, lp_hi = lp_ranges(P["X"][first], arr.d_beta, arr.center, self.factors_, arr.weights)
            cached = P["draw_lp"] = (codes, first, lp_lo, lp_hi)
        return cached

    def _medians(self, P: Patients, level: float | None) -> pd.DataFrame:
        arr = self._arrays()
        lt = self.life_table_
        codes, first = feature_patterns(P["X"], self.factors_)
        one = (arr.log_lambda[None], arr.rho[None])
        med = _curves.curve_medians(lt, P, codes, P["lp_mid"][first][None], *one, arr.excess, "mid")[0]
        if level is None:
            return pd.DataFrame({"median": med}, index=P["labels"])
        arr.require_draws()
        assert arr.d_beta is not None and arr.d_log_lambda is not None and arr.d_log_rho is not None
        # Every draw at once: (draws, feature patterns, subtypes) linear predictors.
        codes, _, lp_lo, lp_hi = self._draw_lp(P)
        draws = (arr.d_log_lambda, np.exp(arr.d_log_rho))
        lows = _curves.curve_medians(lt, P, codes, lp_hi, *draws, arr.excess, "lower")
        highs = _curves.curve_medians(lt, P, codes, lp_lo, *draws, arr.excess, "upper")
        return pd.DataFrame(
            {
                "median": med,
                "lower": _percentile(lows, 100 * (1 - level) / 2),
                "upper": _percentile(highs, 100 * (1 + level) / 2),
            },
            index=P["labels"],
        )

    def predict_details(
        self, data: Any, *, year: float | None = None, edition: str | None = None
    ) -> pd.DataFrame:
        """Per patient: prognostic subtype(s), linear predictor range, envelope flag, year.

        Parameters
        ----------
        data, year, edition
            As in :meth:`predict`.

        Returns
        -------
        DataFrame
            ``subtype`` (or ``"indeterminate"``), ``candidates``, ``linear_predictor`` (log relative
            excess hazard against the subtype's reference mean; the mean over candidates) with
            ``linear_predictor_min``/``_max`` over unknown findings, ``envelope``,
            ``diagnosis_year`` (calendar year).
        """
        P = self._prepare(data, year, edition)
        names = np.array(PROGNOSTIC_SUBTYPES)
        # One tuple per distinct candidate set (a bit pattern), gathered: no per-patient Python.
        bits = P["cand"] @ (1 << np.arange(len(PROGNOSTIC_SUBTYPES)))
        codes, patterns = pd.factorize(bits)
        tuples = np.empty(len(patterns), dtype=object)
        tuples[:] = [tuple(names[(int(b) >> np.arange(len(names))) & 1 == 1]) for b in patterns]
        subtypes = tuples[codes]
        lp_mid = np.nanmean(np.where(P["cand"], P["lp_mid"], np.nan), axis=1)
        lp_lo = np.nanmin(np.where(P["cand"], P["lp_lo"], np.nan), axis=1)
        lp_hi = np.nanmax(np.where(P["cand"], P["lp_hi"], np.nan), axis=1)
        return pd.DataFrame(
            {
                "subtype": np.array([t[0] if len(t) == 1 else "indeterminate" for t in tuples],
                                    dtype=object)[codes],
                "candidates": subtypes,
                "linear_predictor": lp_mid,
                "linear_predictor_min": lp_lo,
                "linear_predictor_max": lp_hi,
                "envelope": P["envelope"],
                "diagnosis_year": P["year"],
            },
            index=P["labels"],
        )

    def sample_event_times(
        self, frame: Any, random_state: Any, *, year: float | None = None, return_cause: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Exact draws of the time to death (months) from the model, one per patient.

        ``T = min(T_bg, T_exc)``: ``T_bg`` by exact inversion of the life-table hazard
        (:meth:`LifeTable.sample_death_times`), ``T_exc = lambda_s * (E / exp(lp)) ** (1 / rho_s)``
        with ``E ~ Exp(1)`` (closed-form Weibull PH draw; infinite for zero-excess CM).

        Parameters
        ----------
        frame : DataFrame or mapping
            Patients with a determinate subtype and known features (unknown features are set to
            the reference mean, as for the central curve) and known sex.
        random_state : int, numpy.random.SeedSequence or numpy.random.Generator
            Seed, or a Generator used as given (to continue a stream); required (no default
            draws from hidden state).
        year : float, optional
            Calendar year of diagnosis when there is no ``diagnosis_year`` column.
        return_cause : bool
            Also return 1 = excess (disease) death, 0 = background death.

        Returns
        -------
        ndarray or tuple of ndarray
            Months from diagnosis to death (and the cause with ``return_cause``).

        Raises
        ------
        CalibrationError
            If a patient's subtype is undecided (several candidates) or has no curve.
        FindingsError
            If sex or age is missing.

        References
        ----------
        Bender R, Augustin T, Blettner M. Generating survival times to simulate Cox proportional
        hazards models. Stat Med 2005;24:1713-23. doi:10.1002/sim.2059 (the Weibull inversion).
        """
        rng = as_generator(random_state, "random_state of sample_event_times")
        P = self._prepare(frame, year, require_sex=True)
        arr = self._arrays()
        multi = P["cand"].sum(axis=1) > 1
        if multi.any():
            raise CalibrationError(
                f"sample_event_times needs one subtype per patient; row(s) "
                f"{list(P['labels'][multi][:5])} have several candidates: give who_subtype"
            )
        k = P["cand"].argmax(axis=1)
        lp = P["lp_mid"][np.arange(P["n"]), k]
        t_bg = self.life_table_.sample_death_times(P["age"], P["sex"], P["year"], rng)
        e = rng.standard_exponential(P["n"])
        with np.errstate(over="ignore", invalid="ignore"):
            t_exc = np.where(
                arr.excess[k], np.exp(arr.log_lambda[k] + (np.log(e) - lp) / arr.rho[k]), np.inf
            )
        t = np.minimum(t_bg, t_exc)
        if return_cause:
            return t, (t_exc < t_bg).astype(np.int8)
        return t

    # ------------------------------------------------------------------ calibration and fitting

    def calibrate(
        self,
        targets: Any = "lim2009",
        reference_cohort: Any = "lim2009",
        *,
        n: int = 200_000,
        cohort_random_state: int = 20090601,
        draws: bool = True,
        weibull_shapes: Mapping[str, float] | None = None,
    ) -> SurvivalModel:
        """Solve each subtype's Weibull scale so that the reference cohort meets its target.

        Parameters
        ----------
        targets : str, path or DataFrame
            A target set (:func:`load_targets`). Subtypes it does not mention keep their current
            parameters (so ``mayo2025`` recalibrates MCL and SM-AHN of the default model only).
        reference_cohort : str, path, Scenario or mapping
            A scenario (``scenarios.reference_cohort(scenario, subtype, n, cohort_random_state)`` is drawn per
            subtype) or a mapping ``{subtype: findings DataFrame}`` (with ``diagnosis_year``).
        n, cohort_random_state : int
            Size (patients) and seed of the reference cohorts drawn from a scenario (the
            parameter draws use the model's ``random_state``).
        draws : bool
            Also re-calibrate ``n_draws`` parameter draws for the uncertainty bands.
        weibull_shapes : mapping, optional
            Override the Weibull shape of some subtypes, e.g. ``{"ASM": 0.8}`` (an assumption).
            Otherwise a model keeps its own shapes (fitted, or from an earlier calibration) and a
            fresh model takes them from the target set's ``weibull_shape`` rows.

        Returns
        -------
        self

        Raises
        ------
        CalibrationError
            When a target cannot be met (e.g. the population alone already dies faster) or a
            subtype has no reference cohort.

        References
        ----------
        Lim KH et al., Blood 2009;113:5727-36 (the default targets: median OS 41 months ASM, 24
        SM-AHN, 2 MCL); each target row carries its own source (``data/targets_*.csv``).
        """
        old = getattr(self, "state_", None)
        st = calibrate_state(
            old.to_dict() if old is not None else None,
            targets,
            reference_cohort,
            life_table=self.life_table_,
            n=n,
            seed=cohort_random_state,
            draws=draws,
            weibull_shapes=weibull_shapes,
            n_draws=self.n_draws,
            random_state=self.random_state,
        )
        self._set_state(ModelState.from_dict(st))
        return self

    def fit(
        self,
        df: Any,
        duration_col: str = "time",
        event_col: str = "event",
        *,
        year: float | None = None,
        alpha: float = 0.05,
        edition: str | None = None,
        zero_excess: tuple[str, ...] = ("CM",),
        min_events: int = 10,
        **options: Any,
    ) -> SurvivalModel:
        """Fit the excess-hazard model to a cohort by maximum likelihood (lifelines).

        Parameters
        ----------
        df : DataFrame or path
            Findings with ``time`` (months), ``event`` (0/1), ``age``, ``sex``, ``who_subtype`` (or
            findings the classifier decides), the findings of the terms (partly unknown ones are
            multiply imputed by default, see ``missing``) and optionally ``diagnosis_year``.
        duration_col, event_col : str
            Names of the time (months) and event (0/1) columns.
        year : float, optional
            Calendar year of diagnosis when there is no ``diagnosis_year`` column.
        alpha : float
            1 - level of the confidence intervals in ``fitter_.summary``.
        edition : str, optional
            Classification edition for rows without ``who_subtype``.
        zero_excess : tuple of str
            Subtypes fixed at no excess hazard (default CM, as in the calibrated model): their
            rows carry no parameter, so they are left out of the likelihood.
        min_events : int
            Every other subtype in the data needs at least this many deaths to be fitted.
        **options
            ``entry_col`` (months from diagnosis to entry: delayed entry), ``formula`` (terms, e.g.
            ``list(load_model().factors_)``), ``missing`` (``"impute"``, the default, ``"complete"``
            or ``"refuse"``), ``imputation`` (``"smcfcs"``, the default, or ``"chained"``),
            ``imputations`` (m), ``imputation_iterations``, ``ridge``, ``prior``, ``cv_folds``: see
            :class:`mastoprog.survival._fitting.FitOptions`. The random state is the model's own
            (``SurvivalModel(random_state=...)``, scikit-learn's rule), not a ``fit`` argument.

        Returns
        -------
        self
            With ``fitter_`` (the lifelines :class:`~mastoprog._excess_fitter.ExcessHazardFitter`:
            ``summary``, ``variance_matrix_``, ``AIC_``) and ``state_``.

        Raises
        ------
        FindingsError
            Naming the rows with a bad time/event, an undecided subtype or unknown risk features,
            or the subtypes with too few deaths.

        References
        ----------
        Esteve J et al. Relative survival and the estimation of net survival. Stat Med
        1990;9:529-38. doi:10.1002/sim.4780090506 (full-likelihood excess-hazard model).
        """
        from ..risk import mastoprog_coefficients
        from ._fitting import fit_state

        if "random_state" in options:
            raise TypeError("fit() takes no random_state: it is a constructor argument, as in "
                            "scikit-learn (SurvivalModel(random_state=...).fit(df))")
        raw = to_frame(df)
        missing = [c for c in (duration_col, event_col) if c not in raw.columns]
        if missing:
            raise FindingsError(
                f"column(s) {missing} missing: fitting needs the follow-up time ({duration_col!r}, "
                f"months) and the event ({event_col!r}: 0 = censored, 1 = death) of every patient"
            )
        # Validated as the data dictionary's `time` (months, days hint) and `event` (0/1), also
        # under other column names; messages name the user's columns.
        keep = [c for c in ("patient_id",) if c in raw.columns and c not in (duration_col, event_col)]
        sub = pd.DataFrame({**{c: raw[c] for c in keep}, "time": raw[duration_col],
                            "event": raw[event_col]}, index=raw.index)
        try:
            timing, _ = ensure_findings(sub, columns=("patient_id", "time", "event"))
        except FindingsError as exc:
            back = {"time": duration_col, "event": event_col}
            raise FindingsError([replace(q, column=back.get(q.column or "", q.column)) for q in exc.problems],
                                exc.n_problems) from None
        T = timing["time"].to_numpy(float)
        E = timing["event"].to_numpy(float)
        bad = np.isnan(T) | (T <= 0) | np.isnan(E)
        if bad.any():
            i = np.flatnonzero(bad)[0]
            raise FindingsError(
                f"row {timing.index[i]!r}: fitting needs {duration_col} > 0 months and {event_col} "
                f"0/1 in every row; got {duration_col}={float(T[i])!r}, {event_col}={float(E[i])!r}"
            )
        F = list(mastoprog_coefficients().index)
        # Reuse the prediction path for subtype and features (a temporary state: no excess at all).
        self._set_state(
            ModelState(
                kind="fitting",
                factors=tuple(F),
                subtypes={s: SubtypeParameters("none") for s in PROGNOSTIC_SUBTYPES},
                beta={f: Coefficient(0.0) for f in F},
            )
        )
        try:
            P = self._prepare(raw, year, edition, require_sex=True)
        finally:
            del self.state_
        st, self.fitter_ = fit_state(
            cast(dict, P),
            T,
            E,
            F,
            life_table=self.life_table_,
            alpha=alpha,
            zero_excess=zero_excess,
            min_events=min_events,
            n_draws=self.n_draws,
            random_state=self.random_state,
            raw=raw,
            **options,
        )
        self._set_state(ModelState.from_dict(st))
        return self

    # ------------------------------------------------------------------ persistence and card

    def to_dict(self) -> dict[str, Any]:
        """The JSON document :meth:`save` writes (times in it are months, ages years).

        Returns
        -------
        dict
            ``format``, ``schema_version``, ``mastoprog_version``, ``created`` (UTC), ``edition``,
            ``notice`` and ``model`` (``state_``).
        """
        return _model_file.to_document(self._check_ready().to_dict(), self.edition)

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the model as JSON (no pickle). Refuses to replace a file unless ``overwrite``.

        Parameters
        ----------
        path : str or path
            Destination file.
        overwrite : bool
            Replace an existing file.

        Returns
        -------
        Path
            The file written (read it back with :func:`load_model`).

        Raises
        ------
        MastoprogError
            If ``path`` exists and ``overwrite`` is False.
        """
        return _model_file.write_document(self.to_dict(), path, overwrite)

    def fidelity(self, **kwargs: Any) -> pd.DataFrame:
        """The model against every published figure it can be compared with
        (:func:`mastoprog.survival.fidelity.fidelity`; ``kwargs``: ``bands``, ``n``)."""
        return _fidelity(self, **kwargs)

    def card(self, markdown: bool = False) -> dict[str, Any] | str:
        """Model card: every parameter with source and evidence, reference cohorts, residuals,
        life table, band method, assumptions and the research-use notice.

        Parameters
        ----------
        markdown : bool
            Return Markdown text instead of a dict.

        Returns
        -------
        dict or str
            Lambdas are in months; targets carry their time in months and their citation.
        """
        card = _model_file.model_card(self._check_ready().to_dict())
        return _model_file.card_markdown(card) if markdown else card


def _percentile(values: np.ndarray, q: float) -> np.ndarray:
    """Percentile over draws (axis 0) of medians that may be infinite (a curve never at 0.5)."""
    with np.errstate(invalid="ignore"):
        p = np.percentile(values, q, axis=0)
    return np.where(np.isnan(p), np.inf, p)  # interpolating next to an infinite median: inf - inf


def load_model(
    name_or_path: str | os.PathLike = "lim2009", *, life_table: LifeTable | None = None
) -> SurvivalModel:
    """A calibrated model shipped with mastoprog, or one saved with :meth:`SurvivalModel.save`.

    Parameters
    ----------
    name_or_path : str or path
        ``"lim2009"`` (default: Lim 2009 medians), ``"mayo2025"``, ``"midostaurin"``, or a JSON path.
        Rebuild the shipped files with ``python scripts/build_default_model.py``.
    life_table : LifeTable, optional
        Needed only for a model built on a user-supplied life table.

    Returns
    -------
    SurvivalModel
        Ready to predict (``state_`` set).

    Raises
    ------
    ModelFileError
        Naming what is wrong with the file (format, schema version, missing or invalid field).

    References
    ----------
    ``lim2009``: Lim KH et al., Blood 2009;113:5727-36. doi:10.1182/blood-2009-02-205237;
    ``mayo2025`` and ``midostaurin``: see :func:`load_targets` and the model card.
    """
    doc, st = _model_file.read_document(name_or_path, life_table_given=life_table is not None)
    try:
        state = ModelState.from_dict(st)
    except (KeyError, TypeError, ValueError) as exc:  # pragma: no cover - the schema checked st
        raise ModelFileError(f"model {name_or_path!s}: cannot be read ({exc})") from None
    model = SurvivalModel(
        life_table=life_table,
        edition=doc.get("edition", "who2016"),
        n_draws=state.draws.n if state.draws is not None else 200,
    )
    model._set_state(state)
    return model
