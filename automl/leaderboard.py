"""The leaderboard: a live ``rich`` table while a study runs, plain lines in logs, a summary,
and ``leaderboard.csv``/``.json`` exports.

It reads finished trials (Optuna ``FrozenTrial`` objects, duck-typed) and imports no training
code and no Optuna.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from automl.records import counts_toward_total, record_of

__all__ = [
    "Row",
    "Leaderboard",
    "row_from_trial",
    "rows_from_trials",
    "rank_rows",
    "write_leaderboard",
    "format_params",
]

_STATE_STYLE = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red", "RUNNING": "cyan"}


@dataclass
class Row:
    """One trial as the leaderboard shows it."""

    number: int
    state: str
    value: float | None
    epochs: int | None
    params: dict[str, Any]
    duration: float | None
    note: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    rank: int | None = None
    counted: bool = True

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "rank": self.rank,
            "number": self.number,
            "state": self.state,
            "value": self.value,
            "epochs": self.epochs,
            "duration_s": None if self.duration is None else round(self.duration, 3),
            "params": self.params,
            "metrics": self.metrics,
            "note": self.note,
        }


def _state_name(trial: Any) -> str:
    state = getattr(trial, "state", "")
    return getattr(state, "name", str(state))


def row_from_trial(trial: Any) -> Row:
    """Build a ``Row`` from a finished (or running) Optuna trial."""
    record = record_of(trial)
    state = _state_name(trial)
    duration = record.duration_s
    if duration is None and getattr(trial, "duration", None) is not None:
        duration = trial.duration.total_seconds()
    value = trial.value if state == "COMPLETE" else None
    note = record.error or record.note or ""
    if state == "FAIL" and record.retried_failure and not record.counts:
        note += " (re-run with the same parameters)"
    if record.retry_of is not None:
        note = f"re-run of #{record.retry_of}" + (f"; {note}" if note else "")
    if state == "PRUNED":
        steps = sorted(getattr(trial, "intermediate_values", {}) or {})
        if steps:
            value = trial.intermediate_values[steps[-1]]
            note = f"pruned after {record.unit or 'epoch'} {steps[-1] + 1}"
        else:
            note = "pruned"
    return Row(
        number=trial.number,
        state=state,
        value=value,
        epochs=record.epochs,
        params=dict(trial.params),
        duration=duration,
        note=note,
        metrics=dict(record.metrics),
        counted=counts_toward_total(state, record) if state == "FAIL" else True,
    )


def rank_rows(rows: Iterable[Row], direction: str) -> list[Row]:
    """Completed trials best first (ranked), then pruned, running and failed ones by number."""
    rows = list(rows)
    sign = -1.0 if direction == "maximize" else 1.0
    complete = sorted(
        (r for r in rows if r.state == "COMPLETE" and r.value is not None),
        key=lambda r: (sign * r.value, r.number),
    )
    for rank, row in enumerate(complete, start=1):
        row.rank = rank
    order = {"PRUNED": 0, "RUNNING": 1, "FAIL": 2}
    rest = sorted(
        (r for r in rows if r not in complete), key=lambda r: (order.get(r.state, 3), r.number)
    )
    return complete + rest


def rows_from_trials(trials: Iterable[Any], direction: str) -> list[Row]:
    """Ranked rows for every trial of a study."""
    return rank_rows((row_from_trial(t) for t in trials), direction)


def _fmt_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e4:
            return f"{value:.4g}"
        return f"{value:.2e}"
    return str(value)


def _fmt_metric(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.4g}"


def format_params(params: Mapping[str, Any], limit: int | None = None) -> str:
    """``lr=2.1e-03 depth=2 ...``: compact, stable order."""
    text = " ".join(f"{k}={_fmt_value(v)}" for k, v in params.items())
    if limit is not None and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def _fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    return f"{minutes}m{sec:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def write_leaderboard(rows: list[Row], directory: str | Path, header: Mapping[str, Any]) -> None:
    """Write ``leaderboard.csv`` and ``leaderboard.json`` into ``directory``."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    param_names = sorted({k for r in rows for k in r.params})
    metric_names = sorted({k for r in rows for k in r.metrics})
    with open(path / "leaderboard.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["rank", "number", "state", "value", "epochs", "duration_s", "note"]
            + metric_names
            + [f"param_{p}" for p in param_names]
        )
        for r in rows:
            writer.writerow(
                [
                    r.rank or "",
                    r.number,
                    r.state,
                    "" if r.value is None else r.value,
                    "" if r.epochs is None else r.epochs,
                    "" if r.duration is None else round(r.duration, 3),
                    r.note,
                ]
                + [r.metrics.get(m, "") for m in metric_names]
                + [r.params.get(p, "") for p in param_names]
            )
    payload = {**dict(header), "trials": [r.as_dict() for r in rows]}
    (path / "leaderboard.json").write_text(json.dumps(payload, indent=2, default=str))


