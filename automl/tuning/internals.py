"""Every use of Optuna's private internals, in one module, each with why no public API serves.

automl drives Optuna through its public API: ``create_study``/``load_study``, ``ask``/``tell``
(which returns the finished ``FrozenTrial``), ``get_trials``, ``suggest_*``, the storages'
public methods and the samplers' and pruners' public hooks. What has no public form is here
and only here, as a function or as a base class whose public names the rest of
``automl.tuning`` uses; ``tests/test_optuna_adapter.py`` fails when a private Optuna name
appears anywhere else in automl. An Optuna upgrade has this one module to check.

(``optimizer._rng`` of the ``cmaes`` package is here too: it is reached through Optuna's
CMA-ES sampler.)
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import optuna
from optuna.samplers import CmaEsSampler, GridSampler, QMCSampler
from optuna.storages import BaseStorage, GrpcStorageProxy
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "storage_of",
    "uncached",
    "PRIVATE_STORAGE_CALLS",
    "study_id",
    "study_through",
    "forget_cached_trials",
    "trial_id",
    "read_trial",
    "set_trial_system_attr",
    "search_space_transform",
    "StaleHookRDBStorage",
    "GridSamplerBase",
    "CmaEsSamplerBase",
    "QMCSamplerBase",
    "GrpcStorageBase",
    "add_storage_service",
]


def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage a study reads and writes.

    Private: ``Study._storage``. A ``Study`` exposes no storage, yet the storage's own
    (public) methods are the only way to record a heartbeat, to write the attributes and the
    state of a RUNNING trial another process started (a lost worker's, a timed-out one's),
    and to give a pruner a filtered view of the study (``FamilyStorage``).
    """
    return study._storage


def uncached(storage: BaseStorage) -> BaseStorage:
    """The storage behind Optuna's cache, or ``storage`` itself when it has none.

    Private: ``_CachedStorage._backend``. ``storage_of`` gives an RDB storage wrapped in
    Optuna's cache; the heartbeat thread calls the storage's own one-attempt heartbeat
    (``beat_once``), which the cache does not pass through.
    """
    from optuna.storages._cached_storage import _CachedStorage

    return storage._backend if isinstance(storage, _CachedStorage) else storage


# Private: the storage methods Optuna's cache (``_CachedStorage``) and its stale-trial check
# call on an RDB storage instead of the public ones. A storage that retries every call through
# an outage (``automl.tuning.storage``) wraps these too, or a study's reads and new trials
# would fail on the first dropped connection.
PRIVATE_STORAGE_CALLS = (
    "_create_new_trial",
    "_set_trial_param",
    "_get_trials",
    "_get_best_trial_id",
    "_get_stale_trial_ids",
)


def study_id(study: optuna.Study) -> int:
    """The storage's id of a study.

    Private: ``Study._study_id``. Storage methods address a study by this id; a ``Study``
    exposes only its name, and ``storage.get_study_id_from_name`` is one more query.
    """
    return int(study._study_id)


def study_through(study: optuna.Study, storage: Any) -> optuna.Study:
    """A shallow copy of ``study`` that reads and writes through ``storage`` (a view that
    wraps the study's own storage).

    Private: sets ``Study._storage`` on the copy. ``optuna.Study(name, storage)`` is the public
    way, but it looks the study up by name (a query) and starts a fresh trial cache; a
    configuration drawn ahead of every trial must cost neither.
    """
    view = copy.copy(study)
    view._storage = storage
    return view


