"""A run plan: the composed config resolved into plugins, typed configs and a search space.

Everything a user can get wrong is checked here, before any study or file is created.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from omegaconf import DictConfig, OmegaConf

from automl.backends.checkpoint import parse_every
from automl.core.errors import UserError
from automl.core.objectives import (
    Constraint,
    ObjectiveSpec,
    metric_key,
    parse_constraints,
    parse_objectives,
)
from automl.core.plugin import DataPlugin, ModelPlugin
from automl.core.registry import Registry
from automl.core.space import Fixed, Param, parse_space, validate_space
from automl.study.config import SweepConfig, TrainerConfig
from automl.study.families import (
    AUTO,
    Family,
    auto_keys,
    joint_space,
    plan_families,
    trial_config,
)
from automl.study.identity import check_study_name
from automl.study.keys import check_keys
from automl.study.search import SamplerPlan, check_pruner, plan_sampler
from automl.study.settings import check_settings
from automl.study.values import check_values

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["RunPlan", "make_plan"]


@dataclass(frozen=True)
class RunPlan:
    """Everything one invocation needs, validated (frozen: a later decision makes a new plan,
    ``dataclasses.replace``).

    Attributes:
        model_name: The model plugin's name (``auto`` for a search across families).
        data_name: The data plugin's name.
        plugin: The model plugin; ``None`` for ``model=auto`` (each family has its own).
        package: Distribution providing the model plugin, with version.
        data_plugin: The data plugin.
        model_node: The model config (structured ``DictConfig``), fixed values applied.
        data_cfg: The data config object.
        space: Parameters to sample (pinned ones already applied to ``model_node``); with
            ``model=auto`` the joint space (``automl.study.families.joint_space``).
        sweep: Sweep settings.
        trainer: Trainer settings.
        run_dir: Results directory.
        study_name: Study name.
        composed: The whole composed config, as saved.
        sampler: ``sweep.sampler`` checked against the space (``auto`` resolved, notes).
        overrides: The command line's overrides (recorded in the run's history).
        families: The model families to search: the model alone, or with ``model=auto`` every
            candidate (``automl.study.run.prepare``'s plan keeps those that fit the data).
        families_listed: ``model.families`` named the families (a misfit is an error).
        objectives: ``sweep.objectives``, checked (directions resolved by ``prepare``).
        constraints: ``sweep.constraints``, parsed.
    """

    model_name: str
    data_name: str
    plugin: ModelPlugin | None
    package: str
    data_plugin: DataPlugin
    model_node: DictConfig
    data_cfg: DataclassInstance
    space: Mapping[str, Param]
    sweep: SweepConfig
    trainer: TrainerConfig
    run_dir: Path
    study_name: str
    composed: DictConfig
    sampler: SamplerPlan
    overrides: list[str] = field(default_factory=list)
    families: dict[str, Family] = field(default_factory=dict)
    families_listed: bool = False
    objectives: tuple[ObjectiveSpec, ...] = ()
    constraints: tuple[Constraint, ...] = ()

    @property
    def auto(self) -> bool:
        """A search across model families (``model=auto``)."""
        return self.plugin is None


def make_plan(
    cfg: DictConfig,
    model_name: str,
    data_name: str,
    models: Registry[ModelPlugin],
    data: Registry[DataPlugin],
    run_dir: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
) -> RunPlan:
    """Resolve and validate a composed config.

    Raises:
        UserError: Unknown or broken plugins, an invalid space, or bad sweep settings.
    """
    auto = model_name == AUTO
    plugin = None if auto else models.get(model_name)
    data_plugin = data.get(data_name)
    # A misspelt key (+model.dropuot=0.4, a recipe's typo) would be dropped silently below.
    check_keys(cfg, model_name, data_name, auto_keys(models) if auto else None)
    sweep = cast(SweepConfig, OmegaConf.to_object(cfg.sweep))
    trainer = cast(TrainerConfig, OmegaConf.to_object(cfg.trainer))
    if sweep.n_trials < 1:
        raise UserError(f"sweep.n_trials={sweep.n_trials} must be >= 1")
    if sweep.timeout is not None and sweep.timeout <= 0:
        raise UserError(
            f"sweep.timeout={sweep.timeout} must be a number of seconds > 0, or null for no limit"
        )
    if sweep.heartbeat_interval < 0 or (
        sweep.heartbeat_interval and sweep.grace_period <= sweep.heartbeat_interval
    ):
        raise UserError(
            f"sweep.heartbeat_interval={sweep.heartbeat_interval} and "
            f"sweep.grace_period={sweep.grace_period}: the interval must be >= 0 (0 turns "
            "heartbeats off) and the grace period longer than it, e.g. 30 and 120"
        )
    if trainer.max_epochs < 1:
        raise UserError(f"trainer.max_epochs={trainer.max_epochs} must be >= 1")
    _check_fault_settings(sweep)
    check_settings(sweep)  # workers, GPUs, launcher (automl.parallel)
    check_study_name(str(sweep.study_name))
    objectives, constraints = check_search_settings(sweep, auto)

    listed = False
    if auto:
        families, listed = plan_families(cfg, models)
        model_node = copy.deepcopy(cfg.model)
        searched = joint_space(families)
        package = "model=auto"
    else:
        assert plugin is not None
        info = models.info(model_name)
        package = f"{info.package} {info.version}"
        space_node = OmegaConf.to_container(cfg.get("space") or {}, resolve=True)
        space = parse_space(cast("dict[str, Any]", space_node))
        model_node = copy.deepcopy(cfg.model)
        validate_space(space, model_node)
        pinned = {name: p.value for name, p in space.items() if isinstance(p, Fixed)}
        model_node = trial_config(model_node, pinned)
        searched = {name: p for name, p in space.items() if not isinstance(p, Fixed)}
        families = {model_name: Family(model_name, plugin, package, model_node, searched)}
    for fam in families.values():  # the plugin's own check of its values (__post_init__)
        where = f"model.{fam.name}" if auto else "model"
        check_values(f"model {fam.name}", where, fam.node, fam.space)
    sampler = plan_sampler(
        sweep.sampler,
        space=searched,
        n_trials=sweep.n_trials,
        n_objectives=max(1, len(objectives)),
        args=sweep.sampler_args,
        prunes=sweep.pruner != "none",
        conditional=auto,
        constraints=constraints,
    )
    # A structured config's object is the data plugin's config dataclass.
    data_cfg = cast("DataclassInstance", OmegaConf.to_object(cfg.data))
    check_pruner(sweep.pruner, sweep.pruner_args, folds=int(getattr(data_cfg, "folds", 0) or 0))
    return RunPlan(
        model_name=model_name,
        data_name=data_name,
        plugin=plugin,
        package=package,
        data_plugin=data_plugin,
        model_node=model_node,
        data_cfg=data_cfg,
        space=searched,
        sweep=sweep,
        trainer=trainer,
        run_dir=Path(run_dir),
        study_name=str(sweep.study_name),
        composed=cfg,
        sampler=sampler,
        overrides=list(overrides),
        families=families,
        families_listed=listed,
        objectives=objectives,
        constraints=constraints,
    )


def _check_fault_settings(sweep: SweepConfig) -> None:
    if sweep.max_retries < 0:
        raise UserError(f"sweep.max_retries={sweep.max_retries} must be >= 0 (0: never re-run)")
    try:
        parse_every(sweep.checkpoint_every)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if sweep.trial_timeout is not None and sweep.trial_timeout <= 0:
        raise UserError(
            f"sweep.trial_timeout={sweep.trial_timeout} must be a number of seconds > 0, or "
            "null for no limit"
        )
    if sweep.storage_wait < 0:
        raise UserError(
            f"sweep.storage_wait={sweep.storage_wait} must be a number of seconds >= 0 (0: do not "
            "wait for an unreachable storage)"
        )
    if sweep.max_consecutive_failures < 0:
        raise UserError(
            f"sweep.max_consecutive_failures={sweep.max_consecutive_failures} must be >= 0 "
            "(0: never stop on failures)"
        )


SELECT_HELP = "auto, an objective's name (e.g. latency_ms) or trial:N"


def check_search_settings(
    sweep: SweepConfig, auto: bool
) -> tuple[tuple[ObjectiveSpec, ...], tuple[Constraint, ...]]:
    """Check the objectives, constraints, selection, warm start and ``model=auto`` settings.

    Raises:
        UserError: One line per mistake (``ObjectiveError`` for objectives and constraints).
    """
    objectives = parse_objectives(sweep.objectives)
    constraints = parse_constraints(sweep.constraints)
    if objectives and sweep.direction != "auto":
        raise UserError(
            f"sweep.direction={sweep.direction} applies to the model's own metric; with "
            "sweep.objectives give each objective its direction (val_acc:max, latency_ms:min) "
            "and leave sweep.direction=auto"
        )
    select = str(sweep.select)
    if select != "auto" and not select.startswith("trial:"):
        keys = [o.key for o in objectives]
        if metric_key(select) not in keys:
            raise UserError(
                f"sweep.select={select!r} is not one of {SELECT_HELP}"
                + (f" (objectives: {', '.join(keys)})" if keys else "")
            )
    if select.startswith("trial:") and not select[6:].isdigit():
        raise UserError(
            f"sweep.select={select!r}: write trial:N with N a trial number, e.g. trial:12"
        )
    if sweep.warm_start_k < 1:
        raise UserError(f"sweep.warm_start_k={sweep.warm_start_k} must be >= 1")
    if sweep.recheck_top < 0 or sweep.recheck_top == 1 or sweep.recheck_seeds < 1:
        raise UserError(
            f"sweep.recheck_top={sweep.recheck_top}, sweep.recheck_seeds={sweep.recheck_seeds}: "
            "recheck_top is 0 (off) or the 2 or more best configurations to train again, "
            "recheck_seeds >= 1, e.g. sweep.recheck_top=3"
        )
    if auto and sweep.engine == "none":
        raise UserError(
            "model=auto searches several model families in a study; sweep=none trains one "
            "model: name it (e.g. model=xgboost sweep=none)"
        )
    return objectives, constraints
