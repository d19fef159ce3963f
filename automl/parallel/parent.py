"""The parent of a study's workers: start them, draw one leaderboard, finish the study.

``python -m automl ... sweep.workers=N`` (or ``sweep.launcher=slurm``/``ray``) comes here
instead of running trials itself. In order:

1. the run is prepared as for one process (data, decisions, fingerprint; the preflight runs
   here on a machine without GPUs, in the workers otherwise, so that the parent never holds a
   GPU), and the study is opened: a changed study is refused before any worker starts;
2. the workers are started (local processes through ``Supervisor``, SLURM jobs through
   ``SlurmJobs``, or Ray actors through ``RayWorkers``), each with the user's command and
   the run directory and storage pinned;
3. until they are all done, the study is read from its storage twice a second and drawn as one
   live leaderboard; stop signals are passed on (``drive``);
4. the leaderboard files, ``best/`` and the summary are written once, through the same
   ``finish_study`` as a single process, and the exit code covers every worker.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.live import Live

from automl.core.errors import UserError
from automl.parallel.board import StudyView
from automl.parallel.devices import DevicePool, SlotGroup, make_pool, visible_gpus
from automl.parallel.drive import drive
from automl.parallel.supervisor import Supervisor
from automl.study.plan import RunPlan
from automl.study.role import EXIT_BACKED_OFF, Role

if TYPE_CHECKING:
    from automl.tuning.outcome import StudyOutcome

__all__ = ["run_parent", "run_node", "sqlite_note"]


def sqlite_note(storage: str | None, several: bool) -> str | None:
    """The one-line warning for several workers writing one SQLite file."""
    if not several or (storage and not storage.startswith("sqlite")):
        return None
    return (
        "several workers on one SQLite file: SQLite with several writers can lose trials or "
        "stop with 'database is locked'; a journal file (sweep.storage=PATH.jsonl, the default "
        "for a new study) or PostgreSQL is safer. Going on with it"
    )


def _settings(plan: RunPlan) -> dict[str, str]:
    """What every worker's command pins: the run directory, and the storage when it is set."""
    settings = {"hydra.run.dir": str(plan.run_dir.resolve())}
    if plan.sweep.storage:
        settings["sweep.storage"] = plan.sweep.storage
    return settings


