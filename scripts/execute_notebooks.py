"""Execute the notebooks under notebooks/ and store their outputs, so they read well on the web.

The test suite (tests/test_notebooks.py) runs every code cell itself and checks the numbers; this
script only refreshes the outputs stored in the files. It needs the ``notebooks`` extra
(``pip install -e ".[notebooks]"``: nbclient and ipykernel).

Usage: ``python scripts/execute_notebooks.py [NAME.ipynb ...]`` (default: every notebook). Each
notebook runs in a fresh temporary directory (its figures are written there, never into the repo)
and is replaced atomically only when every cell ran.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def execute(path: Path) -> float:
    """Run ``path`` top to bottom in a temporary directory and store its outputs; return seconds."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        resources = {"metadata": {"path": work}}
        client = NotebookClient(nb, timeout=300, kernel_name="python3", resources=resources)
        client.execute()
    elapsed = time.perf_counter() - start
    for cell in nb.cells:  # tqdm's note that ipywidgets is absent (it names this machine's paths)
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs
                            if not (o.get("name") == "stderr" and "IProgress not found" in o.get("text", ""))]
    tmp = path.with_suffix(".ipynb.tmp")
    nbformat.write(nb, tmp)
    tmp.replace(path)
    return elapsed


def main(names: list[str]) -> None:
    paths = [NOTEBOOKS / n for n in names] if names else sorted(NOTEBOOKS.glob("*.ipynb"))
    for path in paths:
        print(f"{path.name}: {execute(path):.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
