"""The API reference (Sphinx + numpydoc over the package faces) builds with warnings as errors."""

from __future__ import annotations

from pathlib import Path

from sphinx.cmd.build import build_main  # the [test] extra installs sphinx and numpydoc

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_builds_without_warnings(tmp_path):
    status = build_main(["-W", "--keep-going", "-q", "-b", "html", "-d", str(tmp_path / "doctrees"),
                         str(ROOT / "docs" / "api"), str(tmp_path / "html")])
    assert status == 0
    assert (tmp_path / "html" / "survival.html").read_text(encoding="utf-8").count("SurvivalModel") > 0
