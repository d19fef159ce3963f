"""What a study optimizes: ``sweep.objectives``, and the bounds it keeps: ``sweep.constraints``.

Both are parsed here, once, from plain strings and without ``eval``: an objective is a name with
an optional direction (``val_acc``, ``val_acc:max``, ``latency_ms:min``), a constraint a name, a
comparison and a number (``n_params<=200000``). A name is a validation metric the model reports
(``val_acc``; a bare ``acc`` means ``val_acc``) or one of the measures automl records for every
completed trial (``BUILTINS``). Anything else is one ``ObjectiveError`` line (exit 2) before any
study exists.

Parsing happens in two steps because a metric's default direction can depend on the data:
``parse_objectives`` checks the syntax when the plan is made, ``resolve_objectives`` fills in
directions once the run knows the model's own metric. Nothing here imports Optuna or training
code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from automl.core.errors import UserError

__all__ = [
    "BUILTINS",
    "OPS",
    "Objective",
    "ObjectiveSpec",
    "Constraint",
    "ObjectiveError",
    "parse_objectives",
    "resolve_objectives",
    "parse_constraints",
    "natural_direction",
    "metric_key",
    "check_reported",
]

Direction = Literal["maximize", "minimize"]

BUILTINS: Mapping[str, str] = {
    "n_params": "trainable parameters (torch) or fitted numbers (tree nodes, coefficients)",
    "train_s": "seconds the trial spent training (all folds with data.folds)",
    "latency_ms": "median milliseconds of one prediction call on a fixed batch of "
    "validation rows (LATENCY_ROWS), measured after training through the model's backend",
}
"""Measures every completed trial records besides the model's own validation metrics."""

OPS = ("<=", ">=", "<", ">")
"""Comparisons a constraint may use."""

