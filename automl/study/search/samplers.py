"""Samplers by name: their arguments, ``auto``, and the check of a sampler against a space.

``plan_sampler`` is the one check of a sampler against a space: it resolves ``auto``, rejects
arguments the sampler does not take and spaces it cannot search (one line each, a
``UserError``), and returns notes worth printing before the study (what CMA-ES does with
categorical parameters, how much of a grid the budget covers). No Optuna here: a plan is
checked before Optuna is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from automl.core.errors import UserError
from automl.core.space import Fixed, Param
from automl.study.choices import Sampler, names
from automl.study.search.grid import categorical_names, grid_size, grid_values, numeric_names

__all__ = [
    "SAMPLERS",
    "SAMPLER_ARGS",
    "CROSSOVERS",
    "SamplerPlan",
    "plan_sampler",
    "resolve_auto",
    "sampler_keeps_state",
    "CONSTRAINED",
    "CONDITIONAL",
]

SAMPLERS = names(Sampler)
"""``sweep.sampler``'s names (``automl.study.choices.Sampler``)."""

CROSSOVERS = ("uniform", "blxalpha", "sbx", "vsbx", "undx", "spx")
"""NSGA-II crossover operators by name (``sweep.sampler_args.crossover``)."""

# The arguments ``sweep.sampler_args`` may set, per sampler, with the type each must have:
# ``int``, ``float``, ``bool``, a tuple of allowed strings, or ``grid_points`` (an int, or a
# mapping from parameter to int). Anything else is a one-line error naming these keys.
SAMPLER_ARGS: dict[str, dict[str, Any]] = {
    "tpe": {
        "n_startup_trials": int,
        "multivariate": bool,
        "group": bool,
        "n_ei_candidates": int,
        "constant_liar": bool,
    },
    "random": {},
    "gp": {"n_startup_trials": int, "deterministic_objective": bool},
    "cmaes": {
        "n_startup_trials": int,
        "popsize": int,
        "consider_pruned_trials": bool,
        "use_separable_cma": bool,
        "with_margin": bool,
        "lr_adapt": bool,
    },
    "qmc": {"qmc_type": ("sobol", "halton"), "scramble": bool},
    "grid": {"grid_points": "grid_points"},
    "nsga2": {
        "population_size": int,
        "mutation_prob": float,
        "crossover": CROSSOVERS,
        "crossover_prob": float,
        "swapping_prob": float,
    },
    "auto": {},
}

# The ``auto`` rule (docs/sweeps.md, measured in docs/benchmarks.md): GP on small budgets of
# mostly numeric spaces when every trial runs to the end, TPE otherwise (Optuna's GP models
# complete trials only: beside a pruner most of its proposals were pruned, a median of 77-83%, and
# its best validation result was no better than random search's); with several objectives
# NSGA-II once the budget holds a few generations, TPE (multi-objective TPE) below that.
AUTO_GP_MAX_TRIALS = 100
"""GP's cost per trial grows with the cube of the trials so far; past this TPE is used."""
AUTO_GP_MIN_NUMERIC_SHARE = 2 / 3
"""GP models numbers well and categories less so: at least this share must be numeric."""
AUTO_NSGA2_MIN_TRIALS = 200
"""NSGA-II needs several generations (of up to 50 trials) to beat multi-objective TPE."""

CONSTRAINED = ("tpe", "gp", "nsga2")
"""Samplers that steer away from infeasible regions (they read the constraint values each
trial sets with ``Trial.set_constraint``); the others sample as usual, and infeasible trials
are still recorded and never chosen."""

CONDITIONAL = ("tpe", "random", "nsga2")
"""Samplers that can search a conditional space (``model=auto``): GP, CMA-ES, QMC and grid
model or enumerate one fixed set of parameters."""


