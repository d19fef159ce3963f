"""``python -m automl``: a subcommand, or discover plugins, register configs, run the Hydra app.

A first argument naming a subcommand (``plugins``, ``serve``, ``predict``: the table in
``automl.cli.commands``) runs it; ``--version`` prints automl's version; anything else is Hydra's
command line (``model=cnn sweep=optuna``, ``--help``, ``--cfg job``, ...).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def _error(exc: BaseException) -> None:
    """Print a user mistake as one unwrapped line on stderr.

    A plugin's code that raised (``PluginCodeError``) keeps its traceback: in the run's
    ``automl.log`` when the run directory stays, else in a file this line names.
    """
    from rich.console import Console

    from automl.core.errors import PluginCodeError

    line = f"automl: error: {exc}"
    if isinstance(exc, PluginCodeError):
        if exc.log is None:
            from automl.core.plugin_code import save_details

            save_details(exc, None)
        line += f" (traceback in {exc.log})"
    Console(stderr=True).print(line, markup=False, highlight=False, soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code.

    0: done. 1: the study failed its job (no trial completed, a failure streak, the storage
    lost, the export not written). 2: a user mistake, nothing written. 128 + signal after
    SIGINT (130) or SIGTERM (143).
    """
    from automl.cli.commands import COMMANDS, run_command
    from automl.core.errors import UserError

    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["--version"], ["-V"]):
        import automl

        print(f"automl {automl.__version__}")
        return 0
    if args and args[0] in COMMANDS:
        try:
            return run_command(args[0], args[1:])
        except UserError as exc:
            _error(exc)
            return 2
        except KeyboardInterrupt:
            return 130

    from automl.cli.argv import (
        check_choices,
        check_overrides,
        print_help,
        selected_plugins,
        with_default_data,
    )
    from automl.core.registry import autoload_disabled, discover_data, discover_models

    # With autoload disabled, third-party plugin code is not even imported unless named.
    only = set(selected_plugins(args)) if autoload_disabled() else None
    models, data = discover_models(only=only), discover_data(only=only)
    try:
        check_choices(args, models, data)
    except UserError as exc:
        _error(exc)
        return 2

    import hydra

    from automl.study.config import CONFIG_NAME, CONFIG_PATH, register_configs

    register_configs(models, data)
    args = with_default_data(args, models)
    if "--help" in args or "-h" in args:
        return print_help(args, models, data)
    try:
        from automl.cli.recipes import check_hydra_code

        check_hydra_code(args)  # a recipe is configuration: no Hydra key that runs code
        check_overrides(args)  # a typo is one line naming the closest key, not Hydra's advice
    except UserError as exc:
        _error(exc)
        return 2
    if any(a in ("--cfg", "-c") for a in args):
        from automl.cli.argv import composed_choices

        line = composed_choices(args)  # Hydra's printout names no model or data
        if line:
            print(line, flush=True)
    sys.argv = [sys.argv[0], *args]
    exit_code = 0

    @hydra.main(config_path=CONFIG_PATH, config_name=CONFIG_NAME, version_base="1.3")
    def task(cfg) -> None:
        nonlocal exit_code
        from automl.cli.app import run

        try:
            exit_code = run(cfg, models, data, entry=main)
        except UserError as exc:
            # soft_wrap: one line however long (rich wraps at 80 columns when not a terminal).
            _error(exc)
            exit_code = 2

    task()
    return exit_code
