"""What automl stores on a trial beside Optuna's own fields: one writer, one reader.

Optuna keeps a trial's number, state, parameters, value and intermediate values. Everything
else automl needs about a trial (how long it trained, why it failed, which worker ran it,
whether it repeats a lost trial) is a ``TrialRecord``, stored as the trial's user attributes.
``TrialRecord.attrs`` is the only writer's form and ``TrialRecord.from_attrs`` the only reader;
the leaderboard, the export, the lost-trial check, the report and the server all read trials
through it, never by string key.

Validation metrics are stored twice: as one ``metrics`` mapping, and as one attribute per metric
(``val_acc``, ``val_loss``, ...), so tools that list user attributes (optuna-dashboard,
``study.trials_dataframe()``) can sort and filter by them.

This module imports neither Optuna nor any training code.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Literal, Protocol, get_args

__all__ = [
    "TrialRecord",
    "TrialView",
    "FinishedTrialView",
    "StoredTrialView",
    "Unit",
    "Failure",
    "Stop",
    "COUNTED_FAILURES",
    "RETRIED_FAILURES",
    "record_of",
    "ranked_values",
    "finite_or_none",
    "counts_toward_total",
    "SWALLOWED_PRUNE",
    "common_unit",
    "steps_label",
]

Unit = Literal["epoch", "step", "fold"]
"""What a trial's length counts: epochs (Lightning), steps (estimator reports) or folds."""

_UNIT_LABELS: dict[str, str] = {"epoch": "epochs", "step": "steps", "fold": "folds"}


def common_unit(units: Iterable[Unit | str | None]) -> Unit | None:
    """The unit every one of ``units`` counts in; ``None`` when they differ or none is known.

    The one rule for a study's step unit: its families' units when the run knows them, its
    trials' recorded units when a tool reads a stored study.
    """
    known = {u for u in units if u in _UNIT_LABELS}
    return known.pop() if len(known) == 1 else None  # type: ignore[return-value]


def steps_label(units: Iterable[Unit | str | None]) -> str:
    """How the leaderboard names a trial's length: ``epochs``, ``steps``, ``folds``, or
    ``length`` when the units differ (``model=auto`` without folds) or none is known."""
    unit = common_unit(units)
    return _UNIT_LABELS[unit] if unit is not None else "length"


Failure = Literal[
    "model", "timeout", "preflight", "lost", "signal", "storage", "disk", "oom", "budget"
]
"""Why a trial failed.

``model``: the model or its training raised, or a metric became NaN/inf. ``timeout``: it ran
past ``sweep.trial_timeout``. ``preflight``: failed before training (e.g. its directory could
not be written). ``lost``: its worker died (killed, out of memory, preempted, heartbeats lost).
``signal``: its worker was stopped by SIGTERM/SIGINT. ``storage``: the study storage failed
under it. ``disk``: a disk it wrote to was full (the study stops; re-run once there is room).
``oom``: the GPU ran out of memory; re-run (and not counted) when the worker shared
its GPU with other workers, since a neighbour's trial may have filled it, and counted when the
trial had the GPU to itself (the configuration does not fit); its ``counts`` says which.
``budget``: the time budget (``sweep.timeout``) ran out before the trial reported anything it
could keep; re-run by a later invocation.
"""

Stop = Literal["budget", "share"]
"""Why a trial was stopped before its full length and kept its best step so far.

``budget``: its stop time in the command's time budget (``sweep.timeout``) passed. ``share``:
a trial run first (a default configuration, a warm start) used up its share of the budget, so
that one slow default cannot take the whole search's time. Optuna is told PRUNED (a partial
trial: samplers rank it below complete ones and pruners compare against complete ones only);
automl keeps its metrics, objective values and model, ranks it by its best step, and exports
it only when no complete trial is better. Its ``epochs`` and parameters say where it stopped,
so it can later be continued.
"""

RETRIED_FAILURES: frozenset[str] = frozenset({"lost", "signal", "storage", "disk", "budget"})
"""Infrastructure failures: the trial is re-run with the same parameters and does not count
toward ``sweep.n_trials`` (until its retries are used up)."""

COUNTED_FAILURES: frozenset[str] = frozenset(set(get_args(Failure)) - RETRIED_FAILURES - {"oom"})
"""Failures of the trial itself: they count toward ``sweep.n_trials`` and are not retried.
(``oom`` is either, as its record's ``counts`` says.)"""

