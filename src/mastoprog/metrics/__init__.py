"""Metrics for survival predictions: the bottom analysis layer (numpy, scipy and pandas only).

Discrimination (:mod:`.concordance`, :mod:`.auc`), accuracy (:mod:`.brier`), calibration
(:mod:`.calibration`) and median recovery (:mod:`.medians`), plus the nonparametric estimators they
rest on. A **higher** ``predicted`` value means **longer** survival (lifelines' convention).
"""

from ._checks import check_horizon, check_outcome, normal_quantile
from ._nonparametric import KaplanMeier, censoring_survival, kaplan_meier, shared_cohort_results
from .auc import TimeDependentAUC, auc_influence, time_dependent_auc
from .brier import (
    BrierScore,
    brier_score,
    brier_terms,
    integrated_brier_score,
    integrated_brier_terms,
    wald_interval,
)
from .calibration import (
    Calibration,
    CalibrationIntercept,
    CalibrationSlope,
    ObservedExpected,
    calibration_at,
    calibration_intercept,
    calibration_slope,
    calibration_uncertainty,
    observed_expected,
)
from .comparison import ModelComparison, compare_models
from .concordance import Concordance, concordance_index, concordance_indices
from .decision import decision_curve
from .medians import curve_median, median_recovery, median_table

__all__ = [
    "BrierScore",
    "Calibration",
    "CalibrationIntercept",
    "CalibrationSlope",
    "Concordance",
    "KaplanMeier",
    "ModelComparison",
    "ObservedExpected",
    "TimeDependentAUC",
    "auc_influence",
    "brier_score",
    "brier_terms",
    "calibration_at",
    "calibration_intercept",
    "calibration_slope",
    "calibration_uncertainty",
    "censoring_survival",
    "check_horizon",
    "check_outcome",
    "compare_models",
    "concordance_index",
    "concordance_indices",
    "curve_median",
    "decision_curve",
    "integrated_brier_score",
    "integrated_brier_terms",
    "kaplan_meier",
    "median_recovery",
    "median_table",
    "normal_quantile",
    "observed_expected",
    "shared_cohort_results",
    "time_dependent_auc",
    "wald_interval",
]