@dataclass(frozen=True)
class SamplerPlan:
    """A sampler choice checked against the space.

    Attributes:
        name: The sampler that runs (``auto`` resolved).
        requested: What ``sweep.sampler`` said.
        args: ``sweep.sampler_args``, checked.
        notes: One-line remarks to print before the study (never errors).
        grid: For ``grid``: parameter -> candidate values, in the space's order.
        conditional: The space is conditional (``model=auto``: a family's parameters exist
            only in its trials); TPE then samples them in groups (``group=True``).
        constraints: ``sweep.constraints``; the samplers that use them (``CONSTRAINED``)
            read each trial's constraint values (``Trial.set_constraint``).
    """

    name: str
    requested: str
    args: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    grid: dict[str, list[Any]] | None = None
    conditional: bool = False
    constraints: tuple[Any, ...] = ()

    @property
    def label(self) -> str:
        """``gp``, or ``auto: gp`` when ``auto`` chose it (for headers and summaries)."""
        return self.name if self.requested == self.name else f"{self.requested}: {self.name}"


def sampler_keeps_state(name: str) -> bool:
    """Whether the sampler must be built once per study with ``sweep.seed``.

    Most samplers are stateless between trials apart from their random generator (TPE, GP,
    random, NSGA-II read everything else from the storage; automl's CMA-ES re-derives its
    state from the completed trials), so a fresh one per trial, seeded from the trial, is
    fine and keeps workers from drawing the same start-up points. Two are not:

    - ``qmc``: the seed scrambles one low-discrepancy sequence and trial *k* takes its *k*-th
      point; a new seed per trial would draw each point from a different sequence, which is
      random search with extra steps.
    - ``grid``: the seed shuffles the grid once and trial *k* takes the *k*-th point of that
      order; with a seed per trial two trials could map to the same point.
    """
    if name not in SAMPLERS:
        raise UserError(f"sweep.sampler={name!r} is not one of {', '.join(SAMPLERS)}")
    return name in ("qmc", "grid")


def _type_ok(spec: type | tuple[str, ...] | str, value: Any) -> bool:
    if spec is bool:
        return isinstance(value, bool)
    if spec is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if spec is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(spec, tuple):
        return value in spec
    if spec == "grid_points":
        if isinstance(value, Mapping):
            return all(_type_ok(int, v) and v >= 1 for v in value.values())
        return _type_ok(int, value) and value >= 1
    raise AssertionError(spec)


def _spec_text(spec: Any) -> str:
    if isinstance(spec, tuple):
        return "one of " + ", ".join(spec)
    if spec == "grid_points":
        return "an integer >= 1 or a mapping {parameter: integer}"
    return {bool: "true or false", int: "an integer", float: "a number"}[spec]


