"""Validation of survival models: reports, bootstrap optimism and simulation studies.

Built on :mod:`mastoprog.metrics`; a model is anything with the ``SurvivalModel`` prediction
methods. :func:`validate` gives the tidy TRIPOD-style table and report.
"""

from ._bootstrap import OptimismResult, SurvivalEstimator, bootstrap_optimism
from ._plots import plot_decision_curve
from ._sample_size import SampleSizeResult, external_validation_sample_size, oe_closed_form_n
from ._simulation import SimulationResult, performance_measures, simulation_study
from ._validate import ValidationResult, validate

__all__ = [
    "OptimismResult",
    "SampleSizeResult",
    "SimulationResult",
    "SurvivalEstimator",
    "ValidationResult",
    "bootstrap_optimism",
    "external_validation_sample_size",
    "oe_closed_form_n",
    "plot_decision_curve",
    "performance_measures",
    "simulation_study",
    "validate",
]
