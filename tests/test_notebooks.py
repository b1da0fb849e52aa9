"""The notebooks under notebooks/ run top to bottom (every code cell, in one namespace)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)  # the notebook writes its figure here, never into the repo
    nb = json.loads(path.read_text(encoding="utf-8"))
    namespace: dict = {}
    cells = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert cells, f"{path.name} has no code cell"
    for i, cell in enumerate(cells):
        source = "".join(cell["source"])
        exec(compile(source, f"{path.name}[cell {i}]", "exec"), namespace)
    assert (tmp_path / "patient_curve.png").stat().st_size > 10_000
    # the synthetic cohort (complete findings) comes back from the classifier exactly as drawn
    back = namespace["back"]
    assert (back == namespace["cohort"]["true_subtype"].astype(str)).all()
    assert namespace["mars"].points == 5 and namespace["mars"].group == "high"


def test_notebooks_exist():
    assert NOTEBOOKS, "notebooks/ should hold at least the quick start"
