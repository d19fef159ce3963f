"""The subcommands of ``python -m automl`` (everything else is a Hydra run).

One table, ``COMMANDS``: name -> one-line help and the ``"module:function"`` that runs it.
The function takes the arguments after the name and returns the exit code; its module is
imported only when the command runs, so ``--help`` stays fast. Adding a command is one entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Command", "COMMANDS", "run_command", "commands_help"]


@dataclass(frozen=True)
class Command:
    """A subcommand: its one-line help and ``"module:function"`` (``function(argv) -> int``)."""

    help: str
    target: str


COMMANDS: dict[str, Command] = {
    "plugins": Command(
        "list model and data plugins (and failures)", "automl.cli.argv:plugins_command"
    ),
    "serve": Command("serve an exported model over HTTP, with /metrics", "automl.serving.cli:main"),
    "predict": Command("predict a CSV, npz or image folder", "automl.serving.batch_predict:main"),
    "report": Command("write a study's report (HTML + PNG figures)", "automl.cli.report:main"),
    "watch": Command("draw the live leaderboard of a running study", "automl.cli.watch:main"),
    "storage-proxy": Command(
        "serve a study database to many workers (gRPC)", "automl.cli.storage_proxy:main"
    ),
    "compare": Command("compare studies in one HTML page (+ PNGs)", "automl.cli.compare:main"),
}


def commands_help() -> list[str]:
    """``--help`` lines listing the subcommands."""
    width = max(len(name) for name in COMMANDS)
    return [f"  python -m automl {name:<{width}}  {c.help}" for name, c in COMMANDS.items()]


def run_command(name: str, argv: Sequence[str]) -> int:
    """Run subcommand ``name`` with ``argv``; return its exit code.

    Raises:
        UserError: From the command (bad arguments, bad input); the caller prints it.
    """
    from automl.core.plugin import resolve

    try:
        return int(resolve(COMMANDS[name].target)(list(argv)) or 0)
    except SystemExit as exc:  # argparse's --help, or a command that exits
        return exc.code if isinstance(exc.code, int) else 0
