"""The leaderboard: a live ``rich`` table while a study runs, plain lines in logs, a summary,
and ``leaderboard.csv``/``.json`` exports.

It reads trials (Optuna ``FrozenTrial`` objects, duck-typed; what automl stores beside Optuna
through ``automl.records.record_of``) and imports no training code and no Optuna.

The live table is drawn by ``rich.live.Live`` from its own refresh thread while the study's
thread adds trials, so every read of the rows takes a snapshot under a lock; a frame ranks the
rows once (``O(n log n)``) and draws the title and the table from that one ranking.
"""

from __future__ import annotations

import csv
import json
import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from automl.atomic import write_text
from automl.objectives import BUILTINS, natural_direction
from automl.pareto import front_numbers
from automl.records import counts_toward_total, finite_or_none, record_of

__all__ = [
    "Row",
    "Leaderboard",
    "row_from_trial",
    "rows_from_trials",
    "rank_rows",
    "tiebreak_metric",
    "metric_direction",
    "write_leaderboard",
    "format_params",
    "compact_params",
    "short_names",
]

_STATE_STYLE = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red", "RUNNING": "cyan"}
# Unranked rows: complete but infeasible (or without a value) first, then the others.
_STATE_ORDER = {"COMPLETE": 0, "PRUNED": 1, "RUNNING": 2, "FAIL": 3}
_UNIT_WORD = {"epoch": "epoch", "step": "step", "fold": "fold"}

WIDE = 160
"""From this console width on, a row is one line; below it, at most two."""


