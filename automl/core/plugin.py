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
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args, runtime_checkable

from automl.core.errors import PluginError, SpaceError
from automl.core.space import Param, parse_space, validate_space

__all__ = [
    "API_VERSION",
    "SUPPORTED_API_VERSIONS",
    "DEFAULT_BATCH_SIZE",
    "Kind",
    "Task",
    "SampleLayout",
    "SAMPLE_LAYOUTS",
    "LAYOUT_RANKS",
    "ReadLayout",
    "Direction",
    "TASKS",
    "KINDS",
    "DIRECTIONS",
    "TASK_METRICS",
    "TASK_METRIC_NAMES",
    "NAME_PATTERN",
    "check_name",
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

DEFAULT_BATCH_SIZE = 64
"""The training batch size of a Lightning model whose config declares none."""

Kind = Literal["lightning", "estimator"]
"""How a model trains: a Lightning module, or an object with ``fit``/``predict``/``save``."""
Task = Literal["classification", "regression", "generation"]
"""What a data set asks of a model."""
Direction = Literal["maximize", "minimize"]
"""Which way a metric improves."""

SampleLayout = Literal["flat", "sequence", "signal", "image"]
"""What the axes of one sample are: ``flat`` a vector of features, ``sequence`` steps x
features, ``signal`` channels x length, ``image`` channels x height x width."""
ReadLayout = Literal["sequence", "signal"]
"""How a model reads a rank-2 sample: as ``sequence`` (steps x features: an RNN) or as
``signal`` (channels x length: a Conv1d)."""

SAMPLE_LAYOUTS: tuple[SampleLayout, ...] = get_args(SampleLayout)
LAYOUT_RANKS: Mapping[str, int] = {"flat": 1, "sequence": 2, "signal": 2, "image": 3}
"""The per-sample rank of each layout."""

TASKS: tuple[Task, ...] = get_args(Task)
KINDS: tuple[Kind, ...] = get_args(Kind)
DIRECTIONS: tuple[Direction, ...] = get_args(Direction)

TASK_METRICS: Mapping[str, tuple[str, Direction]] = {
    "classification": ("acc", "maximize"),
    "regression": ("rmse", "minimize"),
}
"""The metric a plugin optimizes on each task unless it declares its own."""

TASK_METRIC_NAMES: Mapping[str, tuple[str, ...]] = {
    "classification": ("acc", "f1", "precision", "recall"),
    "regression": ("rmse", "mae", "r2"),
}
"""The validation metrics automl computes for every model of a task (``automl.core.metrics``);
a study may optimize or constrain any of them (``val_f1``, ``val_mae``)."""

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
"""What a plugin name may look like: it is an entry-point name, a Hydra option
(``model=<name>``) and part of run-directory names, so letters, digits, ``_`` and ``-``,
not starting with a digit or ``-``."""


def check_name(owner: str, name: object) -> None:
    """Raise ``PluginError`` unless ``name`` is a usable plugin name (``NAME_PATTERN``)."""
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise PluginError(
            f"{owner}: name {name!r} is not usable as model=/data= option; use letters, "
            "digits, '_' and '-' (not first), e.g. 'my_model' or 'my-model'"
        )


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
        target_mean: Regression only: the mean of each target over the training split.
        target_std: Regression only: the standard deviation of each target over the training
            split (1.0 for a constant target). ``automl.backends.supervised.SupervisedModule``
            trains on
            targets standardized with these two and predicts in the original units.
        fingerprint: Names the data set (source and options), the same for its holdout
            split, every fold and a refit's merged rows; ``automl.data.reference_split`` gives
            its fixed reference rows (for instruments such as the GAN's FD network).
        layout: What the axes of one sample are (``SampleLayout``): ``flat``, ``sequence``
            (steps x features), ``signal`` (channels x length) or ``image``; ``None`` when
            the data plugin did not say (a rank-2 sample of such data is read as each model
            reads rank 2). A model that reads rank-2 samples the other way gets them
            transposed (``automl.data.layout``).
    """

    name: str
    task: Task
    input_shape: tuple[int, ...]
    n_classes: int | None = None
    n_targets: int = 1
    feature_names: tuple[str, ...] | None = None
    target_mean: tuple[float, ...] | None = None
    target_std: tuple[float, ...] | None = None
    fingerprint: str | None = None
    layout: SampleLayout | None = None

    @property
    def rank(self) -> int:
        """The number of dimensions of one sample."""
        return len(self.input_shape)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (lists, not tuples), for ``config.yaml`` next to a saved model."""
        out: dict[str, Any] = dataclasses.asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = [str(v) if key == "feature_names" else v for v in value]
        return out

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> DataSpec:
        """The inverse of ``to_dict``; fields it lacks (older files) take their defaults."""

        def tuple_or_none(key: str) -> tuple[Any, ...] | None:
            value = fields.get(key)
            return tuple(value) if value else None

        return cls(
            name=str(fields["name"]),
            task=fields["task"],
            input_shape=tuple(int(d) for d in fields["input_shape"]),
            n_classes=fields.get("n_classes"),
            n_targets=int(fields.get("n_targets", 1)),
            feature_names=tuple_or_none("feature_names"),
            target_mean=tuple_or_none("target_mean"),
            target_std=tuple_or_none("target_std"),
            fingerprint=fields.get("fingerprint"),
            layout=fields.get("layout"),
        )


@runtime_checkable
class Estimator(Protocol):
    """What an ``estimator``-kind builder returns (trees and other non-Lightning models)."""

    def fit(self, train: Any, val: Any, report: Callable[[int, float], bool] | None) -> None:
        """Train on ``(x, y)`` arrays; call ``report(step, val_metric)`` as training goes.

        ``report`` returns ``True`` when the study wants the trial stopped; the estimator
        then raises ``automl.core.errors.TrialPruned``. ``val`` and ``report`` are ``None`` when
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
       trial stopped, ``report`` raises ``automl.core.errors.TrialPruned``: let it propagate (do
       not catch ``Exception`` around it). For a refit after the study, ``val`` and
       ``report`` are ``None``: train without early stopping;
    3. reads ``fitted_budget()`` (config overrides that repeat the training length a refit
       should use), ``evaluate`` for validation and test metrics, and ``save``/the plugin's
       ``load`` to keep the model.

    Optional, for trials that resume where they stopped (``sweep.checkpoint_every``): an
    estimator that overrides both ``checkpoint`` and ``resume`` is asked, right after a
    ``report`` that did not stop it, to write its training state; a re-run of a lost trial
    then calls ``resume`` before ``fit``. One that does not starts such a re-run over.
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

    def checkpoint(self, directory: str) -> bool:
        """Write the training state reached at the ``report`` being made into ``directory``.

        Called from inside ``report`` (after the study heard the value and did not stop the
        trial), so the state is the one an uninterrupted ``fit`` goes on from. Write with
        the library's own format (no pickle) into ``directory``, an empty folder; the core
        makes it a checkpoint only once this returns.

        Returns:
            Whether a state was written; ``False`` (the default: no checkpoints) when there
            is nothing to continue from at this point (the fit ends here anyway).
        """
        return False

    def resume(self, directory: str) -> None:
        """Before ``fit``: continue from the state ``checkpoint`` wrote into ``directory``.

        ``fit`` is then called as usual and trains what is left, reporting from the step
        after the checkpoint's on: the same steps an uninterrupted fit reports next (the
        core already told the study the earlier ones). Raise anything to refuse the state:
        the trial then starts over from a fresh build, with a note.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot resume a fit")

    def n_params(self) -> int | None:
        """How many fitted numbers the model holds (tree nodes, coefficients): its size, for
        the ``n_params`` objective (``sweep.objectives``). ``None`` (default): not known."""
        return None

    def device(self) -> str:
        """Where this model trains and predicts (``cpu``, ``cuda``, ...), as its own config
        decides it: the study's header and log say so. Default: ``cpu``."""
        return "cpu"

    def evaluate(self, x: Any, y: Any, task: str) -> dict[str, float]:
        """Metrics on ``(x, y)`` without a split prefix (``acc``, ``f1``, ``rmse``, ...).

        The default computes the task's standard metrics from ``predict``; a plugin with a
        custom ``metric`` returns it here too.
        """
        import numpy as np

        from automl.core.metrics import task_metrics

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


def _check_config_class(owner: str, config: object) -> Any:
    """The config as an OmegaConf structured config (what Hydra will store), or a
    ``PluginError`` saying which field cannot be one."""
    if not (isinstance(config, type) and dataclasses.is_dataclass(config)):
        raise PluginError(f"{owner}: config must be a dataclass type, got {config!r}")
    try:
        config()
    except TypeError as exc:
        raise PluginError(f"{owner}: every config field needs a default ({exc})") from None
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        return OmegaConf.structured(config)
    except OmegaConfBaseException as exc:
        lines = str(exc).strip().splitlines()
        key = next((ln.split(":", 1)[1].strip() for ln in lines if "full_key:" in ln), "")
        where = f"field '{key}'" if key else "a field"
        raise PluginError(
            f"{owner}: config {config.__name__} cannot be a Hydra config: {where}: "
            f"{lines[0] if lines else type(exc).__name__}; use bool, int, float, str, an Enum, "
            "a list or dict of those, or a nested dataclass"
        ) from None


def _select(cfg: object, path: str) -> object:
    """The value at a dotted ``path`` of a config object; ``None`` where a part is missing."""
    value: object = cfg
    for part in path.split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


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
        metrics: The validation metrics the model reports (names without ``val_``): what
            ``sweep.objectives`` and ``sweep.constraints`` may name besides automl's own
            measures. ``None``: read from a model built before the study (a
            ``SupervisedModule``: the task's metrics, ``loss`` and its ``metrics=``; an
            estimator with the default ``evaluate``: the task's), plus ``metric``. A study
            naming anything else is refused before it trains; a model automl cannot read
            (its own validation code) is not checked unless it declares them.
        load: ``"module:function"``; ``function(directory, cfg, spec)`` reloads a model saved by
            a trial. ``None`` for Lightning models (their weights reload into ``build``'s module).
        export: Optional ``"module:function"``; ``function(model, directory, spec)`` writes extra
            artifacts of the best model (a sample grid, a plot) into ``best/``.
        layout: How the model reads a rank-2 sample (``ReadLayout``): ``signal`` (channels x
            length, e.g. a Conv1d), ``sequence`` (steps x features, e.g. an RNN), or ``None``
            (it flattens it, or any order fits). Data whose ``DataSpec.layout`` is the other
            one is handed to it transposed, the same in training, ``best/`` and serving.
        api_version: Plugin API the plugin was written for.
        description: One line for ``python -m automl plugins``.
        batch_size_field: The config field (a dotted path) holding the training batch size
            of a ``kind="lightning"`` model; ``None`` for ``DEFAULT_BATCH_SIZE``. The default,
            ``"batch_size"``, also gives ``DEFAULT_BATCH_SIZE`` to a config without that field.
    """

    name: str
    config: type
    search_space: Mapping[str, Param]
    build: str
    kind: Kind = "lightning"
    tasks: tuple[Task, ...] = ("classification",)
    input_ranks: tuple[int, ...] = (1, 2, 3)
    metric: str | None = None
    direction: Direction | None = None
    default_data: str = "digits"
    metrics: tuple[str, ...] | None = None
    load: str | None = None
    export: str | None = None
    layout: ReadLayout | None = None
    api_version: int = API_VERSION
    description: str = ""
    batch_size_field: str | None = "batch_size"

    def validate(self) -> None:
        """Check the declaration itself (not the data it will meet).

        Raises:
            PluginError: With the field that is wrong and what is valid.
        """
        owner = f"model plugin {self.name!r}"
        check_name(owner, self.name)
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
        if self.metric is not None and self.direction not in DIRECTIONS:
            raise PluginError(f"{owner}: a custom metric needs direction maximize or minimize")
        if self.metric is None and any(t not in TASK_METRICS for t in self.tasks):
            raise PluginError(f"{owner}: task 'generation' has no standard metric; set metric")
        if ":" not in self.build:
            raise PluginError(f"{owner}: build must be 'module:function', got {self.build!r}")
        if self.metrics is not None and (
            isinstance(self.metrics, str)
            or not all(isinstance(m, str) and m.isidentifier() for m in self.metrics)
        ):
            raise PluginError(
                f"{owner}: metrics must be a tuple of metric names without val_, e.g. "
                f"('acc', 'f1'), got {self.metrics!r}"
            )
        if self.layout is not None and self.layout not in get_args(ReadLayout):
            raise PluginError(
                f"{owner}: layout must be 'sequence' (steps x features), 'signal' (channels x "
                f"length) or None, got {self.layout!r}"
            )
        node = _check_config_class(owner, self.config)
        field = self.batch_size_field
        if field not in (None, "batch_size") and not isinstance(_select(node, field), int):
            raise PluginError(
                f"{owner}: batch_size_field {field!r} is not an int field of config "
                f"{self.config.__name__}; name the field that holds the batch size, or None"
            )
        # The space must fit the config here, not only after the user's edits: a typo in a
        # field name makes the plugin a FAILED row instead of an error on every run.
        try:
            validate_space(parse_space(self.search_space), node)
        except SpaceError as exc:
            raise PluginError(f"{owner}: search_space: {exc}") from None

    def batch_size_of(self, cfg: object) -> int:
        """The training batch size ``cfg`` (this plugin's config) sets: the value of
        ``batch_size_field``, else ``DEFAULT_BATCH_SIZE``."""
        value = None if self.batch_size_field is None else _select(cfg, self.batch_size_field)
        if value is None:
            return DEFAULT_BATCH_SIZE
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PluginError(
                f"model '{self.name}': {self.batch_size_field}={value!r} is not a size"
            )
        return int(value)

    def objective(self, task: str) -> tuple[str, Direction]:
        """The ``(metric, direction)`` this plugin optimizes on data of ``task``."""
        if self.metric is not None and self.direction is not None:
            return self.metric, self.direction
        return TASK_METRICS[task]

    def reported_metrics(self, built: tuple[str, ...] | None) -> tuple[str, ...] | None:
        """The validation metrics (without ``val_``) this plugin's models report.

        Args:
            built: What the backend read from a model built with the default config (the
                preflight's answer), or ``None`` when it could not tell.

        Returns:
            ``metrics`` when the plugin declares them, else ``built``; with ``metric`` added.
            ``None`` when neither says (nothing can be checked before training).
        """
        names = tuple(self.metrics) if self.metrics is not None else built
        if names is None:
            return None
        if self.metric is not None and self.metric not in names:
            names += (self.metric,)
        return names

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
        check_name(owner, self.name)
        if self.api_version not in SUPPORTED_API_VERSIONS:
            raise PluginError(
                f"{owner} targets plugin API {self.api_version}; this automl supports "
                f"{sorted(SUPPORTED_API_VERSIONS)}"
            )
        if ":" not in self.load:
            raise PluginError(f"{owner}: load must be 'module:function', got {self.load!r}")
        _check_config_class(owner, self.config)
