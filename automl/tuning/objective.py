"""One trial: a live ``optuna.Trial`` -> its config and files -> training -> its outcome.

``start_trial`` (run under the admission lock) asks the study for a trial and samples its
parameters; ``TrialRunner.run`` trains it and tells the study how it ended, with a
``TrialRecord`` for every ending:

- complete: value, metrics, epochs, times, budget, the model file's name;
- pruned: epochs and time;
- failed by the trial itself (an exception, NaN, a timeout, an unwritable directory): the
  reason, ``error.txt`` with the traceback, and it counts toward ``sweep.n_trials``;
- stopped at its deadline in the time budget (``sweep.timeout``), or after its share of it (a
  default configuration run first): its best step so far with its metrics and model, the
  objective values in its record, told to Optuna as PRUNED (a partial trial, see
  ``automl.core.records.Stop``);
- failed by the infrastructure (a signal, the storage, a full disk, the budget's cut of a
  trial that had nothing to keep): the reason, and it is re-run; a full disk also stops the
  study (``DiskFull``): the next trial would meet the same wall;
- out of GPU memory: counted like its own failure when the worker had its GPU to itself,
  re-run when it shared it (``SharedOutOfMemory`` then tells the worker to give its slot up).
"""

from __future__ import annotations

import functools
import logging
import shutil
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import optuna
from optuna.trial import TrialState

from automl.backends.checkpoint import (
    CHECKPOINT_DIR,
    TrialCheckpoint,
    parse_every,
    study_digest,
)
from automl.backends.oom import is_out_of_memory
from automl.backends.trial_log import rows_to
from automl.core.budget import wall_to_monotonic
from automl.core.errors import (
    Interrupted,
    OutOfTime,
    StudyError,
    TrialPruned,
    TrialTimeout,
    reason,
    signal_reason,
)
from automl.core.records import (
    Failure,
    Stop,
    TrialRecord,
    counts_toward_total,
    ranked_values,
    record_of,
)
from automl.results.finalize import trial_dir
from automl.study.run import Run
from automl.tuning.internals import read_trial, storage_of, trial_id, uncached
from automl.tuning.lost import worker_id
from automl.tuning.outcome import tally
from automl.tuning.retry import fail_infra
from automl.tuning.sampling import StudySampler
from automl.tuning.signals import StopSignals
from automl.tuning.storage import (
    StorageUnreachable,
    is_disk_full,
    is_storage_error,
    storage_reason,
)
from automl.tuning.trackers import Ending, Tracker, TrialRun

if TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = [
    "TrialRunner",
    "StorageFailure",
    "StorageLost",
    "SharedOutOfMemory",
    "DiskFull",
    "start_trial",
]

_log = logging.getLogger("automl.study")
_T = TypeVar("_T")
# Seconds between heartbeat attempts while the storage does not answer (the configured
# interval once it does): a trial that rode out an outage is alive again at once.
_HEARTBEAT_RETRY_S = 1.0
# Files a writer leaves beside its target until it renames it into place (automl.core.atomic,
# the forest's skops file): on a full disk they hold the space that is missing.
_PARTIAL_SUFFIXES = (".tmp", ".partial")
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
    "checkpoint_s",
)
_STOPPED_FIELDS = (*_RESULT_FIELDS, "stopped", "values", "note")


class StorageFailure(Exception):
    """The study storage failed while a trial was reporting to it."""


class StorageLost(Exception):
    """The study storage stayed unreachable for ``sweep.storage_wait`` (or failed for good)."""


class DiskFull(Exception):
    """A disk a trial wrote to is full: the trial is re-run later, the study stops now."""


class SharedOutOfMemory(Exception):
    """A trial ran out of GPU memory on a GPU shared with other workers (it is re-run)."""


