"""The package's imports form no cycle: read from the source (nothing is imported), every import
statement of every module under qcpt/, at module level and inside functions, with the package
``__init__`` files an import runs on the way (``from qcpt.report import x`` runs
``qcpt/report/__init__.py`` first, and a name re-exported there ties the importer to whatever
``__init__`` imports). Imports under ``if TYPE_CHECKING:`` count too: a type checker follows them."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = "qcpt"


def modules(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Module name -> file, a package by its ``__init__.py``."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imports(name: str, path: Path, known: dict[str, Path], *, lazy: bool = True) -> set[str]:
    """The package modules that importing ``name`` (or calling its functions, with ``lazy``) runs."""
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    targets: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)) and (lazy or not nested):
                add(child)
            visit(child, nested)

    def add(node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    targets.add(alias.name)
            return
        if node.level:
            base = here.split(".")[: len(here.split(".")) - node.level + 1]
            base_name = ".".join(base + ([node.module] if node.module else []))
        else:
            base_name = node.module or ""
        if base_name not in known:
            return
        for alias in node.names:
            sub = f"{base_name}.{alias.name}"
            # a submodule is imported itself; any other name is taken from the base's namespace
            targets.add(sub if sub in known else base_name)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    runs = set()
    for target in targets:
        runs.add(target)
        # the packages on the way, but not the importer's own (they are already initialised)
        runs.update(a for a in _ancestors(target) if a not in _ancestors(name) and a != name)
    runs.discard(name)
    return runs


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def import_graph(*, lazy: bool = True) -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known, lazy=lazy) for name, path in known.items()}


def describe(graph: dict[str, set[str]], component: list[str]) -> str:
    members = set(component)
    ties = [f"{a} -> {b}" for a in component for b in sorted(graph[a] & members)]
    return "cycle of " + ", ".join(component) + ":\n    " + "\n    ".join(ties)


def test_the_package_imports_form_no_cycle():
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles:\n  " + "\n  ".join(describe(graph, c) for c in found)


def test_the_walk_sees_a_cycle_through_an_init_reexport(tmp_path):
    """The walker itself: a package whose ``__init__`` re-exports from a module that imports a
    sibling module which takes a name from the package is a cycle; the same without the
    re-export is not."""
    pkg = tmp_path / PACKAGE / "sub"
    pkg.mkdir(parents=True)
    (tmp_path / PACKAGE / "__init__.py").write_text("")
    (tmp_path / PACKAGE / "top.py").write_text("from .sub import helper\n")
    (pkg / "__init__.py").write_text("from .inner import thing\n")
    (pkg / "inner.py").write_text("def thing():\n    from ..top import helper\n")
    known = modules(tmp_path)
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert cycles(graph) == [["qcpt.sub", "qcpt.sub.inner", "qcpt.top"]]
    eager = {name: imports(name, path, known, lazy=False) for name, path in known.items()}
    assert cycles(eager) == []
    (pkg / "__init__.py").write_text("")
    graph = {name: imports(name, path, known) for name, path in known.items()}
    assert cycles(graph) == []
