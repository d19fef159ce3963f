"""The grid of a search space: the candidate values ``sweep.sampler=grid`` enumerates."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from automl.core.errors import UserError
from automl.core.space import Choice, Fixed, Float, Int, Param

__all__ = ["grid_values", "grid_size", "numeric_names", "categorical_names"]


def numeric_names(space: Mapping[str, Param]) -> list[str]:
    """The searched numeric parameters (what a grid spaces out and CMA-ES searches)."""
    return [n for n, p in space.items() if isinstance(p, (Float, Int))]


def categorical_names(space: Mapping[str, Param]) -> list[str]:
    """The searched categorical parameters."""
    return [n for n, p in space.items() if isinstance(p, Choice)]


def _evenly(param: Float | Int, k: int) -> list[Any]:
    """``k`` values from ``low`` to ``high`` (log-spaced for log parameters), on the step."""
    low, high = param.low, param.high
    if k == 1:
        points = [low]
    elif param.log:
        points = [low * (high / low) ** (i / (k - 1)) for i in range(k)]
        points[-1] = high
    else:
        points = [low + (high - low) * i / (k - 1) for i in range(k)]
        points[-1] = high
    if isinstance(param, Int):
        int_step = param.step
        top = high - (high - low) % int_step  # the largest value on the step
        values: list[Any] = [min(low + round((v - low) / int_step) * int_step, top) for v in points]
    elif param.step is not None:
        step = param.step
        values = [_clean(low + round((v - low) / step) * step) for v in points]
    else:
        values = [_clean(v) for v in points]
    return list(dict.fromkeys(values))  # rounding onto a step can merge neighbours


def _clean(value: float) -> float:
    """Drop float noise (``0.30000000000000004`` -> ``0.3``) so grids print and compare cleanly."""
    return float(f"{value:.12g}")


def _all_values(param: Float | Int) -> list[Any] | None:
    """Every value a discrete numeric parameter can take; ``None`` for a continuous one."""
    if isinstance(param, Int):
        return list(range(param.low, param.high + 1, param.step))
    if param.step is None:
        return None
    count = int(math.floor((param.high - param.low) / param.step + 1e-9)) + 1
    return [_clean(param.low + i * param.step) for i in range(count)]


def grid_values(space: Mapping[str, Param], grid_points: object = None) -> dict[str, list[Any]]:
    """The grid of a space: candidate values per parameter.

    Choices keep their options; int parameters and floats with a ``step`` take every value
    on their step; floats without a step need ``grid_points``. ``grid_points: N`` puts N
    evenly spaced values (log-spaced for log parameters) on every numeric parameter with more
    than N values; ``grid_points: {lr: 5}`` does it for the named parameters only.

    Raises:
        UserError: A continuous float without ``grid_points``, or ``grid_points`` naming a
            parameter that is not searched.
    """
    per_param = dict(grid_points) if isinstance(grid_points, Mapping) else {}
    everywhere = grid_points if not isinstance(grid_points, Mapping) else None
    unknown = sorted(set(per_param) - {n for n, p in space.items() if isinstance(p, (Float, Int))})
    if unknown:
        raise UserError(
            f"sweep.sampler_args.grid_points names {', '.join(unknown)}, which is not a searched "
            f"numeric parameter (numeric: {', '.join(numeric_names(space)) or 'none'})"
        )
    grid: dict[str, list[Any]] = {}
    continuous = []
    for name, param in space.items():
        if isinstance(param, Fixed):
            continue
        if isinstance(param, Choice):
            grid[name] = list(param.options)
            continue
        k = per_param.get(name, everywhere)
        values = _all_values(param)
        if values is None and k is None:
            continuous.append(name)
            continue
        if k is not None and (values is None or len(values) > k):
            grid[name] = _evenly(param, k)
        elif values is not None:
            grid[name] = values
    if continuous:
        names = ", ".join(continuous)
        raise UserError(
            f"sweep.sampler=grid cannot enumerate continuous float parameters ({names}); give "
            f"them a step (space.{continuous[0]}.step=...) or set "
            "sweep.sampler_args.grid_points (e.g. '+sweep.sampler_args.grid_points=5')"
        )
    return grid


def grid_size(grid: Mapping[str, list[Any]]) -> int:
    """How many points a grid has."""
    return math.prod(len(v) for v in grid.values())
