"""The per-row arrays of an excess-hazard likelihood: one type for the fitter, SMC-FCS and updating.

Light on purpose (numpy only): :mod:`._imputation` and :mod:`._updating` build it without
importing the fitter (lifelines), so ``import mastoprog`` stays light.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ExcessData"]

_TINY = 1e-300  # a zero background hazard, for its log


@dataclass(frozen=True)
class ExcessData:
    """Per-row arrays of an excess-hazard fit (n rows).

    Attributes
    ----------
    T, E : ndarray
        Exit time (months, > 0) and death indicator (0/1).
    entry : ndarray
        Months from diagnosis to study entry (0 = from diagnosis).
    bg_log_h : ndarray
        log background hazard per month at ``T``.
    bg_dH : ndarray
        Background cumulative hazard over ``[entry, T]``.
    W : ndarray
        Case weights (1 by default).
    offset : ndarray
        Known part of the excess-hazard linear predictor (0 by default).
    log_lambda_offset, log_rho_offset : ndarray
        Known parts of log lambda and log rho (0 by default; model updating holds a published
        model's baselines here).
    """

    T: np.ndarray
    E: np.ndarray
    entry: np.ndarray
    bg_log_h: np.ndarray
    bg_dH: np.ndarray
    W: np.ndarray = field(default_factory=lambda: np.ones(0))
    offset: np.ndarray = field(default_factory=lambda: np.zeros(0))
    log_lambda_offset: np.ndarray = field(default_factory=lambda: np.zeros(0))
    log_rho_offset: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def from_hazard(cls, T: Any, E: Any, entry: Any, bg_h: Any, bg_dH: Any, **rest: np.ndarray) -> ExcessData:
        """From the background hazard itself (per month at ``T``; its log is kept, a zero hazard
        as 1e-300), the other arrays as in the attributes."""
        return cls(np.asarray(T, float), np.asarray(E, float), np.asarray(entry, float),
                   np.log(np.clip(np.asarray(bg_h, float), _TINY, None)), np.asarray(bg_dH, float), **rest)

    def __post_init__(self) -> None:
        n = len(self.T)
        if len(self.W) != n:
            object.__setattr__(self, "W", np.ones(n))
        for name in ("offset", "log_lambda_offset", "log_rho_offset"):
            if len(getattr(self, name)) != n:
                object.__setattr__(self, name, np.zeros(n))
