"""Samplers and pruners by name, from the ``sweep`` config."""

from __future__ import annotations

from typing import Any

import optuna

from automl.config import PRUNERS, SAMPLERS
from automl.errors import UserError

__all__ = ["make_sampler", "make_pruner"]


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """A seeded sampler: ``tpe`` (multivariate, few start-up trials) or ``random``."""
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=5)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise UserError(f"sweep.sampler={name!r} is not one of {', '.join(SAMPLERS)}")


def make_pruner(name: str, args: dict[str, Any] | None = None) -> optuna.pruners.BasePruner:
    """A pruner by name; ``args`` go to its constructor (e.g. ``n_startup_trials``)."""
    classes = {
        "median": optuna.pruners.MedianPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "threshold": optuna.pruners.ThresholdPruner,
        "none": optuna.pruners.NopPruner,
    }
    if name not in classes:
        raise UserError(f"sweep.pruner={name!r} is not one of {', '.join(PRUNERS)}")
    try:
        return classes[name](**dict(args or {}))
    except TypeError as exc:
        raise UserError(
            f"sweep.pruner_args {dict(args or {})} do not fit the {name} pruner ({exc}); "
            f"see optuna.pruners.{classes[name].__name__}"
        ) from None