_SHORT = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}
# Metric names that are minimized; every other metric a model reports (acc, f1, r2, auc,
# precision, recall) is maximized.
_MINIMIZED = {"loss", "rmse", "mse", "mae", "mape", "fid", "fd", "error", "logloss", "nll"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_CONSTRAINT = re.compile(rf"\s*({_NAME.pattern})\s*(<=|>=|<|>)\s*({_NUMBER})\s*")
_NAMES_HELP = (
    f"names: {', '.join(BUILTINS)} or a validation metric the model reports (val_acc, val_f1, "
    "val_rmse, ...)"
)


class ObjectiveError(UserError):
    """``sweep.objectives`` or ``sweep.constraints`` cannot be understood (exit 2)."""


def metric_key(name: str) -> str:
    """The stored key of a name: built-ins as they are, metrics with their ``val_`` prefix."""
    if name in BUILTINS or name.startswith("val_"):
        return name
    return f"val_{name}"


def natural_direction(key: str) -> Direction:
    """``minimize`` for the built-in measures, losses and errors (``val_loss``, ``val_rmse``,
    ``*_std``); ``maximize`` for every other metric."""
    if key in BUILTINS:
        return "minimize"
    base = key.removeprefix("val_").removeprefix("test_")
    if base in _MINIMIZED or base.endswith(("loss", "error", "_std")):
        return "minimize"
    return "maximize"


def _check_name(name: str, where: str, text: str) -> str:
    if not _NAME.fullmatch(name):
        raise ObjectiveError(
            f"{where}: {text!r} does not name a measure ({_NAMES_HELP}); e.g. "
            "sweep.objectives=[val_acc,latency_ms:min]"
        )
    if name.startswith("test_"):
        raise ObjectiveError(
            f"{where}: {text!r} names a test metric; the test split is used once, after the "
            f"search, so a study optimizes validation metrics: use val_{name[5:]}"
        )
    return metric_key(name)


@dataclass(frozen=True)
class ObjectiveSpec:
    """One entry of ``sweep.objectives`` as written: a key and, if given, its direction."""

    key: str
    direction: Direction | None = None


@dataclass(frozen=True)
class Objective:
    """One objective of a study.

    Attributes:
        key: The measure: ``val_<metric>`` or one of ``BUILTINS``.
        direction: ``maximize`` or ``minimize``.
    """

    key: str
    direction: Direction

    @property
    def builtin(self) -> bool:
        """A measure automl records (``n_params``, ``train_s``, ``latency_ms``), not a metric."""
        return self.key in BUILTINS

    @property
    def short(self) -> str:
        """``val_acc:max``: the form ``sweep.objectives`` accepts."""
        return f"{self.key}:{'max' if self.direction == 'maximize' else 'min'}"

    def __str__(self) -> str:
        return f"{self.key} ({self.direction})"


def _as_list(value: object, setting: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return list(value)
    raise ObjectiveError(f"{setting}={value!r} must be a list, e.g. {setting}=[val_acc,n_params]")


def parse_objectives(value: object) -> tuple[ObjectiveSpec, ...]:
    """Check ``sweep.objectives``; directions not written stay ``None`` (``resolve_objectives``).

    Raises:
        ObjectiveError: A name that is not a measure, an unknown direction, a repeat.
    """
    specs: list[ObjectiveSpec] = []
    for item in _as_list(value, "sweep.objectives"):
        text = str(item).strip()
        name, sep, way = text.partition(":")
        key = _check_name(name.strip(), "sweep.objectives", text)
        direction = None
        if sep:
            if way.strip().lower() not in _SHORT:
                raise ObjectiveError(
                    f"sweep.objectives: {text!r}: the direction after ':' must be max or min "
                    f"(e.g. {key}:max)"
                )
            direction = _SHORT[way.strip().lower()]
        if any(s.key == key for s in specs):
            raise ObjectiveError(f"sweep.objectives names {key} twice; name each measure once")
        specs.append(ObjectiveSpec(key, direction))  # type: ignore[arg-type]
    return tuple(specs)


def resolve_objectives(
    specs: Sequence[ObjectiveSpec], metric: str, direction: Direction
) -> tuple[Objective, ...]:
    """The objectives with their directions.

    A direction not written is the model's own for its metric (``metric``, ``direction``: the
    plugin's objective on this data), ``minimize`` for the built-in measures, else the
    metric's nature (``natural_direction``). No specs: the model's metric alone.
    """
    own = metric_key(metric)
    if not specs:
        return (Objective(own, direction),)
    out = []
    for spec in specs:
        if spec.direction is not None:
            out.append(Objective(spec.key, spec.direction))
        elif spec.key == own:
            out.append(Objective(spec.key, direction))
        else:
            out.append(Objective(spec.key, natural_direction(spec.key)))
    return tuple(out)


@dataclass(frozen=True)
class Constraint:
    """``key op bound``: a trial is feasible when its measure satisfies it.

    Attributes:
        key: The measure (``n_params``, ``val_acc``, ...).
        op: One of ``OPS``.
        bound: The number it is compared with.
    """

    key: str
    op: str
    bound: float

    def violation(self, value: float | None) -> float:
        """How far ``value`` is outside the bound: ``<= 0`` feasible, ``> 0`` infeasible (the
        convention of Optuna's ``constraints_func``). A missing or non-finite value is
        infeasible."""
        if value is None or not math.isfinite(value):
            return math.inf
        gap = value - self.bound if self.op in ("<=", "<") else self.bound - value
        if self.op in ("<", ">") and gap == 0:
            # Equal is outside a strict bound; the smallest positive step says so.
            return math.ulp(max(abs(self.bound), 1.0))
        return gap

    def satisfied(self, value: float | None) -> bool:
        """Whether ``value`` is within the bound."""
        return self.violation(value) <= 0

    def __str__(self) -> str:
        return f"{self.key}{self.op}{self.bound:g}"


def parse_constraints(value: object) -> tuple[Constraint, ...]:
    """Parse ``sweep.constraints`` (``["n_params<=200000", "latency_ms<=2"]``) without ``eval``.

    Raises:
        ObjectiveError: Anything that is not ``NAME OP NUMBER`` with ``OP`` one of ``OPS``.
    """
    out = []
    for item in _as_list(value, "sweep.constraints"):
        text = str(item)
        match = _CONSTRAINT.fullmatch(text)
        if match is None:
            raise ObjectiveError(
                f"sweep.constraints: {text!r} is not NAME<=NUMBER (or >=, <, >), e.g. "
                f'\'sweep.constraints=["n_params<=200000","latency_ms<=2"]\'; {_NAMES_HELP}'
            )
        name, op, number = match.groups()
        bound = float(number)
        if not math.isfinite(bound):
            raise ObjectiveError(f"sweep.constraints: {text!r}: the bound must be finite")
        out.append(Constraint(_check_name(name, "sweep.constraints", text), op, bound))
    return tuple(out)


def check_reported(
    objectives: Sequence[Objective],
    constraints: Sequence[Constraint],
    model: str,
    reported: Sequence[str],
    task: str,
) -> None:
    """Refuse an objective or constraint that names a metric the model does not report.

    Args:
        objectives: The study's objectives (directions resolved).
        constraints: Its constraints.
        model: The model plugin, for the message.
        reported: The keys of the validation metrics it reports (``val_acc``, ...).
        task: The data's task, for the message.

    Raises:
        ObjectiveError: Naming the key and the valid ones, before any trial trains.
    """
    for setting, keys in (
        ("sweep.objectives", [o.key for o in objectives]),
        ("sweep.constraints", [c.key for c in constraints]),
    ):
        for key in keys:
            if key in BUILTINS or key in reported:
                continue
            raise ObjectiveError(
                f"{setting}: model {model} reports no {key} on {task} data; it reports "
                f"{', '.join(reported)}, and automl measures {', '.join(BUILTINS)}: name one "
                "of those"
            )
