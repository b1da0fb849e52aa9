"""Metrics for survival predictions: the bottom analysis layer (numpy, scipy and pandas only).

Discrimination (:mod:`.concordance`, :mod:`.auc`), accuracy (:mod:`.brier`), calibration
(:mod:`.calibration`) and median recovery (:mod:`.medians`), plus the nonparametric estimators they
rest on. A **higher** ``predicted`` value means **longer** survival (lifelines' convention).
"""

from ._checks import check_horizon, check_outcome, normal_quantile
from ._nonparametric import KaplanMeier, censoring_survival, kaplan_meier
from .auc import TimeDependentAUC, time_dependent_auc
from .brier import BrierScore, brier_score, integrated_brier_score, integrated_brier_terms
from .calibration import Calibration, calibration_at
from .concordance import Concordance, concordance_index
from .medians import curve_median, median_recovery, median_table

__all__ = [
    "check_horizon",
    "check_outcome",
    "curve_median",
    "integrated_brier_terms",
    "median_table",
    "normal_quantile",
    "BrierScore",
    "Calibration",
    "Concordance",
    "KaplanMeier",
    "TimeDependentAUC",
    "brier_score",
    "calibration_at",
    "censoring_survival",
    "concordance_index",
    "integrated_brier_score",
    "kaplan_meier",
    "median_recovery",
    "time_dependent_auc",
]
