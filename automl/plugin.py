"""The plugin contracts: what a model or data plugin is, and what it hands the core.

A plugin is a value, not a set of hooks: an object exported at an entry point of the
``automl.models`` (``ModelPlugin``) or ``automl.data`` (``DataPlugin``) group. Importing the
module that defines it must stay cheap: heavy code (torch, xgboost, scikit-learn) is named by an
import path (``build``/``load``) and imported only when a model is built or data is loaded.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from automl.errors import PluginError
from automl.space import Param, parse_space

__all__ = [
    "API_VERSION",
    "SUPPORTED_API_VERSIONS",
    "TASKS",
    "KINDS",
    "TASK_METRICS",
    "DataSpec",
    "ModelPlugin",
    "DataPlugin",
    "Estimator",
    "BaseEstimator",
    "Report",
    "resolve",
]

API_VERSION = 1
"""The plugin API this core implements; plugins declare the one they were written for."""

SUPPORTED_API_VERSIONS = frozenset({1})

TASKS = ("classification", "regression", "generation")
KINDS = ("lightning", "estimator")

TASK_METRICS: dict[str, tuple[str, str]] = {
    "classification": ("acc", "maximize"),
    "regression": ("rmse", "minimize"),
}
"""The metric a plugin optimizes on each task unless it declares its own."""


@dataclass(frozen=True)
class DataSpec:
    """What a model builder may know about the data (never a file path).

    Attributes:
        name: The data plugin's name.
        task: One of ``TASKS``.
        input_shape: Shape of one sample, e.g. ``(1, 8, 8)`` for grey 8x8 images,
            ``(30,)`` for 30 tabular features, ``(8, 8)`` for 8 steps of 8 features.
        n_classes: Number of classes for classification, else ``None``.
        n_targets: Number of regression targets (1 for classification).
        feature_names: Column names for tabular data, else ``None``.
    """

    name: str
    task: str
    input_shape: tuple[int, ...]
    n_classes: int | None = None
    n_targets: int = 1
    feature_names: tuple[str, ...] | None = None

    @property
    def rank(self) -> int:
        """The number of dimensions of one sample."""
        return len(self.input_shape)


@runtime_checkable
class Estimator(Protocol):
    """What an ``estimator``-kind builder returns (trees and other non-Lightning models)."""

    def fit(self, train: Any, val: Any, report: Callable[[int, float], bool] | None) -> None:
        """Train on ``(x, y)`` arrays; call ``report(step, val_metric)`` as training goes.

        ``report`` returns ``True`` when the study wants the trial stopped; the estimator
        then raises ``automl.errors.TrialPruned``. ``val`` and ``report`` are ``None`` when
        the selected configuration is refitted on training plus validation rows: the
        estimator then trains without early stopping. An estimator that stops early on
        ``val`` should also define ``fitted_budget() -> dict`` (config overrides that repeat
        the length it trained to, e.g. ``{"n_estimators": 87, "early_stopping_rounds": 0}``),
        which the refit applies.
        """

    def predict(self, x: Any) -> Any:
        """Class labels (classification) or values (regression) for ``x``."""

    def save(self, path: str) -> str:
        """Write the model under directory ``path``; return the file written."""


Report = Callable[[int, float], bool]
"""``report(step, value)``: what training calls with the objective metric as it goes."""


class BaseEstimator(abc.ABC):
    """Base class of ``estimator``-kind models (plugin contract 1.1).

    A builder returns an instance; the core then drives it:

    1. sets ``seed`` (the trial's training seed: ``trainer.seed`` + trial number) — use it for
       every random choice so the same seed gives the same model;
    2. calls ``fit(train, val, report)`` with numpy ``(x, y)`` pairs (``x`` preprocessed, one
       row per sample, in the data's per-sample shape; ``y`` int64 class ids or float32
       targets). ``report(step, value)`` takes the objective metric on ``val`` at 0-based
       step ``step`` (a boosting round, a forest stage, an epoch: whatever "more training"
       means for the model; pruners count warm-up in these steps). When the study wants the
       trial stopped, ``report`` raises ``automl.errors.TrialPruned``: let it propagate (do
       not catch ``Exception`` around it). For a refit after the study, ``val`` and
       ``report`` are ``None``: train without early stopping;
    3. reads ``fitted_budget()`` (config overrides that repeat the training length a refit
       should use), ``evaluate`` for validation and test metrics, and ``save``/the plugin's
       ``load`` to keep the model.
    """

    seed: int = 0

    @abc.abstractmethod
    def fit(
        self, train: tuple[Any, Any], val: tuple[Any, Any] | None, report: Report | None
    ) -> None:
        """Train on ``train``; report the objective metric on ``val`` as training goes."""

    @abc.abstractmethod
    def predict(self, x: Any) -> Any:
        """Class ids (classification) or values (regression), one per row of ``x``."""

    @abc.abstractmethod
    def save(self, directory: str) -> str:
        """Write the model into ``directory`` without pickle; return the file's path."""

    def predict_proba(self, x: Any) -> Any:
        """Class probabilities, ``(n, n_classes)``; models that have none need not define it."""
        raise NotImplementedError(f"{type(self).__name__} gives no class probabilities")

    def fitted_budget(self) -> dict[str, Any]:
        """Config overrides that make a refit train as long as this fit did (default: none)."""
        return {}

    def evaluate(self, x: Any, y: Any, task: str) -> dict[str, float]:
        """Metrics on ``(x, y)`` without a split prefix (``acc``, ``f1``, ``rmse``, ...).

        The default computes the task's standard metrics from ``predict``; a plugin with a
        custom ``metric`` returns it here too.
        """
        import numpy as np

        from automl.metrics import task_metrics

        return task_metrics(task, np.asarray(y), np.asarray(self.predict(x)))


def resolve(path: str) -> Any:
    """Import ``"package.module:attribute"`` and return the attribute.

    Raises:
        PluginError: If the module or attribute cannot be imported.
    """
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise PluginError(f"import path {path!r} must look like 'package.module:attribute'")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise PluginError(f"module {module_name!r} has no attribute {attr!r}") from None


def _check_config_class(owner: str, config: Any) -> None:
    if not (isinstance(config, type) and dataclasses.is_dataclass(config)):
        raise PluginError(f"{owner}: config must be a dataclass type, got {config!r}")
    try:
        config()
    except TypeError as exc:
        raise PluginError(f"{owner}: every config field needs a default ({exc})") from None


@dataclass(frozen=True)
class ModelPlugin:
    """A model plugin: everything the core needs to search and train one model family.

    Attributes:
        name: Entry-point name and Hydra option (``model=<name>``).
        config: Dataclass of hyperparameters, every field with a default.
        search_space: Dotted config path -> ``Float``/``Int``/``Choice``.
        build: ``"module:function"``; ``function(cfg, spec)`` returns a LightningModule
            (``kind="lightning"``) or an ``Estimator`` (``kind="estimator"``).
        kind: ``"lightning"`` or ``"estimator"``.
        tasks: Data tasks the model supports.
        input_ranks: Per-sample ranks it accepts (1 tabular, 2 sequence/signal, 3 image).
        metric: Metric name it optimizes; ``None`` means the task's standard one
            (``acc`` for classification, ``rmse`` for regression).
        direction: ``"maximize"``/``"minimize"`` for a custom ``metric``.
        default_data: Data plugin used when the user names none.
        load: ``"module:function"``; ``function(directory, cfg, spec)`` reloads a model saved by
            a trial. ``None`` for Lightning models (their weights reload into ``build``'s module).
        export: Optional ``"module:function"``; ``function(model, directory, spec)`` writes extra
            artifacts of the best model (a sample grid, a plot) into ``best/``.
        api_version: Plugin API the plugin was written for.
        description: One line for ``python -m automl plugins``.
    """

    name: str
    config: type
    search_space: Mapping[str, Param]
    build: str
    kind: str = "lightning"
    tasks: tuple[str, ...] = ("classification",)
    input_ranks: tuple[int, ...] = (1, 2, 3)
    metric: str | None = None
    direction: str | None = None
    default_data: str = "digits"
    load: str | None = None
    export: str | None = None
    api_version: int = API_VERSION
    description: str = ""

    def validate(self) -> None:
        """Check the declaration itself (not the data it will meet).

        Raises:
            PluginError: With the field that is wrong and what is valid.
        """
        owner = f"model plugin {self.name!r}"
        if self.api_version not in SUPPORTED_API_VERSIONS:
            raise PluginError(
                f"{owner} targets plugin API {self.api_version}; this automl supports "
                f"{sorted(SUPPORTED_API_VERSIONS)}: upgrade automl or the plugin"
            )
        if self.kind not in KINDS:
            raise PluginError(f"{owner}: kind must be one of {KINDS}, got {self.kind!r}")
        bad = [t for t in self.tasks if t not in TASKS]
        if not self.tasks or bad:
            raise PluginError(f"{owner}: tasks must be a non-empty subset of {TASKS}")
        if self.metric is not None and self.direction not in ("maximize", "minimize"):
            raise PluginError(f"{owner}: a custom metric needs direction maximize or minimize")
        if self.metric is None and any(t not in TASK_METRICS for t in self.tasks):
            raise PluginError(f"{owner}: task 'generation' has no standard metric; set metric")
        if ":" not in self.build:
            raise PluginError(f"{owner}: build must be 'module:function', got {self.build!r}")
        _check_config_class(owner, self.config)
        parse_space(self.search_space)

    def objective(self, task: str) -> tuple[str, str]:
        """The ``(metric, direction)`` this plugin optimizes on data of ``task``."""
        if self.metric is not None:
            return self.metric, str(self.direction)
        return TASK_METRICS[task]

    def check_data(self, spec: DataSpec) -> None:
        """Raise ``PluginError`` if this model cannot train on data described by ``spec``."""
        if spec.task not in self.tasks or spec.rank not in self.input_ranks:
            raise PluginError(
                f"model '{self.name}' accepts {'/'.join(self.tasks)} data with per-sample rank "
                f"{'/'.join(map(str, self.input_ranks))}, but data '{spec.name}' is "
                f"{spec.task} with shape {spec.input_shape} (rank {spec.rank}); "
                f"pick another data=... or model=..."
            )


@dataclass(frozen=True)
class DataPlugin:
    """A data plugin: a named source of arrays and the config that selects them.

    Attributes:
        name: Entry-point name and Hydra option (``data=<name>``).
        config: Dataclass of options; must include the split fields of
            ``automl.data.DataConfig`` (inherit from it).
        load: ``"module:function"``; ``function(cfg)`` returns ``automl.data.RawData``.
        api_version: Plugin API the plugin was written for.
        description: One line for ``python -m automl plugins``.
    """

    name: str
    config: type
    load: str
    api_version: int = API_VERSION
    description: str = ""

    def validate(self) -> None:
        """Check the declaration; raise ``PluginError`` naming what is wrong."""
        owner = f"data plugin {self.name!r}"
        if self.api_version not in SUPPORTED_API_VERSIONS:
            raise PluginError(
                f"{owner} targets plugin API {self.api_version}; this automl supports "
                f"{sorted(SUPPORTED_API_VERSIONS)}"
            )
        if ":" not in self.load:
            raise PluginError(f"{owner}: load must be 'module:function', got {self.load!r}")
        _check_config_class(owner, self.config)
