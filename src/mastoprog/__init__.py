"""mastoprog: prognostic survival modelling in mastocytosis (research software, not a medical device).

Findings -> WHO subtype (``classify``) and risk score (``risk_score``) -> calibrated survival model
(``load_model``) -> curves and reports; ``simulate_cohort`` draws synthetic cohorts from a known truth.
"""

from importlib.metadata import PackageNotFoundError, version

from .exceptions import (
    CalibrationError,
    FindingsError,
    FindingsWarning,
    MastoprogError,
    ModelFileError,
    PlausibilityWarning,
    UnknownColumnWarning,
)
from .findings import CANONICAL_COLUMNS, SUBTYPE_LABELS, read_findings

try:
    __version__ = version("mastoprog")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

RESEARCH_USE_NOTICE = (
    "Research software, not a medical device: estimates are for research and discussion, "
    "not for individual treatment decisions."
)

__all__ = [
    "CANONICAL_COLUMNS",
    "CalibrationError",
    "FindingsError",
    "FindingsWarning",
    "MastoprogError",
    "ModelFileError",
    "PlausibilityWarning",
    "RESEARCH_USE_NOTICE",
    "SUBTYPE_LABELS",
    "UnknownColumnWarning",
    "__version__",
    "read_findings",
]