def run_parent(
    plan: RunPlan, console: Console, entry: Callable[[list[str]], int] | None = None
) -> StudyOutcome:
    """Run the study with ``sweep.workers`` workers (or SLURM jobs); returns a ``StudyOutcome``.

    Raises:
        UserError: A mistake found before any worker started (the GPUs cannot hold a trial,
            submitit is missing, a changed study), or a worker that refused to start.
    """
    from automl.study.run import prepare
    from automl.study.rundir import record_invocation
    from automl.tuning.fleet import FleetStudy
    from automl.tuning.opening import mark_deadline
    from automl.tuning.study import StudyOutcome, finish_study, open_study, study_header
    from automl.tuning.warm import warm_configs

    sweep = plan.sweep
    slurm, ray = sweep.launcher == "slurm", sweep.launcher == "ray"
    gpus = visible_gpus()
    fleet: Any
    if slurm:
        from automl.parallel.slurm import SlurmJobs, make_executor

        executor = make_executor(sweep.slurm, plan.run_dir, plan.study_name)
    elif ray:
        from automl.parallel.ray import RayWorkers, check_ray

        check_ray(sweep.ray, gpus)
    else:
        pool = make_pool(sweep.workers, gpus, sweep.gpus_per_trial, sweep.trials_per_gpu)
    run = prepare(plan, preflight=not gpus)
    notes = list(run.notes)
    if sweep.warm_start:  # refused before anything exists; the workers enqueue it
        notes += warm_configs(run)[1]
    study, _, _ = open_study(run, notes)
    record_invocation(plan.run_dir, plan.composed, plan.overrides)
    note = sqlite_note(sweep.storage, True)
    for line in [note, *notes] if note else notes:
        console.print(f"note: {line}", highlight=False, soft_wrap=True, markup=False)

    def say(line: str) -> None:
        console.print(f"note: {line}", highlight=False, soft_wrap=True, markup=False)

    fleet_study = FleetStudy(study, run.budget.total, sweep.max_retries)
    clock = run.budget.clock  # one deadline for the parent and every worker
    argv, settings = sys.argv[1:], _settings(plan)
    if slurm:
        from automl.parallel.command import worker_argv

        fleet = SlurmJobs(
            executor,
            worker_argv(argv, settings),
            sweep.workers,
            Path.cwd(),
            say,
            entry,
            trials_end=clock.trials_end if clock else None,
        )
    elif ray:
        from automl.parallel.command import worker_argv

        fleet = RayWorkers(
            sweep.ray, worker_argv(argv, settings), sweep.workers, sweep.worker_restarts,
            Path.cwd(), plan.run_dir, say, trials_end=clock.trials_end if clock else None,
        )  # fmt: skip
    else:
        fleet = Supervisor(
            argv,
            sweep.workers,
            settings,
            plan.run_dir,
            pool,
            fleet_study,
            sweep,
            say,
            trials_end=clock.trials_end if clock else None,
            grace=clock.grace if clock else 0.0,
        )
    header = replace(study_header(run), workers=sweep.workers, launcher=sweep.launcher)
    header = mark_deadline(study, header, sweep.timeout)
    from automl.results.leaderboard import Leaderboard

    finished = [t for t in fleet_study.trials() if t.state.name in ("COMPLETE", "PRUNED", "FAIL")]
    board = Leaderboard(console, header, finished, sweep.top_k)
    view = StudyView(board, fleet_study.trials)
    started = time.time()
    live = board.live and sweep.live
    with Live(board, console=console, refresh_per_second=4) if live else nullcontext():
        signum = drive(fleet, view.refresh)
        view.refresh(force=True)
    if fleet.refused:
        raise UserError(fleet.refused)
    outcome = StudyOutcome(plan.study_name, run.goal.direction, run.goal.metric)
    outcome.ran, outcome.ran_ok = fleet_study.ran_since(started)
    outcome.stopped = "; ".join(fleet.stopped) or None
    board.running.clear()
    from automl.tuning.signals import StopSignals

    with StopSignals() as signals:  # a signal during the export: finish, then exit with it
        finish_study(
            run,
            study,
            board,
            header,
            outcome,
            console,
            stop_signal=signum,
            interruptible=signals.trial,
            bounded=signals.bounded,
        )
    outcome.signal = signum if signum is not None else signals.received
    return outcome


def run_node(plan: RunPlan, role: Role, console: Console) -> int:
    """A SLURM job's (or a Ray actor's) part: the workers of this machine, one per GPU slot
    (under Ray: one); the exit code.

    The node loads no data and trains nothing: it only starts and looks after its workers.
    """
    from automl.tuning.fleet import FleetStudy

    sweep = plan.sweep
    if sweep.launcher == "ray":
        # Ray placed this node with its own share of the machine (sweep.ray.num_cpus/gpus,
        # CUDA_VISIBLE_DEVICES set by Ray): one worker, its devices left as they are.
        pool = DevicePool([SlotGroup(None, 1, outside=0 < sweep.ray.num_gpus < 1)])
    else:
        gpus = visible_gpus()
        slots = len(gpus) // max(sweep.gpus_per_trial, 1) * sweep.trials_per_gpu if gpus else 1
        if gpus and sweep.gpus_per_trial == 0:
            slots = 1
        pool = make_pool(max(slots, 1), gpus, sweep.gpus_per_trial, sweep.trials_per_gpu)
    fleet_study = FleetStudy.load(sweep, plan.run_dir, plan.study_name)

    def say(line: str) -> None:
        console.print(f"{role.name}: {line}", highlight=False, soft_wrap=True)

    from automl.core.budget import TimeBudget

    clock = TimeBudget.plan(sweep.timeout, report=False) if sweep.timeout else None
    supervisor = Supervisor(
        sys.argv[1:],
        pool.capacity,
        {},
        plan.run_dir,
        pool,
        fleet_study,
        sweep,
        say,
        node=role.node,
        trials_end=clock.trials_end if clock else None,
        grace=clock.grace if clock else 0.0,
    )
    signum = drive(supervisor)
    for line in supervisor.stopped:
        console.print(f"automl: stopped: {line}", highlight=False, soft_wrap=True)
    if signum is not None:
        return 128 + signum
    if supervisor.refused:
        console.print(f"automl: error: {supervisor.refused}", highlight=False, soft_wrap=True)
        return 2
    if supervisor.stopped:
        return 1
    return EXIT_BACKED_OFF if supervisor.backed_off else 0
