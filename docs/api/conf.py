"""Sphinx configuration of mastoprog's API reference (built with warnings as errors by tests/test_docs.py).

Build by hand: ``sphinx-build -W -b html docs/api docs/api/_build``.
"""

project = "mastoprog"
author = "mastoprog developers"
extensions = ["sphinx.ext.autodoc", "numpydoc"]
numpydoc_show_class_members = False
autodoc_typehints = "none"          # the numpydoc "Parameters" sections carry types and units
autodoc_member_order = "groupwise"
exclude_patterns = ["_build"]
html_theme = "alabaster"
