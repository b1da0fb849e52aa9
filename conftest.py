"""Shared pytest set-up for the tests and for the docstring examples (``--doctest-modules``)."""

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _plain_numpy_scalars(doctest_namespace):
    # Examples show scalars as plain numbers (35.0, True); numpy >= 2 prints np.float64(35.0).
    old = np.get_printoptions()
    np.set_printoptions(legacy="1.25")
    yield
    np.set_printoptions(**old)
