"""What the drawing code reads of a leaderboard: a protocol, so ``table`` and ``summary``
draw any board without importing ``board`` (which imports them to draw itself)."""

from __future__ import annotations

from typing import Protocol

from rich.console import Console

from automl.core.study_record import StudyHeader
from automl.results.leaderboard.rows import Row

__all__ = ["BoardView"]


class BoardView(Protocol):
    """A study's leaderboard as the views read it (``automl.results.leaderboard.board``)."""

    console: Console
    header: StudyHeader
    direction: str
    metric: str
    steps: str
    objectives: list[tuple[str, str]]
    multi: bool
    constraints: list[str]
    rows: dict[int, Row]
    top_k: int
    started: float

    def snapshot(self) -> list[Row]:
        """The rows now (running ones too), safe from any thread."""
        ...

    def counts(self) -> dict[str, int]:
        """Trials by state."""
        ...

    def finished(self) -> int:
        """Trials that ended (counted toward the total)."""
        ...

    def lost(self) -> int:
        """Trials lost to a worker, a signal or the storage (re-run, not counted)."""
        ...

    def best(self) -> Row | None:
        """The rank-1 row, if any."""
        ...

    def ranked(self) -> list[Row]:
        """The rows in leaderboard order."""
        ...
