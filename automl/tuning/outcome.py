"""What one invocation of a study did: counts, the best trial, the exit code (``StudyOutcome``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from optuna.trial import TrialState

from automl.core.records import counts_toward_total, record_of

__all__ = ["StudyOutcome", "tally"]


@dataclass
class StudyOutcome:
    """What a study invocation left behind, and the exit code that says so.

    Attributes:
        n_complete, n_pruned, n_failed: Trials of the study by state (all workers).
        n_retried: Failed trials whose infrastructure failed (re-run, not counted).
        ran: Trials this invocation ran; ``ran_ok`` of them complete or pruned.
        signal: The stop signal received, if any.
        stopped: Why the loop stopped before the total (a failure streak, the storage).
        export_note: Why ``best/`` is not this worker's to write (the best trial's files are
            in another worker's run directory).
        export_failed: Why writing ``best/`` failed.
        tracker_note: Why the tracker's best run was not tagged (``trainer.logger``).
        worker: The invocation is a worker of a parent (``automl.parallel``): it runs trials,
            and the parent judges the study.
        backed_off: The worker gave its GPU slot up after a trial ran out of memory there.
        storage_lost: The study storage stayed unreachable (``sweep.storage_wait``): nothing
            more could be read or written.
        leaderboard_failed: Why ``leaderboard.csv``/``.json`` could not be written.
    """

    study_name: str
    direction: str
    metric: str
    n_complete: int = 0
    n_pruned: int = 0
    n_failed: int = 0
    n_retried: int = 0
    best_number: int | None = None
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)
    signal: int | None = None
    refit: bool = False
    ran: int = 0
    ran_ok: int = 0
    stopped: str | None = None
    export_note: str | None = None
    export_failed: str | None = None
    tracker_note: str | None = None
    worker: bool = False
    backed_off: bool = False
    storage_lost: bool = False
    leaderboard_failed: str | None = None

    @property
    def report_wanted(self) -> bool:
        """Whether ``report/`` is worth writing: not after a stop signal (the scheduler's
        SIGKILL follows soon), nor when the storage it reads is gone."""
        return self.signal is None and not self.storage_lost

    @property
    def interrupted(self) -> bool:
        """A stop signal (SIGINT/SIGTERM) ended the invocation."""
        return self.signal is not None

    @property
    def exit_code(self) -> int:
        """128 + signal after a stop signal; 1 when the invocation failed to do its job (a
        failure streak, a lost storage, no trial of its own completed or pruned, no best
        model at all, an export that could not be written); else 0. A worker says only how it
        stopped (``automl.study.role``): its parent judges the study."""
        if self.signal is not None:
            return 128 + self.signal
        if self.worker:
            from automl.study.role import EXIT_BACKED_OFF, EXIT_STOPPED

            return EXIT_STOPPED if self.stopped else EXIT_BACKED_OFF if self.backed_off else 0
        if self.stopped or self.export_failed or self.leaderboard_failed:
            return 1
        if self.ran and not self.ran_ok:
            return 1
        if self.ran and self.best_number is None:
            return 1
        return 0


def tally(trials: list[Any]) -> tuple[int, int]:
    """``(counted, running)``: trials that count toward ``sweep.n_trials``, and RUNNING ones."""
    counted = sum(counts_toward_total(t.state.name, record_of(t)) for t in trials)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    return counted, running
