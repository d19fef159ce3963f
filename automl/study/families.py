"""Model families: the plugin(s) a run searches, and ``model=auto`` across several.

A normal run searches one family, the model plugin it names. ``model=auto`` searches several
in one study: the family is a categorical parameter (``family``) and each family's own space
is conditional on it, with parameter names prefixed by the family (``xgboost.max_depth``), so
two families never share a parameter. Every installed plugin whose tasks and input ranks fit
the data takes part (third-party ones too), or the ones ``model.families`` lists.

Configuration: ``model=auto`` is a registered option of the ``model`` group whose node holds
``families`` and each plugin's config under its name (``model.xgboost.n_jobs=2``); its space
(``space=auto``, selected by ``space: ${model}``) holds each plugin's space under its name
(``space.xgboost.max_depth.high=6``).

This module is light (no torch, Lightning, Optuna or scikit-learn): ``register_configs`` uses
it for every command, ``--help`` and ``plugins`` included.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from automl.core.errors import PluginError, SpaceError, UserError
from automl.core.space import Choice, Fixed, Param, parse_space, space_to_node, validate_space

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from automl.backends.base import Backend
    from automl.core.plugin import DataSpec, ModelPlugin
    from automl.core.records import Unit
    from automl.core.registry import Registry
    from automl.data.types import Dataset

__all__ = [
    "AUTO",
    "AUTO_DEFAULT_DATA",
    "FAMILY_PARAM",
    "Family",
    "trial_config",
    "RunFamily",
    "auto_nodes",
    "auto_keys",
    "plan_families",
    "joint_space",
    "family_of",
    "own_params",
    "prefixed",
    "compatible_families",
    "DEFAULT_COST",
    "default_order",
]

AUTO = "auto"
"""The ``model`` option that searches several model families in one study."""

AUTO_DEFAULT_DATA = "breast_cancer"
"""``model=auto``'s data when the command names none: small tabular data, where choosing the
family matters most."""

DEFAULT_COST = {"linear": 0, "xgboost": 1, "forest": 2}
"""The order in which ``model=auto`` runs the built-in estimators' default configurations,
cheapest first: on breast cancer on the 2-core machine (load 14) their default trials took
0.1 s (linear), 1.8 s (XGBoost, early-stopped) and 4.7 s (a 200-tree forest on one thread);
the MLP's 20-epoch default took 68 s. Other estimators come between XGBoost and the forest
(1.5), torch models after every estimator. With a short time budget the first default may
be the only trial (docs/sweeps.md, "The time budget"): it should be a cheap one."""
_UNKNOWN_COST = 1.5

FAMILY_PARAM = "family"
"""The categorical parameter that picks a trial's family in a ``model=auto`` study."""

_RESERVED = (FAMILY_PARAM, "families")


@dataclass(frozen=True)
class Family:
    """One model family of a plan: a plugin, its base config and its searched space.

    Attributes:
        name: The plugin's name.
        plugin: The model plugin.
        package: The distribution providing it, with its version.
        node: Its config (structured ``DictConfig``), pinned values applied.
        space: Its searched parameters, by config path (not prefixed).
    """

    name: str
    plugin: ModelPlugin
    package: str
    node: DictConfig
    space: Mapping[str, Param]


@dataclass(frozen=True)
class RunFamily:
    """A family as a run trains it: its plan, its backend, the unit its steps count, the
    device its models train on and the data in the layout it reads.

    Decided once, in ``automl.study.run.prepare``.
    """

    family: Family
    backend: Backend
    unit: Unit
    device: str = "cpu"
    dataset: Dataset | None = None
    """The data as this family reads it (``automl.data.layout``: rank-2 samples transposed
    for a model that reads them the other way); ``None``: the run's data as loaded."""

    @property
    def name(self) -> str:
        """The plugin's name."""
        return self.family.name

    @property
    def plugin(self) -> ModelPlugin:
        """The model plugin."""
        return self.family.plugin


def _eligible(models: Registry[ModelPlugin]) -> list[str]:
    return [n for n in models.names() if n not in _RESERVED and n != AUTO]


def auto_nodes(models: Registry[ModelPlugin]) -> tuple[DictConfig, dict[str, Any]]:
    """The ``model/auto`` and ``space/auto`` config nodes over the working model plugins.

    Each plugin's config is a structured node under its name (so overrides are type-checked),
    and ``families`` (empty: every compatible family) lists the ones to search.
    """
    from omegaconf import OmegaConf

    names = _eligible(models)
    model: dict[str, Any] = {"families": []}
    for name in names:
        model[name] = OmegaConf.structured(models.plugins[name].plugin.config)
    space = {name: space_to_node(models.plugins[name].plugin.search_space) for name in names}
    return OmegaConf.create(model), space


def auto_keys(models: Registry[ModelPlugin]) -> list[str]:
    """The keys ``model=auto``'s node has: ``families`` and each working plugin's name."""
    return ["families", *_eligible(models)]


def _requested(node: object, models: Registry[ModelPlugin]) -> list[str] | None:
    """``model.families`` checked against the plugins: ``None`` when empty (all of them)."""
    raw = node.get("families") if hasattr(node, "get") else None
    if raw is None or (not isinstance(raw, str) and len(raw) == 0):
        return None
    names = [raw] if isinstance(raw, str) else [str(x) for x in raw]
    valid = _eligible(models)
    for name in names:
        if name not in valid:
            if name in getattr(models, "failures", {}):
                models.get(name)  # raises the plugin's own failure line
            raise PluginError(
                f"model.families names {name!r}, which is not a model plugin here (model "
                f"plugins: {', '.join(valid)}); fix the name or install the plugin"
            )
    if len(set(names)) != len(names):
        raise UserError(f"model.families={names} names a family twice; list each once")
    return names


