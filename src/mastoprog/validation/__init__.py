"""Validation of survival models: reports, bootstrap optimism and simulation studies.

Built on :mod:`mastoprog.metrics`; a model is anything with the ``SurvivalModel`` prediction
methods. :func:`validate` gives the tidy TRIPOD-style table and report.
"""

from ._bootstrap import OptimismResult, SurvivalEstimator, bootstrap_optimism
from ._simulation import SimulationResult, simulation_study
from ._validate import ValidationResult, validate

__all__ = [
    "OptimismResult",
    "SimulationResult",
    "SurvivalEstimator",
    "ValidationResult",
    "bootstrap_optimism",
    "simulation_study",
    "validate",
]
