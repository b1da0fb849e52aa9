"""The result of :meth:`SurvivalModel.predict`: curves, medians and their notes, as data.

Notes travel in the result (a per-patient ``notes`` frame), never through ``DataFrame.attrs`` or
the warnings machinery, so concurrent callers (the web page) need no global lock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._evidence import target_label
from ._patients import Patients
from ._state import PROGNOSTIC_SUBTYPES, ModelState

__all__ = ["SurvivalDraws", "SurvivalPrediction", "patient_notes"]


@dataclass(frozen=True)
class SurvivalPrediction:
    """Survival curves of some patients with their uncertainty, medians and notes.

    Every curve frame has one row per time (index ``months``) and one column per patient (the
    ``patient_id`` where given, else the input's row label), like lifelines'
    ``predict_survival_function``; ``median`` and ``notes`` have one row per patient.

    Attributes
    ----------
    survival : DataFrame
        Central overall-survival curve (probabilities).
    lower, upper : DataFrame
        With ``interval=True``: the pointwise band over the parameter draws (at the requested
        level), widened by the envelope of missing findings; with ``interval=False``: the
        envelope alone (equal to ``survival`` for a patient with complete findings).
    population : DataFrame
        Matched general-population survival (same age, sex and calendar year).
    median : DataFrame
        ``median`` (months) and, with ``interval=True``, ``lower``/``upper`` (months) per patient;
        ``inf`` only when a curve stays above 0.5 for 160 years.
    notes : DataFrame
        Per patient: ``envelope`` (bool: the curve is a range because findings are missing or the
        subtype is undecided), ``subtypes`` (the candidate prognostic subtypes, comma-separated),
        ``target_set`` (the published targets the candidate subtypes are calibrated to, or
        ``"fitted"``), ``notes`` (plain-language reasons for the envelope; empty when none).
    level : float or None
        Level of the band (None with ``interval=False``).
    draws : SurvivalDraws or None
        With ``predict(..., draws=True)``: every parameter draw's curves, from which ``lower`` and
        ``upper`` are the percentiles.
    """

    survival: pd.DataFrame
    lower: pd.DataFrame
    upper: pd.DataFrame
    population: pd.DataFrame
    median: pd.DataFrame
    notes: pd.DataFrame
    level: float | None = None
    draws: SurvivalDraws | None = None


@dataclass(frozen=True, eq=False)
class SurvivalDraws:
    """Every parameter draw's survival curves (:meth:`SurvivalModel.predict` with ``draws=True``).

    A band is a percentile over the first axis: ``SurvivalPrediction.lower`` is the
    ``(1 - level) / 2`` percentile of ``lower`` and ``upper`` the ``(1 + level) / 2`` percentile of
    ``upper``. Any quantity derived from a curve (crude probabilities, conditional survival,
    restricted mean survival) gets its band the same way: computed on each draw, then percentiles.

    Attributes
    ----------
    months : ndarray (T,)
        Months since diagnosis.
    lower, upper : ndarray (D, T, n)
        Per draw: the smallest and the largest overall-survival curve over what is missing (the
        envelope of candidate subtypes, unknown risk findings and unknown sex); equal for a patient
        with complete findings.
    population_lower, population_upper : ndarray (T, n)
        The matched general-population survival that goes with ``lower`` and ``upper`` (unknown
        sex: the smaller and the larger of the F and M curves; otherwise both the patient's).
        Each draw's excess survival is ``lower / population_lower`` (``upper / population_upper``).
    patients : list
        Patient labels (``patient_id`` or row labels), the last axis.

    Examples
    --------
    >>> from mastoprog import load_model
    >>> res = load_model("lim2009").predict({"age": 58, "sex": "M", "who_subtype": "ASM"}, [12, 60],
    ...                                     draws=True)
    >>> res.draws.lower.shape
    (200, 2, 1)
    """

    months: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    population_lower: np.ndarray
    population_upper: np.ndarray
    patients: list

def patient_notes(P: Patients, state: ModelState, factors: list[str]) -> pd.DataFrame:
    """The ``notes`` frame of :class:`SurvivalPrediction` for prepared patients ``P``.

    Built once per distinct pattern (candidate subtypes, unknown features, unknown sex, notes
    from the subtype check), not once per patient.
    """
    unknown = np.isnan(P["X"])
    bits = (P["cand"] @ (1 << np.arange(P["cand"].shape[1]))).astype(np.int64)
    feat = (unknown @ (1 << np.arange(unknown.shape[1]))).astype(np.int64)
    key = pd.MultiIndex.from_arrays([bits, feat, P["sex_unknown"], P["envelope"], P["row_notes"]])
    codes, uniq = pd.factorize(key)
    names = np.array(PROGNOSTIC_SUBTYPES)
    subtypes, targets, texts = [], [], []
    for c in range(len(uniq)):
        i = int(np.flatnonzero(codes == c)[0])
        cand = names[P["cand"][i]]
        subtypes.append(", ".join(cand))
        targets.append(_target_sets(state, cand))
        if P["envelope"][i]:
            texts.append(_note_text(cand, [f for f, u in zip(factors, unknown[i], strict=True) if u],
                                    bool(P["sex_unknown"][i]), str(P["row_notes"][i])))
        else:
            texts.append(str(P["row_notes"][i]))
    return pd.DataFrame(
        {
            "envelope": P["envelope"],
            "subtypes": np.array(subtypes, dtype=object)[codes],
            "target_set": np.array(targets, dtype=object)[codes],
            "notes": np.array(texts, dtype=object)[codes],
        },
        index=pd.Index(P["labels"]),
    )


def _target_sets(state: ModelState, subtypes: np.ndarray) -> str:
    found = []
    for s in subtypes:
        p = state.subtypes.get(str(s))
        ts = target_label(p.target, p.info.get("level_shift")) if p is not None else None
        ts = ts or ("fitted" if state.fit is not None else None)
        if ts and ts not in found:
            found.append(str(ts))
    return ", ".join(found)


def _note_text(cand: np.ndarray, unknown: list[str], sex_unknown: bool, extra: str) -> str:
    parts = []
    if len(cand) > 1:
        parts.append(f"subtype undecided between {', '.join(cand)}: the central curve averages "
                     "them and the envelope spans them")
    if unknown:
        parts.append(f"unknown risk finding(s) {', '.join(unknown)}: the central curve uses the "
                     "reference-cohort mean and the envelope spans 0/1")
    if sex_unknown:
        parts.append("sex unknown: general-population mortality is the range over F and M "
                     "(central curve: their mean)")
    if extra:
        parts.append(extra)
    return "; ".join(parts)
