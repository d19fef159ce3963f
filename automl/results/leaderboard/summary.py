"""The leaderboard outside the live table: one plain line per finished trial (logs, CI), and
the end-of-study summary with, for ``model=auto``, a line per model family."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.panel import Panel
from rich.table import Table

from automl.core.records import SWALLOWED_PRUNE
from automl.results.leaderboard.pace import pace
from automl.results.leaderboard.rows import Row, state_counts
from automl.results.leaderboard.text import (
    fmt_metric,
    fmt_seconds,
    fmt_value_of,
    format_params,
    trials,
)
from automl.results.leaderboard.view import BoardView

if TYPE_CHECKING:
    from rich.console import RenderableType


def _values_text(board: BoardView, row: Row) -> str:
    """``val_acc=0.9737 latency_ms=0.4123``: every objective of a row."""
    values = row.values or (row.value,)
    names = [k for k, _ in board.objectives]
    return " ".join(f"{k}={fmt_value_of(k, v)}" for k, v in zip(names, values, strict=False))


def _eta(board: BoardView) -> list[str]:
    """``eta=4m10s`` (the study's time left) for a log line, when it can be estimated."""
    now = pace(board.snapshot(), board.header.n_trials, deadline=board.header.deadline)
    if now.left is None or not now.remaining:
        return []
    return [f"eta={fmt_seconds(now.left)}"]


def _total(board: BoardView) -> str:
    total = board.header.n_trials
    return "?" if total is None else str(total)


def plain_line(board: BoardView, row: Row) -> str:
    """One log line for a finished trial."""
    done = board.finished()
    best = board.best()
    if board.multi:
        ranked = board.ranked()
        front = sum(1 for r in ranked if r.rank == 1)
        shown = row.values is not None and row.state in ("COMPLETE", "STOPPED")
        value = _values_text(board, row) if shown else f"{board.metric}={fmt_metric(row.value)}"
        best_text = f"front={front}"
    else:
        value = f"{board.metric}={fmt_metric(row.value)}"
        best_text = f"best={fmt_metric(best.value)}(#{best.number})" if best else "best=-"
    parts = [
        f"[trial {row.number:>3}] {row.state:<8}",
        *([f"family={row.family}"] if row.family else []),
        value,
        f"{board.steps}={row.epochs if row.epochs is not None else '-'}",
        f"time={fmt_seconds(row.duration)}",
        f"done={done}/{_total(board)}",
        *_eta(board),
        best_text,
        format_params({k: v for k, v in row.params.items() if k != "family"}),
    ]
    if row.note and (row.state != "COMPLETE" or not row.feasible):
        parts.append(f"| {row.note}")
    return " ".join(parts)


def time_line(board: BoardView) -> str:
    """``13m10s running trials, 64 trials/h`` and, short of the total, how long the rest takes."""
    now = pace(board.snapshot(), board.header.n_trials)
    text = f"{fmt_seconds(now.elapsed)} running trials, {now.rate_text()}"
    if now.remaining:
        rest = f"about {fmt_seconds(now.left)} more" if now.left is not None else "time unknown"
        text += f"; {trials(now.remaining)} to go: {rest} at this pace"
    return text


def family_lines(board: BoardView) -> list[tuple[str, str]]:
    """``model=auto``: per family, its trials, the time they took and its best trial
    (several objectives: its Pareto-front members)."""
    ranked = board.ranked()
    families: dict[str, list[Row]] = {}
    for row in ranked:
        if row.family and row.finished:
            families.setdefault(row.family, []).append(row)
    if not families:
        return []
    total = sum(r.duration or 0.0 for rows in families.values() for r in rows) or 1.0
    out: list[tuple[str, str]] = []
    for name in sorted(families, key=lambda f: -sum(r.duration or 0 for r in families[f])):
        rows = families[name]
        counts = state_counts(rows)
        spent = sum(r.duration or 0.0 for r in rows)
        stopped = f"{counts['STOPPED']} stopped, " if counts["STOPPED"] else ""
        text = (
            f"{name}: {trials(len(rows))} ({counts['COMPLETE']} complete, {stopped}"
            f"{counts['PRUNED']} pruned, {counts['FAIL']} failed), "
            f"{fmt_seconds(spent)} ({100 * spent / total:.0f}% of trial time)"
        )
        ranked_rows = [r for r in rows if r.rank is not None]
        if board.multi:
            front = [f"#{r.number}" for r in ranked_rows if r.rank == 1]
            text += f"; on the front: {' '.join(front) or '-'}"
        elif ranked_rows:
            top = ranked_rows[0]
            text += f"; best {board.metric} {fmt_metric(top.value)} (#{top.number})"
        out.append(("family" if not out else "", text))
    return out


def summary(
    board: BoardView,
    best_params: Mapping[str, Any] | None,
    val_metrics: Mapping[str, float],
    test_metrics: Mapping[str, float],
    results_dir: str,
    best_number: int | None,
    interrupted: bool = False,
    refit: str | None = None,
    status: str | None = None,
    selection: Sequence[tuple[str, str]] = (),
    warnings: Sequence[str] = (),
) -> RenderableType:
    """The end-of-study summary (a rich renderable; printed plain without a terminal).

    Args:
        board: The study's leaderboard.
        best_params: Parameters of the best trial.
        val_metrics: Its validation metrics.
        test_metrics: Test metrics of the exported model.
        results_dir: The run directory.
        best_number: The best trial's number (``None`` when none completed).
        interrupted: The study was stopped by a signal.
        refit: How the exported model was retrained, when it was.
        status: How the invocation ended, in words (``terminated (SIGTERM)``);
            ``finished`` or ``interrupted`` when omitted.
        selection: ``(label, text)`` rows on how the exported trial was chosen and,
            with several objectives, the Pareto front.
        warnings: One line each on why the winner may not be trusted
            (``automl.results.trust``).
    """
    counts = board.counts()
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    status = status or ("interrupted" if interrupted else "finished")
    grid.add_row("study", f"{board.header.study} ({status})")
    running = counts.get("RUNNING", 0)  # other workers' trials, or a lost one not yet failed
    # Trials lost to a worker, a signal or the storage are re-run and do not count: said apart,
    # so that "N finished" adds up.
    lost = board.lost()
    grid.add_row(
        "trials",
        f"{board.finished()} finished: {counts['COMPLETE']} complete, "
        + (f"{counts['STOPPED']} stopped at the time budget, " if counts["STOPPED"] else "")
        + f"{counts['PRUNED']} pruned, {counts['FAIL'] - lost} failed"
        + (f"; {lost} lost and re-run with the same parameters (not counted)" if lost else "")
        + (f"; {running} still running" if running else ""),
    )
    for label, text in family_lines(board):
        grid.add_row(label, text)
    grid.add_row("time", time_line(board))
    if best_number is None:
        grid.add_row("best", "no trial completed")
    else:
        grid.add_row("best trial", f"#{best_number}")
        for label, text in selection:
            grid.add_row(label, text)
        grid.add_row("params", format_params(best_params or {}))
        grid.add_row("validation", format_params(val_metrics))
        if refit:
            grid.add_row("refit", refit)
        grid.add_row("test", format_params(test_metrics) or "-")
    # One warning block: trials whose fit swallowed the pruning signal, then the trust warnings.
    swallowed = sum(1 for r in board.rows.values() if SWALLOWED_PRUNE in r.note)
    lines = [f"{swallowed} trial(s): {SWALLOWED_PRUNE}"] if swallowed else []
    for i, line in enumerate([*lines, *warnings]):
        grid.add_row("warning" if i == 0 else "", line)
    grid.add_row("results", results_dir)
    return Panel(grid, title="automl summary", expand=False)
