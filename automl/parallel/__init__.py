"""Several workers on one study: the parent, its worker processes, GPUs, and SLURM jobs.

``sweep.workers=N`` makes the command a parent (``parent.run_parent``) that starts N worker
processes of the same command (``supervisor``), pins them to GPUs (``devices``), draws one
leaderboard from the study's storage (``board``), passes stop signals on (``drive``) and
finishes the study once they are done. ``sweep.launcher=slurm`` submits the workers as SLURM
jobs through submitit (``slurm``); ``sweep.launcher=ray`` runs them as Ray actors (``ray``).
Which part a process plays is its ``role``.

It may import ``tuning`` (the study its workers run), ``results``, ``study``, ``backends``,
``data`` and ``core``; never ``serving``, ``testing`` or the command line, whose ``main`` a
SLURM job receives as an argument. Importing this package is cheap (no torch, Lightning or
Optuna).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from automl.backends.oom import is_out_of_memory
from automl.parallel.devices import DevicePool, assign_devices, make_pool, visible_gpus
from automl.study.role import Role, current_role

if TYPE_CHECKING:
    from rich.console import Console

    from automl.study.plan import RunPlan
    from automl.tuning.outcome import StudyOutcome

__all__ = [
    "DevicePool",
    "Role",
    "assign_devices",
    "current_role",
    "dispatch",
    "with_storage",
    "is_out_of_memory",
    "make_pool",
    "visible_gpus",
]


def _several(plan: RunPlan) -> bool:
    return bool(plan.sweep.workers > 1 or plan.sweep.launcher in ("slurm", "ray"))


def with_storage(plan: RunPlan, say: Callable[[str], None] | None = None) -> RunPlan:
    """The plan with the study's storage decided: ``sweep.storage`` when set, else the
    default (a journal file in the run directory with several workers,
    ``automl.tuning.storage.default_storage``), for every role. ``plan`` is left as it is.

    Args:
        plan: The run's plan.
        say: Told which file a defaulted journal storage is (the command's own process; not
            its workers).
    """
    if plan.sweep.engine == "none" or plan.sweep.storage:
        return plan
    import dataclasses

    from automl.tuning.storage import default_storage

    storage = default_storage(plan.run_dir, _several(plan))
    if storage is None:
        return plan
    if say is not None:
        # Not study.db, which the README's dashboard command opens: say which file it is.
        say(
            f"note: the study is stored in {storage} (a journal file: several workers cannot "
            f"share SQLite safely); optuna-dashboard {storage} shows it"
        )
    return dataclasses.replace(plan, sweep=dataclasses.replace(plan.sweep, storage=storage))


def dispatch(
    plan: RunPlan, console: Console, entry: Callable[[list[str]], int] | None = None
) -> int | StudyOutcome | None:
    """Run a study that is not one plain process; ``None``: run it in this process.

    Returns:
        ``None`` (run it here), a SLURM job's exit code, or the parent's ``StudyOutcome``.

    ``plan``'s storage is decided (``with_storage``). ``entry`` is the command line's
    ``main``, which a SLURM job runs on its node.
    """
    if plan.sweep.engine == "none":
        return None
    role = current_role()
    ray = plan.sweep.launcher == "ray"
    if role is not None and (role.kind == "worker" or ray):
        from automl.study.role import watch_parent

        # An orphaned worker stops (SIGTERM to itself); so does a Ray node whose actor died.
        watch_parent()
    several = _several(plan)
    if role is not None and role.kind == "node":
        from automl.parallel.parent import run_node

        return run_node(plan, role, console)
    if role is None and several:
        from automl.parallel.parent import run_parent

        return run_parent(plan, console, entry)
    return None
