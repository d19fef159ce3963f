"""``sweep.launcher=ray``: the study's workers as actors on a Ray cluster.

The parent joins the cluster named by ``sweep.ray.address`` (or starts a local one for the run
and stops it at the end) and creates ``sweep.workers`` actors, each reserving
``sweep.ray.num_cpus`` cores and ``sweep.ray.num_gpus`` GPUs (a fraction packs several trials
onto one GPU; Ray sets the actor's ``CUDA_VISIBLE_DEVICES``). Each actor runs the user's own
command as a *node* (``automl.parallel.parent.run_node``), in a process of its own: the node
starts one worker, replaces it when it dies (its trial failed as lost and re-run, as on one
machine), kills a trial stuck past ``sweep.trial_timeout`` and backs off on out-of-memory. The
parent draws the leaderboard from the study's storage, passes stop signals on to the nodes
through their actors, replaces an actor that died (up to ``sweep.worker_restarts``), and
writes the leaderboard files, ``best/`` and the summary once every actor has ended.

Why a node process, not the worker inside the actor: a Ray actor's process belongs to Ray
(its signal handlers, its threads), while a node is the same command as on SLURM, with its own
signal handling, and a node whose actor dies notices (it watches its parent) and stops its
worker cleanly, so the trial is re-run.
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
from typing import TYPE_CHECKING, Any

from automl.core.budget import TRIALS_END_ENV
from automl.core.errors import UserError
from automl.parallel.supervisor import LOG_DIR, last_message
from automl.study.role import EXIT_BACKED_OFF, NODE_ENV, ROLE_ENV

if TYPE_CHECKING:
    from automl.study.config import RayConfig

__all__ = ["RayWorkers", "NodeActor", "check_ray", "node_log", "passed_env"]


def node_log(run_dir: Path, index: int) -> Path:
    """Where node ``index`` writes its own lines (its worker logs are beside it)."""
    return run_dir / LOG_DIR / f"node-{index}.log"


def passed_env() -> dict[str, str]:
    """What of the parent's environment a node gets: ``AUTOML_*`` and ``PYTHONPATH``.

    An actor's process inherits the environment its cluster was started with, not the
    command's; automl's own switches and the path plugins are found on travel with the
    command (the rest, ``PATH`` or ``HOME``, belongs to the machine the node runs on).
    """
    return {k: v for k, v in os.environ.items() if k.startswith("AUTOML_") or k == "PYTHONPATH"}


def check_ray(settings: RayConfig, gpus: Sequence[str]) -> None:
    """Refuse, in one line, what cannot run: Ray missing, or GPUs a local cluster lacks.

    Raises:
        UserError: The ``automl[ray]`` extra is not installed, or a local cluster (no
            ``sweep.ray.address``) is asked for GPUs this machine does not have.
    """
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UserError("sweep.launcher=ray needs Ray: pip install 'automl[ray]'") from None
    if settings.address is None and settings.num_gpus > 0 and not gpus:
        raise UserError(
            f"sweep.ray.num_gpus={settings.num_gpus} but this machine has no GPU for the local "
            "Ray cluster: set sweep.ray.num_gpus=0, or sweep.ray.address=... to join a cluster "
            "with GPUs"
        )


class NodeActor:
    """A Ray actor that runs one node (``python -m automl <argv>`` in the node role).

    It runs two calls at once (``max_concurrency=2``): ``run`` waits for the node, ``signal``
    passes a stop signal on to it meanwhile.
    """

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def run(self, argv: list[str], cwd: str, index: int, log: str, env: dict[str, str]) -> int:
        """Run the node to its end (``env`` added to the actor's environment); its exit code."""
        env = {**os.environ, **env, ROLE_ENV: "node", NODE_ENV: str(index)}
        env["PYTHONUNBUFFERED"] = "1"
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as handle:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "automl", *argv],
                cwd=cwd,
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # signals reach it from its actor only
            )
            return self.proc.wait()

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the node (a second one makes it kill its worker at once)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)

    def pid(self) -> int:
        """The actor's process id."""
        return os.getpid()


