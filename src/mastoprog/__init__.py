"""mastoprog: prognostic survival modelling in mastocytosis (research software, not a medical device).

Findings -> WHO subtype (``classify``) and risk score (``risk_score``) -> calibrated survival model
(``load_model``) -> curves and reports; ``simulate_cohort`` draws synthetic cohorts from a known truth.
"""

from ._about import RESEARCH_USE_NOTICE, __version__
from .classification import Classification, classify
from .exceptions import (
    CalibrationError,
    FindingsError,
    FindingsWarning,
    MastoprogError,
    MetricInputError,
    ModelFileError,
    ModelFileExistsError,
    NotFittedError,
    PlausibilityWarning,
    UnknownColumnWarning,
)
from .findings import CANONICAL_COLUMNS, SUBTYPE_LABELS, read_findings
from .lifetables import LifeTable
from .metrics import (
    brier_score,
    calibration_at,
    concordance_index,
    integrated_brier_score,
    median_recovery,
    time_dependent_auc,
)
from .risk import RiskResult, mastoprog_coefficients, risk_features, risk_score
from .scenarios import Scenario, load_scenario, reference_cohort
from .survival import SurvivalModel, load_model
from .synthetic import simulate_cohort, simulate_cohort_to_parquet
from .validation import bootstrap_optimism, simulation_study, validate

__all__ = [
    "CANONICAL_COLUMNS",
    "CalibrationError",
    "Classification",
    "FindingsError",
    "FindingsWarning",
    "LifeTable",
    "MastoprogError",
    "MetricInputError",
    "ModelFileError",
    "ModelFileExistsError",
    "NotFittedError",
    "PlausibilityWarning",
    "RESEARCH_USE_NOTICE",
    "RiskResult",
    "SUBTYPE_LABELS",
    "Scenario",
    "SurvivalModel",
    "UnknownColumnWarning",
    "__version__",
    "bootstrap_optimism",
    "brier_score",
    "calibration_at",
    "classify",
    "concordance_index",
    "integrated_brier_score",
    "load_model",
    "load_scenario",
    "mastoprog_coefficients",
    "median_recovery",
    "read_findings",
    "reference_cohort",
    "risk_features",
    "risk_score",
    "simulate_cohort",
    "simulate_cohort_to_parquet",
    "simulation_study",
    "time_dependent_auc",
    "validate",
]
