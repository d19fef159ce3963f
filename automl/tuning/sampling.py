"""Sampling that never redraws a trial: per-trial seeds and a duplicate check.

Every process used to build ``TPESampler(seed=sweep.seed)`` afresh, so a rerun repeated the
random start-up trials of the first run and simultaneous workers drew the same configurations.
Here the sampler of each trial is seeded from ``sweep.seed`` and the trial's number, which the
storage hands out once per study: no two trials of a study ever start from the same random
state, whichever worker or rerun runs them, and a single uninterrupted worker with the same seed
still reproduces its study exactly.

On top of that, a sampled configuration identical to a finished or running trial of the study
is drawn again (up to ``MAX_RESAMPLES`` times); if the space has no new point left, it is run
anyway and the trial records a note.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from automl.core.space import Param
from automl.tuning.internals import forget_cached_trials, storage_of, study_through
from automl.tuning.objective_pruner import without_pruned
from automl.tuning.samplers import distributions

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

__all__ = [
    "StudySampler",
    "Draft",
    "derive_seed",
    "distributions",
    "random_params",
    "MAX_RESAMPLES",
]
# ``distributions`` is re-exported: the duplicate check and the samplers need the same ones.

MAX_RESAMPLES = 8

_SEEN = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)


def derive_seed(seed: int, number: int) -> int:
    """A 32-bit seed for trial ``number`` of a study sampled with ``sweep.seed=seed``."""
    digest = hashlib.blake2b(f"automl/{seed}/{number}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def random_params(space: Mapping[str, Param], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` parameter sets drawn from ``space`` as a study's trials draw them (each
    parameter's ``suggest`` on a trial), by a seeded random sampler in an in-memory study."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append({name: p.suggest(trial, name) for name, p in space.items()})
        study.tell(trial, 0.0)
    return out


def _key(params: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


_NO_TRIAL = -1  # the trial id of a draft's stand-in: its trial does not exist yet


class _DraftStorage:
    """The study's storage as a draft sees it: every read passes through; what a sampler
    writes about the trial it samples for (TPE's constant liar records its draw there, for
    other workers to see) is dropped, as that trial does not exist yet. The claimed trial is
    created with its parameters, which is what the other workers' samplers read."""

    def __init__(self, storage: BaseStorage) -> None:
        self._storage = storage

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        if trial_id != _NO_TRIAL:
            self._storage.set_trial_system_attr(trial_id, key, value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        if trial_id != _NO_TRIAL:
            self._storage.set_trial_user_attr(trial_id, key, value)


@dataclass(frozen=True)
class Draft:
    """A configuration drawn before its trial exists (``StudySampler.draft``).

    Attributes:
        number: The trial number it was drawn for (its seed).
        params: The drawn parameters.
        distributions: Their distributions (the space).
        redrawn: Duplicates of existing trials drawn and rejected before it.
    """

    number: int
    params: dict[str, Any]
    distributions: dict[str, BaseDistribution]
    redrawn: int = 0


class StudySampler(BaseSampler):
    """Wraps the configured sampler: a fresh, trial-seeded copy per trial, and no duplicates.

    Args:
        factory: Builds the configured sampler from a seed (cheap; called once per trial).
        seed: ``sweep.seed``.
        space: The searched parameters as Optuna distributions; the duplicate check draws
            whole configurations from it. ``None`` turns the check off.
        per_trial_seed: Rebuild the sampler for every trial with a seed derived from the trial
            number. Off for samplers whose sequence depends on one seed across the study
            (quasi-random and grid sequences): they never repeat a point by construction.
        drafts: The sampler can draw a trial's configuration before the trial exists
            (``draft``): it reads the study and its seed only, and writes nothing to the
            trial it samples for (TPE, GP and random do; NSGA-II records its generation).
    """

    def __init__(
        self,
        factory: Callable[[int], BaseSampler],
        seed: int,
        space: Mapping[str, BaseDistribution] | None,
        per_trial_seed: bool = True,
        drafts: bool = False,
    ) -> None:
        self._factory = factory
        self._seed = seed
        self._space = dict(space) if space else None
        self._per_trial = per_trial_seed
        self._drafts = drafts and per_trial_seed and self._space is not None
        self._inner = factory(seed)
        self.redrawn: dict[int, int] = {}
        """Trial number -> duplicate configurations drawn and rejected before its own."""
        self.duplicates: set[int] = set()
        """Trials run although their configuration repeats another (no new point found)."""

    @property
    def inner(self) -> BaseSampler:
        """The sampler that draws the current trial."""
        return self._inner

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self._per_trial:
            self._inner = self._factory(derive_seed(self._seed, trial.number))
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        if self._space is None:
            return self._inner.infer_relative_search_space(without_pruned(study), trial)
        return dict(self._space)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if self._space is None:
            return self._inner.sample_relative(without_pruned(study), trial, search_space)
        fixed = dict(trial.system_attrs.get("fixed_params") or {})
        if fixed:  # an enqueued trial (a retry, a warm start): its values are given
            return {}
        seen = {
            _key(t.params)
            for t in study.get_trials(deepcopy=False, states=_SEEN)
            if t.number != trial.number and t.params
        }
        params: dict[str, Any] = {}
        for attempt in range(MAX_RESAMPLES + 1):
            params = self._draw(study, trial)
            if _key(params) not in seen:
                if attempt:
                    self.redrawn[trial.number] = attempt
                return params
        self.redrawn[trial.number] = MAX_RESAMPLES
        self.duplicates.add(trial.number)
        return params

    def _draw(
        self, study: optuna.Study, trial: FrozenTrial, inner: BaseSampler | None = None
    ) -> dict[str, Any]:
        """One whole configuration: the inner sampler's joint draw, the rest one by one."""
        assert self._space is not None
        inner = inner or self._inner
        study = without_pruned(study)  # multi-objective samplers do not score pruned trials
        inner_space = inner.infer_relative_search_space(study, trial)
        params = dict(inner.sample_relative(study, trial, inner_space))
        for name, dist in self._space.items():
            if name not in params:
                params[name] = inner.sample_independent(study, trial, name, dist)
        return params

    def draft(self, study: optuna.Study, trials: Sequence[FrozenTrial]) -> Draft | None:
        """Draw the next trial's configuration before the trial exists (no lock held).

        It is drawn as the trial numbered ``len(trials)`` would draw it (that trial's seed,
        the study as it is now, the same duplicate check), so one worker alone draws the
        very configurations it drew inside the lock. ``None`` where the sampler cannot draw
        ahead; the trial is then sampled the old way.
        """
        if not self._drafts:
            return None
        assert self._space is not None
        number = len(trials)
        stand_in = FrozenTrial(
            number=number, state=TrialState.RUNNING, value=None, values=None,
            datetime_start=None, datetime_complete=None, params={}, distributions={},
            user_attrs={}, system_attrs={}, intermediate_values={}, trial_id=_NO_TRIAL,
        )  # fmt: skip
        inner = self._factory(derive_seed(self._seed, number))
        # Optuna caches the study's trials per thread between two asks; a draft must see now.
        forget_cached_trials(study)
        view = study_through(study, _DraftStorage(storage_of(study)))
        seen = {_key(t.params) for t in trials if t.state in _SEEN and t.params}
        for attempt in range(MAX_RESAMPLES + 1):
            try:
                params = self._draw(view, stand_in, inner)
            except Exception:  # a sampler that needs its trial after all: sample it in the trial
                return None  # (the old path raises again if the sampler itself is broken)
            if _key(params) not in seen:
                return Draft(number, params, dict(self._space), attempt)
        return None  # the space looks full: the old path records the repeat

    def unseen(self, draft: Draft, trials: Sequence[FrozenTrial]) -> bool:
        """Whether ``draft`` still repeats none of ``trials`` (read inside the lock)."""
        key = _key(draft.params)
        return not any(_key(t.params) == key for t in trials if t.state in _SEEN and t.params)

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._inner.sample_independent(
            without_pruned(study), trial, param_name, param_distribution
        )

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()
