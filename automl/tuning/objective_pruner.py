"""Pruning a multi-objective study on its first objective.

Optuna prunes single-objective studies only: ``Trial.report`` and ``Trial.should_prune``
refuse a study with several directions, and its pruners read ``study.direction``. Yet the
first objective of most multi-objective studies (``val_acc`` against ``latency_ms``,
``val_accuracy`` against a training time) is the metric every epoch reports, and a trial
whose accuracy is hopeless at epoch 5 is as hopeless when a second objective is added.

``FirstObjectivePruner`` wraps any Optuna pruner and shows it a view of the study with one
direction, the first objective's (``FirstObjectiveStorage``): the wrapped pruner compares the
trial's reported values of that objective (stored with the storage's own
``set_trial_intermediate_value``, which takes any study) with the other trials' at the same
step, exactly as in a single-objective study. Hyperband's bracket studies, built from the
view's storage, see one direction too. A pruned trial ends PRUNED without values, so it is
on no Pareto front; the budget it did not spend goes to other trials (the trade-off is
measured in docs/benchmarks.md, LCBench section).

Optuna's multi-objective samplers have never met a pruned trial either (TPE scores pruned
trials with ``study.direction``, which a multi-objective study refuses), so they sample from
``without_pruned``: the study as if its pruned trials were not there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from automl.tuning.internals import storage_of

if TYPE_CHECKING:
    from collections.abc import Container

    from optuna.storages import BaseStorage

__all__ = ["FirstObjectivePruner", "FirstObjectiveStorage", "without_pruned"]


class FirstObjectiveStorage:
    """A view of a storage in which every study has one direction, its first objective's.

    Only the study's directions and its best trial change; every other call (the trials, the
    writes pruners make, such as successive halving's rung attributes) goes to the storage.
    """

    def __init__(self, storage: BaseStorage) -> None:
        self._inner = storage

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return list(self._inner.get_study_directions(study_id)[:1])

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        complete = self._inner.get_all_trials(
            study_id, deepcopy=False, states=(TrialState.COMPLETE,)
        )
        if not complete:
            raise ValueError("no complete trial yet")
        direction = self.get_study_directions(study_id)[0]
        pick = max if direction == StudyDirection.MAXIMIZE else min
        return pick(complete, key=lambda t: float(t.values[0]))


class FirstObjectivePruner(optuna.pruners.BasePruner):
    """Prunes a multi-objective study's trials on their first objective's reported values.

    Args:
        inner: The pruner that judges (``sweep.pruner``, or a ``FamilyPruner`` around it).
    """

    def __init__(self, inner: optuna.pruners.BasePruner) -> None:
        self.inner = inner
        self._views: dict[int, tuple[optuna.Study, optuna.Study]] = {}

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        cached = self._views.get(id(study))
        if cached is None or cached[0] is not study:
            view = optuna.Study(
                study_name=study.study_name,
                storage=FirstObjectiveStorage(storage_of(study)),  # type: ignore[arg-type]
                sampler=study.sampler,
                pruner=self.inner,
            )
            cached = self._views[id(study)] = (study, view)
        return self.inner.prune(cached[1], trial)


class _UnprunedStorage:
    """A view of a storage whose studies hold no pruned trials (every other call passes)."""

    def __init__(self, storage: BaseStorage) -> None:
        self._inner = storage

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get_all_trials(
        self, study_id: int, deepcopy: bool = True, states: Container[TrialState] | None = None
    ) -> list[FrozenTrial]:
        trials = self._inner.get_all_trials(study_id, deepcopy=deepcopy, states=states)
        return [t for t in trials if t.state != TrialState.PRUNED]

    def get_n_trials(
        self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None
    ) -> int:
        states = (state,) if isinstance(state, TrialState) else state
        return len(self.get_all_trials(study_id, deepcopy=False, states=states))


def without_pruned(study: optuna.Study) -> optuna.Study:
    """``study`` for a multi-objective sampler: its pruned trials hidden (a single-objective
    study is returned as it is)."""
    if len(study.directions) < 2:
        return study
    return optuna.Study(
        study_name=study.study_name,
        storage=_UnprunedStorage(storage_of(study)),  # type: ignore[arg-type]
        sampler=study.sampler,
        pruner=study.pruner,
    )
