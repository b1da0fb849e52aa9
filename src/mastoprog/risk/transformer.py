"""scikit-learn transformer for the mastoprog risk features (imported lazily: it imports sklearn).

Use it as ``mastoprog.risk.RiskFeatures``; ``import mastoprog`` does not load this module.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .composite import MASTOPROG_FACTORS, feature_matrix, mastoprog_coefficients

_MISSING = ("nan", "best", "worst")


class RiskFeatures(TransformerMixin, BaseEstimator):
    """Canonical findings -> mastoprog composite-score features (flags and linear predictor).

    The mastoprog score is this package's own composite (not MAPS or MARS); see
    :func:`mastoprog.risk.mastoprog_coefficients` for the log hazard ratios, their sources and
    which of them are assumptions (splenomegaly, two or more S/A/R genes).

    Parameters
    ----------
    missing : {"nan", "best", "worst"}, default "nan"
        What an unknown factor becomes: NaN (for estimators that handle missing values, e.g.
        ``HistGradientBoostingClassifier``), the best case (factor absent, fewest S/A/R genes) or
        the worst case (factor present, most genes), as the IPSS-M calculator's best/worst.
    linear_predictor : bool, default True
        Append the linear predictor (sum of log hazard ratios; NaN when a factor is unknown and
        ``missing="nan"``).

    Attributes
    ----------
    log_hr_ : ndarray of shape (5,)
        The log hazard ratios used, in ``MASTOPROG_FACTORS`` order.
    n_features_out_ : int

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"age": [70, 40], "splenomegaly": [True, False], "alp": [200, 80],
    ...                   "sar_count": [2, 0]})
    >>> RiskFeatures().fit_transform(X).round(3).tolist()
    [[1.0, 1.0, 1.0, 0.0, 1.0, 3.847], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]
    """

    def __init__(self, missing: str = "nan", linear_predictor: bool = True):
        self.missing = missing
        self.linear_predictor = linear_predictor

    def fit(self, X: Any, y: Any = None) -> RiskFeatures:
        """Check the parameters and read the coefficients (no learning: the weights are published)."""
        if self.missing not in _MISSING:
            raise ValueError(f"The 'missing' parameter of RiskFeatures must be one of {set(_MISSING)}. "
                             f"Got {self.missing!r} instead.")
        self.log_hr_ = mastoprog_coefficients()["log_hr"].to_numpy(dtype=float)
        self.n_features_out_ = len(MASTOPROG_FACTORS) + bool(self.linear_predictor)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Features of each patient (rows like ``X``), columns as ``get_feature_names_out()``."""
        check_is_fitted(self, "log_hr_")
        features, _ = feature_matrix(X, self.missing)
        if self.linear_predictor:
            features = np.column_stack([features, features @ self.log_hr_])
        return features

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``MASTOPROG_FACTORS`` and, with ``linear_predictor=True``, ``"linear_predictor"``."""
        names = [*MASTOPROG_FACTORS, *(["linear_predictor"] if self.linear_predictor else [])]
        return np.asarray(names, dtype=object)