@dataclass
class Row:
    """One trial as the leaderboard shows it.

    Attributes:
        number: Trial number.
        state: Optuna state name (``COMPLETE``, ``PRUNED``, ``FAIL``, ``RUNNING``, ...).
        value: The objective value; for a pruned or running trial its latest reported value.
        epochs: Epochs (or steps, folds) the trial ran; for a running trial, reached so far.
        params: Sampled parameters.
        duration: Seconds the trial took (``None`` while running: see ``started``).
        note: Why a trial was pruned or failed.
        metrics: Validation metrics at the selected epoch.
        rank: 1 for the best complete trial (set by ``rank_rows``).
        started: Wall-clock start (``time.time()`` seconds) of a running trial.
        counts: Whether the trial counts toward the study's total (``sweep.n_trials``).
        values: All objective values of a complete trial (several objectives).
        feasible: It meets every constraint (``sweep.constraints``); an infeasible trial is
            never ranked.
        family: Its model family (``model=auto``).
        measures: What automl measured beside the metrics: ``n_params``, ``train_s``,
            ``latency_ms``.
    """

    number: int
    state: str
    value: float | None
    epochs: int | None
    params: dict[str, Any]
    duration: float | None
    note: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    rank: int | None = None
    started: float | None = None
    counts: bool = False
    values: tuple[float | None, ...] | None = None
    feasible: bool = True
    family: str | None = None
    measures: dict[str, float | None] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        """Complete, pruned or failed."""
        return self.state in ("COMPLETE", "PRUNED", "FAIL")

    def elapsed(self, now: float | None = None) -> float | None:
        """Seconds so far for a running trial, else its duration."""
        if self.duration is not None or self.started is None:
            return self.duration
        return max(0.0, (time.time() if now is None else now) - self.started)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (non-finite numbers become ``None``)."""
        return {
            "rank": self.rank,
            "number": self.number,
            "state": self.state,
            "value": finite_or_none(self.value),
            "epochs": self.epochs,
            "duration_s": None if self.duration is None else round(self.duration, 3),
            "params": _clean(self.params),
            "metrics": _clean(self.metrics),
            "note": self.note,
            "values": None if self.values is None else [finite_or_none(v) for v in self.values],
            "feasible": self.feasible,
            "family": self.family,
            **{k: finite_or_none(v) for k, v in self.measures.items()},
        }


def _state_name(trial: Any) -> str:
    state = getattr(trial, "state", "")
    return getattr(state, "name", str(state))


def _objective_value(trial: Any) -> float | None:
    """The first objective of a finished trial (``values[0]`` also for multi-objective)."""
    values = getattr(trial, "values", None)
    if values:
        return finite_or_none(values[0])
    return finite_or_none(getattr(trial, "value", None))


def _started(trial: Any) -> float | None:
    start = getattr(trial, "datetime_start", None)
    return start.timestamp() if start is not None else None


def row_from_trial(trial: Any) -> Row:
    """Build a ``Row`` from an Optuna trial: finished, or running (its progress so far)."""
    record = record_of(trial)
    state = _state_name(trial)
    steps = sorted(getattr(trial, "intermediate_values", {}) or {})
    last = trial.intermediate_values[steps[-1]] if steps else None
    unit = _UNIT_WORD.get(record.unit or "epoch", "epoch")
    value: float | None = None
    epochs = record.epochs
    duration = record.duration_s
    started = None
    note = record.error or record.note or ""
    values = None
    if state == "COMPLETE":
        value = _objective_value(trial)
        values = tuple(finite_or_none(v) for v in (getattr(trial, "values", None) or []))
        if record.unmet:
            note = f"infeasible: {record.unmet}"
    elif state == "PRUNED":
        value = finite_or_none(last)
        note = f"pruned after {unit} {steps[-1] + 1}" if steps else "pruned"
    elif state == "RUNNING":
        value = finite_or_none(last)
        epochs = steps[-1] + 1 if steps else None
        started = _started(trial)
    if state != "RUNNING" and duration is None and getattr(trial, "duration", None) is not None:
        duration = trial.duration.total_seconds()
    if state == "FAIL" and record.retried_failure and not record.counts:
        note += " (re-run with the same parameters)"
    if record.retry_of is not None:
        note = f"re-run of #{record.retry_of}" + (f"; {note}" if note else "")
    return Row(
        number=trial.number,
        state=state,
        value=value,
        epochs=epochs,
        params=dict(getattr(trial, "params", {}) or {}),
        duration=duration if state != "RUNNING" else None,
        note=note,
        metrics=dict(record.metrics),
        started=started,
        counts=counts_toward_total(state, record),
        values=values or None,
        feasible=record.unmet is None,
        family=record.family,
        measures={k: v for k, v in record.measures().items() if k in BUILTINS},
    )


def metric_direction(name: str) -> str:
    """``minimize`` for losses and errors (``val_loss``, ``val_rmse``, ``*_std``) and the
    measures automl records (``n_params``, ...), else ``maximize``."""
    return natural_direction(name)


def tiebreak_metric(primary: str, names: Iterable[str]) -> str | None:
    """The validation metric that breaks ties on ``primary``: ``val_loss`` when there is one,
    else the first other ``val_*`` metric by name (spreads of k-fold means are not used)."""
    candidates = sorted(
        n for n in set(names) if n.startswith("val_") and n != primary and not n.endswith("_std")
    )
    if "val_loss" in candidates:
        return "val_loss"
    return candidates[0] if candidates else None


def _ranked(row: Row) -> bool:
    return row.state == "COMPLETE" and row.value is not None and row.feasible


def rank_rows(
    rows: Iterable[Row],
    direction: str,
    primary: str | None = None,
    directions: Sequence[str] | None = None,
) -> list[Row]:
    """Completed trials best first (ranked), then infeasible, pruned, running and failed ones
    by number.

    Ties on the objective are broken by the next validation metric (``tiebreak_metric``, in
    its own direction), then by trial number. One sort: ``O(n log n)``. With several
    objectives (``directions``) the rank is the trial's Pareto front (``rank_fronts``).

    Args:
        rows: The rows; their ``rank`` is set (``None`` for trials that did not complete or
            miss a constraint).
        direction: ``maximize`` or ``minimize`` (the objective).
        primary: The objective's metric name (``val_acc``), to pick the tie-breaker.
        directions: Every objective's direction, when there are several.
    """
    if directions is not None and len(directions) > 1:
        return rank_fronts(rows, directions)
    rows = list(rows)
    sign = -1.0 if direction == "maximize" else 1.0
    second = tiebreak_metric(primary or "", (k for r in rows for k in r.metrics))
    second_sign = -1.0 if second and metric_direction(second) == "maximize" else 1.0

    def key(row: Row) -> tuple:
        if _ranked(row):
            assert row.value is not None
            tie = row.metrics.get(second) if second else None
            missing = tie is None or not math.isfinite(tie)
            return (0, sign * row.value, missing, 0.0 if missing else second_sign * tie, row.number)
        return (1, float(_STATE_ORDER.get(row.state, 4)), False, 0.0, row.number)

    ranked = sorted(rows, key=key)
    position = 0
    for row in ranked:
        if _ranked(row):
            position += 1
            row.rank = position
        else:
            row.rank = None
    return ranked


def rank_fronts(rows: Iterable[Row], directions: Sequence[str]) -> list[Row]:
    """Rows of a multi-objective study: complete feasible trials by Pareto front (the rank),
    within a front by the first objective, then the next ones; the others as ``rank_rows``
    orders them."""
    rows = list(rows)
    scored = [
        r
        for r in rows
        if _ranked(r)
        and r.values is not None
        and len(r.values) == len(directions)
        and all(v is not None for v in r.values)
    ]
    points = [[float(v) for v in r.values or ()] for r in scored]
    for row in rows:
        row.rank = None
    for row, front in zip(scored, front_numbers(points, directions), strict=True):
        row.rank = front
    signs = [-1.0 if d == "maximize" else 1.0 for d in directions]

    def key(row: Row) -> tuple:
        if row.rank is not None:
            values = [s * float(v) for s, v in zip(signs, row.values or (), strict=True)]
            return (0, row.rank, *values, row.number)
        order = _STATE_ORDER.get(row.state, 4)
        return (1, float(order), *([0.0] * len(directions)), row.number)

    return sorted(rows, key=key)


def rows_from_trials(
    trials: Iterable[Any],
    direction: str,
    primary: str | None = None,
    directions: Sequence[str] | None = None,
) -> list[Row]:
    """Ranked rows for every trial of a study."""
    return rank_rows((row_from_trial(t) for t in trials), direction, primary, directions)


def _fmt_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        if value == 0 or 1e-3 <= abs(value) < 1e4:
            return f"{value:.4g}"
        return f"{value:.2e}"
    return str(value)


def _fmt_value_of(key: str, value: float | None) -> str:
    """An objective's value: a count (``n_params``) as an integer, others as metrics."""
    if key == "n_params" and value is not None and math.isfinite(value):
        return str(int(value))
    return _fmt_metric(value)


