"""The backend protocol and the values it trades: ``Goal`` in, ``FitResult`` out.

Every backend module imports these from here (never from the package, whose ``backend_for``
imports the backends).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from automl.core.objectives import Constraint, Objective

if TYPE_CHECKING:
    import numpy as np

    from automl.backends.checkpoint import TrialCheckpoint
    from automl.core.plugin import DataSpec, ModelPlugin, Report
    from automl.core.records import Unit
    from automl.data.types import Dataset

__all__ = ["Backend", "FitResult", "Goal", "Direction", "TrainerSettings"]

Direction = Literal["maximize", "minimize"]

ConfigT_contra = TypeVar("ConfigT_contra", contravariant=True)
"""A backend's model config type (the plugin's config; ``Any`` where the core cannot know it)."""
ModelT = TypeVar("ModelT")
"""The type of the models a backend trains, saves and loads."""


class TrainerSettings(Protocol):
    """The trainer settings a backend reads: ``automl.study.config.TrainerConfig`` (or a
    ``DictConfig`` of it), named here because the study layer sits above the backends."""

    @property
    def max_epochs(self) -> int: ...
    @property
    def accelerator(self) -> str: ...
    @property
    def devices(self) -> int: ...
    @property
    def precision(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def deterministic(self) -> bool: ...
    @property
    def eval_batch_size(self) -> int: ...
    @property
    def num_threads(self) -> int: ...
    @property
    def logger(self) -> str: ...


@dataclass(frozen=True)
class Goal:
    """What selection optimizes: the study's objectives and constraints, and the metric that
    picks a trial's best epoch.

    Decided once per run (``automl.study.run``): the study's directions, the values each trial
    reports, which trials are feasible, and the best-epoch choice inside a trial all come
    from here.

    Attributes:
        metric: The validation metric that picks a trial's best epoch (and that pruners see):
            the first objective that is a validation metric, else the model's own metric.
        direction: Its direction.
        objectives: The study's objectives, in order (``sweep.objectives``); one objective,
            ``val_<metric>``, when none are configured.
        constraints: Bounds a trial must meet to be chosen (``sweep.constraints``).
    """

    metric: str
    direction: Direction
    objectives: tuple[Objective, ...] = ()
    constraints: tuple[Constraint, ...] = ()

    def __post_init__(self) -> None:
        if not self.objectives:
            object.__setattr__(self, "objectives", (Objective(self.key, self.direction),))

    @property
    def key(self) -> str:
        """The validation metric's key, ``val_<metric>``."""
        return f"val_{self.metric}"

    @property
    def multi(self) -> bool:
        """Several objectives: a Pareto front instead of one best trial."""
        return len(self.objectives) > 1

    @property
    def prunable(self) -> bool:
        """Whether a pruner can judge trials: the first objective is the metric reported
        each epoch.

        A built-in measure such as ``latency_ms`` exists only once training is over, so the
        epochs' values of another metric say nothing about it. With several objectives the
        pruner judges the first one (``automl.tuning.objective_pruner``).
        """
        return self.objectives[0].key == self.key

    @property
    def directions(self) -> list[Direction]:
        """The study's directions, one per objective."""
        return [o.direction for o in self.objectives]

    @property
    def names(self) -> list[str]:
        """The objectives' keys (``val_acc``, ``latency_ms``)."""
        return [o.key for o in self.objectives]

    def better(self, value: float, best: float | None) -> bool:
        """Whether ``value`` beats ``best`` (``None``: nothing yet) on ``metric``."""
        if best is None:
            return True
        return value > best if self.direction == "maximize" else value < best

    def values(self, measures: Mapping[str, float | None]) -> list[float]:
        """The objectives' values in a trial's measures (``TrialRecord.measures``).

        Raises:
            KeyError: A measure the trial does not have (one line naming what it has).
        """
        out = []
        for objective in self.objectives:
            value = measures.get(objective.key)
            if value is None:
                have = ", ".join(sorted(k for k, v in measures.items() if v is not None))
                raise KeyError(
                    f"objective {objective.key} was not measured for this model (it has: {have}); "
                    "change sweep.objectives"
                )
            out.append(float(value))
        return out

    def violations(self, measures: Mapping[str, float | None]) -> list[float]:
        """Each constraint's violation (``<= 0`` met), in ``constraints`` order.

        Raises:
            KeyError: A constrained measure the trial does not have.
        """
        out = []
        for c in self.constraints:
            value = measures.get(c.key)
            if value is None:
                have = ", ".join(sorted(k for k, v in measures.items() if v is not None))
                raise KeyError(
                    f"constraint {c} names {c.key}, which was not measured for this model (it "
                    f"has: {have}); change sweep.constraints"
                )
            out.append(c.violation(value))
        return out

    def unmet(self, measures: Mapping[str, float | None]) -> str | None:
        """The constraints a trial misses, in words (``n_params=250000 > 200000``), or
        ``None`` when it meets them all."""
        missed = []
        for c in self.constraints:
            if not c.satisfied(measures.get(c.key)):
                value = measures.get(c.key)
                shown = "missing" if value is None else f"{value:.4g}"
                missed.append(f"{c.key}={shown} breaks {c}")
        return "; ".join(missed) or None

    def identity(self) -> str:
        """How the study's fingerprint names its objective(s): ``acc (maximize)`` for the
        model's own metric alone (as every study before ``sweep.objectives``), else each
        objective's key and direction."""
        if not self.multi and self.objectives[0].key == self.key:
            return f"{self.metric} ({self.direction})"
        return ", ".join(str(o) for o in self.objectives)


