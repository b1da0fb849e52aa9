"""mastoprog: prognostic survival modelling in mastocytosis (research software, not a medical device).

Findings (``read_findings``) -> WHO subtype (``classify``) and risk score (``risk_score``) ->
calibrated relative-survival model (``load_model``) -> synthetic cohorts from a known truth
(``simulate_cohort``) and metrics (``mastoprog.metrics``) -> validation (``validate``).

Only the pipeline's names live here; everything else is one level down, in the module that owns it
(``mastoprog.findings``, ``classification``, ``risk``, ``survival``, ``synthetic``, ``metrics``,
``validation``, ``exceptions``, ``lifetables``, ``scenarios``, ``plotting``, ``web``).
"""

from . import metrics
from ._about import RESEARCH_USE_NOTICE, __version__
from .classification import Classification, classify, classify_patient
from .exceptions import (
    CalibrationError,
    FindingsError,
    MastoprogError,
    MetricInputError,
    ModelFileError,
    PlausibilityWarning,
)
from .findings import read_findings
from .lifetables import LifeTable
from .risk import RiskResult, risk_score, risk_score_patient
from .scenarios import load_scenario
from .survival import SurvivalModel, SurvivalPrediction, load_model
from .synthetic import simulate_cohort
from .validation import bootstrap_optimism, simulation_study, validate

__all__ = [
    "__version__",
    "bootstrap_optimism",
    "CalibrationError",
    "Classification",
    "classify",
    "classify_patient",
    "FindingsError",
    "LifeTable",
    "load_model",
    "load_scenario",
    "MastoprogError",
    "MetricInputError",
    "metrics",
    "ModelFileError",
    "PlausibilityWarning",
    "read_findings",
    "RESEARCH_USE_NOTICE",
    "risk_score",
    "risk_score_patient",
    "RiskResult",
    "simulate_cohort",
    "simulation_study",
    "SurvivalModel",
    "SurvivalPrediction",
    "validate",
]
