"""mastoprog.exceptions: the hierarchy users catch, and the wording of the problem lists."""

from __future__ import annotations

import pytest

import mastoprog
from mastoprog.exceptions import (
    CalibrationError,
    FindingsError,
    FindingsWarning,
    MastoprogError,
    MetricInputError,
    ModelFileError,
    PlausibilityWarning,
    Problem,
    UnknownColumnWarning,
)


@pytest.mark.parametrize("error", [FindingsError, MetricInputError, CalibrationError, ModelFileError],
                         ids=lambda e: e.__name__)
def test_every_error_is_a_mastoprog_error_and_a_value_error(error):
    # the module's promise: `except ValueError` in user code keeps working
    assert issubclass(error, MastoprogError) and issubclass(error, ValueError)
    assert getattr(mastoprog, error.__name__) is error


def test_warnings_are_findings_warnings_and_user_warnings():
    for w in (PlausibilityWarning, UnknownColumnWarning):
        assert issubclass(w, FindingsWarning) and issubclass(w, UserWarning)
        assert not issubclass(w, MastoprogError)
    assert mastoprog.PlausibilityWarning is PlausibilityWarning  # the one warning at the top level


@pytest.mark.parametrize(
    ("problem", "text"),
    [
        (Problem("P07", "hemoglobin", 135.0, "0.5-25 g/dL", "looks like g/L; divide by 10"),
         "row 'P07', column 'hemoglobin': got 135.0; expected 0.5-25 g/dL "
         "(hint: looks like g/L; divide by 10)"),
        (Problem(3, "sex", "X", "'F' or 'M'"), "row 3, column 'sex': got 'X'; expected 'F' or 'M'"),
        (Problem(None, "time", "missing column", "follow-up in months"),
         "column 'time': got 'missing column'; expected follow-up in months"),
        (Problem(None, None, None, "a value"), "got None; expected a value"),
    ],
    ids=["row_column_value_hint", "integer_row", "column_only", "nowhere"],
)
def test_problem_names_row_column_value_and_expected(problem, text):
    assert str(problem) == text


def test_findings_error_lists_every_problem_up_to_fifty():
    problems = [Problem(i, "age", -i - 1.0, "0-120 years") for i in range(60)]
    err = FindingsError(problems)
    lines = str(err).splitlines()
    assert lines[0] == "60 invalid findings:"
    assert lines[1] == "  - row 0, column 'age': got -1.0; expected 0-120 years"
    assert len(lines) == 1 + 50 + 1 and lines[-1] == "  ... and 10 more"
    assert err.n_problems == 60 and err.problems == problems  # all kept on the object
    one = FindingsError([problems[0]])
    assert str(one).splitlines()[0] == "1 invalid finding:"  # singular
    # a count larger than the list (problems found but not all collected)
    assert str(FindingsError(problems[:2], n_problems=7)).splitlines()[-1] == "  ... and 5 more"


def test_findings_error_from_a_message_is_one_problem_without_a_value():
    err = FindingsError("too few deaths to fit: {'MCL': 3}")
    assert str(err) == "too few deaths to fit: {'MCL': 3}"
    assert err.n_problems == 1 and str(err.problems[0]) == "expected too few deaths to fit: {'MCL': 3}"


def test_metric_input_error_shows_at_most_twenty():
    problems = [Problem(i, "time", -1.0, "follow-up >= 0 months") for i in range(25)]
    lines = str(MetricInputError(problems)).splitlines()
    assert lines[0] == "25 invalid input values:"
    assert len(lines) == 1 + 20 + 1 and lines[-1] == "  ... and 5 more"
