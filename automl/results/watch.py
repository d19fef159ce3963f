"""The live leaderboard of a study that other processes (or machines) are running.

``python -m automl watch`` (``automl.cli.watch``) opens the study read-only through
``automl.tuning.stored`` and hands this module a function that reads it; this module draws:
the leaderboard, refreshed as trials run and finish, until the study holds its total (the
study's recorded total, else ``sweep.n_trials`` of the run's saved config). Without a
terminal it prints one line per newly finished trial. It imports no Optuna.

The elapsed time, trials per hour and time left it shows are the study's own, read from its
trials (``automl.results.leaderboard.pace``) and its recorded deadline, so it says what the
study's own header says.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from automl.core.study_record import StudyHeader, StudySnapshot

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["watch", "watch_header"]


def watch_header(snapshot: StudySnapshot) -> StudyHeader:
    """The leaderboard header of a stored study: the one the study's own run drew (its
    record), completed for studies of an earlier automl (``StudySnapshot.header``)."""
    return snapshot.header()


def watch(
    first: StudySnapshot,
    read: Callable[[], StudySnapshot | None],
    interval: float,
    console: Console,
) -> int:
    """Draw the study until it holds its total; return 0.

    Args:
        first: The study as first read.
        read: Reads it again (``None`` when the storage was busy this time).
        interval: Seconds between reads.
        console: Where to draw (a ``rich`` console; plain lines when not a terminal).
    """
    from rich.live import Live

    from automl.results.leaderboard import Leaderboard
    from automl.results.leaderboard.pace import pace
    from automl.results.leaderboard.text import fmt_seconds
    from automl.results.leaderboard.text import trials as trials_text

    header = watch_header(first)
    board = Leaderboard(console, header, first.trials)
    plain = not console.is_terminal
    if plain:
        rows = board.snapshot()
        running = sum(1 for r in rows if r.state == "RUNNING")
        best = board.best()
        total = "?" if header.n_trials is None else header.n_trials
        now = pace(rows, header.n_trials, deadline=header.deadline)
        console.print(
            f"watching study {first.name} ({first.where}): {board.finished()}/{total} "
            f"finished, {running} running, best "
            + (f"{header.metric}={best.value:.4f} (#{best.number})" if best else "-")
            + f"; elapsed {fmt_seconds(now.elapsed)}, {now.rate_text()}, {now.left_text()}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    def done() -> bool:
        total = board.header.n_trials
        return total is not None and board.finished() >= total

    live = Live(board, console=console, refresh_per_second=4) if not plain else None
    if live is not None:
        live.start()
    try:
        while not done():
            time.sleep(interval)  # polling a storage another process writes: nothing to wait on
            snapshot = read()
            if snapshot is None:
                continue
            # A rerun may have raised the study's total (or set another deadline) meanwhile.
            board.header = dataclasses.replace(
                board.header.with_total(snapshot.record.runs_to),
                deadline=snapshot.record.deadline,
            )
            for row in sorted(board.sync(snapshot.trials), key=lambda r: r.number):
                if plain:
                    console.print(
                        board.plain_line(row), markup=False, highlight=False, soft_wrap=True
                    )
    finally:
        if live is not None:
            live.stop()
    if plain:
        console.print(
            f"study {first.name} holds its {trials_text(board.finished())}",
            markup=False,
            highlight=False,
        )
    return 0