def _fmt_metric(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.4g}"


def format_params(params: Mapping[str, Any], limit: int | None = None) -> str:
    """``lr=0.0021 depth=2 ...``: every parameter, full names (log lines, the summary)."""
    text = " ".join(f"{k}={_fmt_value(v)}" for k, v in params.items())
    if limit is not None and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


# Short forms of the parameter names the built-in models search; other names are shortened
# by rule (see ``short_names``).
_SHORT = {
    "learning_rate": "lr",
    "weight_decay": "wd",
    "batch_size": "bs",
    "dropout": "drop",
    "optimizer": "opt",
    "activation": "act",
    "kernel_size": "ks",
    "batch_norm": "bn",
    "channels": "ch",
    "hidden": "hid",
    "layers": "lay",
    "max_depth": "depth",
    "min_child_weight": "mcw",
    "colsample_bytree": "colsmp",
    "subsample": "subsmp",
    "reg_lambda": "lambda",
    "reg_alpha": "alpha",
    "n_estimators": "n_est",
    "max_features": "maxf",
    "min_samples_leaf": "msl",
    "min_samples_split": "mss",
    "hidden_size": "hid",
    "num_layers": "lay",
    "latent_dim": "z",
    "bidirectional": "bidir",
}


def short_names(names: Iterable[str]) -> dict[str, str]:
    """A short, unique display name for each parameter name.

    Known names get their usual abbreviation (``weight_decay`` -> ``wd``); other names keep
    their last dotted part, and when that is longer than 8 characters, the initials of its
    ``_``-separated words (``min_samples_leaf`` -> ``msl``) or its first 6 characters. A name
    whose short form is taken keeps its full name.
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        last = name.rsplit(".", 1)[-1]
        short = _SHORT.get(last)
        if short is None:
            parts = [p for p in last.split("_") if p]
            if len(last) <= 8:
                short = last
            elif len(parts) > 1:
                short = "".join(p[0] for p in parts)
            else:
                short = last[:6]
        if short in used:
            short = name
        used.add(short)
        out[name] = short
    return out


def _short_value(value: Any) -> str:
    """3 significant digits for floats (``0.00123``, ``1.2e-5``), ``yes``/``no`` for bools."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        text = f"{value:.3g}"
        if "e" in text:
            mantissa, exponent = text.split("e")
            text = f"{mantissa}e{int(exponent)}"
        return text
    text = str(value)
    return text if len(text) <= 10 else text[:9] + "…"


