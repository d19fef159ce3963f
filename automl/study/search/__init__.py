"""Samplers and pruners by name: their arguments, the checks run before a study, ``auto``, grids.

Every decision about *which* search runs lives in this package, without Optuna (a plan can be
checked before Optuna is imported); ``automl.tuning.factories`` builds the Optuna objects from
it.

- ``automl.study.search.samplers``: sampler names and arguments, ``plan_sampler`` (the one check of
  a sampler against a space), ``auto``;
- ``automl.study.search.grid``: the values a grid search enumerates;
- ``automl.study.search.pruners``: pruner names and the check of a pruner against the data protocol.
"""

from __future__ import annotations

from automl.study.search.grid import grid_values
from automl.study.search.pruners import (
    PATIENT_KEYS,
    PRUNERS,
    check_pruner,
    pruner_wants_fold_values,
)
from automl.study.search.samplers import (
    CONDITIONAL,
    CONSTRAINED,
    CROSSOVERS,
    SAMPLER_ARGS,
    SAMPLERS,
    SamplerPlan,
    plan_sampler,
    resolve_auto,
    sampler_keeps_state,
)

__all__ = [
    "SAMPLERS",
    "PRUNERS",
    "SAMPLER_ARGS",
    "CROSSOVERS",
    "SamplerPlan",
    "plan_sampler",
    "resolve_auto",
    "grid_values",
    "sampler_keeps_state",
    "pruner_wants_fold_values",
    "check_pruner",
    "PATIENT_KEYS",
    "CONSTRAINED",
    "CONDITIONAL",
]
