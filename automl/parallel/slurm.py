"""``sweep.launcher=slurm``: the study's workers as SLURM jobs, submitted through submitit.

The parent (on the login machine) submits ``sweep.workers`` jobs as one job array. Each job
runs ``run_node``: the user's own command in the *node* role, which starts one worker per GPU
slot of the job (or one worker without GPUs) and looks after them as the parent does on one
machine (replacement, hard timeout, out-of-memory back-off). The parent draws the leaderboard
from the study's storage, passes a stop signal on to the jobs (``scancel --signal``) and,
when every job has ended, writes the leaderboard files, ``best/`` and the summary.

Why submitit itself, not Hydra's submitit launcher: Hydra's launcher runs one job per config
of a ``-m`` multirun and collects each job's return value; an automl study is one config whose
trials an in-process Optuna study hands out, so what is needed is N identical workers of one
study, a parent that watches them while they run, and the leaderboard and export after them.

submitit pickles ``run_node`` and its arguments (the command line, the directory) into its
folder, and the job unpickles them: that file is written by the same user's parent process into
the run directory, never read from the study's storage.

``sweep.slurm.executor=local`` runs the same jobs as local processes through submitit's local
executor (to try a configuration on one machine, and in the tests).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.core.errors import UserError

if TYPE_CHECKING:
    from automl.study.config import SlurmConfig

__all__ = ["SlurmJobs", "run_node", "make_executor", "SLURM_DIR"]

SLURM_DIR = "slurm"


def run_node(
    entry: Callable[[list[str]], int],
    argv: Sequence[str],
    cwd: str,
    index: int,
    trials_end: float | None = None,
) -> int:
    """A SLURM job's body: the user's command in the node role; returns its exit code.

    ``entry`` is the command line's own ``main`` (``automl.cli.main.main``), handed down by
    the command line so this layer never imports it. ``trials_end`` is the parent's end for
    trials in its time budget (wall clock), which the node's workers share.
    """
    from automl.core.budget import TRIALS_END_ENV
    from automl.study.role import NODE_ENV, ROLE_ENV

    os.chdir(cwd)
    os.environ[ROLE_ENV] = "node"
    os.environ[NODE_ENV] = str(index)
    if trials_end is not None:
        os.environ[TRIALS_END_ENV] = repr(trials_end)
    return entry(list(argv))


def make_executor(slurm: SlurmConfig, run_dir: Path, study_name: str) -> Any:
    """The submitit executor for ``sweep.slurm`` (``executor=local``: submitit's local one).

    Raises:
        UserError: submitit is not installed.
    """
    try:
        import submitit
    except ImportError:
        raise UserError(
            "sweep.launcher=slurm needs submitit: pip install 'automl[slurm]'"
        ) from None
    folder = Path(slurm.folder) if slurm.folder else run_dir / SLURM_DIR
    cluster = "local" if slurm.executor == "local" else "slurm"
    executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    params: dict[str, Any] = {
        "name": f"automl-{study_name}",
        "timeout_min": int(slurm.time),
        "cpus_per_task": int(slurm.cpus),
        "tasks_per_node": 1,
        "nodes": 1,
    }
    if slurm.gpus:
        params["gpus_per_node"] = int(slurm.gpus)
    if slurm.mem_gb:
        params["mem_gb"] = float(slurm.mem_gb)
    if cluster == "slurm":
        if slurm.partition:
            params["slurm_partition"] = slurm.partition
        if slurm.additional:
            params["slurm_additional_parameters"] = dict(slurm.additional)
    executor.update_parameters(**params)
    return executor


@dataclass
class SlurmJobs:
    """The study's SLURM jobs (a ``drive.Fleet``).

    Args:
        executor: From ``make_executor``.
        argv: The node's command line (the user's, with the run directory and storage pinned).
        count: Jobs to submit (``sweep.workers``).
        cwd: The directory the user started in (jobs start there).
        say: Prints one line for the user.
        entry: The command line's ``main``, run on each node (``run_node``).
        trials_end: The parent's end for trials in its time budget (wall clock), or ``None``.
    """

    executor: Any
    argv: Sequence[str]
    count: int
    cwd: Path
    say: Callable[[str], None] = print
    entry: Callable[[list[str]], int] | None = None
    trials_end: float | None = None
    jobs: list[Any] = field(default_factory=list)
    done: dict[int, Any] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)
    refused: str | None = None
    stopping: bool = False

    def start(self) -> None:
        """Submit the jobs as one array."""
        n = self.count
        self.jobs = self.executor.map_array(
            run_node,
            [self.entry] * n,
            [list(self.argv)] * n,
            [str(self.cwd)] * n,
            list(range(n)),
            [self.trials_end] * n,
        )
        ids = ", ".join(str(j.job_id) for j in self.jobs)
        self.say(f"submitted {n} job(s): {ids} (logs in {self.executor.folder})")

    def poll(self) -> bool:
        """Collect the jobs that ended; whether all have."""
        for i, job in enumerate(self.jobs):
            if i in self.done or not job.done():
                continue
            self.done[i] = job
            self._ended(i, job)
        return len(self.done) == len(self.jobs)

    def _ended(self, index: int, job: Any) -> None:
        try:
            code = job.result()
        except Exception as exc:  # the job failed outside automl (killed, out of time)
            first = str(exc).strip().splitlines()
            self.stopped.append(
                f"job {job.job_id} failed ({first[0] if first else type(exc).__name__}); "
                f"see {job.paths.stdout}"
            )
            return
        signalled = code in (128 + signal.SIGINT, 128 + signal.SIGTERM)
        if code == 2:
            self.refused = self.refused or (
                f"job {job.job_id} refused to start; see {job.paths.stdout}"
            )
        elif signalled and not self.stopping:
            # Preempted or out of its time: its workers' trials are re-run by the others.
            self.say(
                f"job {job.job_id} was stopped by the cluster (exit {code}); its running "
                "trials are re-run by the other jobs or the next run"
            )
        elif code != 0 and not signalled:
            self.stopped.append(f"job {job.job_id} exited {code}; see {job.paths.stdout}")

    def stop(self, signum: int) -> None:
        """Pass a stop signal on to every job still running."""
        self.stopping = True
        for job in self._running():
            self._signal(job, signum)

    def kill(self) -> None:
        """Cancel every job at once."""
        self.stopping = True
        for job in self._running():
            self._signal(job, signal.SIGKILL)

    def _running(self) -> list[Any]:
        return [j for i, j in enumerate(self.jobs) if i not in self.done]

    @staticmethod
    def _signal(job: Any, signum: int) -> None:
        if type(job).__name__ == "LocalJob":
            # The local executor's controller passes SIGTERM on to its job and waits for it
            # (SIGINT would make it kill the job a second later).
            sent = signal.SIGKILL if signum == signal.SIGKILL else signal.SIGTERM
            try:
                os.kill(int(job.job_id), sent)
            except (ProcessLookupError, ValueError):
                pass
            return
        name = signal.Signals(signum).name.removeprefix("SIG")
        subprocess.call(["scancel", f"--signal={name}", str(job.job_id)])
