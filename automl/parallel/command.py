"""The command line a worker (or a SLURM job) is started with: the user's own, pinned.

A worker runs exactly the command the user typed, so it composes the same config, checks the
same study identity and needs nothing from its parent but that command: the run directory and
the storage are written out as absolute overrides (the default storage of several workers is
a file in the run directory, and a worker may start in another directory or on another
machine); the time budget's end for trials reaches every worker through its environment
(``automl.core.budget``).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["worker_argv", "override_key"]


def override_key(arg: str) -> str | None:
    """The config key an override sets (``+sweep.x=1`` -> ``sweep.x``); ``None`` for options."""
    if arg.startswith("-") or "=" not in arg:
        return None
    return arg.split("=", 1)[0].lstrip("+~")


def worker_argv(argv: Sequence[str], settings: dict[str, str]) -> list[str]:
    """``argv`` with each key of ``settings`` set to its value (earlier settings removed).

    Args:
        argv: The command line's arguments (after ``python -m automl``).
        settings: Overrides to pin, e.g. ``{"hydra.run.dir": "/abs/run", "sweep.storage": ...}``.
    """
    kept = [a for a in argv if override_key(a) not in settings]
    return kept + [f"{key}={value}" for key, value in settings.items()]
