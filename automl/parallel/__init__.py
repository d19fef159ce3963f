"""Several workers on one study: the parent, its worker processes, GPUs, and SLURM jobs.

``sweep.workers=N`` makes the command a parent (``parent.run_parent``) that starts N worker
processes of the same command (``supervisor``), pins them to GPUs (``devices``), draws one
leaderboard from the study's storage (``board``), passes stop signals on (``drive``) and
finishes the study once they are done. ``sweep.launcher=slurm`` submits the workers as SLURM
jobs through submitit (``slurm``). Which part a process plays is its ``role``.

It may import ``tuning`` (the study its workers run), ``results``, ``study``, ``backends``,
``data`` and ``core``; never ``serving``, ``testing`` or the command line, whose ``main`` a
SLURM job receives as an argument. Importing this package is cheap (no torch, Lightning or
Optuna).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from automl.backends.oom import is_out_of_memory
from automl.parallel.devices import DevicePool, assign_devices, make_pool, visible_gpus
from automl.study.role import Role, current_role

__all__ = [
    "DevicePool",
    "Role",
    "assign_devices",
    "current_role",
    "dispatch",
    "is_out_of_memory",
    "make_pool",
    "visible_gpus",
]


def dispatch(
    plan: Any, console: Any, entry: Callable[[list[str]], int] | None = None
) -> int | None:
    """Run a study that is not one plain process; ``None``: run it in this process.

    ``entry`` is the command line's ``main``, which a SLURM job runs on its node.

    Decides the study's default storage too (a journal file in the run directory with several
    workers, ``automl.tuning.storage.default_storage``), for every role.
    """
    if plan.sweep.engine == "none":
        return None
    from automl.tuning.storage import default_storage

    role = current_role()
    if role is not None and role.kind == "worker":
        from automl.study.role import watch_parent

        watch_parent()  # an orphaned worker stops (SIGTERM to itself)
    several = plan.sweep.workers > 1 or plan.sweep.launcher == "slurm"
    if not plan.sweep.storage:
        plan.sweep.storage = default_storage(plan.run_dir, several)
        if plan.sweep.storage and role is None:
            # Not study.db, which the README's dashboard command opens: say which file it is.
            console.print(
                f"note: the study is stored in {plan.sweep.storage} (a journal file: several "
                f"workers cannot share SQLite safely); optuna-dashboard {plan.sweep.storage} "
                "shows it",
                highlight=False,
                soft_wrap=True,
            )
    if role is not None and role.kind == "node":
        from automl.parallel.parent import run_node

        return run_node(plan, role, console)
    if role is None and several:
        from automl.parallel.parent import run_parent

        return run_parent(plan, console, entry).exit_code
    return None
