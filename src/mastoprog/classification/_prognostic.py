"""Which survival target a classified patient uses: the prognostic group, lymphoid AHN included.

``PROGNOSTIC_GROUP`` maps a subtype *label* to the subtype whose survival curve it uses (BMM -> ISM,
SM-AMN -> SM-AHN, SM-ALN -> SM-ALN). WHO 2016 and WHO 2022 keep a lymphoid associated neoplasm
inside SM-AHN (flag ``lymphoid_ahn``) while ICC 2022 calls it SM-ALN; the prognosis does not
depend on the edition's name for it: SM with a lymphoid neoplasm had a median OS of 8.1 y against
2.0 y with a myeloid one in the Mayo 910 cohort (PMID 40607735; SM-AMN vs SM-ALN HR 3.4). So a WHO
SM-AHN whose ``ahn`` is a lymphoid entity (``data/ahn_entities.csv``) takes the SM-ALN group too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..findings import ensure_findings, to_frame
from ._editions import LINEAGES
from ._engine import lineage_codes

__all__ = ["lymphoid_ahn", "with_lymphoid_group"]

_LYMPHOID = LINEAGES.index("lymphoid")


def lymphoid_ahn(data: Any) -> np.ndarray:
    """Per patient: is the associated hematologic neoplasm (``ahn``) a lymphoid entity?

    Parameters
    ----------
    data : DataFrame or mapping
        Findings; only ``ahn`` is read (validated as the canonical column: aliases such as
        ``"CLL"`` or ``"chronic lymphocytic leukemia"`` are accepted).

    Returns
    -------
    ndarray of bool, shape (n,)
        True where ``ahn`` names a lymphoid neoplasm; False for a myeloid one, none, an entity that
        is not a neoplasm (hypereosinophilic syndrome without a clonal marker), an unknown value,
        or when the column is absent.

    Examples
    --------
    >>> import pandas as pd
    >>> lymphoid_ahn(pd.DataFrame({"ahn": ["CLL", "CMML", None, "HES"]})).tolist()
    [True, False, False, False]
    """
    raw = to_frame(data)
    if "ahn" not in raw.columns:
        return np.zeros(len(raw), bool)
    frame, _ = ensure_findings(raw[["ahn"]], columns=("ahn",))
    return np.asarray(lineage_codes(frame["ahn"]) == _LYMPHOID)


def with_lymphoid_group(labels: Any, lymphoid: np.ndarray) -> np.ndarray:
    """Subtype labels with ``SM-AHN`` read as ``SM-ALN`` where the AHN is lymphoid.

    Parameters
    ----------
    labels : array_like of str or of tuples of str, shape (n,)
        One label per patient, or one tuple of candidate labels per patient (the classifier's
        ``candidates``); None stays None.
    lymphoid : ndarray of bool, shape (n,)
        :func:`lymphoid_ahn` of the same patients.

    Returns
    -------
    ndarray of object, shape (n,)
        The labels, SM-AHN replaced by SM-ALN in the lymphoid rows (vectorised over distinct
        values, not over patients).

    Examples
    --------
    >>> with_lymphoid_group(["SM-AHN", "SM-AHN", "ASM"], np.array([True, False, True])).tolist()
    ['SM-ALN', 'SM-AHN', 'ASM']
    >>> with_lymphoid_group([("ASM", "SM-AHN")], np.array([True])).tolist()
    [('ASM', 'SM-ALN')]
    """
    values = np.empty(len(lymphoid), dtype=object)
    values[:] = list(labels) if not isinstance(labels, np.ndarray) else labels
    if not lymphoid.any():
        return values
    codes, uniques = pd.factorize(pd.Series(values[lymphoid], dtype=object), use_na_sentinel=False)
    mapped = np.empty(len(uniques), dtype=object)
    mapped[:] = [_relabel(u) for u in uniques]  # distinct values only
    values[lymphoid] = mapped[codes] if len(uniques) else values[lymphoid]
    return values


def _relabel(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(dict.fromkeys("SM-ALN" if v == "SM-AHN" else v for v in value))
    return "SM-ALN" if value == "SM-AHN" else value
