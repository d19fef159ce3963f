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


# Defaults tuned for short studies (tens of trials, tens of epochs): judge after a few
# complete trials and a few epochs. User ``sweep.pruner_args`` override them key by key.
PRUNER_DEFAULTS: dict[str, dict[str, Any]] = {
    "median": {"n_startup_trials": 4, "n_warmup_steps": 3},
    "hyperband": {"min_resource": 2, "reduction_factor": 3},
    "threshold": {},
    "none": {},
}


def make_pruner(name: str, args: dict[str, Any] | None = None) -> optuna.pruners.BasePruner:
    """A pruner by name; ``args`` go to its constructor on top of ``PRUNER_DEFAULTS``."""
    classes = {
        "median": optuna.pruners.MedianPruner,
        "hyperband": optuna.pruners.HyperbandPruner,
        "threshold": optuna.pruners.ThresholdPruner,
        "none": optuna.pruners.NopPruner,
    }
    if name not in classes:
        raise UserError(f"sweep.pruner={name!r} is not one of {', '.join(PRUNERS)}")
    if name == "none":
        return optuna.pruners.NopPruner()  # arguments a recipe set for its pruner are moot
    kwargs = {**PRUNER_DEFAULTS[name], **dict(args or {})}
    try:
        return classes[name](**kwargs)
    except (TypeError, ValueError) as exc:
        raise UserError(
            f"sweep.pruner_args {dict(args or {})} do not fit the {name} pruner ({exc}); "
            f"see optuna.pruners.{classes[name].__name__}"
        ) from None