def _check_args(name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    valid = SAMPLER_ARGS[name]
    unknown = sorted(set(args) - set(valid))
    if unknown:
        accepted = ", ".join(valid) if valid else "none"
        raise UserError(
            f"sweep.sampler_args: {', '.join(unknown)} is not an argument of sampler {name} "
            f"(valid: {accepted}); fix or drop it"
        )
    for key, value in args.items():
        if not _type_ok(valid[key], value):
            raise UserError(
                f"sweep.sampler_args.{key}={value!r}: sampler {name} needs {_spec_text(valid[key])}"
            )
    return dict(args)


def resolve_auto(
    space: Mapping[str, Param], n_trials: int, n_objectives: int = 1, *, prunes: bool = True
) -> str:
    """The sampler ``auto`` stands for (deterministic in its inputs).

    - several objectives: ``nsga2`` from ``AUTO_NSGA2_MIN_TRIALS`` trials on, else ``tpe``;
    - one objective: ``gp`` when no pruner stops trials, the budget is at most
      ``AUTO_GP_MAX_TRIALS`` trials and at least ``AUTO_GP_MIN_NUMERIC_SHARE`` of the searched
      parameters are numbers; else ``tpe``.
    """
    if n_objectives > 1:
        return "nsga2" if n_trials >= AUTO_NSGA2_MIN_TRIALS else "tpe"
    searched = [p for p in space.values() if not isinstance(p, Fixed)]
    numeric = numeric_names(space)
    if searched and len(numeric) / len(searched) >= AUTO_GP_MIN_NUMERIC_SHARE:
        if n_trials <= AUTO_GP_MAX_TRIALS and not prunes:
            return "gp"
    return "tpe"


def plan_sampler(
    name: str,
    *,
    space: Mapping[str, Param] | None,
    n_trials: int | None,
    n_objectives: int = 1,
    args: Mapping[str, Any] | None = None,
    prunes: bool = True,
    conditional: bool = False,
    constraints: tuple[Any, ...] = (),
) -> SamplerPlan:
    """Check ``sweep.sampler`` (and its arguments) against the space, before any study.

    Args:
        name: ``sweep.sampler``.
        space: The searched parameters (pinned ones excluded). ``None`` only where the caller
            does not know it: the checks that need it are skipped, and ``grid`` and ``auto``,
            which cannot work without it, are refused.
        n_trials: The study's trial budget (``None``: unknown).
        n_objectives: Number of objectives.
        args: ``sweep.sampler_args``.
        prunes: Whether a pruner may stop trials (``sweep.pruner`` is not ``none``); ``auto``
            avoids GP then.
        conditional: The space is ``model=auto``'s (families' parameters are conditional on
            the family): only ``CONDITIONAL`` samplers, and ``auto`` picks among them.
        constraints: ``sweep.constraints`` (a note when the sampler ignores them).

    Returns:
        The resolved sampler, its checked arguments, notes to print and, for ``grid``, the
        grid.

    Raises:
        UserError: An unknown sampler, an argument it does not take, or a space it cannot
            search.
    """
    if name not in SAMPLERS:
        raise UserError(f"sweep.sampler={name!r} is not one of {', '.join(SAMPLERS)}")
    args = _check_args(name, dict(args or {}))
    requested = name
    if name in ("grid", "auto") and (space is None or (name == "auto" and n_trials is None)):
        raise UserError(f"sweep.sampler={name} needs the search space and budget from the study")
    if name == "auto":
        assert space is not None and n_trials is not None
        name = resolve_auto(space, n_trials, n_objectives, prunes=prunes)
        if conditional and name not in CONDITIONAL:
            name = "tpe"
    if conditional and name not in CONDITIONAL:
        raise UserError(
            f"sweep.sampler={name} cannot search model=auto's conditional space (each family's "
            f"parameters exist only in its own trials); use {', '.join(CONDITIONAL)} or auto"
        )
    notes: list[str] = []
    if constraints and name not in CONSTRAINED:
        notes.append(
            f"{name} does not use sweep.constraints while sampling ({', '.join(CONSTRAINED)} "
            "do); infeasible trials are recorded and never chosen as best"
        )
    grid = None
    if n_objectives > 1 and name == "cmaes":
        raise UserError(
            "sweep.sampler=cmaes optimizes one objective; with several use nsga2, tpe, "
            "random, qmc or auto"
        )
    if name == "cmaes" and space is not None:
        numeric, categorical = numeric_names(space), categorical_names(space)
        if space and not numeric:
            raise UserError(
                f"sweep.sampler=cmaes searches numeric parameters only and every searched "
                f"parameter here is categorical ({', '.join(categorical)}); use tpe, gp or grid"
            )
        if categorical:
            notes.append(
                f"cmaes: {', '.join(categorical)} (categorical) are drawn at random, each on "
                f"its own, by Optuna's fallback sampler for CMA-ES; CMA-ES searches "
                f"{', '.join(numeric)}"
            )
    if name == "grid":
        assert space is not None
        grid = grid_values(space, args.get("grid_points"))
        size = grid_size(grid)
        if n_trials is not None and n_trials > size:
            notes.append(
                f"grid: {size} points; the study stops once each has run "
                f"(sweep.n_trials={n_trials} is more than the grid)"
            )
        elif n_trials is not None and n_trials < size:
            notes.append(
                f"grid: sweep.n_trials={n_trials} covers {n_trials} of the grid's {size} points "
                "(a seeded random order)"
            )
    if space is not None and not space and n_trials is not None and n_trials > 1:
        notes.append(
            f"the search space is one point (every parameter is pinned): the study runs it "
            f"once, not sweep.n_trials={n_trials} times (sweep=none trains once without a study)"
        )
    if name == "nsga2" and "crossover" in args and args["crossover"] in ("undx", "spx"):
        if args.get("population_size", 3) < 3:
            raise UserError(
                f"sweep.sampler_args.crossover={args['crossover']} needs three parents: "
                "population_size >= 3"
            )
    return SamplerPlan(
        name=name,
        requested=requested,
        args=args,
        notes=tuple(notes),
        grid=grid,
        conditional=conditional,
        constraints=tuple(constraints),
    )
