"""Pruning within a model family: a trial is judged against trials of its own family only.

In a ``model=auto`` study an MLP's epoch 5 and XGBoost's boosting round 5 are not comparable
(nor are their learning curves' shapes), so a pruner must never stop one family's trial
because another family's trials did better at the same step. ``FamilyPruner`` wraps any
Optuna pruner (one instance per family, so stateful pruners such as Hyperband size their
brackets on their own family's trial lengths) and shows it a view of the study that holds
only the trials of the judged trial's family: ``get_trials``, ``best_trial`` and any study a
pruner builds from the view's storage (Hyperband's bracket studies) see that family alone.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from typing import TYPE_CHECKING, Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from automl.study.families import FAMILY_PARAM
from automl.tuning.internals import storage_of

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

__all__ = ["FamilyPruner", "FamilyStorage"]


def _family(trial: FrozenTrial) -> str | None:
    return trial.params.get(FAMILY_PARAM)


class FamilyStorage:
    """A read view of a storage in which a study holds only one family's trials.

    Reads of trials (``get_all_trials``, ``get_best_trial``, ``get_n_trials``) are filtered
    by the trial's ``family`` parameter; every other call (the writes pruners make, such as
    successive halving's rung attributes) goes to the storage itself.
    """

    def __init__(self, storage: BaseStorage, family: str | None) -> None:
        self._inner = storage
        self._family = family

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        trials = self._inner.get_all_trials(study_id, deepcopy=deepcopy, states=states)
        return [t for t in trials if _family(t) == self._family]

    def get_n_trials(
        self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None
    ) -> int:
        states = (state,) if isinstance(state, TrialState) else state
        return len(self.get_all_trials(study_id, deepcopy=False, states=states))

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        complete = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.COMPLETE,))
        if not complete:
            raise ValueError(f"no complete trial of family {self._family} yet")
        (direction,) = self._inner.get_study_directions(study_id)
        pick = max if direction == StudyDirection.MAXIMIZE else min
        return pick(complete, key=lambda t: float(t.value or 0.0))


class FamilyPruner(optuna.pruners.BasePruner):
    """Prunes a trial only by comparison with trials of the same family.

    Args:
        factory: Builds the wrapped pruner (``automl.tuning.pruners.make_pruner``); called
            once per family, the first time a trial of that family reports.
    """

    def __init__(self, factory: Callable[[], optuna.pruners.BasePruner]) -> None:
        self._factory = factory
        self._pruners: dict[Any, optuna.pruners.BasePruner] = {}
        # One view per (study, family): making a Study reads its id and directions.
        self._views: dict[tuple[int, Any], tuple[optuna.Study, optuna.Study]] = {}

    def pruner(self, family: str | None) -> optuna.pruners.BasePruner:
        """The wrapped pruner that judges ``family``'s trials."""
        if family not in self._pruners:
            self._pruners[family] = self._factory()
        return self._pruners[family]

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        family = _family(trial)
        pruner = self.pruner(family)
        key = (id(study), family)
        cached = self._views.get(key)
        if cached is None or cached[0] is not study:
            view = optuna.Study(
                study_name=study.study_name,
                storage=FamilyStorage(storage_of(study), family),  # type: ignore[arg-type]
                sampler=study.sampler,
                pruner=pruner,
            )
            cached = self._views[key] = (study, view)
        return pruner.prune(cached[1], trial)
