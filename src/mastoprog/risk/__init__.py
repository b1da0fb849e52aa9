"""Risk scores: the mastoprog composite and the published MARS, MAPS and IPSM.

Coefficients are records in ``data/risk_*.csv``. The scikit-learn transformer lives in
:mod:`mastoprog.risk.transformer` and is never imported here, so ``import mastoprog`` stays light.
"""

from ._scores import MASTOPROG_FACTORS, SCORES, RiskResult, mastoprog_coefficients, risk_features, risk_score

__all__ = [
    "MASTOPROG_FACTORS",
    "SCORES",
    "RiskResult",
    "mastoprog_coefficients",
    "risk_features",
    "risk_score",
]