def forget_cached_trials(study: optuna.Study) -> None:
    """Drop the trials ``study`` caches for this thread, so the next read sees the storage.

    Private: ``Study._thread_local.cached_all_trials``. Optuna keeps this cache between the
    steps of one ``ask``; a configuration drawn ahead, outside ``ask``, must see the trials
    as they are now, and no public call clears it.
    """
    study._thread_local.cached_all_trials = None


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The storage's id of a trial (live or frozen).

    Private: ``Trial._trial_id`` / ``FrozenTrial._trial_id``. Every storage method addresses a
    trial by this id; Optuna's public trial objects expose only the number, which is unique
    within a study, not within a storage.
    """
    return int(trial._trial_id)


def read_trial(study: optuna.Study, trial: optuna.Trial | FrozenTrial) -> FrozenTrial:
    """One trial as stored now (``storage.get_trial`` by its id; ``study.get_trials`` would
    read every trial of the study to find one)."""
    return storage_of(study).get_trial(trial_id(trial))


def set_trial_system_attr(study: optuna.Study, trial: FrozenTrial, key: str, value: Any) -> None:
    """Record what a sampler drew for a trial in its system attributes, as Optuna's own
    samplers do (private route: the storage by the trial's id). A sampler sees only a
    ``FrozenTrial``, and ``Trial.set_system_attr`` no longer exists (removed in Optuna 4)."""
    storage_of(study).set_trial_system_attr(trial_id(trial), key, value)


def search_space_transform(space: dict[str, Any], **kwargs: Any) -> Any:
    """Optuna's transform between parameters and a numeric vector in ``[0, 1]``.

    Private: ``optuna._transform._SearchSpaceTransform``. automl's CMA-ES and QMC samplers
    must map points exactly as Optuna's versions do (so a study is the same trial for trial);
    no public class does the mapping.
    """
    from optuna._transform import _SearchSpaceTransform

    return _SearchSpaceTransform(space, **kwargs)


class StaleHookRDBStorage(optuna.storages.RDBStorage):
    """``RDBStorage`` that shows the trials it is about to fail as stale to
    ``before_failing_stale`` while they are still RUNNING (so their record can still be
    written; a FAIL trial's attributes are frozen)."""

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        # Private: Optuna fails the trials whose heartbeats stopped in ``fail_stale_trials``
        # without a reason and calls its public callback only after the state changed; this
        # is the one method that sees their ids before.
        stale: list[int] = super()._get_stale_trial_ids(study_id)
        self.before_failing_stale(stale)
        return stale

    def before_failing_stale(self, trial_ids: list[int]) -> None:
        """Called with the RUNNING trials about to be failed as stale."""

    def heartbeats_older_than(self, study_id: int, grace_period: float) -> list[int]:
        """The study's RUNNING trials whose last heartbeat is older than ``grace_period``
        seconds, by the database's clock (Optuna's own rule, with a caller's grace period:
        the storage proxy asks for its workers')."""
        from datetime import timedelta

        import sqlalchemy
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session
        from sqlalchemy import orm

        # Private: Optuna's heartbeat query reads its own grace period only.
        with _create_scoped_session(self.scoped_session, True) as session:
            now = session.execute(sqlalchemy.func.now()).scalar_one().replace(tzinfo=None)
            running = (
                session.query(models.TrialModel)
                .options(orm.selectinload(models.TrialModel.heartbeats))
                .filter(models.TrialModel.state == optuna.trial.TrialState.RUNNING)
                .filter(models.TrialModel.study_id == study_id)
                .all()
            )
            return [
                t.trial_id
                for t in running
                if t.heartbeats
                and now - t.heartbeats[0].heartbeat > timedelta(seconds=grace_period)
            ]


class GridSamplerBase(GridSampler):
    """``GridSampler`` whose choice of the points still free is ``unvisited_points``, with its
    grid's size and search space under public names."""

    def _get_unvisited_grid_ids(self, study: optuna.Study) -> list[int]:
        # Private: the grid sampler asks this method which points no trial holds; no public
        # hook decides which points count as taken.
        return self.unvisited_points(study)

    def unvisited_points(self, study: optuna.Study) -> list[int]:
        """The points no trial holds: Optuna's rule (its private ``_get_unvisited_grid_ids``)
        unless a subclass overrides this."""
        points: list[int] = super()._get_unvisited_grid_ids(study)
        return points

    @property
    def n_points(self) -> int:
        """The number of grid points (private ``_n_min_trials``)."""
        return int(self._n_min_trials)

    @property
    def grid_space(self) -> Any:
        """The grid as given (private ``_search_space``), as Optuna stores it on trials."""
        return self._search_space

    def same_grid(self, search_space: Any) -> bool:
        """Whether a trial's stored grid is this one (private ``_same_search_space``)."""
        return bool(self._same_search_space(search_space))


class CmaEsSamplerBase(CmaEsSampler):
    """``CmaEsSampler`` that never unpickles its state, with the parts of it a sampler that
    rebuilds the state from the trials needs under public names (all private in Optuna: its
    optimizer is meant to be restored from a pickle only)."""

    def _restore_optimizer(self, completed_trials: list[FrozenTrial]) -> None:
        # Private: Optuna's version unpickles what the storage holds; nothing may call it.
        return None

    @property
    def n_startup_trials(self) -> int:
        """Random trials before CMA-ES starts (``_n_startup_trials``)."""
        return int(self._n_startup_trials)

    @property
    def with_margin(self) -> bool:
        """CMA-ES with margin for discrete spaces (``_with_margin``)."""
        return bool(self._with_margin)

    @property
    def generation_key(self) -> str:
        """The system attribute that holds a trial's CMA generation (``_attr_key_generation``)."""
        return str(self._attr_key_generation)

    @property
    def cma_rng(self) -> np.random.RandomState:
        """The sampler's ``numpy`` random state for optimizer seeds (``_cma_rng.rng``)."""
        return self._cma_rng.rng

    def check_single_objective(self, study: optuna.Study) -> None:
        """Raise as Optuna does for a multi-objective study
        (``_raise_error_if_multi_objective``)."""
        self._raise_error_if_multi_objective(study)

    def completed_trials(self, study: optuna.Study) -> list[FrozenTrial]:
        """The trials CMA-ES learns from (``_get_trials``: complete, and pruned if asked)."""
        trials: list[FrozenTrial] = self._get_trials(study)
        return trials

    def new_optimizer(self, transform: Any, direction: StudyDirection) -> Any:
        """A fresh ``cmaes`` optimizer for the space (``_init_optimizer``)."""
        return self._init_optimizer(transform, direction)

    @staticmethod
    def seed_optimizer(optimizer: Any, seed: int) -> None:
        """Seed a ``cmaes`` optimizer's draws as Optuna's sampler does (``optimizer._rng``,
        private in ``cmaes``: it takes its seed only when built)."""
        optimizer._rng.seed(seed)


class QMCSamplerBase(QMCSampler):
    """``QMCSampler`` with its settings under public names (private attributes in Optuna)."""

    @property
    def qmc_type(self) -> str:
        """``sobol`` or ``halton`` (``_qmc_type``)."""
        return str(self._qmc_type)

    @property
    def qmc_seed(self) -> int | None:
        """The sequence's seed (``_seed``)."""
        seed = self._seed
        return None if seed is None else int(seed)

    @property
    def scramble(self) -> bool:
        """Whether the sequence is scrambled (``_scramble``)."""
        return bool(self._scramble)


class GrpcStorageBase(GrpcStorageProxy, BaseHeartbeat):
    """Optuna's gRPC storage client as a heartbeat storage, whose stale trials come from
    ``stale_trial_ids`` and whose channel serves automl's own calls too.

    Private: ``optuna.storages._heartbeat.BaseHeartbeat`` (the interface ``fail_stale_trials``
    and the heartbeat thread check for; not exported), its ``_get_stale_trial_ids`` (the
    one method ``fail_stale_trials`` asks), and ``GrpcStorageProxy._channel`` (the client's
    open channel; a second channel to the same proxy would be a second connection per worker).
    """

    @property
    def channel(self) -> Any:
        """The client's gRPC channel to the proxy (private: ``_channel``, see the class)."""
        return self._channel

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        # Private BaseHeartbeat hook: fail_stale_trials asks this one method.
        return self.stale_trial_ids(study_id)

    def stale_trial_ids(self, study_id: int) -> list[int]:
        """The study's RUNNING trials whose heartbeats stopped (a subclass asks the proxy)."""
        raise NotImplementedError


def add_storage_service(server: object, storage: BaseStorage) -> None:
    """Serve Optuna's storage service for ``storage`` on a gRPC ``server``.

    Private: ``optuna.storages._grpc`` (its generated service and servicer). Optuna's public
    ``run_grpc_proxy_server`` builds, serves and blocks on a server of its own; the storage
    proxy serves automl's coordination service (the admission lock, heartbeats) on the same
    server and port.
    """
    from optuna.storages._grpc.auto_generated import api_pb2_grpc
    from optuna.storages._grpc.servicer import OptunaStorageProxyService

    api_pb2_grpc.add_StorageServiceServicer_to_server(OptunaStorageProxyService(storage), server)
