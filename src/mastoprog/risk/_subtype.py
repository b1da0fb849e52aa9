"""Advanced SM or not: from ``who_subtype``, or, when it is absent, from the classifier.

MARS is defined for advanced SM and MAPS gives 2 points for it. A patient without ``who_subtype``
is classified first (WHO 2016, the package's default edition) and the score says so in its notes:
the advanced status is then surely true when every candidate subtype is advanced, surely false
when none is, and open otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._logic import Tri, in_categories
from ..classification import classify
from ._common import Notes

#: Edition used to classify patients without ``who_subtype``.
EDITION = "who2016"


def _classified(data: Any, rows: np.ndarray) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return classify(data.iloc[rows], edition=EDITION)  # only the rows that need it
    return classify(data, edition=EDITION).iloc[rows]


def advanced_status(frame: pd.DataFrame, data: Any, members: frozenset[str], notes: Notes,
                    score: str) -> Tri:
    """Is each patient in ``members`` (advanced SM)? Classifies rows without ``who_subtype``.

    Parameters
    ----------
    frame : DataFrame
        The validated findings (``who_subtype`` categorical).
    data : DataFrame, mapping, path or None
        What the user passed (the classifier reads its findings); None: do not classify.
    members : frozenset of str
        The subtype labels of advanced SM (from the score's data file).
    notes : Notes
        Receives one note per distinct classification result.
    score : str
        Score name for the notes.
    """
    given = in_categories(frame["who_subtype"], members)
    rows = np.flatnonzero(~given.known)
    if data is None or rows.size == 0:
        return given
    cls = _classified(data, rows)
    codes, patterns = pd.factorize(cls["candidates"].to_numpy(object))
    lo = np.array([all(c in members for c in p) for p in patterns])[codes]
    hi = np.array([any(c in members for c in p) for p in patterns])[codes]
    out_lo, out_hi = given.lo.copy(), given.hi.copy()
    out_lo[rows], out_hi[rows] = lo, hi
    for k, pattern in enumerate(patterns):
        mask = np.zeros(len(frame), bool)
        mask[rows[codes == k]] = True
        what = pattern[0] if len(pattern) == 1 else "one of " + ", ".join(pattern)
        status = "advanced SM" if lo[codes == k][0] else (
            "advanced status unknown" if hi[codes == k][0] else "not advanced SM")
        notes.add(mask, f"who_subtype not given: classified first from the findings (WHO 2016): {what} "
                        f"-> {status} for {score}")
    return Tri(out_lo, out_hi)