@dataclass
class FitResult:
    """What one training run produced.

    Attributes:
        value: The objective metric at the best validation epoch (or the final fit).
        metrics: All validation metrics at that point, keyed ``val_<name>``.
        epochs: Epochs (or reports) actually run; with k folds, the folds (the unit a
            k-fold trial reports in).
        n_params: Trainable parameters (torch models) or ``None``.
        artifact: Path of the saved model file, if a directory was given.
        wall_time: Seconds spent in training.
        model: The trained model, best weights loaded.
        budget: How much training reached the selected point, in a form a refit can repeat
            without validation data: ``{"epochs": n}`` for torch models, the estimator's
            ``fitted_budget()`` otherwise.
        latency_ms: Median milliseconds of one prediction call on a fixed batch of
            validation rows (``automl.study.run.LATENCY_ROWS``), measured after training; ``None``
            for models that do not predict (generators).
        stopped: Where training stopped at its deadline before its full length, in words
            (``after epoch 7 of 20``); ``None`` when it ran its course. The result is the best
            step so far.
    """

    value: float
    metrics: dict[str, float]
    epochs: int
    n_params: int | None
    artifact: str | None
    wall_time: float
    model: Any = field(repr=False, default=None)
    budget: dict[str, Any] = field(default_factory=dict)
    latency_ms: float | None = None
    stopped: str | None = None


class Backend(Protocol[ConfigT_contra, ModelT]):
    """How one kind of model is built, trained, evaluated, saved and loaded.

    Generic over the config it builds from and the model type it trains (``LightningBackend``
    is a ``Backend[Any, LightningModule]``, ``EstimatorBackend`` a ``Backend[Any,
    BaseEstimator]``); code that serves every kind uses ``Backend[Any, Any]``.

    Attributes:
        kind: The plugin kind this backend serves.
        unit: What a training step reported to the pruner is (``epoch`` or ``step``).
        expensive: Its trials cost much more than an estimator's (torch training): with
            several families, the cheap families' defaults run first.
    """

    kind: str
    unit: Unit
    expensive: bool

    def describe(self) -> str:
        """Where trials train, in one line."""

    def device_for(self, plugin: ModelPlugin, cfg: ConfigT_contra, spec: DataSpec) -> str:
        """Where a model of ``cfg`` trains and predicts (``cpu``, ``cuda:0``, ...)."""

    def check_built(self, model: object) -> str | None:
        """Why ``model`` is not what a builder of this kind must return (the words after
        ``build returned <type>``), or ``None`` when it is."""

    def reload_differs(self, model: ModelT, reloaded: ModelT) -> str | None:
        """How ``reloaded`` (``load`` of what ``save`` wrote) differs from ``model`` in its
        state, in words; ``None`` when it does not, or the backend cannot tell."""

    def preflight(
        self, plugin: ModelPlugin, cfg: ConfigT_contra, dataset: Dataset
    ) -> tuple[str, ...] | None:
        """Build ``cfg`` and run one tiny training step; raise ``PluginError`` on failure.

        Returns the validation metrics (names without ``val_``) the built model reports when
        the backend can tell from the model itself (a ``SupervisedModule``, an estimator with
        the default ``evaluate``), else ``None``."""

    def fit(
        self,
        plugin: ModelPlugin,
        cfg: ConfigT_contra,
        dataset: Dataset,
        goal: Goal,
        *,
        report: Report | None,
        seed: int,
        log_dir: str | None = None,
        deadline: float | None = None,
        checkpoint: TrialCheckpoint | None = None,
    ) -> FitResult:
        """Train on ``dataset.train``, select on ``dataset.val``; raise ``TrialPruned`` when
        ``report`` asks to stop and ``FloatingPointError`` when training diverges. With
        ``log_dir``, write the trial's per-epoch (per-report) ``metrics.csv`` there; with
        ``checkpoint``, write the training state as it goes and continue from the one it was
        opened with (``automl.backends.checkpoint``). Past ``deadline`` (``time.monotonic()``),
        stop at the next report and return the best step so far, with ``FitResult.stopped``
        saying where."""

    def refit(
        self,
        plugin: ModelPlugin,
        cfg: ConfigT_contra,
        dataset: Dataset,
        budget: dict[str, Any],
        *,
        seed: int,
    ) -> FitResult:
        """Train on ``dataset.train`` for ``budget``, without validation data."""

    def evaluate(self, plugin: ModelPlugin, model: ModelT, dataset: Dataset, split: str) -> dict:
        """Metrics of ``model`` on one split, keyed ``<split>_<name>``."""

    def generates(self, model: ModelT) -> bool:
        """Whether ``model`` samples instead of predicting (a GAN): it is never asked to
        predict (no test predictions, no ``latency_ms``), and a server offers ``/generate``."""

    def predict(self, model: ModelT, x: np.ndarray, task: str) -> np.ndarray:
        """Class ids or values for preprocessed inputs."""

    def predict_with_proba(
        self, model: ModelT, x: np.ndarray, task: str
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions and class probabilities (``None`` where the model gives none)."""

    def save(self, plugin: ModelPlugin, model: ModelT, directory: str) -> str:
        """Write ``model`` into ``directory``; return the file's path."""

    def load(
        self, plugin: ModelPlugin, directory: str, cfg: ConfigT_contra, spec: DataSpec
    ) -> ModelT:
        """Rebuild a model that ``save`` wrote."""

    def result_settings(self) -> dict[str, Any]:
        """The trainer settings that change results (part of a study's fingerprint)."""
