"""What this process is in a study with several workers: read once from its environment.

``python -m automl ... sweep.workers=N`` is the *parent*: it starts N workers, draws the
study's one leaderboard and exports the best trial. A *worker* is the same command started by
the parent with ``AUTOML_ROLE=worker`` in its environment: it runs trials and leaves the
leaderboard files, ``best/`` and the summary to the parent. A *node* is the same command inside
a SLURM job (``sweep.launcher=slurm``): it starts and watches the workers of its machine, like
the parent, and leaves the rest to the parent on the login machine. The role is not a config
value: a user never types it, and a command copied from a log runs as the user meant.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "Role",
    "current_role",
    "worker_env",
    "watch_parent",
    "ROLE_ENV",
    "EXIT_STOPPED",
    "EXIT_BACKED_OFF",
]

ROLE_ENV = "AUTOML_ROLE"
INDEX_ENV = "AUTOML_WORKER_INDEX"
SHARED_ENV = "AUTOML_WORKER_SHARED"
NODE_ENV = "AUTOML_NODE_INDEX"

# Exit codes a worker uses to tell its parent why it stopped (beside 0, 2 and 128 + signal).
EXIT_STOPPED = 3
"""The worker stopped on purpose: a failure streak, or a storage that stayed unreachable."""
EXIT_BACKED_OFF = 75
"""A trial of the worker ran out of GPU memory on a shared GPU: it gave its slot back."""


@dataclass(frozen=True)
class Role:
    """This process's part in a study run by several processes.

    Attributes:
        kind: ``worker`` (runs trials) or ``node`` (starts a SLURM job's workers).
        index: The worker's number (its log is ``workers/worker-<index>.log``).
        shared: The worker shares its GPU (or the CPU) with other workers: a trial that runs
            out of memory is re-run, and the worker gives its slot back.
        node: The SLURM job's number within the study's jobs (names the logs of its workers).
    """

    kind: Literal["worker", "node"]
    index: int = 0
    shared: bool = False
    node: int | None = None

    @property
    def name(self) -> str:
        """``worker 3`` / ``node 1 worker 3`` / ``node 1``: how messages name this process."""
        prefix = f"node {self.node} " if self.node is not None else ""
        return f"{prefix}worker {self.index}" if self.kind == "worker" else prefix.strip()


def current_role() -> Role | None:
    """The role this process was started in, or ``None`` for a command typed by a user."""
    kind = os.environ.get(ROLE_ENV, "")
    if kind not in ("worker", "node"):
        return None
    node = os.environ.get(NODE_ENV)
    return Role(
        kind=kind,  # type: ignore[arg-type]
        index=int(os.environ.get(INDEX_ENV, "0") or 0),
        shared=os.environ.get(SHARED_ENV) == "1",
        node=int(node) if node and node.isdigit() else None,
    )


def worker_env(index: int, devices: str | None, shared: bool, trials: int | None) -> dict:
    """The environment entries that start a worker (added to the parent's environment).

    Args:
        index: The worker's number.
        devices: Its ``CUDA_VISIBLE_DEVICES``; ``None`` leaves the variable as it is.
        shared: Whether it shares its slot group with other workers.
        trials: Trials running at once on this machine (its parent's workers): each worker's
            trials train with their share of the CPUs (``automl.core.cpus``), and its math
            libraries start with as many threads (``OMP_NUM_THREADS``, unless the user set
            it); ``None`` leaves both.
    """
    from automl.core.cpus import TRIALS_ENV, trial_threads

    env = {
        ROLE_ENV: "worker",
        INDEX_ENV: str(index),
        SHARED_ENV: "1" if shared else "0",
        "PYTHONUNBUFFERED": "1",
    }
    if devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = devices
    if trials is not None:
        env[TRIALS_ENV] = str(trials)
        if "OMP_NUM_THREADS" not in os.environ:
            threads = str(trial_threads(trials=trials))
            env["OMP_NUM_THREADS"] = threads
            env["MKL_NUM_THREADS"] = threads
    return env


def watch_parent(interval: float = 1.0) -> threading.Thread:
    """Stop this worker (SIGTERM to itself) when its parent process is gone.

    Workers run in their own session, so a parent killed with SIGKILL cannot take them along;
    an orphaned worker then fails its trial as stopped (it is re-run) and exits, instead of
    running the study on alone.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            stop.wait(interval)
        os.kill(os.getpid(), signal.SIGTERM)

    stop = threading.Event()
    thread = threading.Thread(target=watch, name="watch-parent", daemon=True)
    thread.start()
    return thread
