"""Recipes are configuration, not code: refuse every Hydra key that would run code or write files.

Before automl's task starts, Hydra instantiates ``hydra.callbacks``, configures Python logging
from ``hydra.job_logging`` and ``hydra.hydra_logging`` (a handler's ``class``, a factory's
``()``, an ``ext://`` object: any importable callable, and ``filename``: any file, created or
emptied), instantiates the launcher and sweeper (``_target_``), sets ``hydra.job.env_set`` in
the environment of every process automl starts (``LD_PRELOAD``, ``PYTHONPATH``), writes its
config files to ``hydra.output_subdir`` and searches ``hydra.searchpath`` (``pkg://`` imports
a package). A recipe shared by a colleague, or found online, could use any of them to create,
truncate or run anything. automl refuses such keys, from a recipe, a config directory or the
command line, unless the user opts in with ``AUTOML_ALLOW_HYDRA_CALLBACKS=1``. automl's own
config sets none of them (its Hydra logging is ``none``: automl writes ``automl.log`` itself).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from automl.core.errors import UserError

if TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = ["check_hydra_code", "ALLOW_ENV", "CODE_KEYS"]

ALLOW_ENV = "AUTOML_ALLOW_HYDRA_CALLBACKS"

CODE_KEYS = (
    "callbacks",
    "job_logging",
    "hydra_logging",
    "job.env_set",
    "searchpath",
    "output_subdir",
    "launcher",
    "sweeper",
)
"""The keys under ``hydra`` that name code or files (``hydra.<key>``, and any ``_target_``)."""

_FROM_FILES: tuple[str, ...] = ("+recipe=", "recipe=", "++recipe=", "--config-dir", "-cd")
_FROM_FILES += ("--config-name", "-cn", "--config-path", "-cp")


def _from_files(argv: Sequence[str]) -> bool:
    return any(a.startswith(_FROM_FILES) for a in argv)


def _typed_code(argv: Sequence[str]) -> list[str]:
    """Command-line overrides that set a code key (``hydra.job_logging.handlers...``) or
    choose another Hydra logging, launcher, sweeper or callbacks config (``hydra/x=y``)."""
    out = []
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key = arg.split("=", 1)[0].lstrip("+~")
        if key.startswith("hydra/") and key != "hydra/help":
            out.append(key)
        elif key.startswith("hydra.") and (
            key.removeprefix("hydra.").startswith(CODE_KEYS) or "_target_" in key.split(".")
        ):
            out.append(key)
    return out


def _code_items(node: object, path: str) -> Iterator[tuple[str, Any]]:
    """``(path, value)`` of every code key under the ``hydra`` node (values as plain data)."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(node, DictConfig):
        for key in map(str, node.keys()):
            child_path = f"{path}.{key}"
            child: Any = node._get_node(key)
            relative = child_path.removeprefix("hydra.")
            if relative in CODE_KEYS or key == "_target_":
                plain = isinstance(child, (DictConfig, ListConfig))
                yield child_path, OmegaConf.to_container(child) if plain else child._value()
            else:
                yield from _code_items(child, child_path)


def _composed_hydra(overrides: list[str]) -> DictConfig:
    from hydra import compose, initialize_config_module

    with initialize_config_module("automl.conf", version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=True).hydra


def _differs(old: object, new: object) -> bool:
    """Whether a code key's value changed; an empty mapping or list is the same as none."""
    empty: tuple[Any, ...] = (None, {}, [])
    return not (old == new or (old in empty and new in empty))


def check_hydra_code(argv: Sequence[str]) -> None:
    """Raise ``UserError`` if ``argv`` (its recipe, config directory or overrides) sets a Hydra
    key that runs code or writes files, unless ``AUTOML_ALLOW_HYDRA_CALLBACKS=1``.

    The command line's own overrides are judged by their keys; a recipe or a config directory
    is composed and its ``hydra`` node compared with the shipped one, so commands that name
    neither pay nothing.
    """
    if os.environ.get(ALLOW_ENV) == "1":
        return
    typed = _typed_code(argv)
    if typed:
        raise _refusal("the command line", typed)
    if not _from_files(argv):
        return
    overrides = [a for a in argv if not a.startswith("-") and "=" in a]
    config_dir = next(
        (a.split("=", 1)[1] for a in argv if a.startswith("--config-dir=")), None
    ) or next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-cd", "--config-dir")), None)
    searched = f"file://{os.path.abspath(config_dir)}" if config_dir else None
    if searched:
        # What `--config-dir` does: put the folder on the search path, first.
        overrides.append(f"hydra.searchpath=[{searched}]")
    try:
        composed = _composed_hydra(overrides)
        shipped = _composed_hydra([])
    except Exception:
        return  # Hydra reports a bad override or recipe itself, with its own message
    before = dict(_code_items(shipped, "hydra"))
    found = []
    for path, value in _code_items(composed, "hydra"):
        if path == "hydra.searchpath" and searched and value == [searched]:
            continue  # the config directory the command names
        if _differs(before.get(path), value):
            found.append(_describe(path, value))
    if found:
        raise _refusal("the recipe (or config directory)", found)


def _describe(path: str, value: object) -> str:
    """``hydra.callbacks (touch)``: the key, and the names under it."""
    if isinstance(value, dict) and value:
        names = [str(k) for k in value if value[k] not in (None, {}, [])]
        if path.endswith("_logging"):
            parts = ("handlers", "filters", "formatters")
            names = [f"{k}.{n}" for k in parts for n in value.get(k) or {}]
        return f"{path} ({', '.join(names)})" if names else path
    return path


def _refusal(where: str, keys: list[str]) -> UserError:
    return UserError(
        f"{where} sets {', '.join(keys)}, which Hydra would run as code or use to write files "
        "before automl starts; automl refuses this: remove it, or set "
        f"{ALLOW_ENV}=1 if you trust it"
    )
