"""ruff (incl. mccabe complexity <= 10) and mypy (configured in pyproject.toml) are clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_is_clean():
    # the ruff of this environment (the [test] extra installs it) before any other on PATH; a missing
    # ruff is a broken test environment, so it fails here rather than skipping silently in CI
    local = Path(sys.executable).parent / "ruff"
    ruff = str(local) if local.exists() else shutil.which("ruff")
    assert ruff is not None, "ruff is not installed (it is part of the [test] extra: pip install -e .[test])"
    out = subprocess.run([ruff, "check", "src", "tests", "benchmarks", "scripts", "notebooks"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_is_clean():
    # mypy of this environment (the [test] extra installs it); configured under [tool.mypy]
    local = Path(sys.executable).parent / "mypy"
    mypy = str(local) if local.exists() else shutil.which("mypy")
    assert mypy is not None, "mypy is not installed (it is part of the [test] extra: pip install -e .[test])"
    out = subprocess.run([mypy], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