class Leaderboard:
    """Live view of a running study.

    On a terminal it is a ``rich`` renderable redrawn by ``rich.live.Live``; elsewhere
    (``console.is_terminal`` false, e.g. CI logs) every finished trial prints one plain line.

    Args:
        console: Where to draw.
        header: Study name, model, data, sampler, pruner, metric, direction, total trials.
        trials: Trials already in the study (a resumed study shows its history).
        top_k: Rows shown in the live table.
    """

    def __init__(
        self,
        console: Console,
        header: Mapping[str, Any],
        trials: Iterable[Any] = (),
        top_k: int = 15,
    ) -> None:
        self.console = console
        self.header = dict(header)
        self.direction = str(header.get("direction", "maximize"))
        # What a trial's length counts: epochs for torch models, boosting rounds or forest
        # stages ("steps") for estimators.
        self.steps = str(header.get("steps", "epochs"))
        self.rows: dict[int, Row] = {t.number: row_from_trial(t) for t in trials}
        self.top_k = top_k
        self.started = time.monotonic()
        self.running: dict[int, float] = {}

    @property
    def live(self) -> bool:
        """Whether a live table is drawn (stdout is a terminal)."""
        return self.console.is_terminal

    def trial_started(self, number: int) -> None:
        """Mark a trial as running (shown with its elapsed time)."""
        self.running[number] = time.monotonic()

    def trial_finished(self, trial: Any) -> None:
        """Record a finished trial; print a plain line when there is no live view."""
        self.running.pop(trial.number, None)
        row = row_from_trial(trial)
        self.rows[trial.number] = row
        if not self.live:
            self.console.print(self.plain_line(row), markup=False, highlight=False, soft_wrap=True)

    def sync(self, trials: Iterable[Any]) -> None:
        """Take in finished trials from storage, so other workers' trials show up too."""
        for trial in trials:
            if trial.number not in self.rows:
                self.rows[trial.number] = row_from_trial(trial)

    def counts(self) -> dict[str, int]:
        """Trials by state (RUNNING ones too, once the final read of the storage has them)."""
        out = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0}
        for row in self.rows.values():
            out[row.state] = out.get(row.state, 0) + 1
        return out

    def finished(self) -> int:
        """Finished trials that count toward ``sweep.n_trials`` (not the re-run ones)."""
        return sum(
            row.counted for row in self.rows.values() if row.state in ("COMPLETE", "PRUNED", "FAIL")
        )

    def best(self) -> Row | None:
        """The best completed row so far."""
        ranked = self.ranked()
        return ranked[0] if ranked and ranked[0].rank == 1 else None

    def ranked(self) -> list[Row]:
        """All rows, best first."""
        return rank_rows(self.rows.values(), self.direction)

    def plain_line(self, row: Row) -> str:
        """One log line for a finished trial."""
        metric = self.header.get("metric", "value")
        done = self.finished()
        best = self.best()
        parts = [
            f"[trial {row.number:>3}] {row.state:<8}",
            f"{metric}={_fmt_metric(row.value)}",
            f"{self.steps}={row.epochs if row.epochs is not None else '-'}",
            f"time={_fmt_seconds(row.duration)}",
            f"done={done}/{self.header.get('n_trials', '?')}",
            f"best={_fmt_metric(best.value)}(#{best.number})" if best else "best=-",
            format_params(row.params),
        ]
        if row.note and row.state != "COMPLETE":
            parts.append(f"| {row.note}")
        return " ".join(parts)

    def _title(self) -> Text:
        h = self.header
        counts = self.counts()
        best = self.best()
        elapsed = time.monotonic() - self.started
        text = Text()
        text.append(f"study {h.get('study')}", style="bold")
        text.append(f"  model={h.get('model')} data={h.get('data')}  ")
        text.append(f"{h.get('sampler')}/{h.get('pruner')}  ")
        text.append(f"{h.get('metric')} ({'max' if self.direction == 'maximize' else 'min'})\n")
        text.append(f"trials {self.finished()}/{h.get('n_trials')}  ")
        text.append(f"complete {counts['COMPLETE']}", style="green")
        text.append("  ")
        text.append(f"pruned {counts['PRUNED']}", style="yellow")
        text.append("  ")
        text.append(f"failed {counts['FAIL']}", style="red")
        text.append(f"  best {_fmt_metric(best.value) if best else '-'}")
        if best:
            text.append(f" (#{best.number})")
        text.append(f"  elapsed {_fmt_seconds(elapsed)}")
        return text

    def table(self) -> Table:
        """The table of the top rows (plus running trials)."""
        table = Table(expand=False, header_style="bold", pad_edge=False)
        for name, justify in (
            ("rank", "right"),
            ("#", "right"),
            ("state", "left"),
            (str(self.header.get("metric", "value")), "right"),
            (self.steps, "right"),
            ("time", "right"),
            ("params", "left"),
            ("note", "left"),
        ):
            table.add_column(
                name,
                justify=justify,
                no_wrap=name not in ("params", "note"),
                # params wrap rather than squeeze the note (why a trial was pruned or failed)
                max_width=72 if name == "params" else None,
                min_width=10 if name == "note" else None,
            )
        now = time.monotonic()
        for number, since in sorted(self.running.items()):
            table.add_row(
                "",
                str(number),
                Text("RUNNING", style="cyan"),
                "-",
                "-",
                _fmt_seconds(now - since),
                "",
                "",
            )
        for row in self.ranked()[: self.top_k]:
            table.add_row(
                str(row.rank or ""),
                str(row.number),
                Text(row.state, style=_STATE_STYLE.get(row.state, "")),
                _fmt_metric(row.value),
                str(row.epochs) if row.epochs is not None else "-",
                _fmt_seconds(row.duration),
                Text(format_params(row.params), overflow="fold"),
                Text(row.note if row.state != "COMPLETE" else "", style="dim"),
            )
        return table

    def __rich__(self) -> Group:
        return Group(Panel(self._title(), expand=False), self.table())

    def summary(
        self,
        best_params: Mapping[str, Any] | None,
        val_metrics: Mapping[str, float],
        test_metrics: Mapping[str, float],
        results_dir: str,
        best_number: int | None,
        interrupted: bool = False,
        refit: str | None = None,
        status: str | None = None,
    ) -> Any:
        """The end-of-study summary (a rich renderable; printed plain without a terminal).

        Args:
            best_params: Parameters of the best trial.
            val_metrics: Its validation metrics.
            test_metrics: Test metrics of the exported model.
            results_dir: The run directory.
            best_number: The best trial's number (``None`` when none completed).
            interrupted: The study was stopped by a signal.
            refit: How the exported model was retrained, when it was.
            status: How the invocation ended, in words (``terminated (SIGTERM)``);
                ``finished`` or ``interrupted`` when omitted.
        """
        counts = self.counts()
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        status = status or ("interrupted" if interrupted else "finished")
        grid.add_row("study", f"{self.header.get('study')} ({status})")
        running = counts.get("RUNNING", 0)  # other workers' trials, or a lost one not yet failed
        grid.add_row(
            "trials",
            f"{self.finished()} finished: {counts['COMPLETE']} complete, "
            f"{counts['PRUNED']} pruned, {counts['FAIL']} failed"
            + (f"; {running} still running" if running else ""),
        )
        if best_number is None:
            grid.add_row("best", "no trial completed")
        else:
            grid.add_row("best trial", f"#{best_number}")
            grid.add_row("params", format_params(best_params or {}))
            grid.add_row("validation", format_params(val_metrics))
            if refit:
                grid.add_row("refit", refit)
            grid.add_row("test", format_params(test_metrics) or "-")
        grid.add_row("results", results_dir)
        return Panel(grid, title="automl summary", expand=False)
