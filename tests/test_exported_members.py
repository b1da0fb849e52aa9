"""The public surface: a small, sorted, explicit ``__all__`` (httpx's exported-members test)."""

from __future__ import annotations

import subprocess
import sys
import types

import mastoprog

# submodules become attributes of the package when imported; only those in __all__ are API
_EXPORTED_MODULES = {"metrics"}


def test_all_imports_are_exported() -> None:
    included_private_members = ["__version__"]
    public = [
        member for member, value in vars(mastoprog).items()
        if (not member.startswith("_") or member in included_private_members)
        and (not isinstance(value, types.ModuleType) or member in _EXPORTED_MODULES)
    ]
    assert mastoprog.__all__ == sorted(public, key=str.casefold)


def test_the_public_surface_is_small() -> None:
    assert len(mastoprog.__all__) <= 25


def test_every_exported_name_is_documented() -> None:
    for name in mastoprog.__all__:
        obj = getattr(mastoprog, name)
        if callable(obj) or isinstance(obj, types.ModuleType):
            assert obj.__doc__ and obj.__doc__.strip(), name


def test_import_is_light():
    code = ("import sys, mastoprog; heavy = [m for m in ('matplotlib', 'lifelines', 'sklearn', "
            "'scipy', 'polars', 'fastapi', 'uvicorn') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
