"""Every published constant is data with a source and an evidence level."""

from __future__ import annotations

from importlib import resources

import pytest

from mastoprog._resources import EVIDENCE_LEVELS, load_table

DATA = resources.files("mastoprog").joinpath("data")
CSV_FILES = sorted(p.name for p in DATA.iterdir() if p.name.endswith(".csv"))


@pytest.mark.parametrize("name", CSV_FILES)
def test_every_constant_has_a_source_and_evidence_level(name):
    table = load_table(name)
    assert table["source"].str.strip().str.len().gt(0).all(), name
    assert table["evidence"].isin(EVIDENCE_LEVELS).all(), name
