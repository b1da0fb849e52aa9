"""The fitted state of a :class:`~mastoprog.survival.SurvivalModel`: typed, frozen, owned here.

A model's parameters live in one :class:`ModelState` (``SurvivalModel.state_``): the risk factors
and their log hazard ratios (:class:`Coefficient`), one :class:`SubtypeParameters` per subtype
(Weibull scale and shape of the excess hazard, centring, target provenance), the parameter draws
behind the uncertainty bands (:class:`ParameterDraws`), the life table it was built on and the
provenance of every calibration or fit. :meth:`ModelState.to_dict` is the ``model`` object of a
model file (JSON); :meth:`ModelState.from_dict` reads it back (after schema validation, see
``_model_file``). :attr:`ModelState.arrays` is the same state as arrays over
:data:`PROGNOSTIC_SUBTYPES` (:class:`ModelArrays`), computed once, for the closed forms.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Literal

import numpy as np

from ..exceptions import CalibrationError

__all__ = ["PROGNOSTIC_SUBTYPES", "Coefficient", "ModelArrays", "ModelState", "ParameterDraws",
           "SubtypeParameters"]

#: Subtypes with their own excess-hazard parameters, in the model's internal order. SM-ALN (SM with
#: an associated lymphoid neoplasm: the ICC 2022 label, and a WHO SM-AHN whose AHN is lymphoid) is
#: last so that the positions (and the seeded reference cohorts) of the others never move.
PROGNOSTIC_SUBTYPES: tuple[str, ...] = ("CM", "ISM", "SSM", "SM-AHN", "ASM", "MCL", "SM-ALN")

ExcessKind = Literal["weibull", "none", "uncalibrated"]


@dataclass(frozen=True)
class Coefficient:
    """Log hazard ratio of one risk factor on the excess hazard, with its provenance.

    Attributes
    ----------
    log_hr : float
        Log hazard ratio (dimensionless).
    se_log_hr : float or None
        Its standard error (dimensionless, >= 0), the spread of the parameter draws.
    source, evidence : str
        Citation and evidence level (``"P"``, ``"fitted"``, ``"assumption"`` ...).
    assumption : bool
        True when the value is an assumption rather than a published or fitted estimate.
    """

    log_hr: float
    se_log_hr: float | None = None
    source: str = ""
    evidence: str = ""
    assumption: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this coefficient in a model file."""
        out: dict[str, Any] = {"log_hr": self.log_hr}
        if self.se_log_hr is not None:
            out["se_log_hr"] = self.se_log_hr
        return {**out, "source": self.source, "evidence": self.evidence, "assumption": self.assumption}


@dataclass(frozen=True)
class SubtypeParameters:
    """Excess-hazard parameters of one prognostic subtype.

    Attributes
    ----------
    excess : {"weibull", "none", "uncalibrated"}
        ``"weibull"``: Weibull proportional excess hazard; ``"none"``: no excess hazard (CM);
        ``"uncalibrated"``: no curve (MCS: no confirmed survival figure).
    log_lambda : float or None
        Log Weibull scale, log months (``"weibull"`` only).
    rho : float or None
        Weibull shape (dimensionless, > 0; ``"weibull"`` only).
    center : mapping or None
        Reference mean of each risk feature (``lp = (x - center) @ beta``; ``"weibull"`` only).
    source, evidence : str
        Citation and evidence level of the subtype's target or fit.
    target : mapping or None
        The target row the scale was calibrated to (set, kind, value, time, n, events, source).
    info : mapping
        Everything else the model file keeps for the card (``rho_source``, ``reference_cohort``,
        ``calibration``, ``reason``, ``n``, ``events`` ...), as stored.
    """

    excess: ExcessKind
    log_lambda: float | None = None
    rho: float | None = None
    center: Mapping[str, float] | None = None
    source: str = ""
    evidence: str = ""
    target: Mapping[str, Any] | None = None
    info: Mapping[str, Any] = field(default_factory=dict)

    _TYPED = ("excess", "log_lambda", "rho", "center", "source", "evidence", "target")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SubtypeParameters:
        """From the JSON object of a model file (validated beforehand)."""
        kwargs = {k: copy.deepcopy(d[k]) for k in cls._TYPED if k in d and d[k] is not None}
        info = {k: copy.deepcopy(v) for k, v in d.items() if k not in cls._TYPED}
        return cls(**kwargs, info=info)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this subtype in a model file."""
        out: dict[str, Any] = {"excess": self.excess}
        for k in ("log_lambda", "rho", "center"):
            v = getattr(self, k)
            if v is not None:
                out[k] = dict(v) if k == "center" else v
        out.update({"source": self.source, "evidence": self.evidence})
        if self.target is not None:
            out["target"] = copy.deepcopy(dict(self.target))
        out.update(copy.deepcopy(dict(self.info)))
        return out


@dataclass(frozen=True, eq=False)
class ParameterDraws:
    """Parameter draws behind the uncertainty bands (D draws).

    Attributes
    ----------
    beta : ndarray (D, F)
        Log hazard ratios per draw, factors in :attr:`ModelState.factors` order.
    log_lambda, log_rho : mapping of str to ndarray (D,)
        Log Weibull scale (log months) and log shape per draw, for the subtypes with an excess.
    method : str
        How the draws were made (shown in the model card).
    seed : int or None
        The ``random_state`` they were drawn with.
    """

    beta: np.ndarray
    log_lambda: Mapping[str, np.ndarray]
    log_rho: Mapping[str, np.ndarray]
    method: str = ""
    seed: int | None = None

    @property
    def n(self) -> int:
        """Number of draws."""
        return int(self.beta.shape[0])

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ParameterDraws:
        """From the JSON object of a model file (validated beforehand)."""
        return cls(
            beta=np.asarray(d["beta"], dtype=float).reshape(int(d["n"]), -1),
            log_lambda={s: np.asarray(v, dtype=float) for s, v in (d.get("log_lambda") or {}).items()},
            log_rho={s: np.asarray(v, dtype=float) for s, v in (d.get("log_rho") or {}).items()},
            method=str(d.get("method", "")),
            seed=d.get("seed"),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the draws in a model file."""
        return {
            "n": self.n,
            "beta": self.beta.tolist(),
            "log_lambda": {s: v.tolist() for s, v in self.log_lambda.items()},
            "log_rho": {s: v.tolist() for s, v in self.log_rho.items()},
            "method": self.method,
            "seed": self.seed,
        }


