"""The clinician page: a small local web app over the public API (standard library only).

It holds no clinical logic: every subtype, score, curve and message comes from ``mastoprog``'s
public functions. Start it with ``mastoprog web`` or :func:`serve`; embed it with :func:`make_app`
(a WSGI application). Not imported by ``import mastoprog``.
"""

from ._app import make_app, serve

__all__ = ["make_app", "serve"]
