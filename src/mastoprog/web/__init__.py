"""The clinician page: an ASGI app (FastAPI, Jinja2, uvicorn; ``pip install "mastoprog[web]"``).

It holds no clinical logic: every subtype, score, curve and outcome comes from ``mastoprog``'s
public functions and :mod:`mastoprog.survival.outcomes`. Start it with ``mastoprog web`` or
:func:`serve`; embed it with :func:`make_app`; write a one-page PDF with :func:`render_pdf`.
Not imported by ``import mastoprog``.
"""

from typing import Any

from .report import render_pdf

__all__ = ["make_app", "render_pdf", "serve"]


def __getattr__(name: str) -> Any:
    # make_app and serve need the web extra (fastapi, uvicorn); render_pdf (the CLI's report) does not
    if name in ("make_app", "serve"):
        from . import _app

        return getattr(_app, name)
    raise AttributeError(f"module 'mastoprog.web' has no attribute {name!r}")
