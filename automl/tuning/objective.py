"""One trial: a live ``optuna.Trial`` -> its config and files -> training -> its outcome.

``start_trial`` (run under the admission lock) asks the study for a trial and samples its
parameters; ``TrialRunner.run`` trains it and tells the study how it ended, with a
``TrialRecord`` for every ending:

- complete: value, metrics, epochs, times, budget, the model file's name;
- pruned: epochs and time;
- failed by the trial itself (an exception, NaN, a timeout, an unwritable directory): the
  reason, ``error.txt`` with the traceback, and it counts toward ``sweep.n_trials``;
- failed by the infrastructure (a signal, the storage): the reason, and it is re-run;
- out of GPU memory: counted like its own failure when the worker had its GPU to itself,
  re-run when it shared it (``SharedOutOfMemory`` then tells the worker to give its slot up).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import TrialState

from automl.backends.oom import is_out_of_memory
from automl.backends.trial_log import rows_to
from automl.core.errors import Interrupted, TrialPruned, TrialTimeout, reason, signal_reason
from automl.core.records import Failure, TrialRecord
from automl.results.finalize import trial_dir
from automl.study.families import family_of
from automl.study.run import Run
from automl.tuning.lost import worker_id
from automl.tuning.retry import fail_infra
from automl.tuning.sampling import StudySampler
from automl.tuning.signals import StopSignals
from automl.tuning.storage import is_storage_error
from automl.tuning.trackers import Ending, Tracker, TrialRun

__all__ = ["TrialRunner", "StorageFailure", "StorageLost", "SharedOutOfMemory", "start_trial"]

_STORAGE_RETRY_S = 2.0
_log = logging.getLogger("automl.study")
_RESULT_FIELDS = (
    "epochs",
    "duration_s",
    "train_s",
    "metrics",
    "budget",
    "n_params",
    "model_file",
    "latency_ms",
    "unmet",
)


class StorageFailure(Exception):
    """The study storage failed while a trial was reporting to it."""


class StorageLost(Exception):
    """The study storage stayed unreachable longer than the grace period."""


class SharedOutOfMemory(Exception):
    """A trial ran out of GPU memory on a GPU shared with other workers (it is re-run)."""


def start_trial(run: Run, study: optuna.Study) -> tuple[optuna.Trial, dict[str, Any]]:
    """Ask for a trial (a waiting retry first) and sample its parameters at once.

    Sampling right away, inside the admission lock, means the next worker's duplicate check
    already sees these values. The trial's owner is recorded first, in the same section: a
    RUNNING trial without one, seen under the lock, was left by a process that died inside
    it (``automl.tuning.lost``).
    """
    with warnings.catch_warnings():
        # Optuna warns that heartbeats are meant for Study.optimize; this loop records them
        # itself (``_Heartbeat``).
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        trial = study.ask()
    for key, value in TrialRecord(worker=worker_id()).attrs().items():
        trial.set_user_attr(key, value)
    return trial, run.sample(trial)


class _Heartbeat:
    """Records a running trial's heartbeat in a database storage until stopped."""

    def __init__(self, storage: Any, trial_id: int) -> None:
        interval = (
            storage.get_heartbeat_interval() if hasattr(storage, "record_heartbeat") else None
        )
        self._storage, self._trial_id, self._interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Heartbeat:
        if self._interval:
            self._thread = threading.Thread(target=self._beat, daemon=True, name="heartbeat")
            self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.is_set():
            try:
                self._storage.record_heartbeat(self._trial_id)
            except Exception:  # the storage is down: the trial reports it; keep trying
                pass
            self._stop.wait(self._interval)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class TrialRunner:
    """Trains trials of one study in this process and records how each ended.

    Args:
        run: The run.
        study: The open study.
        sampler: The study's sampler (for the duplicate-check bookkeeping).
        signals: Stop-signal and timeout handling.
        on_start: Called with a trial's number and parameters when it starts training.
        on_progress: Called with a trial's number, step and value after each report.
        shared: This worker shares its GPU with other workers (``automl.parallel``): a trial
            that runs out of GPU memory is re-run, and ``SharedOutOfMemory`` is raised.
        tracker: The experiment tracker each trial is a run of (``trainer.logger=mlflow`` or
            ``wandb``), if any.
    """

    def __init__(
        self,
        run: Run,
        study: optuna.Study,
        sampler: StudySampler,
        signals: StopSignals,
        on_start: Callable[[int, dict[str, Any]], None] | None = None,
        on_progress: Callable[[int, int, float], None] | None = None,
        shared: bool = False,
        tracker: Tracker | None = None,
    ) -> None:
        self.run = run
        self.study = study
        self.sampler = sampler
        self.signals = signals
        self.on_start = on_start
        self.on_progress = on_progress
        self.shared = shared
        self.sweep = run.plan.sweep
        self.tracker = tracker
        self._ending: Ending | None = None
        self._tracker_failures = 0

    # -- storage writes that survive a database restart ------------------------------------

    def _persist(self, write: Callable[[], Any]) -> Any:
        """Run a storage write, retrying while the storage is unreachable (up to the grace)."""
        deadline = time.monotonic() + max(float(self.sweep.grace_period), _STORAGE_RETRY_S)
        while True:
            try:
                return write()
            except Exception as exc:
                if not is_storage_error(exc) or time.monotonic() > deadline:
                    if is_storage_error(exc):
                        raise StorageLost(reason(exc)) from exc
                    raise
                time.sleep(_STORAGE_RETRY_S)

    def _attrs(
        self, trial: optuna.Trial, record: TrialRecord, only: tuple[str, ...] | None = None
    ) -> None:
        for key, value in record.attrs(only).items():
            self._persist(functools.partial(trial.set_user_attr, key, value))

    def _fail(
        self, trial: optuna.Trial, record: TrialRecord, why: str, failure: Failure
    ) -> TrialState:
        record.error, record.failure, record.counts = why, failure, True
        self._ending = Ending("failed", why, _numbers(duration_s=record.duration_s))
        self._attrs(trial, record, ("error", "failure", "counts", "duration_s"))
        self._persist(lambda: self.study.tell(trial, state=TrialState.FAIL))
        return TrialState.FAIL

    # -- one trial -------------------------------------------------------------------------

    # -- the experiment tracker: never allowed to fail a trial ------------------------------

    def _guarded(self, call: Callable[..., Any]) -> Callable[..., Any]:
        def guarded(*args: Any) -> Any:
            try:
                return call(*args)
            except Exception as exc:
                self._tracker_failures += 1
                if self._tracker_failures <= 3:
                    assert self.tracker is not None
                    _log.warning(
                        "trainer.logger=%s: %s failed (%s); the study goes on",
                        self.tracker.name,
                        getattr(call, "__name__", "a call"),
                        reason(exc),
                    )
                return None

        return guarded

    def _track(self, trial: optuna.Trial, params: dict[str, Any]) -> TrialRun | None:
        assert self.tracker is not None
        family = family_of(params) if self.run.auto else None
        tracked = self._guarded(self.tracker.start)(trial.number, params, family)
        if tracked is not None:
            self._attrs(trial, TrialRecord(tracker_run=tracked.id), ("tracker_run",))
        return tracked

    def run_trial(self, trial: optuna.Trial, params: dict[str, Any]) -> TrialState:
        """Train ``trial`` with ``params`` and tell the study how it ended.

        With a tracker, the trial is also a tracker run: its parameters, every ``metrics.csv``
        row as it is written, and how it ended.

        Raises:
            Interrupted: A stop signal arrived (the trial is failed and re-run later).
            StorageLost: The storage stayed unreachable (the trial is left RUNNING: the next
                worker or rerun finds it lost and re-runs it).
            SharedOutOfMemory: The trial ran out of GPU memory on a shared GPU (it is re-run).
        """
        self._ending = None
        tracked = self._track(trial, params) if self.tracker is not None else None
        if tracked is None:
            return self._run_trial(trial, params)
        try:
            with rows_to(trial_dir(self.run.run_dir, trial.number), self._guarded(tracked.row)):
                return self._run_trial(trial, params)
        finally:
            ending = self._ending or Ending("interrupted", "the trial stopped unfinished")
            self._guarded(tracked.end)(ending)

    def _run_trial(self, trial: optuna.Trial, params: dict[str, Any]) -> TrialState:
        run, number = self.run, trial.number
        record = TrialRecord(worker=worker_id(), unit=run.unit_of(params))
        record.family = family_of(params) if run.auto else None
        redrawn = self.sampler.redrawn.pop(number, 0)
        record.redrawn = redrawn or None
        if number in self.sampler.duplicates:
            self.sampler.duplicates.discard(number)
            record.note = f"repeats an earlier configuration: {redrawn} new draws found none unseen"
        self._attrs(trial, record)
        if self.on_start is not None:
            self.on_start(number, params)
        start = time.perf_counter()
        directory = trial_dir(run.run_dir, number)
        try:
            node = run.config(params)
            directory.mkdir(parents=True, exist_ok=True)
            _save_config(node, directory / "config.yaml")
            cfg = _to_object(node)
        except Exception as exc:  # a full disk, an unwritable run directory, a bad value
            record.duration_s = time.perf_counter() - start
            return self._fail(trial, record, reason(exc), "preflight")

        def report(step: int, value: float) -> bool:
            if not run.goal.prunable:
                # Optuna prunes single-objective studies only (Trial.report refuses several
                # objectives), and a measure such as latency_ms exists only after training:
                # the live view shows progress, the study is told nothing.
                if self.on_progress is not None:
                    self.on_progress(number, step, value)
                return False
            try:
                with self.signals.critical():
                    trial.report(value, step)
                    prune = trial.should_prune()
            except (Interrupted, TrialTimeout):
                raise
            except Exception as exc:
                raise StorageFailure(reason(exc)) from exc
            if self.on_progress is not None:
                self.on_progress(number, step, value)
            return prune

        storage = self.study._storage
        try:
            with _Heartbeat(storage, trial._trial_id), self.signals.trial(self.sweep.trial_timeout):
                result = run.fit(
                    cfg,
                    family=record.family,
                    report=report,
                    workdir=directory,
                    seed=run.trial_seed(number),
                )
        except TrialPruned as exc:
            record.epochs, record.duration_s = exc.epoch + 1, time.perf_counter() - start
            self._ending = Ending(
                "pruned",
                f"pruned after {record.unit or 'epoch'} {exc.epoch} (value {exc.value:.6g})",
                _numbers(epochs=record.epochs, duration_s=record.duration_s),
            )
            self._attrs(trial, record, ("epochs", "duration_s"))
            self._persist(lambda: self.study.tell(trial, state=TrialState.PRUNED))
            return TrialState.PRUNED
        except TrialTimeout as exc:
            record.duration_s = time.perf_counter() - start
            return self._fail(trial, record, str(exc), "timeout")
        except Interrupted as stop:
            why = signal_reason(stop.signum)
            self._ending = Ending("interrupted", f"{why}; the trial is re-run")
            self._persist(lambda: self._infra(trial, why, "signal"))
            raise
        except StorageFailure as failure:
            why = f"storage error: {failure}"
            self._ending = Ending("interrupted", f"{why}; the trial is re-run")
            self._persist(lambda: self._infra(trial, why, "storage"))
            return TrialState.FAIL
        except Exception as exc:
            record.duration_s = time.perf_counter() - start
            (directory / "error.txt").write_text(traceback.format_exc())
            if is_out_of_memory(exc):
                return self._out_of_memory(trial, record, exc)
            return self._fail(trial, record, reason(exc), "model")
        record.epochs = result.epochs
        record.duration_s = time.perf_counter() - start
        record.train_s = result.wall_time
        record.metrics = dict(result.metrics)
        record.budget = dict(result.budget)
        record.n_params = result.n_params
        record.model_file = _name(result.artifact)
        record.latency_ms = result.latency_ms
        measures = record.measures()
        try:
            values = run.goal.values(measures)
            violations = run.goal.violations(measures)
        except KeyError as exc:  # a measure this model does not give (n_params, ...)
            self._attrs(trial, record, _RESULT_FIELDS)
            return self._fail(trial, record, str(exc.args[0]), "model")
        record.unmet = run.goal.unmet(measures)
        self._attrs(trial, record, _RESULT_FIELDS)
        for constraint, violation in zip(run.goal.constraints, violations, strict=True):
            # Optuna's constrained samplers (TPE, GP, NSGA-II) read these (<= 0: met).
            self._persist(functools.partial(trial.set_constraint, str(constraint), violation))
        self._persist(lambda: self.study.tell(trial, values))
        several = {f"value_{n}": v for n, v in zip(run.goal.names, values, strict=True)}
        self._ending = Ending(
            "complete",
            record.unmet,
            _numbers(
                value=values[0],
                **(several if len(values) > 1 else {}),
                epochs=record.epochs,
                duration_s=record.duration_s,
                train_s=record.train_s,
                n_params=record.n_params,
                latency_ms=record.latency_ms,
            ),
        )
        return TrialState.COMPLETE

    def _out_of_memory(
        self, trial: optuna.Trial, record: TrialRecord, exc: BaseException
    ) -> TrialState:
        why = f"out of GPU memory ({reason(exc)})"
        if not self.shared:
            return self._fail(trial, record, why, "oom")
        self._attrs(trial, record, ("duration_s",))
        why += "; the GPU was shared with other workers"
        self._ending = Ending("interrupted", f"{why}; the trial is re-run")
        self._persist(lambda: self._infra(trial, why, "oom"))
        raise SharedOutOfMemory(why)

    def _infra(self, trial: optuna.Trial, why: str, failure: Failure) -> None:
        frozen = self.study._storage.get_trial(trial._trial_id)
        fail_infra(self.study, frozen, why, failure, self.sweep.max_retries)


def _numbers(**values: Any) -> dict[str, float]:
    """The given values that are set, as floats (what a tracker run records at its end)."""
    return {k: float(v) for k, v in values.items() if v is not None}


def _save_config(node: Any, path: Any) -> None:
    from omegaconf import OmegaConf

    from automl.core.atomic import write_text

    write_text(path, OmegaConf.to_yaml(node))


def _to_object(node: Any) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.to_object(node)


def _name(path: str | None) -> str | None:
    from pathlib import Path

    return Path(path).name if path else None
