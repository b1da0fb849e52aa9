"""``risk_score`` (a table in, a frame out) and ``risk_score_patient`` (one mapping, one result).

``risk_score(data, score=...)`` returns points, a risk group, per-factor contributions and notes for
every patient; with missing findings it returns the best and worst case (``points_min`` /
``points_max``, the linear-predictor range and the set of ``possible_groups``) and names a single
``group`` only when the unknown findings cannot change it, as the IPSS-M calculator does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from ..findings import FindingsSource, ensure_findings
from . import composite, ipsm, maps, mars
from ._common import Notes

__all__ = ["SCORES", "RiskResult", "risk_score", "risk_score_patient"]

_Scorer = Callable[[pd.DataFrame, Any], tuple[dict[str, Any], Notes]]
_SCORERS: dict[str, tuple[tuple[str, ...], _Scorer]] = {
    "mastoprog": (composite.COLUMNS, composite.score_mastoprog),
    "mars": (mars.COLUMNS, mars.score_mars),
    "maps": (maps.COLUMNS, maps.score_maps),
    "ipsm": (ipsm.COLUMNS, ipsm.score_ipsm),
}

#: Scores ``risk_score`` knows.
SCORES: tuple[str, ...] = tuple(_SCORERS)


@dataclass(frozen=True)
class RiskResult:
    """One patient's risk score (what :func:`risk_score_patient` returns).

    Attributes
    ----------
    score : str
        ``"mastoprog"`` (this package's own composite, not MAPS or MARS), ``"mars"``, ``"maps"`` or
        ``"ipsm"``.
    points, points_min, points_max : int or None
        Points when the findings decide them; otherwise None with the best/worst case in
        ``points_min``/``points_max``. All None for IPSM (points not confirmed).
    group : str or None
        Risk group when the unknown findings cannot change it, ``"indeterminate"`` when they can,
        None when the score defines no (confirmed) groups or does not apply.
    possible_groups : tuple of str
        Every group consistent with the findings.
    linear_predictor, linear_predictor_min, linear_predictor_max : float or None
        Sum of log hazard ratios (mastoprog score only).
    contributions : mapping
        Points per factor (``pts_*``; None when unknown); for mastoprog also ``lp_*``.
    details : mapping
        Score-specific columns (e.g. MARS median OS, IPSM flags, ``applicable``, ``alp_uln_used``,
        ``group_context``).
    notes : tuple of str
        Defaults used, assumptions, applicability, classification done first and unconfirmed
        parts, in words.
    patient_id : object or None
    """

    score: str
    points: int | None
    points_min: int | None
    points_max: int | None
    group: str | None
    possible_groups: tuple[str, ...]
    linear_predictor: float | None = None
    linear_predictor_min: float | None = None
    linear_predictor_max: float | None = None
    contributions: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    patient_id: Any = None


_CORE = ("patient_id", "score", "points", "points_min", "points_max", "group", "possible_groups",
         "linear_predictor", "linear_predictor_min", "linear_predictor_max", "notes")


def _check_score(score: Any) -> str:
    if score not in SCORES:
        raise ValueError(f"The 'score' parameter of risk_score must be one of {set(sorted(SCORES))}. "
                         f"Got {score!r} instead.")
    return str(score)


def _scored(data: FindingsSource, score: str) -> tuple[pd.DataFrame, Notes]:
    columns, scorer = _SCORERS[_check_score(score)]
    frame, _ = ensure_findings(data, columns=columns)
    cols, notes = scorer(frame, data)
    n = len(frame)
    head: dict[str, Any] = {}
    if "patient_id" in frame.columns:
        head["patient_id"] = frame["patient_id"].to_numpy()
    head["score"] = pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[score])
    text, _, _ = notes.build()
    # copy=False: no block consolidation (a third of the run time on a million rows).
    return pd.DataFrame({**head, **cols, "notes": text}, index=frame.index, copy=False), notes


def risk_score(data: FindingsSource, score: str = "mastoprog") -> pd.DataFrame:
    """Risk score of every patient, with contributions, missing-data ranges and notes.

    Parameters
    ----------
    data : DataFrame, mapping or path
        Findings (see :func:`mastoprog.read_findings`): ``age`` (years), ``splenomegaly``, ``alp`` and
        ``alp_uln`` (U/L), ``hemoglobin`` (g/dL), ``platelets`` and ``leukocytes`` (10^9/L),
        ``tryptase`` (ng/mL), ``skin_lesions``, ``srsf2``/``asxl1``/``runx1`` and/or ``sar_count``,
        ``nras``, ``who_subtype``; MARS and MAPS also read the classifier's findings of a patient
        without ``who_subtype``. A mapping is one patient (one row); :func:`risk_score_patient`
        returns it as a :class:`RiskResult`.
    score : {"mastoprog", "mars", "maps", "ipsm"}
        ``"mastoprog"``: this package's own composite (not MAPS or MARS): age > 60 y 1 point,
        splenomegaly 1, ALP > ULN 1, S/A/R one gene 1 / two or more 2; groups low 0 /
        intermediate 1-2 / high 3-5 (our unvalidated cut-points, read with the subtype in
        ``group_context``) and a linear predictor (sum of log HRs, see
        :func:`mastoprog_coefficients`). ``"mars"``: MARS points, groups and the published median
        OS (training and validation cohorts), advanced SM only. ``"maps"``: MAPS hybrid points, no
        groups (unconfirmed). ``"ipsm"``: IPSM factor flags, no points or groups (unconfirmed).

    Returns
    -------
    DataFrame
        Always a frame, indexed like the input: ``patient_id`` (when given), ``score``, ``points``
        (nullable int; <NA> when the unknown findings could change it), ``points_min``,
        ``points_max``, ``group`` (a label when the range cannot change it, ``"indeterminate"``
        when it can, None when the score has no confirmed groups or does not apply),
        ``possible_groups`` (tuple), ``linear_predictor`` and ``_min``/``_max`` (mastoprog only),
        per-factor ``pts_*`` (and ``lp_*``) contributions, score-specific columns (``applicable``,
        ``alp_uln_used``, ``uses_assumption``, ``group_context``, ``median_os_*``, IPSM ``flag_*``
        and ``ipsm_model``) and ``notes`` (defaults used, assumptions, applicability, a
        classification done first, unconfirmed parts; joined by "; ").

    Raises
    ------
    ValueError
        For an unknown ``score``.
    FindingsError
        For impossible findings (see :func:`mastoprog.read_findings`).

    References
    ----------
    .. [1] Pardanani A et al. Blood Adv 2018;2:2964-72. doi:10.1182/bloodadvances.2018026245 (MAPS).
    .. [2] Jawhar M et al. J Clin Oncol 2019;37:2846-56. doi:10.1200/JCO.19.00640 (MARS).
    .. [3] Sperr WR et al. Lancet Haematol 2019;6:e638-49. doi:10.1016/S2352-3026(19)30166-8 (IPSM).

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"age": [70, 45], "splenomegaly": [True, False], "alp": [150, 80],
    ...                   "sar_count": [1, 0], "who_subtype": ["ASM", "ISM"]})
    >>> risk_score(f)[["points", "group"]].to_dict("list")
    {'points': [4, 0], 'group': ['high', 'low']}
    """
    return _scored(data, score)[0]


def _py(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


def risk_score_patient(findings: Mapping[str, Any], score: str = "mastoprog") -> RiskResult:
    """One patient's risk score as a frozen :class:`RiskResult` (see :func:`risk_score`).

    Parameters
    ----------
    findings : mapping
        One patient's findings in the canonical columns (units as in :func:`risk_score`).
    score : {"mastoprog", "mars", "maps", "ipsm"}
        The score.

    Returns
    -------
    RiskResult

    Raises
    ------
    TypeError
        When ``findings`` is not a mapping (use :func:`risk_score` for a table).
    ValueError, FindingsError
        As :func:`risk_score`.

    Examples
    --------
    >>> r = risk_score_patient({"age": 65, "hemoglobin": 9, "platelets": 80, "asxl1": True,
    ...                         "runx1": True, "srsf2": False, "who_subtype": "ASM"}, score="mars")
    >>> r.points, r.group, r.details["median_os_training_y"]
    (5, 'high', 1.9)
    >>> r = risk_score_patient({"age": 70, "splenomegaly": True, "alp": 150})
    >>> r.points, r.points_min, r.points_max, r.possible_groups
    (None, 3, 5, ('high',))
    >>> r.group
    'high'
    """
    if not isinstance(findings, Mapping):
        raise TypeError(f"risk_score_patient takes one patient as a mapping; got {type(findings).__name__} "
                        "(use risk_score for a table)")
    frame, notes = _scored(findings, score)
    _, code, tuples = notes.build()
    row = frame.iloc[0]
    contrib = {c: _py(row[c]) for c in frame.columns if c.startswith(("pts_", "lp_"))}
    details = {c: _py(row[c]) for c in frame.columns if c not in _CORE and c not in contrib}

    def get(c: str) -> Any:
        return _py(row[c]) if c in frame.columns else None

    return RiskResult(
        score=row["score"], points=get("points"), points_min=get("points_min"),
        points_max=get("points_max"), group=get("group"), possible_groups=row["possible_groups"],
        linear_predictor=get("linear_predictor"), linear_predictor_min=get("linear_predictor_min"),
        linear_predictor_max=get("linear_predictor_max"),
        contributions=MappingProxyType(contrib), details=MappingProxyType(details),
        notes=tuples[int(code[0])], patient_id=get("patient_id"),
    )
