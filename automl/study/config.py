"""Typed configs for the ``sweep`` and ``trainer`` groups and their registration with Hydra.

The ``model``, ``space`` and ``data`` groups are filled from plugins at start-up
(``register_configs``); ``conf/`` holds the primary config and the YAML presets, each of
which extends the schema stored here so Hydra type-checks it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from automl.core.registry import Registry
from automl.core.space import space_to_node
from automl.study.choices import (
    Direction,
    Engine,
    Launcher,
    Pruner,
    Resume,
    Sampler,
    SlurmExecutor,
    names,
)
from automl.study.families import AUTO, auto_nodes
from automl.study.search import PRUNERS, SAMPLERS

__all__ = [
    "SweepConfig",
    "SlurmConfig",
    "RayConfig",
    "Launcher",
    "TrainerConfig",
    "PRUNERS",
    "SAMPLERS",
    "LAUNCHERS",
    "SLURM_EXECUTORS",
    "register_configs",
    "CONFIG_PATH",
    "CONFIG_NAME",
]


class Sealed:
    """A settings dataclass whose fields cannot be set once it is built.

    Not ``frozen=True``: Hydra makes a frozen dataclass's config node read-only, and the
    command line could no longer override it. Hydra builds its nodes from the class and hands
    the composed values back through ``__init__`` (``OmegaConf.to_object``), so sealing at the
    end of ``__init__`` freezes only the validated instance. A later decision makes a changed
    copy with ``dataclasses.replace`` (sealed too), so a plan never changes under a reader.
    """

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sealed", True)

    def __setattr__(self, name: str, value: object) -> None:
        if self.__dict__.get("_sealed"):
            raise dataclasses.FrozenInstanceError(
                f"cannot set {type(self).__name__}.{name}: the settings are decided; make a "
                f"changed copy with dataclasses.replace(settings, {name}=...)"
            )
        object.__setattr__(self, name, value)


CONFIG_PATH = "pkg://automl.conf"
CONFIG_NAME = "config"

LAUNCHERS = names(Launcher)
SLURM_EXECUTORS = names(SlurmExecutor)


@dataclass
class SlurmConfig(Sealed):
    """The SLURM jobs of ``sweep.launcher=slurm`` (submitted through submitit).

    Attributes:
        executor: ``slurm`` submits to the cluster; ``local`` runs the same jobs as local
            processes through submitit's local executor (to try a configuration, and in CI).
        partition: The SLURM partition (``None``: the cluster's default).
        time: Minutes each job may run (SLURM's time limit).
        gpus: GPUs per job; the job runs one worker per GPU slot (``sweep.gpus_per_trial``,
            ``sweep.trials_per_gpu``), or one worker without GPUs.
        cpus: CPU cores per job.
        mem_gb: Memory per job in GB (``None``: the partition's default).
        folder: Where submitit keeps each job's files and logs (default ``<run dir>/slurm``).
        additional: More ``sbatch`` settings by name (``{account: lab, qos: high}``).
    """

    executor: SlurmExecutor = SlurmExecutor.slurm
    partition: str | None = None
    time: int = 60
    gpus: int = 0
    cpus: int = 2
    mem_gb: float | None = None
    folder: str | None = None
    additional: dict[str, Any] = field(default_factory=dict)


@dataclass
class RayConfig(Sealed):
    """The Ray actors of ``sweep.launcher=ray``: one worker each.

    Attributes:
        address: The Ray cluster to join (``ray://head:10001``, ``head:6379`` or ``auto``);
            ``None`` starts a local cluster for the run and stops it at the end.
        num_cpus: CPU cores Ray reserves for each worker (fractions allowed).
        num_gpus: GPUs Ray reserves for each worker; a fraction (``0.5``) packs several
            trials onto one GPU, whose out-of-memory back-off then applies. Ray pins the
            worker with ``CUDA_VISIBLE_DEVICES``.
    """

    address: str | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0


@dataclass
class SweepConfig(Sealed):
    """How the study runs.

    The string choices (``engine``, ``sampler``, ``pruner``, ``direction``, ``resume``,
    ``launcher``, ``slurm.executor``) are ``automl.study.choices`` enums: Hydra refuses a name
    that is not one of them when it composes the config, before anything runs.

    Attributes:
        engine: ``optuna`` runs a study; ``none`` trains once with the model defaults.
        n_trials: Total number of finished trials the study should reach (a rerun resumes
            and only runs the difference).
        timeout: The time budget of this invocation, in seconds, from its start to its exit
            (the export and the report included, several workers included): running trials
            stop at their deadline with their best step so far (docs/sweeps.md, "The time
            budget").
        sampler: ``tpe`` (default; multivariate, 5 random start-up trials), ``random``,
            ``gp`` (Gaussian process), ``cmaes``, ``qmc`` (scrambled Sobol), ``grid``,
            ``nsga2`` or ``auto`` (GP for small budgets of mostly numeric spaces, TPE
            otherwise; see docs/sweeps.md). Checked against the space before the study.
        sampler_args: Keyword arguments for the sampler over automl's defaults (e.g.
            ``{n_startup_trials: 10}`` for ``gp``, ``{grid_points: 5}`` for ``grid``,
            ``{population_size: 20}`` for ``nsga2``); unknown keys are an error that lists
            the valid ones.
        seed: Sampler seed; also offsets each trial's training seed.
        pruner: ``median``, ``percentile``, ``successive_halving``, ``hyperband``, ``patient``,
            ``wilcoxon`` (k-fold data only), ``threshold`` or ``none``.
        pruner_args: Keyword arguments for the pruner (e.g. ``{n_startup_trials: 3}``;
            ``patient``: ``{wrapped: median, patience: 3}``).
        storage: Optuna storage URL; default ``sqlite:///<run dir>/study.db``. A path ending in
            ``.log`` or ``.jsonl`` selects Optuna's journal file storage.
        heartbeat_interval: Seconds between heartbeats of a running trial in a database
            storage; 0 turns them off. Journal files have no heartbeats.
        grace_period: Seconds without a heartbeat after which a RUNNING trial counts as lost
            (its worker was killed or its node went away) and is failed, with that reason, by
            the next worker or rerun of the study.
        storage_wait: Seconds a process rides out an outage of a database storage (a server
            restart, a network blip): every read and write is retried with backoff until the
            storage answers or this long has passed since it stopped answering, then the
            process stops with one line (exit 1). 0 turns the retries off.
        study_name: Study name; default ``<model>-<data>`` (plus ``-<file stem>`` for data read
            from a file), which also names the run directory.
        direction: ``auto`` takes it from the plugin's metric; or ``maximize``/``minimize``.
        refit: After the search, retrain the best configuration on every non-test row
            (training plus validation, or all folds) for the length the selection found
            (best epoch, XGBoost's best round) and test and export that model instead of the
            trial's. ``None`` (default) refits exactly when ``data.folds`` >= 2, where the
            trial's own model saw only one fold's training rows.
        live: Draw the live leaderboard when stdout is a terminal.
        top_k: Rows shown in the live table.
        resume: ``auto`` resumes a study only if it is the same study (same data, settings,
            model config and space; a searched range may move); ``force`` continues a study
            whose identity changed.
        max_retries: How often a trial lost to its worker, a signal, the storage or a full
            disk is re-run with the same parameters before its failure counts.
        checkpoint_every: When each trial writes its training state to
            ``trials/NNNN/checkpoint/``, which the re-run of a lost trial continues from:
            ``auto`` (as often as costs at most 3 % of the training: at least 2 s apart and 32
            times as long as the last write took), ``N`` (every N epochs, estimator steps or
            folds), ``Ns`` (every N seconds of training) or ``0`` (never: a lost trial starts
            over).
        trial_timeout: Seconds a trial may train; it then fails with ``timeout after N s``
            (and counts). ``None``: no limit.
        max_consecutive_failures: Stop the study after this many trials in a row failed by
            themselves (the message names the most common reason); 0 never stops.
        report: Write ``report/`` (figures and one HTML page) when the study ends.
        workers: Worker processes that run the study's trials side by side; the command's
            own process starts them, draws one leaderboard and exports the best trial. With
            ``launcher=slurm``: the number of SLURM jobs; with ``launcher=ray``: Ray actors.
        gpus_per_trial: GPUs each worker sees (``CUDA_VISIBLE_DEVICES``) when the machine has
            GPUs; 0 pins nothing.
        trials_per_gpu: Workers that share one GPU (small models); reduced for the rest of the
            study on a GPU where a trial ran out of memory.
        worker_restarts: Workers that died (killed, crashed) the parent replaces in one
            invocation.
        launcher: ``local`` (worker processes on this machine), ``slurm`` (jobs through
            submitit, settings in ``slurm``) or ``ray`` (actors on a Ray cluster, settings in
            ``ray``).
        slurm: The SLURM jobs' settings.
        ray: The Ray actors' settings.
        objectives: What the study optimizes (docs/sweeps.md): validation metrics
            (``val_acc``) and measures every trial records (``n_params``, ``train_s``,
            ``latency_ms``), each optionally with ``:max``/``:min``. Empty: the model's own
            metric. Two or more make a multi-objective study ranked by Pareto fronts.
        constraints: Bounds a trial must meet to be chosen, ``NAME<=NUMBER`` (or ``>=``,
            ``<``, ``>``), e.g. ``["n_params<=200000", "latency_ms<=2"]``; infeasible trials
            are recorded and never exported.
        select: Which trial ``best/`` exports: ``auto`` (the feasible trial best on the first
            objective; with several objectives, the Pareto-front member best on the first),
            an objective's name (the front member best on it), or ``trial:N``.
        enqueue_defaults: Trial 0 of a new study is the plugin's default configuration
            (with ``model=auto``, one trial per family), so a search is never worse than
            the defaults.
        warm_start: A run directory or storage URL (``...:STUDY`` picks a study) of an earlier
            study of the same model family: its best configurations run first.
        warm_start_k: How many of them (best first).
        recheck_top: After the search, train the top ``k`` configurations again with
            ``recheck_seeds`` other seeds each and export the one best on the mean of its
            values (the search's one and the rechecks'); 0 (default) selects on the search's
            single value. One objective that is the model's validation metric only.
        recheck_seeds: Extra seeds per rechecked configuration.
    """

    engine: Engine = Engine.optuna
    n_trials: int = 20
    timeout: float | None = None
    sampler: Sampler = Sampler.tpe
    sampler_args: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    pruner: Pruner = Pruner.median
    pruner_args: dict[str, Any] = field(default_factory=dict)
    storage: str | None = None
    heartbeat_interval: int = 30
    grace_period: int = 120
    storage_wait: float = 120.0
    study_name: str = (
        "${automl_study:${hydra:runtime.choices.model},${hydra:runtime.choices.data},"
        "${oc.select:data.path,''}}"
    )
    direction: Direction = Direction.auto
    refit: bool | None = None
    live: bool = True
    top_k: int = 15
    resume: Resume = Resume.auto
    max_retries: int = 2
    checkpoint_every: str = "auto"
    trial_timeout: float | None = None
    max_consecutive_failures: int = 10
    report: bool = True
    workers: int = 1
    gpus_per_trial: int = 1
    trials_per_gpu: int = 1
    worker_restarts: int = 10
    launcher: Launcher = Launcher.local
    slurm: SlurmConfig = field(default_factory=SlurmConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    objectives: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    select: str = "auto"
    enqueue_defaults: bool = True
    warm_start: str | None = None
    warm_start_k: int = 5
    recheck_top: int = 0
    recheck_seeds: int = 2


@dataclass
class TrainerConfig(Sealed):
    """Lightning ``Trainer`` settings shared by every torch model.

    Attributes:
        max_epochs: Epochs per trial (pruning may stop a trial earlier).
        accelerator: ``auto`` uses a GPU when one is present; ``cpu``/``gpu`` force one.
        devices: Devices per trial (one trial trains on one device by default).
        precision: Lightning precision string, e.g. ``32-true``, ``bf16-mixed``.
        seed: Base seed of every trial's training.
        deterministic: Ask torch for deterministic kernels (slower on GPU).
        eval_batch_size: Batch size for validation and test passes.
        num_threads: Intra-op threads of each trial (torch, OpenMP, BLAS); 0 (default): the
            CPUs this process may use (affinity, cgroup quota) divided by the trials running
            at once on this machine, at most ``automl.core.cpus.DEFAULT_MAX_THREADS``.
        logger: Per-trial training logs: ``csv`` writes ``trials/NNNN/metrics.csv``;
            ``tensorboard`` also writes TensorBoard event files there (extra
            ``automl[tensorboard]``); ``mlflow`` and ``wandb`` also make each trial an MLflow
            or Weights & Biases run (extras ``automl[mlflow]``, ``automl[wandb]``; local
            unless ``MLFLOW_TRACKING_URI`` / ``WANDB_MODE`` say otherwise).
    """

    max_epochs: int = 20
    accelerator: str = "auto"
    devices: int = 1
    precision: str = "32-true"
    seed: int = 0
    deterministic: bool = False
    eval_batch_size: int = 2048
    num_threads: int = 0
    logger: str = "csv"


def register_configs(models: Registry[Any], data: Registry[Any]) -> None:
    """Store schemas and every working plugin's config in Hydra's ``ConfigStore``.

    Args:
        models: Discovered model plugins; each becomes ``model/<name>`` and ``space/<name>``.
        data: Discovered data plugins; each becomes ``data/<name>``.
    """
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    from automl.study.identity import default_study_name

    if not OmegaConf.has_resolver("automl_study"):
        OmegaConf.register_new_resolver("automl_study", default_study_name)
    cs = ConfigStore.instance()
    cs.store(group="sweep", name="base_sweep", node=SweepConfig)
    cs.store(group="trainer", name="base_trainer", node=TrainerConfig)
    # model=auto: every working plugin's config and space under its name (automl.study.families).
    auto_model, auto_space = auto_nodes(models)
    cs.store(group="model", name=AUTO, node=auto_model)
    cs.store(group="space", name=AUTO, node=auto_space)
    for name, info in models.plugins.items():
        if name == AUTO:
            continue  # model=auto is the search across families
        cs.store(group="model", name=name, node=info.plugin.config, provider=info.package)
        cs.store(
            group="space",
            name=name,
            node=space_to_node(info.plugin.search_space),
            provider=info.package,
        )
    for name, info in data.plugins.items():
        cs.store(group="data", name=name, node=info.plugin.config, provider=info.package)