SWALLOWED_PRUNE = (
    "the model's fit swallowed the pruning signal (an except around report) and trained on; "
    "it is pruned where it was told to stop: let automl.errors.TrialPruned propagate "
    "(docs/plugins.md)"
)
"""The note of a pruned trial whose estimator caught the ``TrialPruned`` its ``report`` raised
(written by the estimator backend, counted by the summary)."""

_METRIC_PREFIXES = ("val_", "test_")


def finite_or_none(value: Any) -> float | None:
    """``float(value)`` when it is a finite number, else ``None`` (strict JSON has no NaN)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass
class TrialRecord:
    """Everything automl records about one trial (all fields optional while it runs).

    Attributes:
        worker: ``host/pid-namespace/pid`` of the process that ran it.
        unit: What ``epochs`` counts (``epoch``, ``step`` or ``fold``).
        epochs: Epochs, reports or folds the trial ran (pruned trials included).
        duration_s: Wall time of the whole trial.
        train_s: Time spent training (excludes setup and saving).
        n_params: Trainable parameters (torch models).
        metrics: Validation metrics at the selected epoch, keyed ``val_<name>``.
        budget: How much training reached the selected point, in a form a refit repeats.
        model_file: The saved model's file name inside the trial's directory (a name, never a
            path: files are found from the run directory and the trial number).
        error: Why the trial failed (one line).
        failure: The kind of failure (see ``Failure``).
        counts: Whether this failed trial counts toward ``sweep.n_trials``: true for a trial's
            own failures and for infrastructure failures whose retries are used up.
        retry_of: The number of the trial this one re-runs with the same parameters.
        attempt: 0 for a first run; ``n`` for the n-th retry of a trial.
        note: Something the user should know about the trial (e.g. a duplicate configuration
            that was run anyway).
        redrawn: Configurations drawn for this trial and rejected as duplicates of others.
        latency_ms: Median milliseconds of one prediction call on a fixed batch of validation
            rows, measured once after training (``automl.study.run.LATENCY_ROWS``).
        family: The model family (plugin) that trained it, in a ``model=auto`` study.
        unmet: The constraints (``sweep.constraints``) a completed trial misses, in words;
            such a trial is never chosen as best.
        stopped: Why the trial stopped early with its best step kept (``Stop``); its
            ``note`` says where.
        values: The objective values of a stopped trial (what a complete trial tells Optuna;
            Optuna keeps only the last reported value of a PRUNED one).
        tracker_run: The id of the trial's run in the experiment tracker
            (``trainer.logger=mlflow`` or ``wandb``).
        admission_s: Seconds its worker waited for the study's admission lock before starting
            it (how much the workers contend; ``docs/distributed.md``).
        resumed: The steps (epochs, estimator steps or folds) a re-run took over from the
            checkpoint of the trial it re-runs: it trained from there on (``epochs`` still
            counts them all).
        checkpoint_s: Seconds this run of the trial spent writing checkpoints
            (``sweep.checkpoint_every``), part of ``train_s``.
    """

    worker: str | None = None
    unit: Unit | None = None
    epochs: int | None = None
    duration_s: float | None = None
    train_s: float | None = None
    n_params: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    budget: dict[str, Any] = field(default_factory=dict)
    model_file: str | None = None
    error: str | None = None
    failure: Failure | None = None
    counts: bool | None = None
    retry_of: int | None = None
    attempt: int = 0
    note: str | None = None
    redrawn: int | None = None
    latency_ms: float | None = None
    family: str | None = None
    unmet: str | None = None
    stopped: Stop | None = None
    values: list[float] | None = None
    tracker_run: str | None = None
    admission_s: float | None = None
    resumed: int | None = None
    checkpoint_s: float | None = None

    def measures(self) -> dict[str, float | None]:
        """Everything a study may optimize or constrain: the validation metrics and the
        measures every completed trial records (``automl.core.objectives.BUILTINS``)."""
        return {
            **self.metrics,
            "n_params": None if self.n_params is None else float(self.n_params),
            "train_s": self.train_s,
            "latency_ms": self.latency_ms,
        }

    def attrs(self, only: tuple[str, ...] | None = None) -> dict[str, Any]:
        """The user attributes that store this record (unset fields left out).

        Args:
            only: Field names to write; all set fields when omitted. ``metrics`` also writes
                one attribute per metric.
        """
        names = only if only is not None else tuple(f.name for f in dataclasses.fields(self))
        out: dict[str, Any] = {}
        for name in names:
            value = getattr(self, name)
            if value is None or (name in ("metrics", "budget", "values") and not value):
                continue
            if name == "attempt" and value == 0:
                continue
            if name == "metrics":
                clean = {k: finite_or_none(v) for k, v in value.items()}
                out["metrics"] = clean
                out.update(clean)  # one attribute per metric, for sorting in other tools
            else:
                out[name] = value
        return out

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> TrialRecord:
        """Read a record back from a trial's user attributes; unknown keys are ignored.

        Values that have the wrong type (a storage written by hand, or by another tool) are
        dropped rather than trusted.
        """
        record = cls()
        for f in dataclasses.fields(cls):
            if f.name in attrs:
                value = _checked(f.name, attrs[f.name])
                if value is not None:
                    setattr(record, f.name, value)
        return record

    @property
    def retried_failure(self) -> bool:
        """A failure of the infrastructure (lost worker, signal, storage, a shared GPU's
        memory), not of the trial."""
        return self.failure in RETRIED_FAILURES or (self.failure == "oom" and self.counts is False)


def _checked(name: str, value: object) -> Any:
    if name in ("metrics", "budget"):
        if not isinstance(value, Mapping):
            return None
        if name == "metrics":
            return {str(k): float(v) for k, v in value.items() if finite_or_none(v) is not None}
        return dict(value)
    if name == "values":
        if not isinstance(value, list | tuple):
            return None
        numbers = [finite_or_none(v) for v in value]
        return [float(v) for v in numbers if v is not None] if None not in numbers else None
    if name == "stopped":
        return value if value in get_args(Stop) else None
    if name in ("epochs", "n_params", "retry_of", "attempt", "redrawn", "resumed"):
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if name in ("duration_s", "train_s", "latency_ms", "admission_s", "checkpoint_s"):
        return finite_or_none(value)
    if name == "counts":
        return value if isinstance(value, bool) else None
    if name == "unit":
        return value if value in get_args(Unit) else None
    if name == "failure":
        return value if value in get_args(Failure) else None
    if name == "model_file":
        # A file name inside the trial directory; anything with a path in it is not trusted.
        ok = isinstance(value, str) and value and "/" not in value and "\\" not in value
        return value if ok and value not in (".", "..") else None
    return str(value) if value is not None else None


class TrialView(Protocol):
    """What this module reads of an Optuna trial, live (``optuna.Trial``) or frozen
    (``FrozenTrial``), without importing Optuna."""

    @property
    def user_attrs(self) -> dict[str, Any]: ...


class FinishedTrialView(TrialView, Protocol):
    """A stored trial (``FrozenTrial``): its state and objective values beside its attributes."""

    @property
    def state(self) -> Enum: ...

    @property
    def values(self) -> list[float] | None: ...


class StoredTrialView(FinishedTrialView, Protocol):
    """A stored trial (``FrozenTrial``) as the leaderboard, the report and the export read
    it, without importing Optuna."""

    @property
    def number(self) -> int: ...

    @property
    def params(self) -> dict[str, Any]: ...

    @property
    def intermediate_values(self) -> dict[int, float]: ...

    @property
    def datetime_start(self) -> datetime | None: ...

    @property
    def datetime_complete(self) -> datetime | None: ...

    @property
    def duration(self) -> timedelta | None: ...


def record_of(trial: TrialView) -> TrialRecord:
    """The ``TrialRecord`` of an Optuna trial (frozen or live), read from its user attributes."""
    return TrialRecord.from_attrs(dict(getattr(trial, "user_attrs", {}) or {}))


def ranked_values(trial: FinishedTrialView) -> list[float] | None:
    """The objective values a finished trial is ranked and chosen by, or ``None``.

    A complete trial's are Optuna's; a trial stopped early with its best step kept
    (``TrialRecord.stopped``, PRUNED in Optuna) has them in its record. Pruned, failed and
    running trials have none.
    """
    state = getattr(getattr(trial, "state", None), "name", str(getattr(trial, "state", "")))
    if state == "COMPLETE":
        values = getattr(trial, "values", None)
        return [float(v) for v in values] if values else None
    if state == "PRUNED":
        record = record_of(trial)
        return list(record.values) if record.stopped and record.values else None
    return None


def counts_toward_total(state: str, record: TrialRecord) -> bool:
    """Whether a trial in ``state`` (an Optuna state name) counts toward ``sweep.n_trials``.

    Complete and pruned trials count; a failed one counts unless its infrastructure failed and
    it is (or will be) re-run. Failed trials recorded without a kind (older studies) count.
    """
    if state in ("COMPLETE", "PRUNED"):
        return True
    if state != "FAIL":
        return False
    if record.counts is not None:
        return record.counts
    return not record.retried_failure
