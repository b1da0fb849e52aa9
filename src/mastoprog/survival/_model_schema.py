"""The schema of a model file, as pydantic models: every field typed, bounded and cross-checked.

A model file is data from outside: :func:`validate_document` checks types, finite values, signs,
bounds, the consistency of the parameter draws with the point estimate and the known kinds, and
reports **every** problem with its key path (``model.beta.sar_1.log_hr``) in one
:class:`~mastoprog.exceptions.ModelFileError`. The published JSON Schema
(``data/model_schema.json``) is generated from :class:`ModelDocument` (:func:`json_schema`).

Bounds are generous plausibility limits, not clinical claims: a log hazard ratio within +-10 (a
hazard ratio between 5e-5 and 22,000), a Weibull scale between e^-20 and e^200 months, a shape in
(0, 20], feature means in [0, 1].
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..exceptions import ModelFileError
from ._state import PROGNOSTIC_SUBTYPES

__all__ = ["FORMAT", "SCHEMA_VERSION", "ModelDocument", "json_schema", "validate_document"]

SCHEMA_VERSION = 1
FORMAT = "mastoprog-survival-model"
MAX_LOG_HR = 10.0
LOG_LAMBDA_RANGE = (-20.0, 200.0)  # log months; draws of a target the population alone meets clip high
MAX_RHO = 20.0
MAX_DRAWS = 10_000
#: Kinds a saved model can have (``fit`` -> fitted; ``calibrate`` appends ", recalibrated").
MODEL_KINDS = ("calibrated", "fitted", "calibrated, recalibrated", "fitted, recalibrated")

Finite = Annotated[float, Field(allow_inf_nan=False)]
LogHR = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_LOG_HR, le=MAX_LOG_HR)]
LogLambda = Annotated[float, Field(allow_inf_nan=False, ge=LOG_LAMBDA_RANGE[0], le=LOG_LAMBDA_RANGE[1])]
Rho = Annotated[float, Field(allow_inf_nan=False, gt=0.0, le=MAX_RHO)]
LogRho = Annotated[float, Field(allow_inf_nan=False, gt=-math.log(1e6), le=math.log(MAX_RHO))]
Share = Annotated[float, Field(allow_inf_nan=False, ge=0.0, le=1.0)]
# A reference mean: a share for a 0/1 feature, a mean for a continuous one (age in decades from 60).
FeatureMean = Annotated[float, Field(allow_inf_nan=False, ge=-100.0, le=100.0)]
Subtype = Literal["CM", "ISM", "SSM", "SM-AHN", "ASM", "MCL", "SM-ALN", "MCS"]
PrognosticSubtype = Literal["CM", "ISM", "SSM", "SM-AHN", "ASM", "MCL", "SM-ALN"]
Text = Annotated[str, Field(max_length=10_000)]
Seed = Annotated[int, Field(ge=0, lt=2**128)]


class _Strict(BaseModel):
    """No coercion (``"1.0"`` is not a number, ``true`` is not 1) and no unknown keys."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class _Open(BaseModel):
    """Typed known keys; other keys are kept as JSON values (card metadata)."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


class CoefficientSpec(_Strict):
    """``model.beta.<factor>``: log hazard ratio of one risk factor with its provenance."""

    log_hr: LogHR
    se_log_hr: Annotated[float, Field(allow_inf_nan=False, ge=0.0, le=MAX_LOG_HR)] | None = None
    source: Text = ""
    evidence: Text = ""
    assumption: bool = False

    @model_validator(mode="after")
    def _se_positive(self) -> CoefficientSpec:
        # SE 0 means "not estimated, fixed": only for a coefficient flagged as an assumption.
        if self.se_log_hr == 0.0 and not self.assumption:
            raise ValueError("se_log_hr must be > 0 for an estimated coefficient (0 only with "
                             "assumption: true)")
        return self


class TargetSpec(_Open):
    """``model.subtypes.<s>.target``: the published target a scale was calibrated to."""

    target_set: Text
    kind: Literal["median", "survival_at", "relative_survival_at", "zero_excess", "no_target"]
    value: Finite | None = None
    time_months: Annotated[float, Field(allow_inf_nan=False, ge=0.0)] | None = None
    n_patients: Annotated[float, Field(allow_inf_nan=False, gt=0.0)] | None = None
    events: Annotated[float, Field(allow_inf_nan=False, ge=0.0)] | None = None


class SubtypeSpec(_Open):
    """``model.subtypes.<s>``: excess-hazard parameters of one subtype."""

    excess: Literal["weibull", "none", "uncalibrated"]
    log_lambda: LogLambda | None = None
    rho: Rho | None = None
    center: dict[str, FeatureMean] | None = None
    # Per-factor multipliers of the log HRs in this subtype (evidence predictor; 1 when absent).
    weights: dict[str, Share] | None = None
    source: Text = ""
    evidence: Text = ""
    target: TargetSpec | None = None

    @model_validator(mode="after")
    def _weibull_complete(self) -> SubtypeSpec:
        if self.excess == "weibull":
            missing = [k for k in ("log_lambda", "rho", "center") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"a 'weibull' subtype needs {missing}")
        return self


class DrawsSpec(_Strict):
    """``model.draws``: parameter draws behind the uncertainty bands."""

    n: Annotated[int, Field(ge=1, le=MAX_DRAWS)]
    beta: list[list[LogHR]]
    log_lambda: dict[PrognosticSubtype, list[LogLambda]]
    log_rho: dict[PrognosticSubtype, list[LogRho]]
    method: Text = ""
    seed: Seed | None = None

    @field_validator("beta", "log_lambda", "log_rho")
    @classmethod
    def _n_draws(cls, v: Any, info: ValidationInfo) -> Any:
        n = info.data.get("n")
        rows = v if isinstance(v, list) else list(v.values())
        if n is not None and any(len(r) != n for r in ([v] if isinstance(v, list) else rows)):
            raise ValueError(f"expected {n} draws (model.draws.n)")
        return v


class ResidualSpec(_Open):
    """``model.residuals[i]``: achieved - target of one subtype's calibration."""

    subtype: Subtype
    kind: Text
    target: Finite | None = None
    achieved: Finite | None = None
    residual: Finite | None = None