def start_trial(
    run: Run, study: optuna.Study, waited: float | None = None
) -> tuple[optuna.Trial, dict[str, Any]]:
    """Ask for a trial (a waiting retry first) and sample its parameters at once: the way a
    trial starts when no draft of it could be claimed (``automl.tuning.drafts``).

    Sampling right away, inside the admission lock, means the next worker's duplicate check
    already sees these values. The trial's owner is recorded first, in the same section: a
    RUNNING trial without one, seen under the lock, was left by a process that died inside
    it (``automl.tuning.lost``). ``waited``: seconds the admission lock took to get.
    """
    with warnings.catch_warnings():
        # Optuna warns that heartbeats are meant for Study.optimize; this loop records them
        # itself (``_Heartbeat``).
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        trial = study.ask()
    record = TrialRecord(worker=worker_id(), admission_s=round(waited, 4) if waited else None)
    for key, value in record.attrs().items():
        trial.set_user_attr(key, value)
    try:
        return trial, run.services.sample(trial)
    except Exception as exc:  # the storage refused a value: say so on the trial, not "lost"
        if is_storage_error(exc):
            raise
        why = f"its parameters could not be sampled ({reason(exc)})"
        record = TrialRecord(error=why, failure="preflight", counts=False)
        for key, value in record.attrs(("error", "failure", "counts")).items():
            trial.set_user_attr(key, value)
        study.tell(trial, state=TrialState.FAIL)
        raise StudyError(f"study '{study.study_name}': trial #{trial.number} {why}") from exc


