"""automl's own Optuna samplers: CMA-ES without pickles, grid and QMC points by ticket.

- ``SafeCmaEsSampler`` (``cmaes``): Optuna's ``CmaEsSampler`` pickles its optimizer into the
  storage and unpickles whatever it finds there before each trial, so anyone who can write
  the study database could run code in every worker. automl never unpickles anything read
  from a storage: this sampler re-derives the CMA state from the completed trials instead.
- ``TicketGridSampler`` (``grid``) and ``TicketQMCSampler`` (``qmc``): Optuna's versions pick
  the next point by reading what other trials took and then writing their choice, which two
  workers can do at once (both take the same point). Here trial *k* takes point *k*, where
  *k* counts the study's earlier trials: trial numbers are handed out atomically by every
  storage, so no two trials of any number of workers get the same point.

Which sampler runs, with which arguments, is decided in ``automl.study.search``; the factory that
builds these is ``automl.tuning.factories``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from automl.core.space import Choice, Fixed, Float, Int, Param
from automl.tuning.internals import (
    CmaEsSamplerBase,
    GridSamplerBase,
    QMCSamplerBase,
    search_space_transform,
    set_trial_system_attr,
)

__all__ = [
    "distributions",
    "SafeCmaEsSampler",
    "TicketGridSampler",
    "TicketQMCSampler",
    "GridExhausted",
]


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


def _ticket(
    study: optuna.Study,
    trial: FrozenTrial,
    belongs: Callable[[FrozenTrial], bool] | None = None,
) -> int:
    """How many earlier trials of the study drew a point (enqueued ones did not).

    Trial numbers are unique and every trial with a smaller number exists in the storage by
    the time this trial does, so the count is the same whenever and wherever it is taken.
    ``belongs(t)`` may exclude earlier trials of another sampler or space.
    """
    trials = study.get_trials(deepcopy=False)
    return sum(
        1
        for t in trials
        if t.number < trial.number and not _enqueued(t) and (belongs is None or belongs(t))
    )


class SafeCmaEsSampler(CmaEsSamplerBase):
    """CMA-ES whose state is re-derived from the completed trials, never unpickled.

    Each trial stores the CMA generation it was sampled in (an int). Before sampling, the
    optimizer is rebuilt from the search space and told, generation by generation, the first
    ``popsize`` completed trials of that generation: the update Optuna's sampler applied
    once and pickled. Pickled ``cma:optimizer`` attributes in the storage are neither read
    nor written. Workers that share a study all derive the same state from it; the cost is
    one ``tell`` per finished generation per trial (milliseconds). (Optuna's restore from
    the storage is switched off in ``CmaEsSamplerBase``.)
    """

    def sample_relative(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        search_space: dict[str, BaseDistribution],
    ) -> dict[str, Any]:
        import cmaes

        self.check_single_objective(study)
        if not search_space:
            return {}
        completed = self.completed_trials(study)
        if len(completed) < self.n_startup_trials:
            return {}
        trans = search_space_transform(
            search_space, transform_step=not self.with_margin, transform_0_1=True
        )
        optimizer = self._replay(trans, search_space, study.direction, completed)
        # As Optuna's sampler: a per-trial seed, so parallel workers ask different points.
        self.seed_optimizer(optimizer, self.cma_rng.randint(1, 2**16) + trial.number)
        if isinstance(optimizer, cmaes.CMAwM):
            params, x_for_tell = optimizer.ask()
            set_trial_system_attr(study, trial, "x_for_tell", [float(v) for v in x_for_tell])
        else:
            params = optimizer.ask()
        set_trial_system_attr(study, trial, self.generation_key, int(optimizer.generation))
        return trans.untransform(params)

    def _replay(
        self,
        trans: Any,
        search_space: dict[str, BaseDistribution],
        direction: StudyDirection,
        completed: list[FrozenTrial],
    ) -> Any:
        import cmaes

        # Optuna's sampler draws a seed for a new optimizer from its CMA random state until a
        # completed trial carries a told one (then it unpickles that); drawing it the same way
        # keeps a sequential study trial-for-trial identical to Optuna's.
        rng_state = self.cma_rng.get_state()
        optimizer = self.new_optimizer(trans, direction)
        margin = isinstance(optimizer, cmaes.CMAwM)
        key = self.generation_key
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
                value = t.value
                assert value is not None  # a complete single-objective trial has its value
                solutions.append((x, sign * float(value)))
            optimizer.tell(solutions)
        if any(generation >= 1 for generation in by_generation):
            self.cma_rng.set_state(rng_state)
        return optimizer


def _vector(value: object, size: int) -> bool:
    return (
        isinstance(value, list)
        and len(value) == size
        and all(isinstance(v, (int, float)) and np.isfinite(v) for v in value)
    )


class GridExhausted(RuntimeError):
    """Every point of the grid was taken by an earlier trial; this trial has none to run."""


class TicketGridSampler(GridSamplerBase):
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
            return self.same_grid(t.system_attrs.get("search_space", {}))
        # A trial without a grid point yet is either another worker's trial that has not
        # reached before_trial (it will draw from this grid) or another sampler's, finished.
        return t.state in (TrialState.RUNNING, TrialState.WAITING)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if "grid_id" in trial.system_attrs or _enqueued(trial):
            return
        ticket = _ticket(study, trial, self._belongs)
        set_trial_system_attr(study, trial, "search_space", self.grid_space)
        if ticket >= self.n_points:
            set_trial_system_attr(study, trial, "grid_overflow", ticket)
            _stop(study)
            return
        set_trial_system_attr(study, trial, "grid_id", ticket)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        if "grid_overflow" in trial.system_attrs:
            raise GridExhausted(
                f"all {self.n_points} grid points were taken by earlier trials; "
                "nothing left to run (the study stops)"
            )
        return super().sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        try:
            super().after_trial(study, trial, state, values)
        except RuntimeError:
            # Optuna's stops ``study.optimize`` once every point is taken, and ``Study.stop``
            # raises outside it; automl's own loop stops at the grid's size (its total).
            pass

    def unvisited_points(self, study: optuna.Study) -> list[int]:
        """Points no trial holds, in any state (Optuna's re-offers RUNNING and FAILED ones)."""
        taken = {
            t.system_attrs["grid_id"]
            for t in study.get_trials(deepcopy=False)
            if "grid_id" in t.system_attrs
            and self.same_grid(t.system_attrs.get("search_space", {}))
        }
        return [i for i in range(self.n_points) if i not in taken]


def _stop(study: optuna.Study) -> None:
    """Stop ``study.optimize``; outside it (ask-and-tell) there is no loop to stop."""
    try:
        study.stop()
    except RuntimeError:
        pass


class TicketQMCSampler(QMCSamplerBase):
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
        trans = search_space_transform(numeric, transform_0_1=True)
        engine_class = qmc.Sobol if self.qmc_type == "sobol" else qmc.Halton
        with warnings.catch_warnings():
            # Sobol's balance holds for powers of two; a study stops where its budget says.
            warnings.simplefilter("ignore", UserWarning)
            engine = engine_class(len(ordered), seed=self.qmc_seed, scramble=self.scramble)
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
