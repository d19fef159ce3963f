"""The parent's one live leaderboard: every worker's trials, read from the study's storage.

Workers write their trials to the storage; the parent reads it about twice a second and feeds
``automl.results.leaderboard.Leaderboard``: finished trials become rows (a plain line each when
stdout
is not a terminal), RUNNING trials are shown with their elapsed time. Nothing here imports
Optuna; trials are read through a function the caller passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from automl.results.leaderboard import Leaderboard

if TYPE_CHECKING:
    from automl.core.records import FinishedTrialView

__all__ = ["StudyView"]

_FINISHED = ("COMPLETE", "PRUNED", "FAIL")


def _state(trial: FinishedTrialView) -> str:
    return getattr(trial.state, "name", str(trial.state))


class StudyView:
    """Keeps a ``Leaderboard`` up to date with a study's storage.

    Args:
        board: The leaderboard to update (it already holds the trials finished before).
        read: Returns every trial of the study (Optuna's frozen trials, or the like).
    """

    def __init__(self, board: Leaderboard, read: Callable[[], Iterable[Any]]) -> None:
        self.board = board
        self.read = read
        self.seen: set[int] = set(board.rows)
        self._next = 0.0

    def refresh(self, force: bool = False) -> None:
        """Read the study once: new finished trials become rows, RUNNING ones are shown.

        A read that takes long (a database with thousands of trials) is repeated less often:
        no sooner than ten times its own duration after it began (and half a second at least).
        """
        begun = time.monotonic()
        if not force and begun < self._next:
            return
        trials = list(self.read())
        self._next = begun + max(0.5, 10 * (time.monotonic() - begun))
        now_wall, now_mono = time.time(), time.monotonic()
        running: dict[int, float] = {}
        for trial in trials:
            state = _state(trial)
            if state == "RUNNING":
                start = getattr(trial, "datetime_start", None)
                started = start.timestamp() if start is not None else now_wall
                running[trial.number] = now_mono - max(now_wall - started, 0.0)
            elif state in _FINISHED and trial.number not in self.seen:
                self.seen.add(trial.number)
                self.board.trial_finished(trial)
        self.board.running = running
