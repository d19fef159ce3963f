"""Leaderboard rows: one ``Row`` per trial, read from Optuna's trials, and their order.

A trial is read duck-typed (an Optuna ``FrozenTrial``, and what automl stores beside Optuna
through ``automl.core.records.record_of``); no Optuna import. Ranking is one sort (``O(n log n)``),
by the objective with a validation-metric tie-breaker, or by Pareto front with several
objectives.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

from automl.core.objectives import BUILTINS, natural_direction
from automl.core.records import counts_toward_total, finite_or_none, record_of
from automl.results.pareto import front_numbers

if TYPE_CHECKING:
    from automl.core.jsonvalue import JSON, JSONValue
    from automl.core.records import StoredTrialView

# Unranked rows: complete but infeasible (or without a value) first, then the others.
_STATE_ORDER = {"COMPLETE": 0, "STOPPED": 0, "PRUNED": 1, "RUNNING": 2, "FAIL": 3}
STOPPED = "STOPPED"
"""The state a row shows for a trial stopped early at the time budget with its best step kept
(PRUNED in Optuna; ``automl.core.records.Stop``)."""
_UNIT_WORD = {"epoch": "epoch", "step": "step", "fold": "fold"}


@dataclass
class Row:
    """One trial as the leaderboard shows it.

    Attributes:
        number: Trial number.
        state: Optuna state name (``COMPLETE``, ``PRUNED``, ``FAIL``, ``RUNNING``, ...), or
            ``STOPPED`` for a trial stopped early at the time budget with its best step kept
            (PRUNED in Optuna): ranked by that step's value, after complete trials of equal
            value.
        value: The objective value (a stopped trial's best step's); for a pruned or running
            trial its latest reported value.
        epochs: Epochs (or steps, folds) the trial ran; for a running trial, reached so far.
        params: Sampled parameters.
        duration: Seconds the trial took (``None`` while running: see ``started``).
        note: Why a trial was pruned or failed.
        metrics: Validation metrics at the selected epoch.
        rank: 1 for the best complete trial (set by ``rank_rows``).
        started: Wall-clock start (``time.time()`` seconds) of the trial.
        ended: Wall-clock end of a finished trial (``None`` while running or unknown).
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
    ended: float | None = None

    @property
    def finished(self) -> bool:
        """Complete, stopped, pruned or failed."""
        return self.state in ("COMPLETE", STOPPED, "PRUNED", "FAIL")

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
            "params": json_safe(self.params),
            "metrics": json_safe(self.metrics),
            "note": self.note,
            "values": None if self.values is None else [finite_or_none(v) for v in self.values],
            "feasible": self.feasible,
            "family": self.family,
            **{k: finite_or_none(v) for k, v in self.measures.items()},
        }


def _state_name(trial: StoredTrialView) -> str:
    state = getattr(trial, "state", "")
    return getattr(state, "name", str(state))


def _objective_value(trial: StoredTrialView) -> float | None:
    """The first objective of a finished trial (``values[0]`` also for multi-objective)."""
    values = getattr(trial, "values", None)
    if values:
        return finite_or_none(values[0])
    return finite_or_none(getattr(trial, "value", None))


def _started(trial: StoredTrialView) -> float | None:
    start = getattr(trial, "datetime_start", None)
    return start.timestamp() if start is not None else None


def _ended(trial: StoredTrialView) -> float | None:
    end = getattr(trial, "datetime_complete", None)
    return end.timestamp() if end is not None else None


def row_from_trial(trial: StoredTrialView) -> Row:
    """Build a ``Row`` from an Optuna trial: finished, or running (its progress so far)."""
    record = record_of(trial)
    state = _state_name(trial)
    steps = sorted(getattr(trial, "intermediate_values", {}) or {})
    last = trial.intermediate_values[steps[-1]] if steps else None
    unit = _UNIT_WORD.get(record.unit or "epoch", "epoch")
    value: float | None = None
    epochs = record.epochs
    duration = record.duration_s
    started = _started(trial)
    note = record.error or record.note or ""
    values = None
    if state == "COMPLETE":
        value = _objective_value(trial)
        values = tuple(finite_or_none(v) for v in (getattr(trial, "values", None) or []))
        if record.unmet:
            note = f"infeasible: {record.unmet}"
    elif state == "PRUNED" and record.stopped and record.values:
        state = STOPPED
        values = tuple(finite_or_none(v) for v in record.values)
        value = values[0]
        if record.unmet:
            note = f"{note}; infeasible: {record.unmet}"
    elif state == "PRUNED":
        value = finite_or_none(last)
        pruned = f"pruned after {unit} {steps[-1] + 1}" if steps else "pruned"
        note = f"{pruned}; {note}" if note else pruned
    elif state == "RUNNING":
        value = finite_or_none(last)
        epochs = steps[-1] + 1 if steps else None
    elapsed = getattr(trial, "duration", None)
    if state != "RUNNING" and duration is None and elapsed is not None:
        duration = elapsed.total_seconds()
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
        counts=counts_toward_total(_state_name(trial), record),
        values=values or None,
        feasible=record.unmet is None,
        family=record.family,
        measures={k: v for k, v in record.measures().items() if k in BUILTINS},
        ended=_ended(trial) if state != "RUNNING" else None,
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
    return row.state in ("COMPLETE", STOPPED) and row.value is not None and row.feasible


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
            if tie is None or not math.isfinite(tie):
                missing, tie_key = True, 0.0
            else:
                missing, tie_key = False, second_sign * tie
            stopped = row.state == STOPPED  # a full trial first at an equal value
            return (0, sign * row.value, stopped, missing, tie_key, row.number)
        return (1, float(_STATE_ORDER.get(row.state, 4)), False, False, 0.0, row.number)

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
    # ``scored`` holds rows whose every value is present; the filter only narrows the type.
    points = [[float(v) for v in r.values or () if v is not None] for r in scored]
    for row in rows:
        row.rank = None
    for row, front in zip(scored, front_numbers(points, directions), strict=True):
        row.rank = front
    signs = [-1.0 if d == "maximize" else 1.0 for d in directions]

    def key(row: Row) -> tuple:
        if row.rank is not None:
            # A ranked row is a scored one: every value is present.
            values = [
                s * float(v) for s, v in zip(signs, row.values or (), strict=True) if v is not None
            ]
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


def state_counts(rows: Iterable[Row]) -> dict[str, int]:
    """Rows by state; ``COMPLETE``, ``STOPPED``, ``PRUNED`` and ``FAIL`` are always there
    (maybe 0)."""
    out = {"COMPLETE": 0, STOPPED: 0, "PRUNED": 0, "FAIL": 0}
    for row in rows:
        out[row.state] = out.get(row.state, 0) + 1
    return out


@overload
def json_safe(value: Mapping[str, object]) -> JSON: ...
@overload
def json_safe(value: object) -> JSONValue: ...
def json_safe(value: object) -> JSONValue:
    """JSON-safe copy: non-finite floats become ``None``, unknown objects their ``str``."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return finite_or_none(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    number = finite_or_none(value) if hasattr(value, "__float__") else None
    return number if number is not None else str(value)
