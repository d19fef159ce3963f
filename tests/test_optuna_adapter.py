"""Optuna's private internals are used in one module only: ``automl/tuning/internals.py``.

A private name is one Optuna itself keeps private: an attribute or method whose name starts
with ``_`` on Optuna's classes (``Study._storage``, ``FrozenTrial._trial_id``,
``GridSampler._get_unvisited_grid_ids``, ...), or a module or name imported from Optuna with a
leading ``_`` (``optuna._transform``). The scan reads automl's source: any attribute access
``x._name`` with such a name, ``self._name`` in a subclass of an Optuna class that does not
set that attribute itself, and a private method overridden in such a subclass.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from functools import cache
from pathlib import Path

import optuna

import automl

PACKAGE = Path(automl.__file__).parent
ADAPTER = PACKAGE / "tuning" / "internals.py"


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _optuna_classes() -> list[type]:
    found: list[type] = [optuna.Study, optuna.Trial, optuna.trial.FrozenTrial]
    for module in (optuna.samplers, optuna.pruners, optuna.storages, optuna.distributions):
        found += [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj) and obj.__module__.startswith("optuna")
        ]
    return found


@cache
def _names_of(cls: type) -> frozenset[str]:
    """Private names an Optuna class has: its attributes and methods, and the attributes its
    code sets on ``self`` (read from its source)."""
    names = {n for n in dir(cls) if _private(n)}
    for klass in cls.__mro__:
        if not klass.__module__.startswith("optuna"):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
                and _private(node.attr)
            ):
                names.add(node.attr)
    return frozenset(names)


@cache
def optuna_private() -> frozenset[str]:
    names: set[str] = set()
    for cls in _optuna_classes():
        names |= _names_of(cls)
    return frozenset(names)


def _optuna_ancestry(module: str, class_name: str) -> frozenset[str]:
    """Private names of the Optuna classes an automl class derives from (none: not one)."""
    cls = getattr(importlib.import_module(module), class_name, None)
    if not inspect.isclass(cls):
        return frozenset()
    names: set[str] = set()
    for klass in cls.__mro__[1:]:
        if klass.__module__.startswith("optuna"):
            names |= _names_of(klass)
    return frozenset(names)


def private_uses(source: str, module: str | None = None) -> list[str]:
    """Each use of a private Optuna name in ``source`` (``line: what``)."""
    tree = ast.parse(source)
    general = optuna_private()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("optuna"):
            parts = (node.module or "").split(".")
            if any(_private(p) for p in parts) or any(_private(a.name) for a in node.names):
                found.append(f"{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("optuna") and any(
                    _private(p) for p in alias.name.split(".")
                ):
                    found.append(f"{node.lineno}: import {alias.name}")
    imported = {  # names this source imports from Optuna -> the objects
        alias.asname or alias.name: getattr(importlib.import_module(node.module), alias.name, None)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("optuna")
        for alias in node.names
        if not _private(node.module or "") and not _private(alias.name)
    }
    classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    inside: set[int] = set()
    for cls in classes:
        # Only a module that names Optuna (or the adapter's bases) can subclass its classes.
        related = module and ("optuna" in source or "internals" in source)
        inherited = _optuna_ancestry(module, cls.name) if related else frozenset()
        for base in cls.bases:
            obj = imported.get(base.id) if isinstance(base, ast.Name) else None
            dotted = ast.unparse(base)
            if obj is None and dotted.startswith("optuna."):  # optuna.storages.RDBStorage
                where, _, name = dotted.rpartition(".")
                obj = getattr(importlib.import_module(where), name, None)
            if inspect.isclass(obj):
                inherited |= _names_of(obj)
        own = {
            n.attr
            for n in ast.walk(cls)
            if isinstance(n, ast.Attribute)
            and isinstance(n.ctx, ast.Store)
            and isinstance(n.value, ast.Name)
            and n.value.id == "self"
        }
        for item in cls.body:
            if isinstance(item, ast.FunctionDef) and item.name in inherited:
                found.append(f"{item.lineno}: overrides {cls.name}.{item.name}")
        for n in ast.walk(cls):
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):
                if n.value.id in ("self", "cls"):
                    inside.add(id(n))
                    if n.attr in inherited and n.attr not in own and isinstance(n.ctx, ast.Load):
                        found.append(f"{n.lineno}: self.{n.attr} (from Optuna's {cls.name} bases)")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and id(node) not in inside
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            and node.attr in general
        ):
            found.append(f"{node.lineno}: .{node.attr}")
    return sorted(set(found), key=lambda s: int(s.split(":")[0]))


def test_the_scan_finds_each_kind_of_private_use():
    source = textwrap.dedent(
        """
        from optuna._transform import _SearchSpaceTransform
        from optuna.samplers import GridSampler

        def f(study, trial):
            return study._storage.get_trial(trial._trial_id)

        class Grid(GridSampler):
            def _get_unvisited_grid_ids(self, study):
                return list(range(self._n_min_trials))

        class Storage(optuna.storages.RDBStorage):
            def _get_stale_trial_ids(self, study_id):
                return []
        """
    )
    found = private_uses(source)
    assert any("optuna._transform" in f for f in found)
    assert any("._storage" in f for f in found) and any("._trial_id" in f for f in found)
    assert any("overrides Grid._get_unvisited_grid_ids" in f for f in found)
    assert any("self._n_min_trials" in f for f in found)
    assert any("overrides Storage._get_stale_trial_ids" in f for f in found)


def test_no_private_optuna_name_outside_the_adapter():
    uses = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == ADAPTER:
            continue
        module = ".".join(("automl", *path.relative_to(PACKAGE).with_suffix("").parts))
        module = module.removesuffix(".__init__")
        found = private_uses(path.read_text(), module)
        if found:
            uses[str(path.relative_to(PACKAGE))] = found
    assert uses == {}, f"move these into automl/tuning/internals.py: {uses}"


def test_the_adapter_says_why_for_each_private_use():
    """Every function or method of the adapter that touches a private name explains it."""
    tree = ast.parse(ADAPTER.read_text())
    lines = ADAPTER.read_text().splitlines()
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        touches = [
            n
            for n in ast.walk(node)
            if isinstance(n, ast.Attribute) and _private(n.attr) and n.attr in optuna_private()
        ]
        if not touches and not node.name.startswith("_"):
            continue
        doc = ast.get_docstring(node) or ""
        comments = [
            line
            for line in lines[node.lineno - 1 : node.end_lineno]
            if line.strip().startswith("#")
        ]
        assert "rivate" in doc or "(``_" in doc or comments, (
            f"internals.{node.name} uses Optuna's internals without saying why"
        )
