"""Samplers and pruners by name, from the ``sweep`` config: the study's one entry point.

Which sampler runs, with which arguments, and whether it can search the space is decided in
``automl.study.search`` (no Optuna there); this module builds the Optuna sampler of such a plan.
automl's own sampler classes (CMA-ES without pickles, grid and QMC points by ticket) are in
``automl.tuning.samplers``, pruner construction in ``automl.tuning.pruners``; both are
re-exported here.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.exceptions import ExperimentalWarning

from automl.core.errors import UserError
from automl.core.space import Param
from automl.study.search import (
    SamplerPlan,
    check_pruner,
    plan_sampler,
    pruner_wants_fold_values,
    sampler_keeps_state,
)
from automl.tuning.pruners import PRUNER_DEFAULTS, make_pruner, study_pruner
from automl.tuning.samplers import (
    GridExhausted,
    SafeCmaEsSampler,
    TicketGridSampler,
    TicketQMCSampler,
    distributions,
)

__all__ = [
    "make_sampler",
    "build_sampler",
    "make_pruner",
    "study_pruner",
    "sampler_keeps_state",
    "pruner_wants_fold_values",
    "check_pruner",
    "distributions",
    "SafeCmaEsSampler",
    "TicketGridSampler",
    "TicketQMCSampler",
    "GridExhausted",
    "SAMPLER_DEFAULTS",
    "PRUNER_DEFAULTS",
]

# automl's defaults per sampler, under the user's ``sweep.sampler_args``.
SAMPLER_DEFAULTS: dict[str, dict[str, Any]] = {
    # Studies here are tens of trials: 5 random start-up trials, not Optuna's 10.
    "tpe": {"multivariate": True, "n_startup_trials": 5},
    "gp": {"n_startup_trials": 5},
    # With pruning, half the trials of a study may be pruned; without their (last reported)
    # values a CMA-ES generation would wait for twice as many trials.
    "cmaes": {"consider_pruned_trials": True},
    # Scrambled, so each seed is a different low-discrepancy sequence (an unscrambled Sobol
    # sequence is the same for every seed).
    "qmc": {"qmc_type": "sobol", "scramble": True},
    "nsga2": {"crossover": "uniform"},
    "random": {},
    "grid": {},
}

NSGA2_POPULATION = (8, 50)
"""Bounds of NSGA-II's default population: a fifth of the budget, so it sees ~5 generations."""


def make_sampler(
    name: str,
    seed: int,
    *,
    space: Mapping[str, Param] | None = None,
    n_trials: int | None = None,
    n_objectives: int = 1,
    args: Mapping[str, Any] | None = None,
    prunes: bool = True,
) -> optuna.samplers.BaseSampler:
    """A sampler by name, seeded, checked against the space (``automl.study.search.plan_sampler``).

    Cheap and deterministic in ``seed``: a study may build one per trial with a seed derived
    from the trial, except for samplers where ``sampler_keeps_state(name)`` (build those once
    per study with ``sweep.seed``).

    Args:
        name: ``sweep.sampler``: tpe, random, gp, cmaes, qmc, grid, nsga2 or auto.
        seed: Seed of the sampler's random draws.
        space: The searched parameters (``RunPlan.space``). ``None`` skips the checks that
            need it; ``grid`` and ``auto`` refuse to run without it.
        n_trials: The study's budget (``auto``'s rule, NSGA-II's population, grid notes).
        n_objectives: Number of objectives.
        args: ``sweep.sampler_args``, over ``SAMPLER_DEFAULTS``.
        prunes: Whether a pruner may stop trials (``sweep.pruner != "none"``; ``auto``).

    Raises:
        UserError: An unknown sampler, argument or incompatible space (one line).
    """
    plan = plan_sampler(
        name, space=space, n_trials=n_trials, n_objectives=n_objectives, args=args, prunes=prunes
    )
    return build_sampler(plan, seed, space=space, n_trials=n_trials)


def build_sampler(
    plan: SamplerPlan,
    seed: int,
    *,
    space: Mapping[str, Param] | None = None,
    n_trials: int | None = None,
) -> optuna.samplers.BaseSampler:
    """The Optuna sampler of a checked ``SamplerPlan``.

    A conditional space (``model=auto``) has TPE sample each family's parameters as a group;
    constraints go to the samplers that take them (``automl.study.search.CONSTRAINED``).
    """
    kwargs = {**SAMPLER_DEFAULTS[plan.name], **plan.args}
    if plan.conditional and plan.name == "tpe":
        kwargs = {"group": True, **kwargs}
    # Constraints reach TPE, GP and NSGA-II through each trial's own constraint values
    # (``Trial.set_constraint``, set by the objective), not a constraints_func.
    # Experimental flags (QMC, pruned trials in CMA-ES) are chosen on purpose and documented.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        try:
            return _build(plan, seed, kwargs, space, n_trials)
        except (TypeError, ValueError) as exc:
            raise UserError(
                f"sweep.sampler_args {plan.args} do not fit the {plan.name} sampler ({exc})"
            ) from None


def _build(
    plan: SamplerPlan,
    seed: int,
    kwargs: dict[str, Any],
    space: Mapping[str, Param] | None,
    n_trials: int | None,
) -> optuna.samplers.BaseSampler:
    samplers = optuna.samplers
    if plan.name == "tpe":
        return samplers.TPESampler(seed=seed, **kwargs)
    if plan.name == "random":
        return samplers.RandomSampler(seed=seed)
    if plan.name == "gp":
        return samplers.GPSampler(seed=seed, **kwargs)
    if plan.name == "cmaes":
        return SafeCmaEsSampler(seed=seed, warn_independent_sampling=False, **kwargs)
    if plan.name == "qmc":
        known = distributions(space) if space is not None else None
        return TicketQMCSampler(seed=seed, space=known, **kwargs)
    if plan.name == "grid":
        assert plan.grid is not None
        return TicketGridSampler(plan.grid, seed=seed)
    if plan.name == "nsga2":
        from optuna.samplers import nsgaii

        crossovers: dict[str, type[nsgaii.BaseCrossover]] = {
            "uniform": nsgaii.UniformCrossover,
            "blxalpha": nsgaii.BLXAlphaCrossover,
            "sbx": nsgaii.SBXCrossover,
            "vsbx": nsgaii.VSBXCrossover,
            "undx": nsgaii.UNDXCrossover,
            "spx": nsgaii.SPXCrossover,
        }
        kwargs["crossover"] = crossovers[kwargs["crossover"]]()
        if "population_size" not in kwargs:
            low, high = NSGA2_POPULATION
            kwargs["population_size"] = min(high, max(low, (n_trials or 5 * high) // 5))
        return samplers.NSGAIISampler(seed=seed, **kwargs)
    raise AssertionError(plan.name)  # plan_sampler admits only the names above
