"""Trials whose worker died without a word (kill -9, out of memory, a lost node).

Two ways to tell: a database storage's heartbeats stop (works across machines, after the
grace period), and, on the machine that ran it, the worker's process is simply gone (works at
once, and for journal files too, which have no heartbeats). Either way the trial is failed
with a reason, so a rerun counts it and the leaderboard says what happened.
"""

from __future__ import annotations

import os
import socket
import warnings

import optuna
from optuna.trial import TrialState

__all__ = ["LOST_TRIAL", "GONE_TRIAL", "worker_id", "fail_lost_trials"]

# Reasons stored on the trial; Optuna fails stale trials but records none of its own.
LOST_TRIAL = "its worker stopped sending heartbeats (killed, crashed or lost)"
GONE_TRIAL = "its worker process is gone (killed or crashed)"


def _pid_namespace() -> str:
    # Containers on one host can share a hostname but not a pid namespace; a pid only means
    # something inside its namespace. Systems without /proc have no namespaces: "-".
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "-"


def worker_id() -> str:
    """``host/pid-namespace/pid`` of this process, stored on each trial it starts."""
    return f"{socket.gethostname()}/{_pid_namespace()}/{os.getpid()}"


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


def fail_lost_trials(study: optuna.Study) -> None:
    """Fail RUNNING trials whose worker is gone: its process on this machine, or its heartbeats.

    Optuna checks heartbeats before each new trial; doing both checks when a study is opened
    means a rerun after a crash counts and shows the lost trial at once.
    """
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _gone(str(trial.user_attrs.get("worker", ""))):
            try:
                study._storage.set_trial_user_attr(trial._trial_id, "error", GONE_TRIAL)
                study.tell(trial.number, state=TrialState.FAIL)
            except (optuna.exceptions.UpdateFinishedTrialError, ValueError, RuntimeError):
                pass  # another worker failed it first
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
