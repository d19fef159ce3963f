"""What automl stores on a study beside Optuna's own fields, and the header drawn from it.

Optuna keeps a study's name, its directions and its metric names (``val_acc``: what
optuna-dashboard labels each objective with). Everything else automl records about a study (the
model and data it searches, its objective and total, its identity, its validation rows, the
invocation's deadline, the exported trial's test metrics and the top trials' rechecks) is a
``StudyRecord``, stored as
the study's user attributes: ``StudyRecord.attrs`` is the only writer's form and
``StudyRecord.from_attrs`` the only reader (the study loop, ``watch``, the report and warm
starts read a study through it, never by string key). The attribute names are those automl
has always written, so studies of earlier versions read back (without the fields they lack).

``StudyHeader`` is what the live leaderboard, ``leaderboard.json``, the parent of several
workers and ``watch`` say about a study: built once from its record (``StudyHeader.of``).
``StudySnapshot`` is a stored study as ``automl.tuning`` reads it for the tools that draw it
(``watch``, the report): its record, directions and trials, in values that need no Optuna.

This module imports neither Optuna nor any training code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from automl.core.objectives import ObjectiveError, parse_constraints, parse_objectives
from automl.core.records import record_of, steps_label

__all__ = ["StudyRecord", "StudyHeader", "StudySnapshot", "Direction"]

Direction = Literal["maximize", "minimize"]
_DIRECTIONS = ("maximize", "minimize")


@dataclass(frozen=True)
class StudyRecord:
    """Everything automl records about one study (every field optional: older studies).

    Attributes:
        model: The model searched (``auto`` for a search across families).
        data: The data set.
        metric: The model's metric, without ``val_`` (``acc``).
        direction: Its direction.
        n_trials: ``sweep.n_trials`` as the last invocation asked.
        total: The trials the study runs to: ``n_trials``, or fewer (a grid's size; one for a
            space of one point).
        fingerprint: The study's identity (``automl.study.identity``).
        objectives: ``sweep.objectives`` resolved, short forms (``val_acc:max``).
        constraints: ``sweep.constraints`` (``n_params<=200000``).
        families: The families a ``model=auto`` study searches.
        sampler: The sampler, as the leaderboard names it (``tpe``, ``auto -> tpe``).
        pruner: The pruner, as the leaderboard names it (``none (multi-objective)``).
        steps: What a trial's length counts (``epochs``, ``steps``, ``folds``, ``length``).
        device: Where trials train.
        n_val: The validation rows a trial is judged on (every fold's, with k folds).
        deadline: When the latest invocation stops starting trials (``sweep.timeout``, wall-clock
            seconds); ``None`` without one (an invocation without a timeout clears it).
        best_test_metrics: The exported trial's number (``trial``) and its test metrics.
        recheck: ``sweep.recheck_top``'s values: trial number (as text) -> its values (the
            search's first, then one per recheck seed).
    """

    model: str | None = None
    data: str | None = None
    metric: str | None = None
    direction: Direction | None = None
    n_trials: int | None = None
    total: int | None = None
    fingerprint: dict[str, Any] | None = None
    objectives: tuple[str, ...] | None = None
    constraints: tuple[str, ...] | None = None
    families: tuple[str, ...] | None = None
    sampler: str | None = None
    pruner: str | None = None
    steps: str | None = None
    device: str | None = None
    n_val: int | None = None
    deadline: float | None = None
    best_test_metrics: dict[str, Any] | None = None
    recheck: dict[str, list[float]] | None = None

    def attrs(self, only: tuple[str, ...] | None = None, *, clear: bool = False) -> dict[str, Any]:
        """The user attributes that store this record (unset fields left out; tuples as
        lists, as JSON keeps them).

        Args:
            only: Field names to write; all set fields when omitted.
            clear: Write the unset fields of ``only`` as ``None`` too, so a value an earlier
                invocation stored is cleared (``deadline``).
        """
        names = only if only is not None else tuple(f.name for f in dataclasses.fields(self))
        out: dict[str, Any] = {}
        for name in names:
            value = getattr(self, name)
            if value is None:
                if clear and only is not None:
                    out[name] = None
                continue
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> StudyRecord:
        """Read a record back from a study's user attributes; unknown keys are ignored.

        Values of the wrong type (a storage written by hand or by another tool) are dropped
        rather than trusted.
        """
        values = {}
        for f in dataclasses.fields(cls):
            if f.name in attrs:
                value = _checked(f.name, attrs[f.name])
                if value is not None:
                    values[f.name] = value
        return cls(**values)

    @property
    def runs_to(self) -> int | None:
        """The trials the study runs to: ``total``, else (a study of an earlier automl)
        ``n_trials``; ``None`` when neither is known."""
        return self.total if self.total is not None else self.n_trials

    @property
    def best_trial(self) -> int | None:
        """The number of the trial ``best/`` exported, when its test metrics are recorded."""
        number = (self.best_test_metrics or {}).get("trial")
        return number if isinstance(number, int) and not isinstance(number, bool) else None

    def test_metrics(self) -> dict[str, Any]:
        """The exported trial's test metrics (``test_<name>``)."""
        stored = self.best_test_metrics or {}
        return {k: v for k, v in stored.items() if str(k).startswith("test_")}

    def objective_directions(self) -> list[tuple[str, Direction]]:
        """``[(key, direction), ...]`` of the recorded objectives; ``[]`` when unreadable."""
        try:
            specs = parse_objectives(list(self.objectives or ()))
        except ObjectiveError:  # written by hand or by another tool: not trusted
            return []
        return [(s.key, s.direction) for s in specs if s.direction in _DIRECTIONS]

    def constraint_texts(self) -> list[str]:
        """The recorded constraints, each as it parses; ``[]`` when unreadable."""
        try:
            return [str(c) for c in parse_constraints(list(self.constraints or ()))]
        except ObjectiveError:
            return []


def _checked(name: str, value: Any) -> Any:
    if name in ("n_trials", "total", "n_val"):
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if name == "deadline":
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return float(value) if number else None
    if name == "recheck":
        if not isinstance(value, Mapping):
            return None
        return {
            str(k): [float(x) for x in v]
            for k, v in value.items()
            if isinstance(v, Sequence)
            and not isinstance(v, str)
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        }
    if name == "direction":
        return value if value in _DIRECTIONS else None
    if name in ("fingerprint", "best_test_metrics"):
        return dict(value) if isinstance(value, Mapping) else None
    if name in ("objectives", "constraints", "families"):
        if not isinstance(value, Sequence) or isinstance(value, str):
            return None
        return tuple(str(v) for v in value)
    return str(value) if isinstance(value, str) and value else None


@dataclass(frozen=True)
class StudyHeader:
    """What the leaderboard (live, files, the parent's, ``watch``'s) says about a study.

    Attributes:
        study: The study's name.
        model: The model searched (``?`` when unknown).
        data: The data set.
        sampler: The sampler's label.
        pruner: The pruner's label.
        metric: The validation metric's key (``val_acc``), or the objective's name.
        direction: Its direction.
        steps: What a trial's length counts (the trials' column heading).
        device: Where trials train.
        n_trials: The trials the study runs to (its total); ``None`` when unknown.
        results: The run directory.
        objectives: ``(key, direction)`` of each objective; empty: the one metric.
        constraints: The constraints, as text.
        families: The families of a ``model=auto`` study.
        workers: Workers of a parent (``sweep.workers``).
        launcher: How the parent started them (``local``, ``slurm``).
        n_val: The validation rows a trial is judged on (the trust warnings), when known.
        deadline: When the study stops starting trials (``sweep.timeout``, wall-clock seconds):
            the time left is capped by it.
    """

    study: str
    model: str = "?"
    data: str = "?"
    sampler: str | None = None
    pruner: str | None = None
    metric: str = "value"
    direction: Direction = "maximize"
    steps: str = "epochs"
    device: str | None = None
    n_trials: int | None = None
    results: str | None = None
    objectives: tuple[tuple[str, Direction], ...] = ()
    constraints: tuple[str, ...] = ()
    families: tuple[str, ...] | None = None
    workers: int | None = None
    launcher: str | None = None
    n_val: int | None = None
    deadline: float | None = None

    @classmethod
    def of(
        cls,
        record: StudyRecord,
        study: str,
        *,
        directions: Sequence[str] = (),
        metric_names: Sequence[str] = (),
        results: str | None = None,
        steps: str | None = None,
        sampler: str | None = None,
        pruner: str | None = None,
    ) -> StudyHeader:
        """The header of a study from its record; what the record lacks (a study of an
        earlier automl) from what Optuna stores or the caller read elsewhere.

        Args:
            record: The study's record.
            study: Its name.
            directions: Optuna's directions (``maximize``, ...), for a record without one.
            metric_names: Optuna's metric names, for a record without a metric.
            results: The run directory, when known.
            steps: The length's label when the record has none (from the trials' units).
            sampler: The sampler when the record has none (the run's saved config).
            pruner: The pruner when the record has none (the run's saved config).
        """
        metric = record.metric
        if metric:
            metric = metric if metric.startswith("val_") else f"val_{metric}"
        else:
            metric = metric_names[0] if metric_names else "value"
        direction = record.direction
        if direction is None:
            first = str(directions[0]).lower() if directions else "maximize"
            direction = "minimize" if first == "minimize" else "maximize"
        return cls(
            study=study,
            model=record.model or "?",
            data=record.data or "?",
            sampler=record.sampler or sampler,
            pruner=record.pruner or pruner,
            metric=metric,
            direction=direction,
            steps=record.steps or steps or "length",
            device=record.device,
            n_trials=record.runs_to,
            results=results,
            objectives=tuple(record.objective_directions()),
            constraints=tuple(record.constraint_texts()),
            families=record.families,
            n_val=record.n_val,
            deadline=record.deadline,
        )

    def with_total(self, total: int | None) -> StudyHeader:
        """The same header with another total (a study whose record changed meanwhile)."""
        return self if total is None else dataclasses.replace(self, n_trials=total)

    def objective_list(self) -> list[tuple[str, Direction]]:
        """``[(key, direction), ...]``: the objectives, or the one metric when none is set."""
        return list(self.objectives) or [(self.metric, self.direction)]

    def as_dict(self) -> dict[str, Any]:
        """The header as ``leaderboard.json`` writes it (unset optional keys left out)."""
        out: dict[str, Any] = {
            "study": self.study,
            "model": self.model,
            "data": self.data,
            "sampler": self.sampler,
            "pruner": self.pruner,
            "metric": self.metric,
            "direction": self.direction,
            "steps": self.steps,
        }
        if self.device is not None:
            out["device"] = self.device
        out["n_trials"] = self.n_trials
        if self.results is not None:
            out["results"] = self.results
        out["objectives"] = [{"key": k, "direction": d} for k, d in self.objective_list()]
        out["constraints"] = list(self.constraints)
        if self.families is not None:
            out["families"] = list(self.families)
        if self.workers is not None:
            out["workers"] = self.workers
        if self.launcher is not None:
            out["launcher"] = self.launcher
        if self.n_val is not None:
            out["n_val"] = self.n_val
        if self.deadline is not None:
            out["deadline"] = self.deadline
        return out


@dataclass(frozen=True)
class StudySnapshot:
    """A stored study read at one moment (``automl.tuning.stored``), for tools that draw it.

    Attributes:
        name: The study's name.
        where: Its storage, as a user may read it (password masked).
        run_dir: The run directory it belongs to, when known.
        record: Its record (what an earlier automl did not record is filled in from the run's
            saved config where it can be).
        directions: Optuna's directions, one per objective.
        metric_names: Optuna's metric names (empty for a study of an earlier automl with one
            objective).
        trials: Every trial, as Optuna's frozen trials (read duck-typed: number, state,
            values, params, distributions, intermediate values, user attributes, times).
    """

    name: str
    where: str
    run_dir: Path | None
    record: StudyRecord
    directions: tuple[Direction, ...]
    metric_names: tuple[str, ...] = ()
    trials: tuple[Any, ...] = ()

    def header(self) -> StudyHeader:
        """The leaderboard header of the study (its length label from the trials' units when
        the record has none)."""
        return StudyHeader.of(
            self.record,
            self.name,
            directions=self.directions,
            metric_names=self.metric_names,
            steps=steps_label(record_of(t).unit for t in self.trials),
        )

    def objective_names(self) -> list[str]:
        """Display names of the objectives (``val_acc``; ``objective 0``, ... if unknown)."""
        n = len(self.directions)
        if len(self.metric_names) == n:
            return list(self.metric_names)
        metric = self.record.metric
        if n == 1 and metric:
            return [metric if metric.startswith("val_") else f"val_{metric}"]
        return ["objective"] if n == 1 else [f"objective {i}" for i in range(n)]
