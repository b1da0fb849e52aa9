"""The public surface: a small, sorted, explicit __all__; a light import."""

from __future__ import annotations

import subprocess
import sys

import mastoprog


def test_all_is_sorted_and_resolves():
    names = [n for n in mastoprog.__all__ if n != "__version__"]
    assert names == sorted(names)
    for name in mastoprog.__all__:
        assert hasattr(mastoprog, name), name


def test_import_is_light():
    code = ("import sys, mastoprog; heavy = [m for m in ('matplotlib', 'lifelines', 'sklearn', "
            "'scipy', 'polars') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
