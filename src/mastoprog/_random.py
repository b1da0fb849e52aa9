"""One reading of ``random_state`` for every function that draws random numbers.

scikit-learn's convention: ``random_state`` is a whole number (a seed), a
``numpy.random.SeedSequence`` or a ``numpy.random.Generator`` (used as given, e.g. to continue a
stream). numpy's global generator is never used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["RandomState", "as_generator"]

RandomState = int | np.integer | np.random.SeedSequence | np.random.Generator


def as_generator(random_state: Any, where: str = "random_state") -> np.random.Generator:
    """A ``numpy.random.Generator`` (PCG64) for ``random_state``.

    Parameters
    ----------
    random_state : int, numpy.random.SeedSequence or numpy.random.Generator
        A non-negative seed or a SeedSequence seeds a new generator; a Generator is returned
        as it is.
    where : str
        The parameter's name in messages (e.g. ``"random_state of simulate_cohort"``).

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    ValueError
        For a negative or non-integer seed, a bool, or another type (a ``ValueError``, as
        scikit-learn raises for a bad ``random_state``).

    Examples
    --------
    >>> import numpy as np
    >>> bool(as_generator(3).random() == np.random.default_rng(3).random())
    True
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.SeedSequence):
        return np.random.default_rng(random_state)
    whole = isinstance(random_state, int | np.integer) and not isinstance(random_state, bool)
    if whole and random_state >= 0:
        return np.random.default_rng(int(random_state))
    raise ValueError(
        f"{where} must be a non-negative whole number, a numpy.random.SeedSequence or a "
        f"numpy.random.Generator; got {random_state!r}"
    )
