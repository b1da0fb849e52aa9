"""``findings.already_validated``: a frame validated once is not parsed again, and nothing changes.

The fast path returns what a second validation would (validation is idempotent), for every column
selection the public functions ask for, on row slices too; it is keyed by identity, so a copy or a
modified frame is validated as before; its scope is the block and the thread.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import mastoprog as mp
from mastoprog.classification import COLUMNS as CLASSIFIER_COLUMNS
from mastoprog.exceptions import FindingsError, PlausibilityWarning
from mastoprog.findings import (
    CANONICAL_COLUMNS,
    already_validated,
    collect_notes,
    column_spec,
    ensure_findings,
    example_path,
    read_findings,
)
from mastoprog.risk.composite import COLUMNS as RISK_COLUMNS

#: The column selections the public functions validate with (None: every canonical column).
SELECTIONS = (None, CLASSIFIER_COLUMNS, RISK_COLUMNS, ("age", "sex"), ("age", "hemoglobin", "platelets"),
              ("ahn",), ("patient_id", "time", "event"))


def _cell(column: str) -> st.SearchStrategy:
    kind = column_spec(column)["kind"]
    if kind == "bool":
        return st.sampled_from([True, False, None, "yes", "no", "", "unknown"])
    if kind in ("float", "count"):
        spec = column_spec(column)
        high = spec["max"] if np.isfinite(spec["max"]) else 2000.0
        return st.one_of(st.none(), st.floats(0.0, float(high), allow_nan=False))
    return {"sex": st.sampled_from(["F", "M", "f", None]),
            "ahn": st.sampled_from(["none", "unknown", "CMML", "CLL", "", None]),
            "subtype": st.sampled_from(["ISM", "ASM", "SM-AHN", "MCL", None]),
            "event": st.sampled_from([0, 1, None])}.get(kind, st.none())


COLUMNS = st.lists(st.sampled_from([c for c in CANONICAL_COLUMNS if c != "patient_id"]),
                   min_size=1, max_size=12, unique=True)


@st.composite
def raw_frames(draw: st.DrawFn) -> pd.DataFrame:
    columns = draw(COLUMNS)
    n = draw(st.integers(1, 6))
    data = {c: draw(st.lists(_cell(c), min_size=n, max_size=n)) for c in columns}
    if draw(st.booleans()):
        data["patient_id"] = [f"P{i}" for i in range(n)]
    if draw(st.booleans()):
        data["my_note"] = ["x"] * n  # an extra column, passed through
    return pd.DataFrame(data, index=pd.RangeIndex(10, 10 + n))


def _quiet_read(frame: pd.DataFrame) -> pd.DataFrame | None:
    """The canonical frame, or None where the random findings are refused (not this test's subject)."""
    try:
        with collect_notes():
            return read_findings(frame)
    except FindingsError:
        return None


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_frames())
# found by this test: a second validation read mc_sarcoma's <NA> (an explicit "unknown") as an
# empty cell, i.e. "not diagnosed" (fixed in findings._parse_bool)
@example(pd.DataFrame({"age": [None], "sex": ["F"], "mc_sarcoma": ["unknown"]}, index=pd.RangeIndex(10, 11)))
def test_the_fast_path_returns_what_a_second_validation_returns(raw):
    once = _quiet_read(raw)
    if once is None:
        return
    for rows in (slice(None), slice(0, 1), slice(1, None)):
        part = once.iloc[rows]
        if len(part) == 0:
            continue
        for columns in SELECTIONS:
            with collect_notes():
                slow, _ = ensure_findings(part, columns=columns)
            with already_validated(part), collect_notes() as notes:
                fast, _ = ensure_findings(part, columns=columns)
            pd.testing.assert_frame_equal(fast, slow)
            assert notes == []  # nothing parsed, so nothing noted twice
            first = fast.columns[-1]  # a new frame that shares no memory with the caller's
            assert fast is not part and not np.shares_memory(fast[first].to_numpy(), part[first].to_numpy())


def test_public_results_are_the_same_inside_the_block():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlausibilityWarning)
        frame = read_findings(example_path("patients.csv"))
    model = mp.load_model("lim2009")
    outside = (mp.classify(frame), mp.risk_score(frame), model.predict(frame, [12, 60], interval=False))
    with already_validated(frame):
        inside = (mp.classify(frame), mp.risk_score(frame), model.predict(frame, [12, 60], interval=False))
    pd.testing.assert_frame_equal(inside[0], outside[0])
    pd.testing.assert_frame_equal(inside[1], outside[1])
    for name in ("survival", "lower", "upper", "population", "median", "notes"):
        pd.testing.assert_frame_equal(getattr(inside[2], name), getattr(outside[2], name))


def test_notes_are_given_once_by_the_first_validation():
    frame, notes = read_findings({"age": 54, "hemoglobin": 2.5, "sex": "F"}, return_notes=True)
    assert len(notes) == 1
    with already_validated(frame), collect_notes() as again:
        mp.classify(frame)
        mp.risk_score(frame)
    assert again == []
    with collect_notes() as outside:  # without the block, each function checks (and notes) again
        mp.risk_score(frame)
    assert outside == list(notes)


def test_identity_not_equality_a_changed_copy_is_validated():
    frame = read_findings({"age": 54, "sex": "F"})
    changed = frame.copy()
    changed["age"] = changed["age"].astype(object)
    changed.loc[0, "age"] = "fifty"
    with already_validated(frame), pytest.raises(FindingsError, match=r"column 'age': got 'fifty'"):
        mp.classify(changed)


def test_the_scope_is_the_block_and_the_thread():
    frame = read_findings({"age": 54, "hemoglobin": 2.5, "sex": "F"}, return_notes=True)[0]
    seen: list[list[str]] = []

    def other_thread() -> None:
        with collect_notes() as notes:
            mp.risk_score(frame)  # this thread never entered the block: validated as usual
        seen.append(notes)

    with already_validated(frame):
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert len(seen[0]) == 1
    with collect_notes() as after:  # the block has ended
        mp.risk_score(frame)
    assert len(after) == 1


@pytest.mark.parametrize("frame", [pd.DataFrame({"age": [54.0]}), "not a frame"])
def test_only_canonical_frames_are_taken(frame):
    with pytest.raises(ValueError, match="already_validated takes canonical frames"):
        with already_validated(frame):
            pass
