"""The ``Leaderboard``: a study's rows as they change, safe to read from any thread.

The live table is drawn by ``rich.live.Live`` from its own refresh thread while the study's
thread adds trials, so every read of the rows takes a snapshot under a lock; a frame ranks the
rows once (``O(n log n)``) and draws the title and the table from that one ranking. What is
drawn is decided in ``table`` (the live view) and ``summary`` (log lines, the end summary).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.panel import Panel

from automl.core.records import finite_or_none
from automl.core.study_record import StudyHeader
from automl.results.leaderboard import summary as summary_view
from automl.results.leaderboard import table as table_view
from automl.results.leaderboard.rows import Row, rank_rows, row_from_trial, state_counts

if TYPE_CHECKING:
    from automl.core.records import StoredTrialView


class Leaderboard:
    """Live view of a study.

    On a terminal it is a ``rich`` renderable redrawn by ``rich.live.Live``; elsewhere
    (``console.is_terminal`` false, e.g. CI logs) every finished trial prints one plain line.

    Running trials show their parameters, the epoch (or step) reached, the latest reported
    value and the time so far: ``sync`` takes them from the storage (their parameters and
    intermediate values are written as they run), ``trial_started``/``trial_progress`` from
    this process.

    Args:
        console: Where to draw.
        header: What the title says about the study (``StudyHeader``: its name, model,
            data, sampler, pruner, objectives and total).
        trials: Trials already in the study (a resumed study shows its history).
        top_k: Rows shown in the live table.
    """

    def __init__(
        self,
        console: Console,
        header: StudyHeader,
        trials: Iterable[Any] = (),
        top_k: int = 15,
    ) -> None:
        self.console = console
        self.header = header
        self.direction: str = header.direction
        self.metric = header.metric
        # What a trial's length counts: epochs for torch models, boosting rounds or forest
        # stages ("steps") for estimators, folds with k folds.
        self.steps = header.steps
        # Several objectives: rows are ranked by Pareto front, one column per objective.
        self.objectives: list[tuple[str, str]] = list(header.objective_list())
        self.multi = len(self.objectives) > 1
        self.constraints = list(header.constraints)
        self._lock = threading.RLock()
        self.rows: dict[int, Row] = {}
        self.top_k = top_k
        self.started = time.monotonic()
        # Trials this process started, by number -> monotonic start (before storage has them).
        self.running: dict[int, float] = {}
        self.sync(trials)

    @property
    def live(self) -> bool:
        """Whether a live table is drawn (stdout is a terminal)."""
        return self.console.is_terminal

    def snapshot(self) -> list[Row]:
        """The rows now (a copy taken under the lock; safe from any thread)."""
        with self._lock:
            rows = dict(self.rows)
            now = time.monotonic()
            for number, since in self.running.items():
                if number not in rows:
                    rows[number] = Row(
                        number, "RUNNING", None, None, {}, None, started=time.time() - (now - since)
                    )
        return list(rows.values())

    def trial_started(self, number: int, params: Mapping[str, Any] | None = None) -> None:
        """Mark a trial of this process as running (shown with its elapsed time)."""
        with self._lock:
            self.running[number] = time.monotonic()
            if params is not None:
                self.rows[number] = Row(
                    number, "RUNNING", None, None, dict(params), None, started=time.time()
                )

    def trial_progress(self, number: int, step: int, value: float) -> None:
        """A running trial of this process reported ``value`` at ``step`` (0-based)."""
        with self._lock:
            row = self.rows.get(number)
            if row is None or row.finished:
                since = self.running.get(number, time.monotonic())
                row = Row(number, "RUNNING", None, None, {}, None)
                row.started = time.time() - (time.monotonic() - since)
                self.rows[number] = row
            row.epochs, row.value = step + 1, finite_or_none(value)

    def trial_finished(self, trial: StoredTrialView) -> None:
        """Record a finished trial; print a plain line when there is no live view."""
        row = row_from_trial(trial)
        with self._lock:
            self.running.pop(trial.number, None)
            self.rows[trial.number] = row
        if not self.live:
            self.console.print(self.plain_line(row), markup=False, highlight=False, soft_wrap=True)

    def sync(self, trials: Iterable[Any]) -> list[Row]:
        """Take in trials from storage: other workers' finished trials, and running trials'
        progress (a running row is rebuilt on every sync).

        Returns:
            The rows of trials that finished since the last sync (new to this board).
        """
        new: list[Row] = []
        for trial in trials:
            known = self.rows.get(trial.number)
            if known is not None and known.finished:
                continue
            row = row_from_trial(trial)
            with self._lock:
                if row.finished:
                    self.running.pop(trial.number, None)
                    new.append(row)
                self.rows[trial.number] = row
        return new

    def replace(self, trials: Iterable[Any]) -> None:
        """Rebuild every row from ``trials`` (the final read of a study)."""
        rows = {t.number: row_from_trial(t) for t in trials}
        with self._lock:
            self.running.clear()
            self.rows = rows

    def counts(self) -> dict[str, int]:
        """Trials by state (RUNNING ones too, once a read of the storage has them)."""
        with self._lock:
            return state_counts(list(self.rows.values()))

    def finished(self) -> int:
        """Finished trials that count toward ``sweep.n_trials`` (retried failures do not)."""
        with self._lock:
            return sum(1 for row in list(self.rows.values()) if row.counts)

    def lost(self) -> int:
        """Failed trials that do not count: lost to a worker, a signal or the storage, and
        re-run with the same parameters."""
        with self._lock:
            return sum(
                1 for row in list(self.rows.values()) if row.state == "FAIL" and not row.counts
            )

    def best(self) -> Row | None:
        """The best completed row so far (several objectives: the first of the front)."""
        ranked = self.ranked()
        return ranked[0] if ranked and ranked[0].rank == 1 else None

    def _rank(self, rows: Iterable[Row]) -> list[Row]:
        directions = [d for _, d in self.objectives] if self.multi else None
        return rank_rows(rows, self.direction, self.metric, directions)

    def ranked(self) -> list[Row]:
        """All rows, best first (several objectives: by Pareto front)."""
        return self._rank(self.snapshot())

    # The views are functions of the board, kept in their own modules and bound here as
    # methods, so that what a row looks like is decided in one place for each view.
    plain_line = summary_view.plain_line
    family_lines = summary_view.family_lines
    summary = summary_view.summary
    table = table_view.table

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rows = self.snapshot()
        ranked = self._rank(rows)  # once per frame
        yield Group(
            Panel(table_view.title(self, rows, ranked), expand=False),
            self.table(options.max_width, ranked),
        )