@dataclass
class RayWorkers:
    """The study's Ray actors (a ``drive.Fleet``).

    Args:
        settings: ``sweep.ray``.
        argv: The node's command line (the user's, with the run directory and storage pinned).
        count: Actors to keep running (``sweep.workers``).
        restarts: Actors that died that are replaced (``sweep.worker_restarts``).
        cwd: The directory the user started in (nodes start there).
        run_dir: The run directory (node logs in ``workers/``).
        say: Prints one line for the user.
        trials_end: The parent's end for trials in its time budget (wall clock), which every
            node and its worker share; ``None`` without a budget.
    """

    settings: RayConfig
    argv: Sequence[str]
    count: int
    restarts: int
    cwd: Path
    run_dir: Path
    say: Callable[[str], None] = print
    trials_end: float | None = None
    running: dict[Any, tuple[int, Any]] = field(default_factory=dict)
    started: int = 0
    died: int = 0
    stopped: list[str] = field(default_factory=list)
    refused: str | None = None
    stopping: bool = False
    closed: bool = False
    _ray: Any = None
    _actor_class: Any = None

    def start(self) -> None:
        """Join (or start) the cluster and start one actor per worker."""
        import logging

        import ray

        self._ray = ray
        # Ray's driver sets its own SIGTERM handler (exit at once); the parent's (drive) stays.
        handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            ray.init(
                address=self.settings.address,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
                namespace="automl",
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise UserError(
                f"sweep.ray.address={self.settings.address}: cannot join the Ray cluster "
                f"({first[:300]}); check the address, or leave it unset for a local cluster"
            ) from None
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        self._actor_class = ray.remote(NodeActor).options(
            num_cpus=self.settings.num_cpus,
            num_gpus=self.settings.num_gpus,
            max_concurrency=2,
            max_restarts=0,
        )
        where = self.settings.address or "a local Ray cluster"
        self.say(
            f"starting {self.count} Ray actor(s) on {where} ({self.settings.num_cpus:g} CPU, "
            f"{self.settings.num_gpus:g} GPU each; logs in {self.run_dir / LOG_DIR})"
        )
        for _ in range(self.count):
            if self.stopping:
                return
            self._spawn()

    def _spawn(self) -> None:
        index = self.started
        self.started += 1
        actor = self._actor_class.remote()
        log = str(node_log(self.run_dir, index))
        env = passed_env()
        if self.trials_end is not None:  # one deadline for the parent and every node
            env[TRIALS_END_ENV] = repr(self.trials_end)
        ref = actor.run.remote(list(self.argv), str(self.cwd), index, log, env)
        self.running[ref] = (index, actor)

    def poll(self) -> bool:
        """Collect the actors that ended (replacing those that died); whether all have."""
        if self.running:
            done, _ = self._ray.wait(list(self.running), num_returns=len(self.running), timeout=0)
            for ref in done:
                index, actor = self.running.pop(ref)
                self._ended(index, ref)
                self._ray.kill(actor)  # its process is not kept for a next call
        if not self.running:
            self._close()
            return True
        return False

    def _ended(self, index: int, ref: object) -> None:
        """Decide what a node's end means (the one place that does)."""
        log = node_log(self.run_dir, index)
        try:
            code = int(self._ray.get(ref))
        except Exception as exc:  # the actor died: killed, its machine lost, out of memory
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            self._died(index, f"its actor died ({first[:200]})")
            return
        signalled = code in (128 + signal.SIGINT, 128 + signal.SIGTERM)
        if code == 0 or (signalled and self.stopping):
            return
        if code == 2:
            self.refused = (
                self.refused
                or last_message(log, "automl: error: ")
                or (f"Ray node {index} refused to start; see {log}")
            )
            self.stop(signal.SIGTERM)
            return
        if code == EXIT_BACKED_OFF:
            self.say(
                f"Ray node {index} ran out of memory on its share of a GPU: one trial fewer at "
                "a time from now on; the trial is re-run"
            )
            return
        if signalled:  # stopped from outside (its actor's machine shutting down)
            self._died(index, f"it was stopped (exit {code})")
            return
        why = last_message(log, "automl: stopped: ") or f"exited {code}; see {log}"
        self.stopped.append(f"Ray node {index}: {why}")
        self.closed = True

    def _died(self, index: int, why: str) -> None:
        self.died += 1
        if self.stopping:
            return
        if self.died > self.restarts:
            self.stopped.append(
                f"Ray node {index}: {why}, and no restarts are left "
                f"(sweep.worker_restarts={self.restarts})"
            )
            self.closed = True
            return
        self.say(f"Ray node {index}: {why}; its trial is re-run; starting a replacement")
        if not self.closed:
            self._spawn()

    def stop(self, signum: int) -> None:
        """Pass a stop signal on to every node; start no more."""
        self.stopping = True
        for _, actor in self.running.values():
            actor.signal.remote(signum)

    def kill(self) -> None:
        """A second signal: every node kills its worker at once; then the actors go."""
        self.stopping = True
        calls = [actor.signal.remote(signal.SIGTERM) for _, actor in self.running.values()]
        deadline = time.monotonic() + 5
        try:
            self._ray.wait(
                calls, num_returns=len(calls), timeout=max(deadline - time.monotonic(), 0)
            )
        except Exception:  # the cluster is going away: nothing more to tell it
            pass
        self._close()

    def _close(self) -> None:
        """Leave the cluster (a local one started for the run stops with it)."""
        if self._ray is not None and self._ray.is_initialized():
            self._ray.shutdown()