class LifeTableSpec(_Open):
    """``model.life_table``: the life table the model was built on."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    first_year: Annotated[int, Field(ge=1700, le=2300)] | None = None
    last_year: Annotated[int, Field(ge=1700, le=2300)] | None = None
    max_age: Annotated[int, Field(ge=1, le=150)] | None = None


class SarSensitivityRow(_Open):
    """``model.provenance.sar_sensitivity[i]``: one patient or group of the S/A/R sensitivity table.

    How a median moves when the reference cohort's share of S/A/R-mutated patients (an assumption)
    goes to its plausible low and high (``survival.fidelity.sar_prevalence_sensitivity``).
    """

    subtype: Literal["CM", "ISM", "SSM", "SM-AHN", "ASM", "MCL", "SM-ALN"]
    who: Text
    age: Annotated[float, Field(ge=0.0, le=130.0)] | None = None
    share_reference: Share
    share_low: Share
    share_high: Share
    median_months: Annotated[float, Field(allow_inf_nan=False, gt=0.0)] | None = None
    median_months_low: Annotated[float, Field(allow_inf_nan=False, gt=0.0)] | None = None
    median_months_high: Annotated[float, Field(allow_inf_nan=False, gt=0.0)] | None = None
    evidence: Text = ""
    basis: Text = ""


class ProvenanceSpec(_Open):
    """``model.provenance``: calibrations, the stored fidelity table and the S/A/R sensitivity
    (computed at build time for the card); other keys are kept as JSON values."""

    fidelity: list[dict[str, JsonValue]] | None = None
    sar_sensitivity: list[SarSensitivityRow] | None = None


class ModelSpec(_Strict):
    """``model``: the state of a fitted or calibrated ``SurvivalModel``."""

    kind: Literal["calibrated", "fitted", "calibrated, recalibrated", "fitted, recalibrated"]
    factors: Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]],
                       Field(min_length=1, max_length=100)]
    beta: dict[str, CoefficientSpec]
    subtypes: dict[Subtype, SubtypeSpec]
    draws: DrawsSpec | None = None
    residuals: list[ResidualSpec] = []
    assumptions: list[Text] = []
    life_table: LifeTableSpec
    provenance: ProvenanceSpec = ProvenanceSpec()
    band_method: Text | None = None
    fit: dict[str, JsonValue] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        problems = _factor_problems(self) + _draw_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class ModelDocument(_Strict):
    """A model file: what ``SurvivalModel.save`` writes and ``load_model`` reads (JSON)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True,
                              title="mastoprog survival model file",
                              json_schema_extra={"$id": "https://mastoprog/model_schema.json"})

    format: Literal["mastoprog-survival-model"]
    schema_version: Literal[1]
    mastoprog_version: Annotated[str, Field(max_length=100)]
    created: Annotated[str, Field(max_length=100)]
    edition: Literal["who2016", "who2022", "icc2022"]
    notice: Text
    model: ModelSpec


