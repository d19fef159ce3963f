"""Worker processes on this machine: started, pinned, replaced, timed out and backed off.

The supervisor is the part of the parent (and of a SLURM job) that owns the worker processes:

- it starts ``python -m automl <the user's command>`` once per slot of the device pool
  (``automl.parallel.devices``), each with its ``CUDA_VISIBLE_DEVICES``, a share of the CPU
  threads, the parent's end for trials in the time budget (``automl.core.budget``), its own
  session and its output in ``workers/worker-<i>.log``;
- a worker that dies (``kill -9``, the OOM killer, a crash) is replaced, up to
  ``sweep.worker_restarts``; its trial is failed as lost at once and re-run
  (``automl.tuning.lost``, the same check a rerun makes);
- a worker whose trial runs past ``sweep.trial_timeout`` plus a grace period (its in-process
  alarm could not stop it: a C call that never returns) is killed, the trial is failed with
  ``timeout after N s`` (it counts) and a replacement starts;
- a worker that gave its slot up after running out of GPU memory on a shared GPU is not
  replaced: its GPU holds one worker fewer for the rest of the study;
- a worker that stopped on a failure streak, or refused to start (exit 2), ends the fleet's
  growth and is reported;
- with a time budget no worker starts past the end for trials, and a worker still running
  well past it (its trial could not be cut in-process) is killed: its trial is re-run by a
  later invocation.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from automl.core.budget import TRIALS_END_ENV
from automl.parallel.command import worker_argv
from automl.parallel.devices import DevicePool
from automl.study.role import EXIT_BACKED_OFF, EXIT_STOPPED, NODE_ENV, worker_env

if TYPE_CHECKING:
    from automl.study.config import SweepConfig
    from automl.tuning.fleet import FleetStudy

__all__ = ["Supervisor", "WorkerProcess", "timeout_grace", "last_message", "LOG_DIR"]

LOG_DIR = "workers"


def timeout_grace(trial_timeout: float) -> float:
    """Seconds past ``sweep.trial_timeout`` before the parent kills a trial's worker.

    The in-process alarm fires ``trial_timeout`` seconds after training starts, a moment after
    the trial's recorded start; the grace leaves it time to stop the trial itself.
    """
    return max(5.0, 0.1 * float(trial_timeout))


def last_message(log: Path, prefix: str = "automl: ") -> str | None:
    """The last line of a worker's log that starts with ``prefix`` (its error or stop reason)."""
    try:
        with open(log, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(handle.tell() - 16384, 0))
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    return None