@dataclass(frozen=True, eq=False)
class ModelArrays:
    """A :class:`ModelState` as arrays over :data:`PROGNOSTIC_SUBTYPES` (S = 7), for the closed forms.

    Attributes
    ----------
    log_lambda : ndarray (S,)
        Log Weibull scale, log months (NaN without an excess hazard).
    rho : ndarray (S,)
        Weibull shape (1 without an excess hazard).
    excess : ndarray (S,) of bool
        The subtype has an excess hazard.
    usable : ndarray (S,) of bool
        The model has a curve for the subtype.
    center : ndarray (S, F)
        Reference feature means per subtype.
    beta : ndarray (F,)
        Log hazard ratios.
    d_beta, d_log_lambda, d_log_rho : ndarray or None
        Draws (D, F), (D, S), (D, S) when the model stores them.
    draw : int or None
        Which draw this parameter set is (None: the point estimate).
    weights : ndarray (S, F) or None
        Per-subtype multipliers of ``beta`` (the evidence predictor's ``weights`` stored with each
        subtype; None = 1 everywhere).
    """

    log_lambda: np.ndarray
    rho: np.ndarray
    excess: np.ndarray
    usable: np.ndarray
    center: np.ndarray
    beta: np.ndarray
    d_beta: np.ndarray | None = None
    d_log_lambda: np.ndarray | None = None
    d_log_rho: np.ndarray | None = None
    draw: int | None = None
    weights: np.ndarray | None = None

    @property
    def center_lp(self) -> np.ndarray:
        """``(w_s * center_s) @ beta`` per subtype (S,): the linear predictor of the reference mean."""
        w = np.ones_like(self.center) if self.weights is None else self.weights
        return (w * self.center) @ self.beta

    def require_draws(self) -> None:
        """Raise :class:`CalibrationError` when the model stores no parameter draws (no band)."""
        if self.d_beta is None:
            raise CalibrationError(
                "this model has no parameter draws, so no uncertainty band; "
                "calibrate(..., draws=True) or fit() stores them"
            )

    def draws(self) -> list[ModelArrays]:
        """One parameter set per stored draw (beta, log lambda, rho)."""
        self.require_draws()
        assert self.d_beta is not None and self.d_log_lambda is not None and self.d_log_rho is not None
        return [
            replace(self, beta=self.d_beta[d], log_lambda=self.d_log_lambda[d],
                    rho=np.exp(self.d_log_rho[d]), draw=d)
            for d in range(self.d_beta.shape[0])
        ]


