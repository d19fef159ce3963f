"""Fit one configuration outside a study: the library entry points of training.

Each function picks the plugin's backend (``automl.backends``) and runs the holdout/k-fold/refit
protocol (``automl.backends.protocol``). A study does the same through ``automl.study.run.Run``,
which makes
each decision once per invocation; these functions make them per call, from their arguments.
This module knows nothing of Optuna: progress goes out through ``report(step, value) ->
should_stop`` and a stop request comes back as ``automl.core.errors.TrialPruned``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.backends import FitResult, Goal, backend_for
from automl.backends.protocol import fit_config, refit_config
from automl.core.plugin import ModelPlugin, Report, resolve
from automl.data import Dataset

if TYPE_CHECKING:
    from automl.backends.base import TrainerSettings
    from automl.core.plugin import DataSpec

__all__ = [
    "FitResult",
    "Report",
    "fit",
    "refit",
    "evaluate",
    "load_model",
    "check_trainer",
    "resolve",
]


def fit(
    plugin: ModelPlugin,
    cfg: object,
    dataset: Dataset,
    trainer_cfg: TrainerSettings,
    *,
    report: Report | None = None,
    workdir: str | Path | None = None,
    seed: int = 0,
    goal: Goal | None = None,
) -> FitResult:
    """Train one configuration and return its best validation metrics.

    Args:
        plugin: The model plugin.
        cfg: The model config (the plugin's dataclass, sampled values applied).
        dataset: The data (with k folds, one fit per fold and the mean reported).
        trainer_cfg: ``TrainerConfig`` (or an equivalent object).
        report: Called after every validation epoch / estimator step (or fold) with the
            objective metric; returning ``True`` stops training and raises ``TrialPruned``.
        workdir: Where to save the trained model (one file, written once at the end).
        seed: Training seed.
        goal: Metric and direction that pick the best epoch; the plugin's own by default.

    Raises:
        TrialPruned: When ``report`` asked to stop.
        FloatingPointError: When a metric or the training loss became NaN or infinite.
    """
    goal = goal or Goal(*plugin.objective(dataset.spec.task))
    backend = backend_for(plugin, trainer_cfg)
    data = _read_by(plugin, dataset)
    return fit_config(backend, plugin, cfg, data, goal, report=report, workdir=workdir, seed=seed)


def refit(
    plugin: ModelPlugin,
    cfg: object,
    dataset: Dataset,
    trainer_cfg: TrainerSettings,
    budget: dict[str, Any],
    *,
    workdir: str | Path | None = None,
    seed: int = 0,
) -> FitResult:
    """Train ``cfg`` on ``dataset.train`` for ``budget`` (a trial's ``FitResult.budget``),
    without validation data; see ``automl.backends.protocol.refit_config``."""
    backend = backend_for(plugin, trainer_cfg)
    data = _read_by(plugin, dataset)
    return refit_config(backend, plugin, cfg, data, budget, workdir=workdir, seed=seed)


def evaluate(
    plugin: ModelPlugin,
    model: object,
    dataset: Dataset,
    trainer_cfg: TrainerSettings,
    split: str = "test",
) -> dict[str, float]:
    """Metrics of a trained model on one split, keyed ``<split>_<name>``."""
    data = _read_by(plugin, dataset)
    return backend_for(plugin, trainer_cfg).evaluate(plugin, model, data, split)


def load_model(
    plugin: ModelPlugin,
    directory: str | Path,
    cfg: object,
    spec: DataSpec,
    trainer_cfg: TrainerSettings | None = None,
) -> Any:
    """Rebuild a model saved by ``fit`` (weights into a fresh module, or the plugin's loader)."""
    from automl.study.config import TrainerConfig

    """Rebuild a model saved by ``fit`` (weights into a fresh module, or the plugin's loader);
    ``spec`` describes the data as loaded (the model's own view of it is derived here)."""
    from automl.data.layout import fit_layout, spec_as

    backend = backend_for(plugin, trainer_cfg or TrainerConfig(accelerator="cpu"))
    return backend.load(plugin, str(directory), cfg, spec_as(spec, fit_layout(plugin, spec)))


def _read_by(plugin: ModelPlugin, dataset: Dataset) -> Dataset:
    """``dataset`` as ``plugin``'s models read it (``automl.data.layout``, as a study does)."""
    from automl.data.layout import as_layout, fit_layout

    return as_layout(dataset, fit_layout(plugin, dataset.spec))


def check_trainer(trainer_cfg: TrainerSettings) -> None:
    """Validate Lightning trainer settings before any trial (raises ``UserError``)."""
    from automl.backends.lightning import LightningBackend

    LightningBackend(trainer_cfg)