def trial_config(model_node: DictConfig, params: dict[str, Any]) -> DictConfig:
    """A copy of the model config with sampled values set (an OmegaConf update, no compose)."""
    from omegaconf import OmegaConf

    node = copy.deepcopy(model_node)
    for path, value in params.items():
        OmegaConf.update(node, path, value, merge=True)
    return node


def plan_families(cfg: DictConfig, models: Registry[ModelPlugin]) -> tuple[dict[str, Family], bool]:
    """The candidate families of a ``model=auto`` plan (the data decides later which fit).

    Returns:
        ``(families, listed)``: every family's plan, and whether ``model.families`` listed
        them (a listed family that does not fit the data is an error, not a note).

    Raises:
        PluginError: ``model.families`` names something that is not a model plugin.
        SpaceError: A family's edited space does not fit its config.
    """
    import copy

    requested = _requested(cfg.model, models)
    names = requested or _eligible(models)
    space_node = cfg.get("space") or {}
    out: dict[str, Family] = {}
    for name in names:
        info = models.info(name)
        node = copy.deepcopy(cfg.model[name])
        raw = space_node.get(name) if hasattr(space_node, "get") else None
        from omegaconf import OmegaConf

        plain = OmegaConf.to_container(raw, resolve=True) if raw is not None else {}
        try:
            space = parse_space(plain)  # type: ignore[arg-type]
            validate_space(space, node)
        except SpaceError as exc:
            # Name the family: ``space.xgboost.max_depth`` is what the user edits.
            raise SpaceError(str(exc).replace("space.", f"space.{name}.", 1)) from None
        pinned = {k: p.value for k, p in space.items() if isinstance(p, Fixed)}
        node = trial_config(node, pinned)
        searched = {k: p for k, p in space.items() if not isinstance(p, Fixed)}
        out[name] = Family(name, info.plugin, f"{info.package} {info.version}", node, searched)
    return out, requested is not None


def prefixed(family: str, name: str) -> str:
    """A family's parameter as the study names it: ``xgboost.max_depth``."""
    return f"{family}.{name}"


def joint_space(families: Mapping[str, Family]) -> dict[str, Param]:
    """The space a ``model=auto`` study searches: ``family``, then each family's parameters
    (prefixed; each is only sampled in trials of its family)."""
    space: dict[str, Param] = {FAMILY_PARAM: Choice(list(families))}
    for name, family in families.items():
        for param, p in family.space.items():
            space[prefixed(name, param)] = p
    return space


def family_of(params: Mapping[str, Any]) -> str | None:
    """The family a ``model=auto`` trial's parameters belong to (``None``: one-model study)."""
    value = params.get(FAMILY_PARAM)
    return str(value) if value is not None else None


def own_params(family: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A family's parameters with the prefix removed (``max_depth``), the family left out."""
    head = f"{family}."
    return {k[len(head) :]: v for k, v in params.items() if k.startswith(head)}


def compatible_families(
    families: Mapping[str, Family], spec: DataSpec, listed: bool
) -> tuple[dict[str, Family], list[str]]:
    """The families whose tasks and input ranks fit the data, and a note on the rest.

    Every family must optimize the same metric on this data (they are compared on it): a
    plugin with its own metric is left out, with a note, unless it is the only kind.

    Raises:
        PluginError: A family ``model.families`` listed does not fit the data, or none fits.
    """
    kept: dict[str, Family] = {}
    skipped: list[str] = []
    for name, family in families.items():
        try:
            family.plugin.check_data(spec)
        except PluginError as exc:
            if listed:
                raise PluginError(f"model.families: {exc}") from None
            skipped.append(name)
            continue
        kept[name] = family
    notes = []
    if kept:
        objectives = {n: f.plugin.objective(spec.task) for n, f in kept.items()}
        common = max(set(objectives.values()), key=list(objectives.values()).count)
        odd = [n for n, o in objectives.items() if o != common]
        if odd and listed:
            raise PluginError(
                f"model.families: {', '.join(odd)} optimize(s) another metric than "
                f"{common[0]} ({common[1]}) on this data; families are compared on one metric"
            )
        for name in odd:
            del kept[name]
            skipped.append(f"{name} (optimizes {objectives[name][0]})")
    if not kept:
        raise PluginError(
            f"model=auto: no installed model plugin fits data '{spec.name}' ({spec.task}, "
            f"per-sample rank {spec.rank}); install one or pick another data=..."
        )
    if skipped:
        notes.append(
            f"model=auto: {', '.join(skipped)} left out (they do not fit {spec.task} data of "
            f"rank {spec.rank}, or optimize another metric)"
        )
    return kept, notes


def default_order(families: list[RunFamily]) -> list[RunFamily]:
    """``families`` in the order their default configurations run: families whose trials cost
    the most (``Backend.expensive``: torch) after the others, and those cheapest first
    (``DEFAULT_COST``); ties keep their order."""
    return sorted(
        families,
        key=lambda f: (
            bool(f.backend.expensive),
            DEFAULT_COST.get(f.name, _UNKNOWN_COST),
        ),
    )
