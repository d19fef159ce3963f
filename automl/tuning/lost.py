"""Trials whose worker died without a word (kill -9, out of memory, a lost node).

Two ways to tell: a database storage's heartbeats stop (works across machines, after the
grace period), and, on the machine that ran it, the worker's process is simply gone (works at
once, and for journal files too, which have no heartbeats). Either way the trial is failed
with a reason and re-run with the same parameters (``automl.tuning.retry``).
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import TrialState

from automl.core.records import record_of
from automl.tuning.retry import fail_infra

__all__ = ["GONE_TRIAL", "UNOWNED_TRIAL", "worker_id", "fail_lost_trials", "fail_unowned"]

# Reason stored on a trial whose process is gone from this machine.
GONE_TRIAL = "its worker process is gone (killed or crashed)"
# Reason stored on a trial whose process died while starting it (no owner recorded).
UNOWNED_TRIAL = "its worker died while starting it (killed or crashed)"


def _pid_namespace() -> str:
    # Containers on one host can share a hostname but not a pid namespace; a pid only means
    # something inside its namespace. Systems without /proc have no namespaces: "-".
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "-"


def worker_id(pid: int | None = None) -> str:
    """``host/pid-namespace/pid`` of this process (or of its child ``pid``), stored on each
    trial it starts."""
    return f"{socket.gethostname()}/{_pid_namespace()}/{os.getpid() if pid is None else pid}"


def _gone(worker: str) -> bool:
    """Whether ``worker`` ran on this machine, in this pid namespace, and has exited."""
    parts = worker.rsplit("/", 2)
    if len(parts) != 3 or not parts[2].isdigit():
        return False  # not recorded (a trial from an older automl): only heartbeats can tell
    host, namespace, pid = parts[0], parts[1], int(parts[2])
    if host != socket.gethostname() or namespace != _pid_namespace():
        return False  # another machine or container: only heartbeats can tell
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, run by another user
        return False
    return False


def fail_lost_trials(study: optuna.Study, max_retries: int, *, admitted: bool = False) -> int:
    """Fail (and retry) RUNNING trials whose worker is gone: its process here, or heartbeats.

    Optuna checks heartbeats before each new trial; doing both checks when a study is opened
    and before each trial means a rerun after a crash counts and retries the lost trial at once.

    Args:
        study: The study.
        max_retries: How often a lost trial is re-run.
        admitted: The caller holds the admission lock. A trial's owner is recorded inside
            that lock as it is created (``objective.start_trial``), so a RUNNING trial without
            one was left by a process that died there (on any machine: the lock outlives no
            process) and is failed too; without the lock it may be another worker's, a moment
            before its owner is written.

    Returns:
        How many trials this process failed as gone.
    """
    failed = 0
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if admitted:
        failed += fail_unowned(study, running, max_retries)
    for trial in running:
        if _gone(str(record_of(trial).worker or "")):
            failed += fail_infra(study, trial, GONE_TRIAL, "lost", max_retries)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    return failed


def fail_unowned(study: optuna.Study, trials: Sequence[Any], max_retries: int) -> int:
    """Fail (and retry) the RUNNING ``trials`` recorded without an owner; call it only under
    the admission lock (see ``fail_lost_trials``). Returns how many this process failed."""
    failed = 0
    for trial in trials:
        if trial.state == TrialState.RUNNING and record_of(trial).worker is None:
            failed += fail_infra(study, trial, UNOWNED_TRIAL, "lost", max_retries)
    return failed