class _Heartbeat:
    """Records a running trial's heartbeat in a database storage until stopped."""

    def __init__(self, storage: Any, beating: int) -> None:
        interval = (
            storage.get_heartbeat_interval() if hasattr(storage, "record_heartbeat") else None
        )
        self._store, self._beating, self._interval = storage, beating, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Heartbeat:
        if self._interval:
            self._thread = threading.Thread(target=self._beat, daemon=True, name="heartbeat")
            self._thread.start()
        return self

    def _beat(self) -> None:
        # One attempt per beat, not the storage's patient retries: a beat missed during an
        # outage is simply taken again a second later, and stopping never waits for it.
        backend: Any = uncached(self._store)
        beat = getattr(backend, "beat_once", backend.record_heartbeat)
        interval = float(self._interval or _HEARTBEAT_RETRY_S)
        while not self._stop.is_set():
            try:
                beat(self._beating)
                wait = interval
            except Exception:  # the storage is down: the trial's writes wait for it
                wait = min(_HEARTBEAT_RETRY_S, interval)
            self._stop.wait(wait)

    def __exit__(self, *exc: object) -> None:
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
        self._checkpoint: TrialCheckpoint | None = None

    # -- storage writes that survive a database restart ------------------------------------

    def _persist(self, write: Callable[[], _T]) -> _T:
        """Run a storage write; a storage that is gone (its outage outlasted
        ``sweep.storage_wait``: the storage retries by itself) or full stops the study."""
        try:
            return write()
        except Exception as exc:
            if is_disk_full(exc):
                raise DiskFull(_full_line("the study storage", storage_reason(exc))) from exc
            if is_storage_error(exc):
                raise StorageLost(storage_reason(exc)) from exc
            raise

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
        family = self.run.services.family_of(params).name if self.run.auto else None
        tracked = self._guarded(self.tracker.start)(trial.number, params, family)
        if tracked is not None:
            self._attrs(trial, TrialRecord(tracker_run=tracked.id), ("tracker_run",))
        return tracked

    def run_trial(self, trial: optuna.Trial, params: dict[str, Any]) -> TrialState:
        """Train ``trial`` with ``params`` and tell the study how it ended.

        With a tracker, the trial is also a tracker run: its parameters, every ``metrics.csv``
        row as it is written, and how it ended.

        A trial that ended for good (complete, pruned, or a failure that counts) leaves no
        checkpoint behind; one that is re-run keeps its own for the re-run to continue.

        Raises:
            Interrupted: A stop signal arrived (the trial is failed and re-run later).
            StorageLost: The storage stayed unreachable (the trial is left RUNNING: the next
                worker or rerun finds it lost and re-runs it).
            SharedOutOfMemory: The trial ran out of GPU memory on a shared GPU (it is re-run).
        """
        self._ending = None
        self._checkpoint = None
        tracked = self._track(trial, params) if self.tracker is not None else None
        if tracked is None:
            state = self._run_trial(trial, params)
        else:
            try:
                with rows_to(
                    trial_dir(self.run.plan.run_dir, trial.number), self._guarded(tracked.row)
                ):
                    state = self._run_trial(trial, params)
            finally:
                ending = self._ending or Ending("interrupted", "the trial stopped unfinished")
                self._guarded(tracked.end)(ending)
        if self._checkpoint is not None and self._ended(trial, state):
            self._checkpoint.discard()
        return state

    def _ended(self, trial: optuna.Trial, state: TrialState) -> bool:
        """Whether ``trial`` ended for good (it will not be re-run)."""
        if state != TrialState.FAIL:
            return True
        frozen = self._persist(lambda: read_trial(self.study, trial))
        return counts_toward_total("FAIL", record_of(frozen))

    def _open_checkpoint(
        self, trial: optuna.Trial, params: dict[str, Any], directory: Path, record: TrialRecord
    ) -> TrialCheckpoint:
        """The trial's checkpointing; a re-run continues from the newest checkpoint of the
        trials it re-runs, whose reports the study then hears again (once each)."""
        run, number = self.run, trial.number

        def note(text: str) -> None:
            record.note = f"{record.note}; {text}" if record.note else text
            self._attrs(trial, record, ("note",))

        def on_resume(step: int, reports: list[tuple[int, float]]) -> None:
            if run.goal.prunable:  # the pruner judged these steps already: no should_prune
                for done, value in reports:
                    self._persist(functools.partial(trial.report, value, done))
            if self.on_progress is not None and reports:
                self.on_progress(number, *reports[-1])
            record.resumed = step + 1
            self._attrs(trial, record, ("resumed",))
            source = checkpoint.saved.trial if checkpoint.saved is not None else "?"
            note(
                f"resumed from the checkpoint of trial #{source}: {step + 1} {record.unit}(s) done"
            )

        checkpoint = TrialCheckpoint.open(
            directory / CHECKPOINT_DIR,
            {"params": params, "study": study_digest(run.fingerprint)},
            parse_every(self.sweep.checkpoint_every),
            seed=run.seeds.trial(number),
            trial=number,
            sources=self._retried(trial),
            on_resume=on_resume,
        )
        for text in checkpoint.notes:
            note(text)
        checkpoint.on_note = note
        return checkpoint

    def _retried(self, trial: optuna.Trial) -> list[tuple[int, Path]]:
        """The checkpoint folders of the trials ``trial`` re-runs, the newest first."""
        number = record_of(trial).retry_of
        if number is None:
            return []
        trials = {t.number: t for t in self.study.get_trials(deepcopy=False)}
        chain: list[tuple[int, Path]] = []
        while number is not None and number not in dict(chain) and len(chain) < 100:
            chain.append((number, trial_dir(self.run.plan.run_dir, number) / CHECKPOINT_DIR))
            earlier = trials.get(number)
            number = record_of(earlier).retry_of if earlier is not None else None
        return chain

    def _run_trial(self, trial: optuna.Trial, params: dict[str, Any]) -> TrialState:
        run, services, number = self.run, self.run.services, trial.number
        family = services.family_of(params)
        record = TrialRecord(worker=worker_id(), unit=family.unit)
        record.family = family.name if run.auto else None
        redrawn = self.sampler.redrawn.pop(number, 0)
        record.redrawn = redrawn or None
        if number in self.sampler.duplicates:
            self.sampler.duplicates.discard(number)
            record.note = f"repeats an earlier configuration: {redrawn} new draws found none unseen"
        self._attrs(trial, record)
        if self.on_start is not None:
            self.on_start(number, params)
        start = time.perf_counter()
        directory = trial_dir(run.plan.run_dir, number)
        try:
            node = services.config(params)
            directory.mkdir(parents=True, exist_ok=True)
            _save_config(node, directory / "config.yaml")
            cfg = _to_object(node)
            checkpoint = self._checkpoint = self._open_checkpoint(trial, params, directory, record)
        except Exception as exc:  # a full disk, an unwritable run directory, a bad value
            record.duration_s = time.perf_counter() - start
            if is_disk_full(exc):
                self._disk_full(trial, record, exc, directory)
            return self._fail(trial, record, reason(exc), "preflight")

        def report(step: int, value: float) -> bool:
            if not run.goal.prunable:
                # A first objective such as latency_ms exists only after training: the live
                # view shows progress, the study is told nothing.
                if self.on_progress is not None:
                    self.on_progress(number, step, value)
                return False
            try:
                with self.signals.critical():
                    if run.goal.multi:
                        prune = self._report_first_objective(trial, step, value)
                    else:
                        trial.report(value, step)
                        prune = trial.should_prune()
            except (Interrupted, TrialTimeout):
                raise
            except StorageUnreachable as exc:  # already waited sweep.storage_wait for it
                raise StorageLost(str(exc)) from exc
            except Exception as exc:
                if is_disk_full(exc):
                    raise DiskFull(_full_line("the study storage", storage_reason(exc))) from exc
                raise StorageFailure(storage_reason(exc)) from exc
            if self.on_progress is not None:
                self.on_progress(number, step, value)
            return prune

        storage = storage_of(self.study)
        times = self._times(trial)
        cut = (times.cut_at, float(self.sweep.timeout or 0)) if times.cut_at else None
        try:
            with (
                _Heartbeat(storage, trial_id(trial)),
                self.signals.trial(self.sweep.trial_timeout, cut),
            ):
                result = services.fit(
                    cfg,
                    family=record.family,
                    report=report,
                    workdir=directory,
                    seed=checkpoint.seed,  # a re-run that continues keeps its trial's seed
                    deadline=times.stop_at,
                    checkpoint=checkpoint,
                )
        except TrialPruned as exc:
            record.epochs, record.duration_s = exc.epoch + 1, time.perf_counter() - start
            self._ending = Ending(
                "pruned",
                f"pruned after {record.unit or 'epoch'} {exc.epoch} (value {exc.value:.6g})",
                _numbers(epochs=record.epochs, duration_s=record.duration_s),
            )
            record.checkpoint_s = checkpoint.attempt_save_s or None
            record.note = exc.note or record.note
            self._attrs(trial, record, ("epochs", "duration_s", "checkpoint_s", "note"))
            self._persist(lambda: self.study.tell(trial, state=TrialState.PRUNED))
            return TrialState.PRUNED
        except TrialTimeout as exc:
            record.duration_s = time.perf_counter() - start
            return self._fail(trial, record, str(exc), "timeout")
        except OutOfTime as exc:
            # Nothing to keep (no report yet): not the configuration's fault, re-run later.
            why = f"{exc} before it had a result to keep"
            self._ending = Ending("interrupted", f"{why}; the trial is re-run")
            self._persist(lambda: self._infra(trial, why, "budget"))
            return TrialState.FAIL
        except Interrupted as stop:
            why = signal_reason(stop.signum)
            self._ending = Ending("interrupted", f"{why}; the trial is re-run")
            self._persist(lambda: self._infra(trial, why, "signal"))
            raise
        except StorageLost as lost:
            self._last_word(trial, str(lost))
            raise
        except StorageFailure as failure:
            why = f"storage error: {failure}"
            self._ending = Ending("interrupted", f"{why}; the trial is re-run")
            self._persist(lambda: self._infra(trial, why, "storage"))
            return TrialState.FAIL
        except Exception as exc:
            record.duration_s = time.perf_counter() - start
            if is_disk_full(exc):
                self._disk_full(trial, record, exc, directory)
            _write_error(directory)
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
        record.checkpoint_s = checkpoint.attempt_save_s or None
        measures = record.measures()
        try:
            values = run.goal.values(measures)
            violations = run.goal.violations(measures)
        except KeyError as exc:  # a measure this model does not give (n_params, ...)
            self._attrs(trial, record, _RESULT_FIELDS)
            return self._fail(trial, record, str(exc.args[0]), "model")
        record.unmet = run.goal.unmet(measures)
        if result.stopped:
            record.stopped = times.why_stopped()
            record.values = values
            before = record.note or trial.user_attrs.get("note")  # "default configuration"
            record.note = _join(before, times.note(result.stopped, record.unit))
        self._attrs(trial, record, _STOPPED_FIELDS if result.stopped else _RESULT_FIELDS)
        for constraint, violation in zip(run.goal.constraints, violations, strict=True):
            # Optuna's constrained samplers (TPE, GP, NSGA-II) read these (<= 0: met).
            self._persist(functools.partial(trial.set_constraint, str(constraint), violation))
        if result.stopped:
            # A partial trial: PRUNED, so that samplers rank it below complete trials and
            # pruners never compare against it (automl.core.records.Stop).
            self._persist(lambda: self.study.tell(trial, state=TrialState.PRUNED))
            self._ending = Ending("pruned", record.note, _numbers(epochs=record.epochs))
            return TrialState.PRUNED
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

    def _report_first_objective(self, trial: optuna.Trial, step: int, value: float) -> bool:
        """``trial.report`` + ``trial.should_prune`` for a multi-objective study, which
        Optuna's ``Trial`` refuses: the first objective's value goes to the storage as the
        step's intermediate value, and the study's ``FirstObjectivePruner`` judges it."""
        storage_of(self.study).set_trial_intermediate_value(trial_id(trial), step, value)
        frozen = read_trial(self.study, trial)
        return bool(self.study.pruner.prune(self.study, frozen))

    # -- the time budget -------------------------------------------------------------------

    def _times(self, trial: optuna.Trial) -> _TrialTimes:
        """When ``trial`` stops (at its next report) and when it is cut, in the budget.

        Every trial stops by the budget's ``trials_end``, less the time a refit of the best
        trial so far would take. A trial run first (an enqueued default configuration or
        warm start) stops after its share of the time left: ``left / (waiting + 2)``, the
        queue after it and the search keeping the rest (``waiting + 1`` when no search
        follows), so one slow default cannot take the whole budget while cheap families wait.
        """
        budget = self.run.budget.clock
        if budget is None:
            return _TrialTimes()
        now = time.time()
        end = budget.trials_end - self._refit_estimate()
        stop, share = end, None
        frozen = read_trial(self.study, trial)
        if "fixed_params" in frozen.system_attrs and record_of(frozen).retry_of is None:
            trials = self.study.get_trials(deepcopy=False)
            waiting = sum(t.state == TrialState.WAITING for t in trials)
            counted, running = tally(trials)
            search = counted + running + waiting < self.run.budget.total
            if waiting or search:
                share = max(end - now, 0.0) / (waiting + 1 + int(search))
                if now + share < end:
                    stop = now + share
                else:  # its share reaches the end: the budget stops it, not the share
                    share = None
        # A trial started past the end (the study had nothing to export yet) may run up to
        # one more budget to its first report: late, but the command ends with a model.
        cut = end + budget.grace if end > now else now + max(budget.seconds, budget.grace)
        return _TrialTimes(
            wall_to_monotonic(stop), wall_to_monotonic(cut), wall_to_monotonic(end), share
        )

    def _refit_estimate(self) -> float:
        """Seconds a refit of the best trial so far would take (0 without a refit)."""
        run = self.run
        if not run.refit or run.dataset.merged is None:
            return 0.0
        sign = 1.0 if run.goal.directions[0] == "maximize" else -1.0
        best, train_s = None, 0.0
        for t in self.study.get_trials(
            deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)
        ):
            values = ranked_values(t)
            if values and (best is None or sign * values[0] > best):
                best, train_s = sign * values[0], record_of(t).train_s or 0.0
        return run.refit_seconds(train_s)

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
        frozen = read_trial(self.study, trial)
        fail_infra(self.study, frozen, why, failure, self.sweep.max_retries)

    def _disk_full(
        self, trial: optuna.Trial, record: TrialRecord, exc: BaseException, directory: Path
    ) -> None:
        """A full disk under a trial: fail it (re-run later, not counted), remove its partial
        files, and stop the study: every next trial would meet the same wall.

        Raises:
            DiskFull: Always, with the sentence that says what to free.
        """
        _remove_partials(directory)
        why = f"the disk was full ({reason(exc)})"
        try:
            self._attrs(trial, record, ("duration_s",))
            self._persist(lambda: self._infra(trial, why, "disk"))
        except DiskFull:  # the storage is on the full disk too: the next opening finds it
            pass
        run_dir = self.run.plan.run_dir
        raise DiskFull(
            _full_line(str(run_dir), f"{reason(exc)}; {_free_mb(directory)} free")
            + f" (each trial keeps its model in {run_dir}/trials/NNNN/; old run directories "
            "and the models of trials you do not need can go), or give the study a run "
            f"directory on another disk (hydra.run.dir=...), then run the same command again: "
            f"trial #{trial.number} is re-run first"
        )

    def _last_word(self, trial: optuna.Trial, why: str) -> None:
        """Record why a trial is given up on when the storage is lost, if it answers once
        more; else the trial stays RUNNING and the next opening finds it lost."""
        try:
            self._infra(trial, why, "storage")
        except Exception:  # still unreachable: nothing more can be said to it
            pass


