"""The package's architecture, checked on its source: one-way data flow, no cycles, private stays private.

Every ``import`` statement of every module under ``src/mastoprog`` is read with :mod:`ast`, including
imports inside functions (a lazy import still ties two modules together). Three rules:

1. no import cycle among the package's modules;
2. no import runs up the data flow: findings -> classification + risk -> survival -> synthetic / metrics
   -> validation -> plotting / cli / web (the layers below);
3. no private name crosses a subpackage boundary: a module of ``mastoprog.X`` never imports
   ``mastoprog.Y._private`` or ``_private_name`` from ``mastoprog.Y``; what another package needs is made
   public there. The root package's own private modules (``mastoprog._about``, ``_resources``, ...) are
   the shared infrastructure at the bottom and may be imported by everyone.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "mastoprog"

# The data flow, bottom (0) to top. A unit may import units of its own or a lower layer only.
LAYERS: dict[str, int] = {
    "_about": 0, "exceptions": 0, "_resources": 0, "_logic": 0, "_files": 0, "_random": 0,
    "findings": 1, "lifetables": 1, "_scenario_schema": 1,
    "classification": 2, "risk": 2, "scenarios": 2, "metrics": 2,
    "survival": 3, "relative": 3,
    "synthetic": 4,
    "validation": 5,
    "plotting": 6, "cli": 7, "web": 7,
    "__init__": 8,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


def _resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _imports(modules: dict[str, Path]) -> list[tuple[str, str, str | None]]:
    """(importer, imported module, imported name or None) for every import of a package module."""
    found = []
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found += [(name, a.name, None) for a in node.names if a.name.split(".")[0] == PACKAGE]
            elif isinstance(node, ast.ImportFrom):
                target = _resolve(name, is_package, node.level, node.module)
                if target.split(".")[0] != PACKAGE:
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    # `from . import findings` imports a module; `from .x import name` a name
                    found.append((name, sub, None) if sub in modules else (name, target, alias.name))
    return found


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


MODULES = _modules()
IMPORTS = _imports(MODULES)


def test_every_unit_has_a_layer():
    assert {_unit(m) for m in MODULES} <= set(LAYERS), set(map(_unit, MODULES)) - set(LAYERS)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for importer, target, _ in IMPORTS:
        if target in MODULES and target != importer:
            graph[importer].add(target)
    # importing a submodule runs its package's __init__ first
    for name in MODULES:
        parent = name.rsplit(".", 1)[0]
        if "." not in name or parent not in MODULES or parent == PACKAGE:
            continue
        for importer in list(graph):
            if name in graph[importer] and not importer.startswith(parent + ".") and importer != parent:
                graph[importer].add(parent)
    return graph


def _cycles(graph: dict[str, set[str]], nodes: list[str]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = stack[stack.index(v):]
            del stack[stack.index(v):]
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in nodes:
        if v not in index:
            visit(v)
    return cycles


def test_no_import_cycle():
    assert _cycles(_graph(), list(MODULES)) == []


def test_the_cycle_finder_finds_a_planted_cycle():
    graph: dict[str, set[str]] = defaultdict(set, {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})
    assert _cycles(graph, ["d", "a", "b", "c"]) == [["a", "b", "c"]]


def test_no_import_runs_up_the_data_flow():
    upward = sorted({(imp, tgt) for imp, tgt, _ in IMPORTS
                     if LAYERS[_unit(tgt)] > LAYERS[_unit(imp)]})
    assert upward == []


def test_no_private_name_crosses_a_subpackage_boundary():
    crossings = []
    for importer, target, name in IMPORTS:
        if _unit(importer) == _unit(target):
            continue
        inner = target.split(".")[2:]  # below the unit: mastoprog.<unit>.<inner...>
        private_name = name is not None and name.startswith("_") and not name.startswith("__")
        if any(part.startswith("_") for part in inner) or private_name:
            crossings.append(f"{importer} imports {target}" + (f".{name}" if name else ""))
    assert crossings == []


@pytest.mark.parametrize("face", sorted(m for m, p in MODULES.items()
                                        if p.name == "__init__.py" and m != PACKAGE))
def test_package_faces_only_re_export(face):
    """A subpackage's ``__init__`` holds a docstring, imports and ``__all__``: no code of its own.

    The one exception is a module ``__getattr__`` that imports an optional extra's names on first
    use (``mastoprog.web.make_app`` needs FastAPI; ``render_pdf`` does not).
    """
    tree = ast.parse(MODULES[face].read_text(encoding="utf-8"))
    allowed = (ast.Import, ast.ImportFrom, ast.Expr, ast.Assign)
    lazy = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "__getattr__"]
    assert all(isinstance(node, allowed) or node in lazy for node in tree.body), face
    assigned = {t.id for node in tree.body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}
    assert assigned <= {"__all__"}, face