def _factor_problems(m: ModelSpec) -> list[str]:
    """The factors, the coefficients and every subtype's centre name the same features."""
    F = list(m.factors)
    out = []
    if len(set(F)) != len(F):
        out.append(f"model.factors: duplicated names in {F}")
    if set(m.beta) != set(F):
        out.append(f"model.beta: expected one coefficient per factor {F}; got {sorted(m.beta)}")
    for s, p in m.subtypes.items():
        if p.center is not None and set(p.center) != set(F):
            out.append(f"model.subtypes.{s}.center: expected a mean for each factor {F}; "
                       f"got {sorted(p.center)}")
    return out


def _draw_problems(m: ModelSpec) -> list[str]:
    """Draws of the right shape whose range holds the point estimate they are drawn around."""
    d = m.draws
    if d is None:
        return []
    F = list(m.factors)
    out = []
    if any(len(row) != len(F) for row in d.beta):
        return [f"model.draws.beta: expected {d.n} rows of {len(F)} numbers (one per factor)"]
    for j, f in enumerate(F):
        if f in m.beta and not _inside([row[j] for row in d.beta], m.beta[f].log_hr):
            out.append(f"model.beta.{f}.log_hr: the point estimate {m.beta[f].log_hr!r} lies outside "
                       "the range of its draws (model.draws.beta); the file is inconsistent")
    for s, p in m.subtypes.items():
        if p.excess != "weibull" or s not in PROGNOSTIC_SUBTYPES:
            continue
        assert p.log_lambda is not None and p.rho is not None
        for part, point in (("log_lambda", p.log_lambda), ("log_rho", math.log(p.rho))):
            values = getattr(d, part).get(s)
            if values is None:
                out.append(f"model.draws.{part}.{s}: missing (subtype {s} has a Weibull excess)")
            elif not _inside(values, point):
                out.append(f"model.subtypes.{s}.{'rho' if part == 'log_rho' else part}: the point "
                           f"estimate lies outside the range of its draws (model.draws.{part}.{s})")
    return out


def _inside(values: list[float], point: float) -> bool:
    """``point`` within the draws' range (a relative slack of 1e-9 for rounding)."""
    lo, hi = min(values), max(values)
    slack = 1e-9 * max(1.0, abs(point))
    return lo - slack <= point <= hi + slack


_ADAPTER = TypeAdapter(ModelDocument)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a model file (what ``data/model_schema.json`` holds).

    Returns
    -------
    dict
        JSON Schema (draft 2020-12) generated from :class:`ModelDocument`. The cross-field checks
        (factors vs coefficients, draws vs point estimates) are described in the docstrings and
        enforced by :func:`validate_document`.

    Examples
    --------
    >>> json_schema()["properties"]["format"]["const"]
    'mastoprog-survival-model'
    """
    return _ADAPTER.json_schema()


def validate_document(doc: Any, where: str) -> ModelDocument:
    """A parsed JSON document as a :class:`ModelDocument`, or every problem with its key path.

    Parameters
    ----------
    doc : Any
        The parsed JSON.
    where : str
        The file's name for messages.

    Returns
    -------
    ModelDocument

    Raises
    ------
    ModelFileError
        Listing every problem as ``<key path>: <message> (got <value>)``.
    """
    try:
        return _ADAPTER.validate_python(doc)
    except ValidationError as exc:
        lines = [_describe(e) for e in exc.errors(include_url=False)]
        shown = lines[:20] + ([f"... and {len(lines) - 20} more"] if len(lines) > 20 else [])
        raise ModelFileError(f"{where}: {len(lines)} problem(s) in the model file: "
                             + "; ".join(shown)) from None


def _describe(err: Any) -> str:
    path = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "value_error" and msg.startswith("model."):
        return msg  # cross-field problems name their own keys
    value = err.get("input")
    shown = "" if isinstance(value, dict | list) else f" (got {_short(value)})"
    return f"{path}: {msg}{shown}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
