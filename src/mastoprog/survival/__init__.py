"""The calibrated relative-survival model: S(t) = S_pop(t | age, sex, year) x S_excess(t).

:class:`SurvivalModel` owns the model's maths (curves, medians, bands, fit, save);
:func:`load_model` reads a built-in or a saved model; :class:`ModelState` is its typed, frozen
state; :meth:`SurvivalModel.predict` returns a :class:`SurvivalPrediction` (curves, band, medians
and notes as data); :func:`excess_survival` and :func:`point_medians` are its closed forms;
:func:`update_model` updates a published model to local data (Steyerberg's ladder);
:data:`BUILTIN_MODELS` names the embedded models; :class:`FitOptions` lists what
:meth:`SurvivalModel.fit` takes and :data:`PREDICTOR_FACTORS` the calibrated models' factors (the
evidence predictor), usable as a ``formula``.
"""

from ._curves import point_medians
from ._fitting import FitOptions
from ._prediction import SurvivalDraws, SurvivalPrediction
from ._predictor import PREDICTOR_FACTORS, calibration_cohort, model_features
from ._state import Coefficient, ModelArrays, ModelState, ParameterDraws, SubtypeParameters
from ._updating import UpdateResult, update_model
from .model import (
    BUILTIN_MODELS,
    PROGNOSTIC_SUBTYPES,
    SurvivalModel,
    excess_survival,
    load_model,
    load_targets,
)

__all__ = [
    "BUILTIN_MODELS",
    "PREDICTOR_FACTORS",
    "PROGNOSTIC_SUBTYPES",
    "Coefficient",
    "FitOptions",
    "ModelArrays",
    "ModelState",
    "ParameterDraws",
    "SubtypeParameters",
    "SurvivalDraws",
    "SurvivalModel",
    "SurvivalPrediction",
    "UpdateResult",
    "calibration_cohort",
    "excess_survival",
    "load_model",
    "load_targets",
    "model_features",
    "point_medians",
    "update_model",
]