def param_order(rows: Sequence[Row]) -> list[str]:
    """Parameter names, those that take the most distinct values across ``rows`` first."""
    names: dict[str, set[str]] = {}
    for row in rows:
        for name, value in row.params.items():
            names.setdefault(name, set()).add(_short_value(value))
    first_seen = {name: i for i, name in enumerate(names)}
    return sorted(names, key=lambda n: (-len(names[n]), first_seen[n]))


def compact_params(
    params: Mapping[str, Any],
    order: Sequence[str],
    short: Mapping[str, str],
    width: int,
    lines: int,
) -> str:
    """Parameters packed into at most ``lines`` lines of ``width`` characters.

    Names are shortened (``short``), values kept to 3 significant digits, and parameters
    are taken in ``order``; those that do not fit are elided with a count (``+3``).
    """
    width = max(width, 6)
    tokens = [f"{short.get(n, n)}={_short_value(params[n])}" for n in order if n in params]
    tokens += [
        f"{short.get(n, n)}={_short_value(v)}" for n, v in params.items() if n not in set(order)
    ]
    tokens = [t if len(t) <= width else t[: width - 1] + "…" for t in tokens]
    out: list[list[str]] = [[]]
    used = 0
    for i, token in enumerate(tokens):
        need = len(token) + (1 if out[-1] else 0)
        if used + need > width:
            if len(out) == lines:
                return _close(out, len(tokens) - i, width)
            out.append([])
            used, need = 0, len(token)
        out[-1].append(token)
        used += need
    return "\n".join(" ".join(line) for line in out)


def _close(out: list[list[str]], left: int, width: int) -> str:
    """End the last line with ``+N``, dropping its tokens until the count fits."""
    last = out[-1]
    while True:
        more = f"+{left}"
        if len(" ".join([*last, more])) <= width or not last:
            break
        last.pop()
        left += 1
    last.append(f"+{left}")
    return "\n".join(" ".join(line) for line in out)


def _wrap(text: str, width: int, lines: int) -> str:
    """Word-wrap ``text`` into at most ``lines`` lines of ``width``; an ellipsis ends the rest."""
    words, out, line = text.split(), [], ""
    for word in words:
        candidate = f"{line} {word}" if line else word
        if len(candidate) <= width:
            line = candidate
            continue
        if line:
            out.append(line)
        line = word
        while len(line) > width:
            out.append(line[:width])
            line = line[width:]
    if line:
        out.append(line)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: width - 1].rstrip() + "…"
    return "\n".join(out)


def _fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    return f"{minutes}m{sec:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats become ``None``, unknown objects their ``str``."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return finite_or_none(value)
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    number = finite_or_none(value) if hasattr(value, "__float__") else None
    return number if number is not None else str(value)


