"""Samplers and pruners by name, from the ``sweep`` config.

Which sampler runs, with which arguments, and whether it can search the space is decided in
``automl.search`` (no Optuna there); this module builds the Optuna objects. Three samplers are
automl's own subclasses of Optuna's:

- ``cmaes`` (``SafeCmaEsSampler``): Optuna's ``CmaEsSampler`` pickles its optimizer into the
  storage and unpickles whatever it finds there before each trial, so anyone who can write
  the study database could run code in every worker. automl never unpickles anything read
  from a storage: this sampler re-derives the CMA state from the completed trials instead.
- ``grid`` (``TicketGridSampler``) and ``qmc`` (``TicketQMCSampler``): Optuna's versions pick
  the next point by reading what other trials took and then writing their choice, which two
  workers can do at once (both take the same point). Here trial *k* takes point *k*, where
  *k* counts the study's earlier trials: trial numbers are handed out atomically by every
  storage, so no two trials of any number of workers get the same point.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.exceptions import ExperimentalWarning
from optuna.samplers import CmaEsSampler, GridSampler, QMCSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from automl.errors import UserError
from automl.search import (
    PATIENT_KEYS,
    PRUNERS,
    SamplerPlan,
    check_pruner,
    plan_sampler,
    pruner_wants_fold_values,
    sampler_keeps_state,
)
from automl.space import Choice, Fixed, Float, Int, Param

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


def distributions(space: Mapping[str, Param]) -> dict[str, BaseDistribution]:
    """The Optuna distributions ``Param.suggest`` creates, for samplers that need them up front."""
    out: dict[str, BaseDistribution] = {}
    for name, p in space.items():
        if isinstance(p, Float):
            out[name] = FloatDistribution(p.low, p.high, log=p.log, step=p.step)
        elif isinstance(p, Int):
            out[name] = IntDistribution(p.low, p.high, log=p.log, step=p.step)
        elif isinstance(p, Choice):
            out[name] = CategoricalDistribution(list(p.options))
        elif not isinstance(p, Fixed):
            raise TypeError(f"unknown parameter type {p!r}")
    return out


def _enqueued(trial: FrozenTrial) -> bool:
    # enqueue_trial and Optuna's retry callback create the trial WAITING with these
    # attributes already set, so whether a trial is enqueued never changes after creation.
    return "fixed_params" in trial.system_attrs or "failed_trial" in trial.system_attrs


def _ticket(study: optuna.Study, trial: FrozenTrial, belongs: Any = None) -> int:
    """How many earlier trials of the study drew a point (enqueued ones did not).

    Trial numbers are unique and every trial with a smaller number exists in the storage by
    the time this trial does, so the count is the same whenever and wherever it is taken.
    ``belongs(t)`` may exclude earlier trials of another sampler or space.
    """
    trials = study._storage.get_all_trials(study._study_id, deepcopy=False)
    return sum(
        1
        for t in trials
        if t.number < trial.number and not _enqueued(t) and (belongs is None or belongs(t))
    )


class SafeCmaEsSampler(CmaEsSampler):
    """CMA-ES whose state is re-derived from the completed trials, never unpickled.

    Each trial stores the CMA generation it was sampled in (an int). Before sampling, the
    optimizer is rebuilt from the search space and told, generation by generation, the first
    ``popsize`` completed trials of that generation: the update Optuna's sampler applied
    once and pickled. Pickled ``cma:optimizer`` attributes in the storage are neither read
    nor written. Workers that share a study all derive the same state from it; the cost is
    one ``tell`` per finished generation per trial (milliseconds).
    """

    def _restore_optimizer(self, completed_trials: list[FrozenTrial]) -> None:
        return None  # Optuna's version unpickles storage contents; nothing may call it

    def sample_relative(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
    ) -> dict[str, Any]:
        import cmaes
        from optuna._transform import _SearchSpaceTransform

        self._raise_error_if_multi_objective(study)
        if not search_space:
            return {}
        completed = self._get_trials(study)
        if len(completed) < self._n_startup_trials:
            return {}
        trans = _SearchSpaceTransform(
            search_space, transform_step=not self._with_margin, transform_0_1=True
        )
        optimizer = self._replay(trans, search_space, study.direction, completed)
        # As Optuna's sampler: a per-trial seed, so parallel workers ask different points.
        optimizer._rng.seed(self._cma_rng.rng.randint(1, 2**16) + trial.number)
        if isinstance(optimizer, cmaes.CMAwM):
            params, x_for_tell = optimizer.ask()
            study._storage.set_trial_system_attr(
                trial._trial_id, "x_for_tell", [float(v) for v in x_for_tell]
            )
        else:
            params = optimizer.ask()
        study._storage.set_trial_system_attr(
            trial._trial_id, self._attr_key_generation, int(optimizer.generation)
        )
        return trans.untransform(params)

    def _replay(
        self,
        trans: Any,
        search_space: dict[str, BaseDistribution],
        direction: StudyDirection,
        completed: list[FrozenTrial],
    ) -> Any:
        import cmaes

        # Optuna's sampler draws a seed for a new optimizer from _cma_rng until a completed
        # trial carries a told one (then it unpickles that); drawing it the same way keeps a
        # sequential study trial-for-trial identical to Optuna's.
        rng_state = self._cma_rng.rng.get_state()
        optimizer = self._init_optimizer(trans, direction)
        margin = isinstance(optimizer, cmaes.CMAwM)
        key = self._attr_key_generation
        by_generation: dict[int, list[FrozenTrial]] = {}
        for t in completed:
            generation = t.system_attrs.get(key)
            if type(generation) is not int or not set(search_space) <= set(t.params):
                continue  # sampled by another sampler or space: not part of the CMA run
            if margin and not _vector(t.system_attrs.get("x_for_tell"), len(trans.bounds)):
                continue
            by_generation.setdefault(generation, []).append(t)
        sign = 1.0 if direction == StudyDirection.MINIMIZE else -1.0
        while len(by_generation.get(optimizer.generation, ())) >= optimizer.population_size:
            solutions = []
            for t in by_generation[optimizer.generation][: optimizer.population_size]:
                x = np.asarray(
                    t.system_attrs["x_for_tell"] if margin else trans.transform(t.params),
                    dtype=float,
                )
                solutions.append((x, sign * float(t.value)))
            optimizer.tell(solutions)
        if any(generation >= 1 for generation in by_generation):
            self._cma_rng.rng.set_state(rng_state)
        return optimizer


def _vector(value: Any, size: int) -> bool:
    return (
        isinstance(value, list)
        and len(value) == size
        and all(isinstance(v, (int, float)) and np.isfinite(v) for v in value)
    )


class GridExhausted(RuntimeError):
    """Every point of the grid was taken by an earlier trial; this trial has none to run."""


class TicketGridSampler(GridSampler):
    """Optuna's grid sampler with point *k* (of a seeded shuffle) for the *k*-th drawing trial.

    Optuna's ``GridSampler`` gives trial *n* point *n* only for trials numbered below the
    grid size; past that (after enqueued trials, on a resumed or shared study) it picks a
    random point no trial holds, which two workers can pick at once, and once all points are
    taken it re-runs a RUNNING or random one. Here the point comes from ``_ticket`` (enqueued
    trials and trials of another grid do not count) and is never re-run: a trial whose
    ticket is past the grid stops the study and fails with ``GridExhausted``.
    """

    def __init__(self, grid: Mapping[str, Sequence[Any]], seed: int) -> None:
        super().__init__(grid, seed=seed)

    def reseed_rng(self) -> None:
        pass  # the seed fixes the grid's order; every worker must keep it

    def _belongs(self, t: FrozenTrial) -> bool:
        if "grid_id" in t.system_attrs or "grid_overflow" in t.system_attrs:
            return self._same_search_space(t.system_attrs.get("search_space", {}))
        # A trial without a grid point yet is either another worker's trial that has not
        # reached before_trial (it will draw from this grid) or another sampler's, finished.
        return t.state in (TrialState.RUNNING, TrialState.WAITING)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if "grid_id" in trial.system_attrs or _enqueued(trial):
            return
        ticket = _ticket(study, trial, self._belongs)
        storage = study._storage
        storage.set_trial_system_attr(trial._trial_id, "search_space", self._search_space)
        if ticket >= self._n_min_trials:
            storage.set_trial_system_attr(trial._trial_id, "grid_overflow", ticket)
            _stop(study)
            return
        storage.set_trial_system_attr(trial._trial_id, "grid_id", ticket)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        if "grid_overflow" in trial.system_attrs:
            raise GridExhausted(
                f"all {self._n_min_trials} grid points were taken by earlier trials; "
                "nothing left to run (the study stops)"
            )
        return super().sample_independent(study, trial, param_name, param_distribution)

    def _get_unvisited_grid_ids(self, study: optuna.Study) -> list[int]:
        """Points no trial holds, in any state (Optuna's re-offers RUNNING and FAILED ones)."""
        taken = {
            t.system_attrs["grid_id"]
            for t in study._storage.get_all_trials(study._study_id, deepcopy=False)
            if "grid_id" in t.system_attrs
            and self._same_search_space(t.system_attrs.get("search_space", {}))
        }
        return [i for i in range(self._n_min_trials) if i not in taken]


def _stop(study: optuna.Study) -> None:
    """Stop ``study.optimize``; outside it (ask-and-tell) there is no loop to stop."""
    try:
        study.stop()
    except RuntimeError:
        pass


class TicketQMCSampler(QMCSampler):
    """Optuna's QMC sampler with point *k* of the sequence for the *k*-th drawing trial.

    Optuna's counts drawn points in a study attribute that it reads and then rewrites, so two
    workers can draw the same point; here the index is ``_ticket``. Given the space up front
    (``distributions``), the first trial is a QMC point too, not a random one.
    """

    def __init__(
        self,
        *,
        seed: int,
        space: dict[str, BaseDistribution] | None,
        qmc_type: str = "sobol",
        scramble: bool = True,
    ) -> None:
        super().__init__(
            qmc_type=qmc_type, scramble=scramble, seed=seed, warn_independent_sampling=False
        )
        self._space = space

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        if self._space is not None:
            return dict(self._space)
        return super().infer_relative_search_space(study, trial)

    def sample_relative(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
    ) -> dict[str, Any]:
        from optuna._transform import _SearchSpaceTransform
        from scipy.stats import qmc

        if not search_space:
            return {}
        ordered = dict(sorted(search_space.items()))
        # A categorical parameter takes one coordinate in [0, C), floored to a choice index.
        numeric = {
            name: FloatDistribution(0, len(dist.choices))
            if isinstance(dist, CategoricalDistribution)
            else dist
            for name, dist in ordered.items()
        }
        trans = _SearchSpaceTransform(numeric, transform_0_1=True)
        engine_class = qmc.Sobol if self._qmc_type == "sobol" else qmc.Halton
        with warnings.catch_warnings():
            # Sobol's balance holds for powers of two; a study stops where its budget says.
            warnings.simplefilter("ignore", UserWarning)
            engine = engine_class(len(ordered), seed=self._seed, scramble=self._scramble)
            ticket = _ticket(study, trial)
            if ticket:
                engine.fast_forward(ticket)
            point = engine.random(1)[0]
        values = trans.untransform(point)
        return {
            name: dist.choices[min(int(values[name]), len(dist.choices) - 1)]
            if isinstance(dist, CategoricalDistribution)
            else values[name]
            for name, dist in ordered.items()
        }


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
    """A sampler by name, seeded, checked against the space (``automl.search.plan_sampler``).

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
    constraints go to the samplers that take them (``automl.search.CONSTRAINED``).
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

        crossovers = {
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


# Defaults tuned for short studies (tens of trials, tens of epochs): judge after a few
# complete trials and a few epochs. User ``sweep.pruner_args`` override them key by key.
PRUNER_DEFAULTS: dict[str, dict[str, Any]] = {
    "median": {"n_startup_trials": 4, "n_warmup_steps": 3},
    # Keeps the top quarter at each step (median keeps the top half).
    "percentile": {"percentile": 25.0, "n_startup_trials": 4, "n_warmup_steps": 3},
    # Rungs at 2, 6, 18, 54... steps; a third of the trials reaching a rung go on.
    "successive_halving": {"min_resource": 2, "reduction_factor": 3},
    "hyperband": {"min_resource": 2, "reduction_factor": 3},
    # Prunes when the wrapped pruner says so and the trial's best over its last patience + 1
    # steps is worse than its best before them (a trial still improving is spared).
    "patient": {"wrapped": "median", "patience": 3},
    "wilcoxon": {"p_threshold": 0.1, "n_startup_steps": 2},
    "threshold": {},
    "none": {},
}


def make_pruner(name: str, args: Mapping[str, Any] | None = None) -> optuna.pruners.BasePruner:
    """A pruner by name; ``args`` go to its constructor on top of ``PRUNER_DEFAULTS``.

    ``patient`` takes ``wrapped`` (another pruner's name, or ``none`` for plain patience),
    ``patience`` and ``min_delta``; its other arguments go to the wrapped pruner. Whether a
    pruner fits the data protocol (``wilcoxon`` needs k-fold data) is
    ``automl.search.check_pruner``.

    Raises:
        UserError: An unknown pruner, or arguments its constructor rejects.
    """
    # Optuna marks the patient and Wilcoxon pruners experimental; they are chosen by name.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        return _pruner(name, args)


def _pruner(name: str, args: Mapping[str, Any] | None) -> optuna.pruners.BasePruner:
    pruners = optuna.pruners
    classes = {
        "median": pruners.MedianPruner,
        "percentile": pruners.PercentilePruner,
        "successive_halving": pruners.SuccessiveHalvingPruner,
        "hyperband": pruners.HyperbandPruner,
        "wilcoxon": pruners.WilcoxonPruner,
        "threshold": pruners.ThresholdPruner,
    }
    if name not in PRUNERS:
        raise UserError(f"sweep.pruner={name!r} is not one of {', '.join(PRUNERS)}")
    if name == "none":
        return pruners.NopPruner()  # arguments a recipe set for its pruner are moot
    kwargs = {**PRUNER_DEFAULTS[name], **dict(args or {})}
    if name == "patient":
        check_pruner(name, kwargs, folds=None)
        own = {k: kwargs.pop(k) for k in PATIENT_KEYS if k in kwargs}
        wrapped = own.pop("wrapped")
        inner = None
        if wrapped != "none":
            inner = _pruner(wrapped, kwargs)
        elif kwargs:
            raise UserError(
                f"sweep.pruner_args {sorted(kwargs)}: the patient pruner with wrapped=none "
                f"takes only {', '.join(PATIENT_KEYS)}"
            )
        try:
            return pruners.PatientPruner(inner, **own)
        except (TypeError, ValueError) as exc:
            raise UserError(
                f"sweep.pruner_args {dict(args or {})} do not fit the patient pruner ({exc}); "
                f"it takes {', '.join(PATIENT_KEYS)} and the wrapped pruner's arguments"
            ) from None
    try:
        return classes[name](**kwargs)
    except (TypeError, ValueError) as exc:
        raise UserError(
            f"sweep.pruner_args {dict(args or {})} do not fit the {name} pruner ({exc}); "
            f"see optuna.pruners.{classes[name].__name__}"
        ) from None


def study_pruner(
    name: str, args: Mapping[str, Any] | None, *, multi: bool, families: bool
) -> optuna.pruners.BasePruner:
    """The pruner a study is created with.

    Args:
        name: ``sweep.pruner``.
        args: ``sweep.pruner_args``.
        multi: Several objectives, or one that is not reported while training
            (``Goal.prunable``): Optuna prunes single-objective studies only (its
            ``Trial.report`` refuses multi-objective trials), so nothing is pruned.
        families: A ``model=auto`` study: the pruner judges each trial against its own
            family's trials only (``automl.tuning.family_pruner``).
    """
    if multi:
        return optuna.pruners.NopPruner()
    if families and name != "none":
        from automl.tuning.family_pruner import FamilyPruner

        make_pruner(name, args)  # its arguments are checked now, not at the first report
        return FamilyPruner(functools.partial(make_pruner, name, args))
    return make_pruner(name, args)
