"""The Examples sections of the public docstrings run, and give what they show."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

import mastoprog.classification
import mastoprog.findings


@pytest.fixture
def numpy_scalar_repr():
    # Examples show scalars as plain numbers (35.0, True); numpy >= 2 prints np.float64(35.0).
    old = np.get_printoptions()
    np.set_printoptions(legacy="1.25")
    yield
    np.set_printoptions(**old)


@pytest.mark.parametrize("module", [mastoprog.findings, mastoprog.classification],
                         ids=lambda m: m.__name__)
def test_docstring_examples_run(module, numpy_scalar_repr):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, report=True)
    assert result.attempted > 0, f"{module.__name__} has no examples"
    assert result.failed == 0
