"""Every published constant is data with a source and an evidence level (mastoprog._resources)."""

from __future__ import annotations

import csv
import io
import re
from importlib import resources
from pathlib import Path

import pytest

from mastoprog import ModelFileError, _resources
from mastoprog._resources import EVIDENCE_LEVELS, load_table

DATA = resources.files("mastoprog").joinpath("data")
CSV_FILES = sorted(p.name for p in DATA.iterdir() if p.name.endswith(".csv"))


@pytest.mark.parametrize("name", CSV_FILES)
def test_every_constant_has_a_source_and_evidence_level(name):
    # Read the raw file with the csv module, independently of load_table (which enforces the same
    # rule itself, so asserting on its output alone could not fail).
    rows = list(csv.DictReader(io.StringIO(DATA.joinpath(name).read_text(encoding="utf-8"))))
    assert rows, name
    bad = [i + 2 for i, r in enumerate(rows)
           if not (r.get("source") or "").strip() or r.get("evidence") not in EVIDENCE_LEVELS]
    assert bad == [], f"{name}: lines {bad} lack a source or a known evidence level"
    assert len(load_table(name)) == len(rows)


@pytest.fixture
def fake_data(tmp_path, monkeypatch):
    """load_table pointed at a temporary data folder (its cache cleared before and after)."""
    monkeypatch.setattr(_resources, "data_path", lambda name: tmp_path / name)
    _resources._load_table_cached.cache_clear()
    yield tmp_path
    _resources._load_table_cached.cache_clear()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("name,value\na,1\n", r"data file 'x.csv' lacks the column\(s\) \['evidence', 'source'\]"),
        ("name,value,source,evidence\na,1,Lim 2009,P\nb,2,,P\n", r"check line\(s\) \[3\]"),
        ("name,value,source,evidence\na,1,Lim 2009,P\nb,2,Lim 2009,P\nc,3,x,guess\n",
         r"check line\(s\) \[4\]"),
        ("name,value,source,evidence\na,1,   ,P\n", r"check line\(s\) \[2\]"),
    ],
    ids=["no_source_or_evidence_columns", "empty_source", "unknown_evidence", "blank_source"],
)
def test_load_table_refuses_a_constant_without_source_or_evidence(fake_data, text, match):
    (fake_data / "x.csv").write_text(text, encoding="utf-8")
    with pytest.raises(ModelFileError, match=match):
        load_table("x.csv")


def test_load_table_returns_a_copy(fake_data):
    (fake_data / "x.csv").write_text("name,value,source,evidence\na,1,Lim 2009,P\n", encoding="utf-8")
    first = load_table("x.csv")
    first.loc[0, "value"] = 99
    assert load_table("x.csv").loc[0, "value"] == 1  # the cached frame is not the caller's


def test_the_data_readme_lists_every_data_file():
    """Every file under src/mastoprog/data is named in data/README.md (directly or by its folder pattern)."""
    import fnmatch

    folder = Path(resources.files("mastoprog").joinpath("data"))  # type: ignore[arg-type]
    readme = (folder / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([^`]+)`", readme))
    missing = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "README.md"):
        rel = path.relative_to(folder).as_posix()
        if not any(rel == n or fnmatch.fnmatch(rel, n) or rel.startswith(n.rstrip("/") + "/") for n in named):
            missing.append(rel)
    assert missing == []
