"""The study as the parent of several workers sees it: who runs what, and the trials it ends.

The parent (``automl.parallel``) runs no trial itself. It reads the study to draw the
leaderboard, to know whether the study still needs a worker, and to find a worker's running
trial; it writes to it in two cases only: a worker that died (its trial is failed as lost and
re-run, ``automl.tuning.lost``), and a worker it killed because its trial ran past
``sweep.trial_timeout`` without stopping (the trial fails with ``timeout after N s`` and
counts, as if the in-process alarm had stopped it).

The parent must outlive a storage outage: its workers ride it out (``automl.tuning.storage``)
and go on. So every read and write here waits for the storage like any other call and, if
the outage outlasts ``sweep.storage_wait``, answers from what it last knew (no trial needed
now, nothing running, nothing failed) instead of raising; ``unreachable`` says why. The
workers give up by themselves and say so, and the parent ends with their lines.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import optuna
from optuna.trial import FrozenTrial, TrialState

from automl.core.errors import TrialTimeout
from automl.core.records import TrialRecord, record_of
from automl.core.study_record import StudyRecord
from automl.tuning.internals import storage_of, trial_id
from automl.tuning.lost import fail_lost_trials
from automl.tuning.outcome import tally
from automl.tuning.retry import enqueue_retry, fail_infra
from automl.tuning.storage import StorageUnreachable, make_storage

if TYPE_CHECKING:
    from pathlib import Path

    from automl.study.config import SweepConfig

__all__ = ["FleetStudy", "Running"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class Running:
    """A RUNNING trial: its number, its worker and when it started (epoch seconds)."""

    number: int
    worker: str
    started: float
    trial: FrozenTrial


class FleetStudy:
    """The parent's handle on a study its workers run.

    Args:
        study: The open study.
        total: The trials the study runs to (``Budget.total``).
        max_retries: ``sweep.max_retries``.
    """

    def __init__(self, study: optuna.Study, total: int, max_retries: int) -> None:
        self.study = study
        self.total = total
        self.max_retries = max_retries
        self.unreachable: str | None = None
        """Why the storage did not answer the last call (``None``: it did)."""
        self._last: list[Any] = []

    def _patiently(self, call: Callable[[], _T], otherwise: _T) -> _T:
        try:
            result = call()
        except StorageUnreachable as exc:
            self.unreachable = str(exc)
            return otherwise
        self.unreachable = None
        return result

    @classmethod
    def load(cls, sweep: SweepConfig, run_dir: str | Path, study_name: str) -> FleetStudy:
        """Open an existing study by name (a SLURM job's node: the parent created it and
        recorded its total)."""
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        storage = make_storage(
            sweep.storage,
            run_dir,
            sweep.heartbeat_interval,
            sweep.grace_period,
            max_retries=sweep.max_retries,
            on_stale=lambda study, trial: enqueue_retry(study, trial, sweep.max_retries),
            storage_wait=sweep.storage_wait,
            open_wait=sweep.storage_wait,  # the parent opened it: a blip is not a wrong URL
        )
        study = optuna.load_study(study_name=study_name, storage=storage)
        total = StudyRecord.from_attrs(study.user_attrs).total
        return cls(study, sweep.n_trials if total is None else total, sweep.max_retries)

    def trials(self) -> list[Any]:
        """Every trial of the study (frozen, not copied); the last list read during an outage."""
        self._last = self._patiently(lambda: self.study.get_trials(deepcopy=False), self._last)
        return self._last

    def running(self) -> dict[str, Running]:
        """RUNNING trials by the worker that runs them (none known during an outage)."""
        out: dict[str, Running] = {}
        nothing: list[Any] = []
        running = self._patiently(
            lambda: self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)), nothing
        )
        for t in running:
            worker = record_of(t).worker
            if worker and t.datetime_start is not None:
                out[worker] = Running(t.number, worker, t.datetime_start.timestamp(), t)
        return out

    def needs_trials(self) -> bool:
        """Whether trials that count plus running ones are still below the total.

        ``False`` while the storage does not answer: a worker started now could not open it.
        """
        trials = self._patiently(lambda: self.study.get_trials(deepcopy=False), None)
        if trials is None:
            return False
        counted, running = tally(trials)
        return counted + running < self.total

    def fail_lost(self) -> int:
        """Fail (and re-run) the trials of workers that are gone from this machine."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._patiently(lambda: fail_lost_trials(self.study, self.max_retries), 0)

    def fail_worker(self, worker: str, why: str) -> int:
        """Fail (and re-run) the RUNNING trials of a worker that stopped, with its reason.

        A worker that gave up on the storage leaves its trial RUNNING; its own words say what
        happened better than "its worker process is gone".
        """

        def fail() -> int:
            running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            mine = [t for t in running if record_of(t).worker == worker]
            return sum(fail_infra(self.study, t, why, "lost", self.max_retries) for t in mine)

        return self._patiently(fail, 0)

    def fail_timed_out(self, running: Running, seconds: float) -> bool:
        """Fail a trial whose worker was killed past ``sweep.trial_timeout`` (it counts).

        Returns:
            Whether this call failed it (``False``: it had finished meanwhile).
        """
        storage, number = storage_of(self.study), trial_id(running.trial)
        record = TrialRecord(
            error=str(TrialTimeout(seconds)),
            failure="timeout",
            counts=True,
            note="its worker was killed: the trial did not return to Python for the alarm",
        )
        try:
            for key, value in record.attrs(("error", "failure", "counts", "note")).items():
                storage.set_trial_user_attr(number, key, value)
            return bool(storage.set_trial_state_values(number, state=TrialState.FAIL))
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError, StorageUnreachable):
            return False

    def ran_since(self, started: float) -> tuple[int, int]:
        """``(ran, ok)``: trials started since ``started`` (epoch seconds) that finished, and
        those of them that completed or were pruned."""
        ran = ok = 0
        for t in self.trials():
            if t.datetime_start is None or t.datetime_start.timestamp() < started:
                continue
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
                ran, ok = ran + 1, ok + 1
            elif t.state == TrialState.FAIL:
                ran += 1
        return ran, ok