@dataclass(frozen=True, eq=False)
class ModelState:
    """Everything a fitted or calibrated :class:`~mastoprog.survival.SurvivalModel` knows.

    Attributes
    ----------
    kind : str
        ``"calibrated"``, ``"fitted"``, ``"fitted, recalibrated"`` ...
    factors : tuple of str
        Risk-factor names, in the order of the coefficients and of the draws' columns.
    beta : mapping of str to Coefficient
        Log hazard ratio per factor.
    subtypes : mapping of str to SubtypeParameters
        Parameters per prognostic subtype (and ``MCS``, uncalibrated).
    draws : ParameterDraws or None
        Parameter draws for the uncertainty bands.
    life_table : mapping
        :meth:`LifeTable.describe` of the table the model was built on (name, citation, years).
    residuals : tuple of mapping
        Calibration residuals (achieved - target) per subtype.
    assumptions : tuple of str
        Model-specific assumptions shown in the card.
    provenance : mapping
        Calibrations (target set, reference cohort, date) or the fit date.
    band_method : str or None
        How the band is computed (card text).
    fit : mapping or None
        Fit summary (n, events, log-likelihood, AIC, variance matrix) of a fitted model.
    """

    kind: str
    factors: tuple[str, ...]
    beta: Mapping[str, Coefficient]
    subtypes: Mapping[str, SubtypeParameters]
    draws: ParameterDraws | None = None
    life_table: Mapping[str, Any] = field(default_factory=dict)
    residuals: tuple[Mapping[str, Any], ...] = ()
    assumptions: tuple[str, ...] = ()
    provenance: Mapping[str, Any] = field(default_factory=dict)
    band_method: str | None = None
    fit: Mapping[str, Any] | None = None

    @classmethod
    def from_dict(cls, st: Mapping[str, Any]) -> ModelState:
        """From the ``model`` object of a model file (validated beforehand, see ``_model_file``)."""
        return cls(
            kind=str(st["kind"]),
            factors=tuple(st["factors"]),
            beta={f: Coefficient(**st["beta"][f]) for f in st["factors"]},
            subtypes={s: SubtypeParameters.from_dict(p) for s, p in st["subtypes"].items()},
            draws=ParameterDraws.from_dict(st["draws"]) if st.get("draws") else None,
            life_table=copy.deepcopy(dict(st.get("life_table") or {})),
            residuals=tuple(copy.deepcopy(list(st.get("residuals") or []))),
            assumptions=tuple(st.get("assumptions") or ()),
            provenance=copy.deepcopy(dict(st.get("provenance") or {})),
            band_method=st.get("band_method"),
            fit=copy.deepcopy(dict(st["fit"])) if st.get("fit") else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``model`` object of a model file: JSON types only (a fresh, mutable copy)."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "factors": list(self.factors),
            "beta": {f: self.beta[f].to_dict() for f in self.factors},
            "subtypes": {s: p.to_dict() for s, p in self.subtypes.items()},
            "draws": self.draws.to_dict() if self.draws is not None else None,
            "residuals": copy.deepcopy(list(self.residuals)),
            "assumptions": list(self.assumptions),
            "life_table": copy.deepcopy(dict(self.life_table)),
            "provenance": copy.deepcopy(dict(self.provenance)),
            "band_method": self.band_method,
        }
        if self.fit is not None:
            out["fit"] = copy.deepcopy(dict(self.fit))
        return out

    def with_subtype(self, subtype: str, **changes: Any) -> ModelState:
        """A copy with some fields of one subtype's parameters replaced (e.g. ``rho=0.7``).

        Parameters
        ----------
        subtype : str
            A key of :attr:`subtypes`.
        **changes
            Fields of :class:`SubtypeParameters`.

        Returns
        -------
        ModelState
        """
        subtypes = dict(self.subtypes)
        subtypes[subtype] = replace(self.subtypes[subtype], **changes)
        return replace(self, subtypes=subtypes)

    @property
    def log_hr(self) -> np.ndarray:
        """Log hazard ratios (F,) in :attr:`factors` order."""
        return np.array([self.beta[f].log_hr for f in self.factors], dtype=float)

    @property
    def last_target_set(self) -> str | None:
        """The target set of the last calibration (e.g. ``"lim2009"``), None for a fitted model."""
        cal = self.provenance.get("calibrations") or []
        last = cal[-1] if cal else None
        return last.get("targets") if isinstance(last, Mapping) and isinstance(last.get("targets"), str) \
            else None

    @cached_property
    def arrays(self) -> ModelArrays:
        """The state as arrays over :data:`PROGNOSTIC_SUBTYPES` (computed once)."""
        S = PROGNOSTIC_SUBTYPES
        log_lambda = np.full(len(S), np.nan)
        rho = np.ones(len(S))
        excess = np.zeros(len(S), bool)
        usable = np.zeros(len(S), bool)
        center = np.zeros((len(S), len(self.factors)))
        weights = np.ones((len(S), len(self.factors)))
        for k, s in enumerate(S):
            p = self.subtypes.get(s)
            if p is None or p.excess == "uncalibrated":
                continue
            usable[k] = True
            if p.excess == "weibull":
                assert p.log_lambda is not None and p.rho is not None and p.center is not None
                excess[k] = True
                log_lambda[k] = p.log_lambda
                rho[k] = p.rho
                center[k] = [p.center[f] for f in self.factors]
                w = p.info.get("weights") or {}
                weights[k] = [float(w.get(f, 1.0)) for f in self.factors]
        out = ModelArrays(log_lambda, rho, excess, usable, center, self.log_hr, weights=weights)
        d = self.draws
        if d is None:
            return out
        nan, zero = np.full(d.n, np.nan), np.zeros(d.n)
        d_log_lambda = np.array([d.log_lambda.get(s, nan) for s in S], float).T
        d_log_lambda[:, ~excess] = np.nan
        d_log_rho = np.array([d.log_rho.get(s, zero) for s in S], float).T
        return replace(out, d_beta=d.beta, d_log_lambda=d_log_lambda, d_log_rho=d_log_rho)
