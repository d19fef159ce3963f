"""Search-space primitives: ``Float``, ``Int`` and ``Choice``, and their Hydra form.

A plugin declares its space in Python; the space is also stored as a plain config group
(``space``) so the user can narrow, widen, fix, remove or add parameters from the command line:

    space.lr.low=1e-3               # narrow one bound
    space.dropout=0.1               # fix a value (no longer searched)
    ~space.batch_size               # stop searching it (the model default is used)
    '+space.width={type:int,low:8,high:64}'   # search another config field

This module never imports Optuna: ``suggest`` calls the trial's public ``suggest_*`` methods.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from automl.core.errors import SpaceError

if TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = [
    "Float",
    "Int",
    "Choice",
    "Param",
    "Fixed",
    "Suggester",
    "ChoiceValue",
    "parse_space",
    "space_to_node",
    "validate_space",
    "describe",
]

_SCALARS = (bool, int, float, str, type(None))

ChoiceValue = bool | int | float | str | None
"""A value a ``Choice`` can hold (what Optuna stores for a categorical parameter)."""


class Suggester(Protocol):
    """What ``suggest`` needs of a trial: Optuna's public ``suggest_*`` methods (an
    ``optuna.Trial`` is one; this module never imports Optuna)."""

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float: ...

    def suggest_int(
        self, name: str, low: int, high: int, *, step: int = 1, log: bool = False
    ) -> int: ...

    def suggest_categorical(self, name: str, choices: Sequence[ChoiceValue]) -> ChoiceValue: ...


@dataclass(frozen=True)
class Float:
    """A real-valued parameter in ``[low, high]``.

    Args:
        low: Smallest value.
        high: Largest value.
        log: Sample on a log scale (``low`` must be > 0).
        step: Discretization step; not combinable with ``log``.
    """

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def check(self, name: str) -> None:
        """Raise ``SpaceError`` if the range cannot be sampled."""
        _check_range(name, self.low, self.high, self.log, self.step)

    def suggest(self, trial: Suggester, name: str) -> float:
        """Sample through ``trial.suggest_float``."""
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)

    def to_node(self) -> dict[str, Any]:
        node: dict[str, Any] = {"type": "float", "low": self.low, "high": self.high}
        if self.log:
            node["log"] = True
        if self.step is not None:
            node["step"] = self.step
        return node


@dataclass(frozen=True)
class Int:
    """An integer parameter in ``[low, high]`` (both included).

    Args:
        low: Smallest value.
        high: Largest value.
        log: Sample on a log scale (``low`` must be >= 1).
        step: Distance between candidate values.
    """

    low: int
    high: int
    log: bool = False
    step: int = 1

    def check(self, name: str) -> None:
        """Raise ``SpaceError`` if the range cannot be sampled."""
        for bound in (self.low, self.high, self.step):
            if isinstance(bound, bool) or not isinstance(bound, int):
                raise SpaceError(
                    f"space.{name}: int bounds and step must be integers, got {bound!r}; "
                    "use type: float for real values"
                )
        _check_range(name, self.low, self.high, self.log, None if self.step == 1 else self.step)

    def suggest(self, trial: Suggester, name: str) -> int:
        """Sample through ``trial.suggest_int``."""
        return trial.suggest_int(name, self.low, self.high, log=self.log, step=self.step)

    def to_node(self) -> dict[str, Any]:
        node: dict[str, Any] = {"type": "int", "low": self.low, "high": self.high}
        if self.log:
            node["log"] = True
        if self.step != 1:
            node["step"] = self.step
        return node


@dataclass(frozen=True)
class Choice:
    """One of a fixed list of values (bool, int, float, str or None).

    Args:
        options: The candidate values, in order.
    """

    options: tuple[Any, ...]

    def __init__(self, options: Any) -> None:
        object.__setattr__(self, "options", tuple(options))

    def check(self, name: str) -> None:
        """Raise ``SpaceError`` for an empty list or a value Optuna cannot store."""
        if not self.options:
            raise SpaceError(f"space.{name}: choices is empty; give at least one value")
        for option in self.options:
            if not isinstance(option, _SCALARS):
                raise SpaceError(
                    f"space.{name}: choice {option!r} is not a bool, int, float, str or null"
                )

    def suggest(self, trial: Suggester, name: str) -> ChoiceValue:
        """Sample through ``trial.suggest_categorical``."""
        return trial.suggest_categorical(name, list(self.options))

    def to_node(self) -> dict[str, Any]:
        return {"type": "choice", "choices": list(self.options)}


@dataclass(frozen=True)
class Fixed:
    """A value the user pinned: set in the config, not sampled."""

    value: Any

    def check(self, name: str) -> None:
        """Fixed values are always valid here; the config type check happens later."""

    def suggest(self, trial: Suggester, name: str) -> Any:
        return self.value

    def to_node(self) -> Any:
        return self.value


Param = Float | Int | Choice | Fixed


def _check_range(name: str, low: Any, high: Any, log: bool, step: Any) -> None:
    for label, bound in (("low", low), ("high", high)):
        if isinstance(bound, bool) or not isinstance(bound, (int, float)):
            raise SpaceError(f"space.{name}.{label} must be a number, got {bound!r}")
        if not math.isfinite(bound):
            raise SpaceError(f"space.{name}.{label} must be finite, got {bound!r}")
    if low > high:
        raise SpaceError(
            f"space.{name}: low ({low}) > high ({high}); swap them or fix the value "
            f"with space.{name}=VALUE"
        )
    if log and low <= 0:
        raise SpaceError(f"space.{name}: log scale needs low > 0, got low={low}")
    if log and step is not None:
        raise SpaceError(f"space.{name}: log and step cannot be combined; drop one")
    if step is not None and step <= 0:
        raise SpaceError(f"space.{name}: step must be > 0, got {step}")


_TYPES = {"float": Float, "int": Int, "choice": Choice}
_KEYS = {
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
    "choice": {"type", "choices"},
}


def _parse_param(name: str, node: object) -> Param:
    if not isinstance(node, Mapping):
        if isinstance(node, (list, tuple)):
            raise SpaceError(
                f"space.{name}: a bare list is ambiguous; write "
                f"'space.{name}={{type:choice,choices:[...]}}' to search it"
            )
        return Fixed(node)
    kind = node.get("type")
    if kind not in _TYPES:
        raise SpaceError(
            f"space.{name}: type must be one of float, int, choice (got {kind!r}); "
            f"example: '+space.{name}={{type:float,low:0.0,high:1.0}}'"
        )
    unknown = set(node) - _KEYS[kind]
    if unknown:
        raise SpaceError(
            f"space.{name}: unknown key(s) {sorted(unknown)} for type {kind}; "
            f"valid keys: {sorted(_KEYS[kind])}"
        )
    if kind == "choice":
        choices = node.get("choices")
        if choices is None or isinstance(choices, (str, bytes)) or not hasattr(choices, "__iter__"):
            raise SpaceError(f"space.{name}: type choice needs a list under 'choices'")
        param: Param = Choice(list(choices))
    else:
        missing = {"low", "high"} - set(node)
        if missing:
            raise SpaceError(f"space.{name}: type {kind} needs {sorted(missing)}")
        kwargs = {k: node[k] for k in ("low", "high", "log", "step") if node.get(k) is not None}
        kwargs["log"] = bool(kwargs.get("log", False))
        param = _TYPES[kind](**kwargs)
    param.check(name)
    return param


def parse_space(node: Mapping[str, Any] | None) -> dict[str, Param]:
    """Turn the ``space`` config node (or a plugin's mapping) into parameters.

    Args:
        node: Mapping from dotted config path to a ``{type: ...}`` mapping, a parameter
            object, or a plain value (which pins the field to that value).

    Returns:
        Mapping from dotted path to ``Float``/``Int``/``Choice``/``Fixed``.

    Raises:
        SpaceError: For unknown types, empty choices, or ranges that cannot be sampled.
    """
    space: dict[str, Param] = {}
    for name, entry in (node or {}).items():
        if isinstance(entry, (Float, Int, Choice, Fixed)):
            entry.check(name)
            space[str(name)] = entry
        else:
            space[str(name)] = _parse_param(str(name), entry)
    return space


def space_to_node(space: Mapping[str, Param]) -> dict[str, Any]:
    """The config-group form of a plugin's space (what ``--cfg job`` shows under ``space``)."""
    return {name: param.to_node() for name, param in space.items()}


def validate_space(space: Mapping[str, Param], model_cfg: DictConfig) -> None:
    """Check every parameter against the composed model config.

    Every path must name an existing field, and every value the parameter can take
    (bounds, choices, a fixed value) must be accepted by that field's type.

    Args:
        space: Parsed parameters.
        model_cfg: The model's ``DictConfig`` (a structured config, so it knows its types).

    Raises:
        SpaceError: Naming the parameter, the problem and the valid field names.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    fields = sorted(_leaf_paths(model_cfg))
    for name, param in space.items():
        if name not in fields:
            raise SpaceError(
                f"space.{name}: the model config has no field '{name}'; "
                f"valid fields: {', '.join(fields)}"
            )
        field_type = OmegaConf.get_type(model_cfg, name) if "." not in name else None
        if isinstance(param, Float) and field_type is int:
            raise SpaceError(f"space.{name}: field '{name}' is an int; use type: int (or a choice)")
        probe = copy.deepcopy(model_cfg)  # a deep copy keeps the structured field types
        for value in _probe_values(param):
            try:
                OmegaConf.update(probe, name, value, merge=True)
            except OmegaConfBaseException as exc:
                raise SpaceError(
                    f"space.{name}: value {value!r} does not fit field '{name}' "
                    f"({type(OmegaConf.select(model_cfg, name)).__name__}): "
                    f"{str(exc).splitlines()[0]}"
                ) from None


def _probe_values(param: Param) -> list[Any]:
    if isinstance(param, Choice):
        return list(param.options)
    if isinstance(param, Fixed):
        return [param.value]
    return [param.low, param.high]


def _leaf_paths(node: DictConfig, prefix: str = "") -> list[str]:
    from omegaconf import DictConfig

    paths = []
    for key in node.keys():
        value = node._get_node(key)
        path = prefix + str(key)
        if isinstance(value, DictConfig):
            paths.extend(_leaf_paths(value, path + "."))
        else:
            paths.append(path)
    return paths


def describe(param: Param) -> str:
    """A short human form of a parameter, for ``plugins`` and the docs."""
    if isinstance(param, Choice):
        return "{" + ", ".join(map(str, param.options)) + "}"
    if isinstance(param, Fixed):
        return f"= {param.value!r}"
    text = f"[{param.low}, {param.high}]"
    if param.log:
        text += " log"
    if isinstance(param, Float) and param.step is not None:
        text += f" step {param.step}"
    if isinstance(param, Int) and param.step != 1:
        text += f" step {param.step}"
    return text
