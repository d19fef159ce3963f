"""The live table: a title panel (counts, best, elapsed time) and the top rows, laid out for
the console's width (running trials first, parameters packed under short names)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import JustifyMethod
from rich.table import Table
from rich.text import Text

from automl.results.leaderboard.pace import pace
from automl.results.leaderboard.rows import Row, state_counts
from automl.results.leaderboard.text import (
    compact_params,
    fmt_metric,
    fmt_seconds,
    fmt_value_of,
    param_order,
    short_names,
    wrap,
)
from automl.results.leaderboard.view import BoardView

_STATE_STYLE = {
    "COMPLETE": "green",
    "STOPPED": "magenta",
    "PRUNED": "yellow",
    "FAIL": "red",
    "RUNNING": "cyan",
}

WIDE = 160
"""From this console width on, a row is one line; below it, at most two."""


def title(board: BoardView, rows: Sequence[Row], ranked: Sequence[Row]) -> Text:
    """The lines above the table: the study and its search, trials by state, the best value
    (several objectives: the Pareto front), the study's elapsed time, and its pace (trials per
    hour, the time left).

    Args:
        board: The leaderboard.
        rows: Its rows now (one snapshot).
        ranked: The same rows ranked (the frame's one ranking).
    """
    h = board.header
    counts = state_counts(rows)
    best = ranked[0] if ranked and ranked[0].rank == 1 else None
    now = pace(rows, h.n_trials, deadline=h.deadline)
    finished = sum(1 for r in rows if r.counts)
    # Trials lost to a worker, a signal or the storage are re-run and not counted: said apart
    # from the failures that count, as the summary says them.
    lost = sum(1 for r in rows if r.state == "FAIL" and not r.counts)
    text = Text()
    text.append(f"study {h.study}", style="bold")
    text.append(f"  model={h.model} data={h.data}  ")
    if h.sampler or h.pruner:
        text.append(f"{h.sampler}/{h.pruner}  ")
    text.append(_objective_text(board) + "\n")
    text.append(f"trials {finished}/{h.n_trials if h.n_trials is not None else '?'}  ")
    text.append(f"complete {counts['COMPLETE']}", style="green")
    text.append("  ")
    if counts.get("STOPPED"):
        text.append(f"stopped {counts['STOPPED']}", style="magenta")
        text.append("  ")
    text.append(f"pruned {counts['PRUNED']}", style="yellow")
    text.append("  ")
    text.append(f"failed {counts['FAIL'] - lost}", style="red")
    if lost:
        text.append(f"  lost {lost} (re-run)")
    if counts.get("RUNNING"):
        text.append(f"  running {counts['RUNNING']}", style="cyan")
    if board.multi:
        front = [r.number for r in ranked if r.rank == 1]
        text.append(f"  Pareto front {len(front)}")
        if front:
            text.append(" (" + " ".join(f"#{n}" for n in sorted(front)[:8]))
            text.append(" …)" if len(front) > 8 else ")")
    else:
        text.append(f"  best {fmt_metric(best.value) if best else '-'}")
        if best:
            text.append(f" (#{best.number})")
    text.append(f"\nelapsed {fmt_seconds(now.elapsed)}  {now.rate_text()}  {now.left_text()}")
    return text


def _objective_text(board: BoardView) -> str:
    """``val_acc (max)``, ``val_acc (max), latency_ms (min)``, plus the constraints."""
    text = ", ".join(f"{k} ({'max' if d == 'maximize' else 'min'})" for k, d in board.objectives)
    if not board.multi and board.objectives[0][0] != board.metric:
        text = f"{board.metric} ({'max' if board.direction == 'maximize' else 'min'})"
    if board.constraints:
        text += "  s.t. " + " ".join(board.constraints)
    return text


def table(board: BoardView, width: int | None = None, ranked: Sequence[Row] | None = None) -> Table:
    """The table of the top rows (running trials first), laid out for ``width`` columns.

    Below ``WIDE`` (160) columns a row takes at most two lines, from there one: the
    parameters are packed into what the other columns leave (short names, 3 significant
    digits, the most varied first, the rest counted), and the note column is only there
    when a shown row has a note.

    Args:
        board: The leaderboard.
        width: Console columns (the board's console width by default).
        ranked: The rows ranked, when the caller has ranked them for this frame already.
    """
    width = width or board.console.width
    if ranked is None:
        ranked = board.ranked()
    running = sorted((r for r in ranked if r.state == "RUNNING"), key=lambda r: r.number)
    shown = running + [r for r in ranked if r.state != "RUNNING"][: board.top_k]
    lines = 1 if width >= WIDE else 2
    now = time.time()
    families = any(r.family for r in shown)
    names = [k for k, _ in board.objectives] if board.multi else [board.metric]

    def values(r: Row) -> list[str]:
        if board.multi and r.values is not None and r.state in ("COMPLETE", "STOPPED"):
            return [fmt_value_of(k, v) for k, v in zip(names, r.values, strict=False)]
        return [fmt_metric(r.value)] + ["-"] * (len(names) - 1)

    def rank(r: Row) -> str:
        # With several objectives the rank is the Pareto front, and front 1 is marked.
        return f"{r.rank}*" if board.multi and r.rank == 1 else str(r.rank or "")

    cells = [
        (
            rank(r),
            str(r.number),
            r.state,
            *([r.family or ""] if families else []),
            *values(r),
            str(r.epochs) if r.epochs is not None else "-",
            fmt_seconds(r.elapsed(now)),
        )
        for r in shown
    ]
    heads = (
        "front" if board.multi else "rank",
        "#",
        "state",
        *(["family"] if families else []),
        *names,
        board.steps,
        "time",
    )
    fixed = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(heads)]
    # "pruned at epoch 4" in the table (the files keep "pruned after epoch 4").
    notes = [
        r.note.replace("pruned after ", "pruned at ", 1)
        if r.state != "COMPLETE" or not r.feasible
        else ""
        for r in shown
    ]
    # The note gets at most a third of what the fixed columns leave (and 40 or 22 chars).
    cap = min(40 if lines == 1 else 22, (width - sum(fixed) - 2 * len(heads)) // 3)
    note_width = min(max((len(n) for n in notes), default=0), cap)
    if note_width:
        note_width = max(note_width, 4)
    n_cols = len(heads) + 1 + (1 if note_width else 0)
    # Columns are separated by one space of padding on each side (none at the edges).
    free = width - sum(fixed) - note_width - 2 * (n_cols - 1)
    params_width = max(free, 8)
    # The family has its own column; its parameters keep their last name (max_depth).
    # One order for the whole board (not only the shown rows): stable between redraws.
    order = [n for n in param_order(ranked) if not (families and n == "family")]
    short = short_names(order)
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
        header_style="bold",
        collapse_padding=True,
    )
    justify_of: list[JustifyMethod] = ["right", "right", "left"]
    if families:
        justify_of.append("left")
    justify_of += ["right"] * (len(heads) - len(justify_of))
    for name, w, justify in zip(heads, fixed, justify_of, strict=True):
        table.add_column(name, justify=justify, no_wrap=True, width=w)
    table.add_column("params", no_wrap=True, width=params_width)
    if note_width:
        table.add_column("note", no_wrap=True, width=note_width)
    first_value = 4 if families else 3
    elided = False
    for row, cell, note in zip(shown, cells, notes, strict=True):
        style = "dim" if row.state == "RUNNING" else ""
        params = {k: v for k, v in row.params.items() if not (families and k == "family")}
        packed = compact_params(params, order, short, params_width, lines)
        elided = elided or packed.rsplit(" ", 1)[-1].startswith("+")
        items: list[Any] = [
            Text(cell[0], style="bold" if board.multi and row.rank == 1 else ""),
            cell[1],
            Text(cell[2], style=_STATE_STYLE.get(row.state, "")),
            *cell[3:first_value],
            *(Text(c, style=style) for c in cell[first_value : first_value + len(names)]),
            *cell[first_value + len(names) :],
            Text(packed),
        ]
        if note_width:
            items.append(Text(wrap(note, note_width, lines), style="dim"))
        table.add_row(*items)
    # The parameters in their (fixed) order, each with its full name where it is shortened:
    # what a row leaves out (+N) are the last ones of this list.
    legend = [f"{s}={n}" if s != n else s for n, s in short.items()]
    if elided:
        legend = ["params:", *legend, "(+N: the last N not shown; leaderboard.csv has all)"]
    elif any(s != n for n, s in short.items()):
        legend = [f"{s}={n}" for n, s in short.items() if s != n]
    else:
        legend = []
    if board.multi:
        legend.insert(0, "front: Pareto front (1* = not dominated)")
    if legend:
        table.caption = wrap(" ".join(legend), width, 2)
        table.caption_style = "dim"
        table.caption_justify = "left"
    return table
