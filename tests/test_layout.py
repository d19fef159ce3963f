"""The house's shape: no import cycles, nothing loose at the top of automl/.

The layer order itself is an import-linter contract (`lint-imports` in .ci/run); what a
``layers`` contract cannot see is a cycle inside one package, so this test walks the whole
module graph, lazy and ``TYPE_CHECKING`` imports included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

import automl

PACKAGE = Path(automl.__file__).parent

# The public import paths the docs promise: each re-exports one module of a layer.
PUBLIC_PATHS = {"plugin", "errors", "registry", "records", "predictor", "lightning"}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
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
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_through_three_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_automl_has_no_import_cycle_lazy_and_type_checking_imports_included():
    g = grimp.build_graph("automl", cache_dir=None, exclude_type_checking_imports=False)
    modules = {m for m in g.modules if m == "automl" or m.startswith("automl.")}
    graph = {
        m: {i for i in g.find_modules_directly_imported_by(m) if i in modules} for m in modules
    }
    assert _cycles(graph) == []


def test_the_top_of_automl_holds_only_packages_and_the_public_import_paths():
    loose = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert loose <= PUBLIC_PATHS, f"put {sorted(loose - PUBLIC_PATHS)} into a layer's package"
    for name in PUBLIC_PATHS:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text())
        code = [
            n
            for n in tree.body
            if not isinstance(n, (ast.ImportFrom, ast.Expr))
            and not (isinstance(n, ast.Assign) and n.targets[0].id == "__all__")  # type: ignore[attr-defined]
        ]
        assert not code, f"automl/{name}.py must only re-export (found {ast.dump(code[0])[:80]})"
    for folder in PACKAGE.iterdir():
        if folder.is_dir() and folder.name != "__pycache__":
            doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text()))
            assert doc and len(doc) > 80, f"automl/{folder.name}/__init__.py: say what it owns"


def test_the_documented_import_paths_still_work():
    from automl import BaseEstimator, ModelPlugin
    from automl.errors import TrialPruned, UserError
    from automl.plugin import DataPlugin
    from automl.predictor import load_best
    from automl.records import record_of
    from automl.registry import discover_data

    assert ModelPlugin.__module__ == "automl.core.plugin"
    assert DataPlugin.__module__ == "automl.core.plugin"
    assert BaseEstimator.__module__ == "automl.core.plugin"
    assert issubclass(TrialPruned, BaseException) and issubclass(UserError, Exception)
    assert callable(load_best) and callable(record_of) and callable(discover_data)