def _cores() -> int:
    """CPU cores this process may use (a SLURM job's allocation, not the whole node)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited {code}"


@dataclass
class WorkerProcess:
    """One worker process and what the supervisor knows about it."""

    index: int
    group: int
    proc: subprocess.Popen
    log: Path
    handle: IO[Any]
    worker_id: str
    killed_for: str | None = None

    @property
    def name(self) -> str:
        return f"worker {self.index}"


@dataclass
class Supervisor:
    """Starts and looks after the worker processes of one machine (a ``drive.Fleet``).

    Args:
        argv: The user's command line (after ``python -m automl``).
        workers: Workers to keep running (at most the pool's slots).
        settings: Overrides every worker gets (absolute run directory, storage).
        run_dir: The run directory (logs go to ``<run_dir>/workers``).
        pool: The device pool (slots and their devices).
        fleet_study: The study (``automl.tuning.fleet.FleetStudy``).
        sweep: The sweep settings (``trial_timeout``, ``timeout``, ``worker_restarts``).
        say: Prints one line for the user (a note).
        node: The SLURM job's number, when this is a node (names the logs).
        cwd: Where workers start (the user's directory: relative data paths stay valid).
        trials_end: The time budget's end for trials (wall clock), shared with every worker;
            ``None`` without a budget.
        grace: Seconds past ``trials_end`` a trial may run before its worker cuts it.
    """

    argv: Sequence[str]
    workers: int
    settings: dict[str, str]
    run_dir: Path
    pool: DevicePool
    fleet_study: FleetStudy
    sweep: SweepConfig
    say: Callable[[str], None] = print
    node: int | None = None
    cwd: Path = field(default_factory=Path.cwd)
    trials_end: float | None = None
    grace: float = 0.0
    live: list[WorkerProcess] = field(default_factory=list)
    started: list[WorkerProcess] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    refused: str | None = None
    stopping: bool = False
    closed: bool = False
    restarts: int = 0
    target: int = 0
    backed_off: bool = False

    def __post_init__(self) -> None:
        self.target = min(self.workers, self.pool.capacity)

    # -- the Fleet protocol ----------------------------------------------------------------

    def start(self) -> None:
        """Start one worker per slot, up to ``sweep.workers``."""
        if self.target < self.workers:
            self.say(
                f"{self.workers} workers asked for, but the GPUs hold {self.target} trials at "
                f"a time (sweep.gpus_per_trial={self.sweep.gpus_per_trial}, "
                f"sweep.trials_per_gpu={self.sweep.trials_per_gpu}): starting {self.target}"
            )
        for _ in range(self.target):
            if self.stopping:
                return
            self._spawn()

    def poll(self) -> bool:
        """Reap exited workers, enforce the hard timeout, start replacements; all done?"""
        for worker in list(self.live):
            code = worker.proc.poll()
            if code is not None:
                self._reap(worker)
                self._exited(worker, code)
        if self.sweep.trial_timeout and not self.stopping:
            self._enforce_timeouts(float(self.sweep.trial_timeout))
        self._enforce_budget()
        self._fill()
        return not self.live

    def stop(self, signum: int) -> None:
        """Send ``signum`` to every worker; start no more."""
        self.stopping = True
        for worker in list(self.live):
            try:
                worker.proc.send_signal(signum)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """SIGKILL every worker."""
        self.stopping = True
        for worker in list(self.live):
            try:
                worker.proc.kill()
            except ProcessLookupError:
                pass

    # -- workers ---------------------------------------------------------------------------

    def _spawn(self) -> WorkerProcess | None:
        group = self.pool.acquire()
        if group is None:
            return None
        index = len(self.started)
        logs = self.run_dir / LOG_DIR
        logs.mkdir(parents=True, exist_ok=True)
        prefix = f"node-{self.node}-" if self.node is not None else ""
        log = logs / f"{prefix}worker-{index}.log"
        handle = open(log, "a")
        devices = self.pool.groups[group].devices
        env = {**os.environ, **worker_env(index, devices, self.pool.shared(group), self.target)}
        if self.node is not None:
            env[NODE_ENV] = str(self.node)
        if self.trials_end is not None:  # one deadline for the parent and every worker
            env[TRIALS_END_ENV] = repr(self.trials_end)
        args = worker_argv(self.argv, dict(self.settings))
        handle.write(
            f"== {prefix}worker {index} started {time.strftime('%Y-%m-%dT%H:%M:%S')} "
            f"devices={devices if devices is not None else 'unpinned'}\n"
        )
        handle.flush()
        proc = subprocess.Popen(
            [sys.executable, "-m", "automl", *args],
            cwd=self.cwd,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C reaches the parent only
        )
        from automl.tuning.lost import worker_id

        worker = WorkerProcess(index, group, proc, log, handle, worker_id(proc.pid))
        self.live.append(worker)
        self.started.append(worker)
        return worker

    def _reap(self, worker: WorkerProcess) -> None:
        self.live.remove(worker)
        self.pool.release(worker.group)
        worker.handle.close()

    def _exited(self, worker: WorkerProcess, code: int) -> None:
        """Decide what a worker's exit means (the one place that does)."""
        if worker.killed_for in ("timeout", "budget") or code == 0:
            return
        if self.stopping:
            if code not in (128 + signal.SIGINT, 128 + signal.SIGTERM):
                self.fleet_study.fail_lost()  # it did not stop cleanly: its trial is lost
            return
        if code == EXIT_BACKED_OFF:
            devices = self.pool.groups[worker.group].devices
            devices = f"GPU {devices}" if devices is not None else "the CPU"
            if self.pool.shrink(worker.group):
                holds = self.pool.groups[worker.group].capacity
                self.say(
                    f"{worker.name} ran out of memory on {devices}: it holds {holds} trial(s) at "
                    "a time from now on; the trial is re-run"
                )
            elif self.pool.groups[worker.group].outside:
                # Its GPU is shared with other nodes' workers: this node gives its share up.
                self.backed_off = self.closed = True
            return
        if code == EXIT_STOPPED:
            why = last_message(worker.log, "automl: stopped: ") or f"see {worker.log}"
            self.stopped.append(f"{worker.name}: {why}")
            self.closed = True
            # A worker that gave up on its storage may have left its trial RUNNING: its own
            # words are the trial's reason (if the storage answers the parent now).
            self.fleet_study.fail_worker(worker.worker_id, f"its worker stopped: {why}")
            return
        if code == 2:
            self.refused = last_message(worker.log, "automl: error: ") or (
                f"{worker.name} refused to start; see {worker.log}"
            )
            self.closed = True
            self.stop(signal.SIGTERM)
            return
        # Died: killed from outside, out of host memory, or crashed. Its trial is lost.
        lost = self.fleet_study.fail_lost()
        self.restarts += 1
        what = f"{worker.name} {_describe_exit(code)}"
        if self.restarts > self.sweep.worker_restarts:
            self.stopped.append(
                f"{what} and no restarts are left (sweep.worker_restarts="
                f"{self.sweep.worker_restarts}); see {worker.log}"
            )
            self.closed = True
            return
        self.say(
            f"{what}; "
            + ("its trial is re-run; " if lost else "")
            + f"starting a replacement (see {worker.log})"
        )

    def _enforce_timeouts(self, trial_timeout: float) -> None:
        limit = trial_timeout + timeout_grace(trial_timeout)
        running = self.fleet_study.running()
        now = time.time()
        for worker in list(self.live):
            trial = running.get(worker.worker_id)
            if trial is None or now - trial.started <= limit:
                continue
            worker.killed_for = "timeout"
            worker.proc.kill()
            worker.proc.wait()
            self._reap(worker)
            if self.fleet_study.fail_timed_out(trial, trial_timeout):
                self.say(
                    f"trial #{trial.number} ran past sweep.trial_timeout={trial_timeout:g} s and "
                    f"did not stop: {worker.name} was killed; starting a replacement"
                )

    def _enforce_budget(self) -> None:
        """Kill workers still running well past the budget's end for trials: their trial
        neither stopped at a report nor could be cut by its alarm (a C call that never
        returns). The trial is failed as lost and re-run by a later invocation."""
        if self.trials_end is None or not self.live:
            return
        if time.time() < self.trials_end + self.grace + timeout_grace(self.grace):
            return
        for worker in list(self.live):
            worker.killed_for = "budget"
            worker.proc.kill()
            worker.proc.wait()
            self._reap(worker)
        self.closed = True
        if self.fleet_study.fail_lost():
            self.say(
                "workers still running past the time budget were killed; their trials are "
                "re-run by a later invocation"
            )

    def _fill(self) -> None:
        """Start workers while the study needs them and slots are free."""
        if self.stopping or self.closed or len(self.live) >= self.target:
            return
        if self.trials_end is not None and time.time() >= self.trials_end:
            return
        if not self.pool.free() or not self.fleet_study.needs_trials():
            return
        while len(self.live) < self.target and self.pool.free() and not self.stopping:
            if self._spawn() is None:
                return