def _full_line(where: str, why: str) -> str:
    return f"the disk holding {where} is full ({why}): free space there"


def _write_error(directory: Path) -> None:
    """The failed trial's traceback in ``error.txt``, if the disk takes it."""
    from automl.core.atomic import write_text

    try:
        write_text(directory / "error.txt", traceback.format_exc())
    except OSError:  # a full disk: the reason is stored in the study all the same
        pass


def _remove_partials(directory: Path) -> None:
    """Delete the temporary files writers left in a trial's directory (dot-files ending in
    ``.tmp``/``.partial``): on a full disk they hold the space that ran out."""
    try:
        for path in directory.iterdir():
            if path.name.startswith(".") and path.name.endswith(_PARTIAL_SUFFIXES):
                path.unlink(missing_ok=True)
    except OSError:
        pass


def _free_mb(directory: Path) -> str:
    for path in (directory, *directory.parents):
        try:
            return f"{shutil.disk_usage(path).free / 1e6:.0f} MB"
        except OSError:
            continue
    return "unknown"


class _TrialTimes:
    """A trial's times in the budget (``time.monotonic()``; all ``None`` without a budget).

    Attributes:
        stop_at: Past it the trial stops at its next report, keeping its best step.
        cut_at: Past it a trial that has still not reported is cut (``OutOfTime``).
        end: The budget's end for trials (the stop time when no share applies).
        share: The share of the budget a trial run first may take, in seconds.
    """

    def __init__(
        self,
        stop_at: float | None = None,
        cut_at: float | None = None,
        end: float | None = None,
        share: float | None = None,
    ) -> None:
        self.stop_at, self.cut_at, self.end, self.share = stop_at, cut_at, end, share

    def why_stopped(self) -> Stop:
        """``share`` when the trial's share ended before the budget's end for trials, else
        ``budget``."""
        if self.share is not None and self.stop_at is not None and self.end is not None:
            return "share" if self.stop_at < self.end else "budget"
        return "budget"

    def note(self, where: str, unit: str | None) -> str:
        """What the leaderboard says about a stopped trial."""
        kept = f"its best {unit or 'step'} so far is kept"
        if self.why_stopped() == "share":
            return f"stopped {where}: its share of the time budget ({self.share:.0f} s); {kept}"
        return f"stopped at the time budget {where}; {kept}"


def _join(first: str | None, second: str) -> str:
    return f"{first}; {second}" if first else second


def _numbers(**values: float | None) -> dict[str, float]:
    """The given values that are set, as floats (what a tracker run records at its end)."""
    return {k: float(v) for k, v in values.items() if v is not None}


def _save_config(node: DictConfig, path: str | Path) -> None:
    from omegaconf import OmegaConf

    from automl.core.atomic import write_text

    write_text(path, OmegaConf.to_yaml(node))


def _to_object(node: DictConfig) -> object:
    from omegaconf import OmegaConf

    return OmegaConf.to_object(node)


def _name(path: str | None) -> str | None:
    return Path(path).name if path else None