def write_leaderboard(rows: list[Row], directory: str | Path, header: Mapping[str, Any]) -> None:
    """Write ``leaderboard.csv`` and ``leaderboard.json`` into ``directory``, each atomically.

    The JSON is strict (no ``NaN``/``Infinity``: non-finite values are written as ``null``).
    """
    import io

    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    param_names = sorted({k for r in rows for k in r.params})
    metric_names = sorted({k for r in rows for k in r.metrics})
    objectives = _objectives(header)
    multi = len(objectives) > 1
    families = any(r.family for r in rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    # With several objectives the rank is the Pareto front, and `pareto` marks front 1.
    extra = (["family"] if families else []) + (["pareto"] if multi else [])
    writer.writerow(
        ["rank", "number", "state", "value", "epochs", "duration_s", "note", *extra]
        + ["feasible", *BUILTINS]
        + metric_names
        + [f"param_{p}" for p in param_names]
    )
    for r in rows:
        value = finite_or_none(r.value)
        cells: list[Any] = [r.family or ""] if families else []
        if multi:
            cells.append("yes" if r.rank == 1 else "")
        writer.writerow(
            [
                r.rank or "",
                r.number,
                r.state,
                "" if value is None else value,
                "" if r.epochs is None else r.epochs,
                "" if r.duration is None else round(r.duration, 3),
                r.note,
                *cells,
                ("yes" if r.feasible else "no") if r.state == "COMPLETE" else "",
            ]
            + [_csv_cell(r.measures.get(m)) for m in BUILTINS]
            + [_csv_cell(r.metrics.get(m)) for m in metric_names]
            + [_csv_cell(r.params.get(p)) for p in param_names]
        )
    write_text(path / "leaderboard.csv", buffer.getvalue())
    payload = {**_clean(dict(header)), "trials": [r.as_dict() for r in rows]}
    write_text(path / "leaderboard.json", json.dumps(payload, indent=2, allow_nan=False))


def _objectives(header: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``[(key, direction), ...]`` from a leaderboard header; the one metric when absent."""
    found = header.get("objectives")
    out = []
    if isinstance(found, (list, tuple)):
        for item in found:
            if isinstance(item, Mapping) and item.get("direction") in ("maximize", "minimize"):
                out.append((str(item.get("key")), str(item.get("direction"))))
    if out:
        return out
    return [(str(header.get("metric", "value")), str(header.get("direction", "maximize")))]


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        number = finite_or_none(value)
        return "" if number is None else number
    return value


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
        self.metric = str(header.get("metric", "value"))
        # What a trial's length counts: epochs for torch models, boosting rounds or forest
        # stages ("steps") for estimators.
        self.steps = str(header.get("steps", "epochs"))
        # Several objectives: rows are ranked by Pareto front, one column per objective.
        self.objectives = _objectives(header)
        self.multi = len(self.objectives) > 1
        self.constraints = [str(c) for c in header.get("constraints") or []]
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

    def trial_finished(self, trial: Any) -> None:
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

    @staticmethod
    def _counts(rows: Iterable[Row]) -> dict[str, int]:
        out = {"COMPLETE": 0, "PRUNED": 0, "FAIL": 0}
        for row in rows:
            out[row.state] = out.get(row.state, 0) + 1
        return out

    def counts(self) -> dict[str, int]:
        """Trials by state (RUNNING ones too, once a read of the storage has them)."""
        with self._lock:
            return self._counts(list(self.rows.values()))

    def finished(self) -> int:
        """Finished trials that count toward ``sweep.n_trials`` (retried failures do not)."""
        with self._lock:
            return sum(1 for row in list(self.rows.values()) if row.counts)

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

    def _values_text(self, row: Row) -> str:
        """``val_acc=0.9737 latency_ms=0.4123``: every objective of a row."""
        values = row.values or (row.value,)
        names = [k for k, _ in self.objectives]
        return " ".join(f"{k}={_fmt_value_of(k, v)}" for k, v in zip(names, values, strict=False))

    def plain_line(self, row: Row) -> str:
        """One log line for a finished trial."""
        done = self.finished()
        best = self.best()
        if self.multi:
            ranked = self.ranked()
            front = sum(1 for r in ranked if r.rank == 1)
            shown = row.values is not None and row.state == "COMPLETE"
            value = self._values_text(row) if shown else f"{self.metric}={_fmt_metric(row.value)}"
            best_text = f"front={front}"
        else:
            value = f"{self.metric}={_fmt_metric(row.value)}"
            best_text = f"best={_fmt_metric(best.value)}(#{best.number})" if best else "best=-"
        parts = [
            f"[trial {row.number:>3}] {row.state:<8}",
            *([f"family={row.family}"] if row.family else []),
            value,
            f"{self.steps}={row.epochs if row.epochs is not None else '-'}",
            f"time={_fmt_seconds(row.duration)}",
            f"done={done}/{self.header.get('n_trials', '?')}",
            best_text,
            format_params({k: v for k, v in row.params.items() if k != "family"}),
        ]
        if row.note and (row.state != "COMPLETE" or not row.feasible):
            parts.append(f"| {row.note}")
        return " ".join(parts)

    def _title(self, rows: Sequence[Row], ranked: Sequence[Row]) -> Text:
        h = self.header
        counts = self._counts(rows)
        best = ranked[0] if ranked and ranked[0].rank == 1 else None
        elapsed = time.monotonic() - self.started
        finished = sum(1 for r in rows if r.counts)
        text = Text()
        text.append(f"study {h.get('study')}", style="bold")
        text.append(f"  model={h.get('model')} data={h.get('data')}  ")
        if h.get("sampler") or h.get("pruner"):
            text.append(f"{h.get('sampler')}/{h.get('pruner')}  ")
        text.append(self._objective_text() + "\n")
        text.append(f"trials {finished}/{h.get('n_trials', '?')}  ")
        text.append(f"complete {counts['COMPLETE']}", style="green")
        text.append("  ")
        text.append(f"pruned {counts['PRUNED']}", style="yellow")
        text.append("  ")
        text.append(f"failed {counts['FAIL']}", style="red")
        if counts.get("RUNNING"):
            text.append(f"  running {counts['RUNNING']}", style="cyan")
        if self.multi:
            front = [r.number for r in ranked if r.rank == 1]
            text.append(f"  Pareto front {len(front)}")
            if front:
                text.append(" (" + " ".join(f"#{n}" for n in sorted(front)[:8]))
                text.append(" …)" if len(front) > 8 else ")")
        else:
            text.append(f"  best {_fmt_metric(best.value) if best else '-'}")
            if best:
                text.append(f" (#{best.number})")
        text.append(f"  elapsed {_fmt_seconds(elapsed)}")
        return text

    def _objective_text(self) -> str:
        """``val_acc (max)``, ``val_acc (max), latency_ms (min)``, plus the constraints."""
        text = ", ".join(f"{k} ({'max' if d == 'maximize' else 'min'})" for k, d in self.objectives)
        if not self.multi and self.objectives[0][0] != self.metric:
            text = f"{self.metric} ({'max' if self.direction == 'maximize' else 'min'})"
        if self.constraints:
            text += "  s.t. " + " ".join(self.constraints)
        return text

    def table(self, width: int | None = None, ranked: Sequence[Row] | None = None) -> Table:
        """The table of the top rows (running trials first), laid out for ``width`` columns.

        Below ``WIDE`` (160) columns a row takes at most two lines, from there one: the
        parameters are packed into what the other columns leave (short names, 3 significant
        digits, the most varied first, the rest counted), and the note column is only there
        when a shown row has a note.
        """
        width = width or self.console.width
        if ranked is None:
            ranked = self.ranked()
        running = sorted((r for r in ranked if r.state == "RUNNING"), key=lambda r: r.number)
        shown = running + [r for r in ranked if r.state != "RUNNING"][: self.top_k]
        lines = 1 if width >= WIDE else 2
        now = time.time()
        families = any(r.family for r in shown)
        names = [k for k, _ in self.objectives] if self.multi else [self.metric]

        def values(r: Row) -> list[str]:
            if self.multi and r.values is not None and r.state == "COMPLETE":
                return [_fmt_value_of(k, v) for k, v in zip(names, r.values, strict=False)]
            return [_fmt_metric(r.value)] + ["-"] * (len(names) - 1)

        def rank(r: Row) -> str:
            # With several objectives the rank is the Pareto front, and front 1 is marked.
            return f"{r.rank}*" if self.multi and r.rank == 1 else str(r.rank or "")

        cells = [
            (
                rank(r),
                str(r.number),
                r.state,
                *([r.family or ""] if families else []),
                *values(r),
                str(r.epochs) if r.epochs is not None else "-",
                _fmt_seconds(r.elapsed(now)),
            )
            for r in shown
        ]
        heads = (
            "front" if self.multi else "rank",
            "#",
            "state",
            *(["family"] if families else []),
            *names,
            self.steps,
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
        order = [n for n in param_order(shown) if not (families and n == "family")]
        short = short_names(order)
        table = Table(
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
            padding=(0, 1),
            header_style="bold",
            collapse_padding=True,
        )
        justify_of = ("right", "right", "left") + (("left",) if families else ())
        justify_of += ("right",) * (len(heads) - len(justify_of))
        for name, w, justify in zip(heads, fixed, justify_of, strict=True):
            table.add_column(name, justify=justify, no_wrap=True, width=w)
        table.add_column("params", no_wrap=True, width=params_width)
        if note_width:
            table.add_column("note", no_wrap=True, width=note_width)
        first_value = 4 if families else 3
        for row, cell, note in zip(shown, cells, notes, strict=True):
            style = "dim" if row.state == "RUNNING" else ""
            params = {k: v for k, v in row.params.items() if not (families and k == "family")}
            items: list[Any] = [
                Text(cell[0], style="bold" if self.multi and row.rank == 1 else ""),
                cell[1],
                Text(cell[2], style=_STATE_STYLE.get(row.state, "")),
                *cell[3:first_value],
                *(Text(c, style=style) for c in cell[first_value : first_value + len(names)]),
                *cell[first_value + len(names) :],
                Text(compact_params(params, order, short, params_width, lines)),
            ]
            if note_width:
                items.append(Text(_wrap(note, note_width, lines), style="dim"))
            table.add_row(*items)
        legend = [f"{s}={n}" for n, s in short.items() if s != n]
        if self.multi:
            legend.insert(0, "front: Pareto front (1* = not dominated)")
        if legend:
            table.caption = _wrap(" ".join(legend), width, 2)
            table.caption_style = "dim"
            table.caption_justify = "left"
        return table

    def family_lines(self) -> list[tuple[str, str]]:
        """``model=auto``: per family, its trials, the time they took and its best trial
        (several objectives: its Pareto-front members)."""
        ranked = self.ranked()
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
            counts = self._counts(rows)
            spent = sum(r.duration or 0.0 for r in rows)
            text = (
                f"{name}: {len(rows)} trials ({counts['COMPLETE']} complete, "
                f"{counts['PRUNED']} pruned, {counts['FAIL']} failed), "
                f"{_fmt_seconds(spent)} ({100 * spent / total:.0f}% of trial time)"
            )
            ranked_rows = [r for r in rows if r.rank is not None]
            if self.multi:
                front = [f"#{r.number}" for r in ranked_rows if r.rank == 1]
                text += f"; on the front: {' '.join(front) or '-'}"
            elif ranked_rows:
                top = ranked_rows[0]
                text += f"; best {self.metric} {_fmt_metric(top.value)} (#{top.number})"
            out.append(("family" if not out else "", text))
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rows = self.snapshot()
        ranked = self._rank(rows)  # once per frame
        yield Group(
            Panel(self._title(rows, ranked), expand=False),
            self.table(options.max_width, ranked),
        )

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
        selection: Sequence[tuple[str, str]] = (),
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
            selection: ``(label, text)`` rows on how the exported trial was chosen and,
                with several objectives, the Pareto front.
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
        for label, text in self.family_lines():
            grid.add_row(label, text)
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
        grid.add_row("results", results_dir)
        return Panel(grid, title="automl summary", expand=False)
