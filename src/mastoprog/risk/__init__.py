"""Risk scores: the mastoprog composite and the published MARS, MAPS and IPSM.

Coefficients are records in ``data/risk_*.csv``, scored by one generic loop. ``risk_score`` takes a
table and returns a frame; ``risk_score_patient`` takes one mapping and returns a
:class:`RiskResult`. The scikit-learn transformer lives in :mod:`mastoprog.risk.transformer` and is
never imported here, so ``import mastoprog`` stays light.
"""

from ._api import SCORES, RiskResult, risk_score, risk_score_patient
from .composite import MASTOPROG_FACTORS, mastoprog_coefficients, risk_features

__all__ = ["MASTOPROG_FACTORS", "SCORES", "RiskResult", "mastoprog_coefficients", "risk_features",
           "risk_score", "risk_score_patient"]
