"""Recipes are configuration, not code: refuse the one place where Hydra runs code from YAML.

Hydra instantiates every entry of ``hydra.callbacks`` in any config it composes, before the
task starts. A recipe shared by a colleague (or found online) could use that to create,
truncate or run anything. automl refuses callbacks that come from a recipe or a config
directory unless the user opts in with ``AUTOML_ALLOW_HYDRA_CALLBACKS=1``; callbacks the user
types on the command line are their own choice.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from automl.core.errors import UserError

__all__ = ["check_recipe_callbacks", "ALLOW_ENV"]

ALLOW_ENV = "AUTOML_ALLOW_HYDRA_CALLBACKS"


def _from_files(argv: Sequence[str]) -> bool:
    return any(
        a.startswith(("+recipe=", "recipe=", "++recipe=", "--config-dir", "-cd", "--config-name"))
        or a in ("-cn",)
        for a in argv
    )


def check_recipe_callbacks(argv: Sequence[str]) -> None:
    """Raise ``UserError`` if a recipe (or config directory) in ``argv`` sets hydra.callbacks.

    Only commands that name a recipe or a config directory are composed here (the shipped
    configs set no callbacks), so other commands pay nothing.
    """
    if not _from_files(argv) or os.environ.get(ALLOW_ENV) == "1":
        return
    from hydra import compose, initialize_config_module

    overrides = [a for a in argv if not a.startswith("-") and "=" in a]
    typed = {
        a.split("=", 1)[0].lstrip("+~").removeprefix("hydra.callbacks.").split(".")[0]
        for a in overrides
        if a.lstrip("+~").startswith("hydra.callbacks.")
    }
    config_dir = next(
        (a.split("=", 1)[1] for a in argv if a.startswith("--config-dir=")), None
    ) or next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("-cd", "--config-dir")), None)
    if config_dir:
        # What `--config-dir` does: put the folder on the search path, first.
        overrides.append(f"hydra.searchpath=[file://{os.path.abspath(config_dir)}]")
    try:
        with initialize_config_module("automl.conf", version_base="1.3"):
            cfg = compose("config", overrides=overrides, return_hydra_config=True)
    except Exception:
        return  # Hydra reports a bad override itself, with its own message
    callbacks = sorted(set(cfg.hydra.get("callbacks") or {}) - typed)
    if callbacks:
        raise UserError(
            f"the recipe sets hydra.callbacks ({', '.join(callbacks)}), which Hydra would "
            "instantiate (run as code) before automl starts; automl refuses callbacks from "
            f"recipes: remove them from the recipe, or set {ALLOW_ENV}=1 if you trust it"
        )
