"""Exceptions and warnings raised by mastoprog.

Every error subclasses a builtin so that ``except ValueError`` keeps working in user code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "CalibrationError",
    "FindingsError",
    "FindingsWarning",
    "MastoprogError",
    "MetricInputError",
    "ModelFileError",
    "ModelFileExistsError",
    "NotFittedError",
    "OutputExistsError",
    "PlausibilityWarning",
    "Problem",
    "RenamedColumnWarning",
    "UnknownColumnWarning",
]


class MastoprogError(Exception):
    """Base class of every error mastoprog raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One invalid value: where it is, what it is, and what was expected."""

    row: Any
    column: str | None
    value: Any
    expected: str
    hint: str | None = None

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row!r}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        head = ", ".join(where) + ": " if where else ""
        value = "" if self.value is _NO_VALUE else f"got {self.value!r}; "
        text = f"{head}{value}expected {self.expected}"
        if self.hint:
            text += f" (hint: {self.hint})"
        return text


_NO_VALUE = object()


def _problem_list(header: str, problems: list[Problem], n: int, shown: int) -> str:
    """``"N <header>s:"`` then one line per problem (at most ``shown``), then "... and K more"."""
    lines = [f"  - {p}" for p in problems[:shown]]
    if n > len(lines):
        lines.append(f"  ... and {n - len(lines)} more")
    return "\n".join([f"{n} {header}{'s' if n != 1 else ''}:", *lines])


class FindingsError(MastoprogError, ValueError):
    """Patient findings that cannot be used: lists every problem found, not just the first.

    Attributes
    ----------
    problems : list of Problem
        One entry per invalid value (row, column, value, expected range and unit, hint).
    n_problems : int
        Total number of problems (the message shows at most the first 50).
    """

    MAX_SHOWN = 50

    def __init__(self, problems: list[Problem] | str, n_problems: int | None = None):
        if isinstance(problems, str):
            self.problems = [Problem(None, None, _NO_VALUE, problems)]
            self.n_problems = 1
            super().__init__(problems)
            return
        self.problems = list(problems)
        self.n_problems = n_problems if n_problems is not None else len(self.problems)
        super().__init__(_problem_list("invalid finding", self.problems, self.n_problems,
                                       self.MAX_SHOWN))


class MetricInputError(MastoprogError, ValueError):
    """Survival outcomes or predictions that a metric cannot use (lists every problem)."""

    MAX_SHOWN = 20

    def __init__(self, problems: list[Problem], n_problems: int | None = None):
        self.problems = list(problems)
        self.n_problems = n_problems if n_problems is not None else len(self.problems)
        super().__init__(_problem_list("invalid input value", self.problems, self.n_problems,
                                       self.MAX_SHOWN))


class CalibrationError(MastoprogError, ValueError):
    """A calibration target cannot be met, or a curve is asked for where none is calibrated."""


class ModelFileError(MastoprogError, ValueError):
    """A saved model, scenario or data file is malformed or of an unsupported schema version."""


class NotFittedError(MastoprogError, ValueError, AttributeError):
    """A model used before it has parameters (both builtins, like scikit-learn's NotFittedError)."""


class ModelFileExistsError(MastoprogError, FileExistsError):
    """The target of :meth:`SurvivalModel.save` exists and ``overwrite`` is False."""


class FindingsWarning(UserWarning):
    """Base class of warnings about patient findings."""


class PlausibilityWarning(FindingsWarning):
    """A value is possible but implausible (e.g. hemoglobin 3 g/dL): check it."""


class UnknownColumnWarning(FindingsWarning):
    """An input column is not canonical but looks like a canonical one (e.g. 'Tryptase')."""


class RenamedColumnWarning(UnknownColumnWarning):
    """A header differing from a canonical name only by case, spaces or hyphens (``" AGE "``) was
    read as that column; the warning names every renamed column."""


class OutputExistsError(MastoprogError, FileExistsError):
    """An output file exists and overwriting it was not asked for (``force``/``--force``)."""
