"""Fit one configuration and return its metrics: Lightning for torch models, ``fit`` for estimators.

This module knows Lightning and the plugin contract, never Optuna: progress goes out through a
plain ``report(step, value) -> should_stop`` function, and a stop request comes back as
``automl.errors.TrialPruned``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from automl.data import Dataset
from automl.errors import TrialPruned, UserError, reason
from automl.metrics import task_metrics
from automl.plugin import ModelPlugin, resolve

__all__ = [
    "FitResult",
    "Report",
    "fit",
    "refit",
    "evaluate",
    "load_model",
    "check_trainer",
    "MODEL_FILE",
]

Report = Callable[[int, float], bool]
"""``report(step, value)``: record an intermediate value; ``True`` asks training to stop."""

MODEL_FILE = "model.pt"


@dataclass
class FitResult:
    """What one training run produced.

    Attributes:
        value: The objective metric at the best validation epoch (or the final fit).
        metrics: All validation metrics at that point, keyed ``val_<name>``.
        epochs: Epochs (or boosting rounds) actually run.
        n_params: Trainable parameters (torch models) or ``None``.
        artifact: File the model was saved to, if a directory was given.
        wall_time: Seconds spent in training.
        model: The trained model, best weights loaded.
        budget: How much training reached the selected point, in a form ``refit`` can
            repeat without validation data: ``{"epochs": n}`` (the best validation epoch) for
            torch models, the estimator's ``fitted_budget()`` (config overrides, e.g.
            XGBoost's rounds up to its best iteration) otherwise.
    """

    value: float
    metrics: dict[str, float]
    epochs: int
    n_params: int | None
    artifact: str | None
    wall_time: float
    model: Any = field(repr=False, default=None)
    budget: dict[str, Any] = field(default_factory=dict)


def _quiet_lightning() -> None:
    __import__("automl.quiet").quiet.quiet_lightning()  # banners, tips, GPU/TPU lines
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Batches come from in-memory tensors by design; these hints are about DataLoaders.
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*smaller than the logging interval.*")
    warnings.filterwarnings("ignore", message=".*`srun` command is available.*")
    # A refit trains without validation data on purpose.
    warnings.filterwarnings("ignore", message=".*no `val_dataloader`. Skipping val loop.*")
    # Lightning's own internals on newer torch; nothing a user can act on.
    warnings.filterwarnings("ignore", message=".*treespec.*")


def _device(trainer_cfg: Any) -> str:
    import torch

    wants_gpu = str(trainer_cfg.accelerator) in ("auto", "gpu", "cuda")
    return "cuda" if wants_gpu and torch.cuda.is_available() else "cpu"


def _tensors(dataset: Dataset, split: str, device: str):
    """Tensors of a split, converted once per process and kept (on the GPU when used)."""
    import torch

    key = f"tensors:{split}:{device}"
    if key not in dataset.cache:
        part = getattr(dataset, split)
        dataset.cache[key] = (
            torch.as_tensor(part.x, dtype=torch.float32).to(device),
            torch.as_tensor(part.y).to(device),
        )
    return dataset.cache[key]


def _trainer(
    trainer_cfg: Any, callbacks: list, max_epochs: int | None = None, validate: bool = True
):
    import pytorch_lightning as pl

    return pl.Trainer(
        limit_val_batches=None if validate else 0,
        max_epochs=max_epochs if max_epochs is not None else trainer_cfg.max_epochs,
        accelerator=trainer_cfg.accelerator,
        devices=trainer_cfg.devices,
        precision=trainer_cfg.precision,
        deterministic=trainer_cfg.deterministic,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
    )


def check_trainer(trainer_cfg: Any) -> None:
    """Build one Lightning ``Trainer`` from the settings before any trial runs.

    Lightning validates accelerator, devices and precision when a Trainer is built (tens of
    milliseconds); done once up front, a setting this machine cannot honour is one error
    instead of the same failure in every trial. It also pays Lightning's import before the
    first trial's clock starts.

    Raises:
        UserError: Lightning rejected the settings (no GPU for ``accelerator=gpu``, an unknown
            accelerator, ``devices`` out of range, an unknown precision).
    """
    _quiet_lightning()
    try:
        _trainer(trainer_cfg, [])
    except Exception as exc:  # MisconfigurationException, a missing backend package, ...
        raise UserError(
            f"trainer.accelerator={trainer_cfg.accelerator} "
            f"trainer.devices={trainer_cfg.devices} "
            f"trainer.precision={trainer_cfg.precision}: Lightning cannot train with these here "
            f"({reason(exc)}); trainer.accelerator=auto uses a GPU when there is one, else the CPU"
        ) from exc


def _is_better(value: float, best: float | None, direction: str) -> bool:
    return best is None or (value > best if direction == "maximize" else value < best)


def _make_report_callback(key: str, direction: str, report: Report | None):
    import pytorch_lightning as pl

    class ReportCallback(pl.Callback):
        """Reports each validation epoch and keeps the best weights in memory."""

        def __init__(self) -> None:
            self.best: float | None = None
            self.best_state: dict[str, Any] | None = None
            self.best_metrics: dict[str, float] = {}
            self.best_epoch = 0
            self.epochs = 0
            self.pruned: TrialPruned | None = None
            self.non_finite: str | None = None

        def on_validation_end(self, trainer: Any, module: Any) -> None:
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
            if key not in metrics:
                raise KeyError(
                    f"the model logged {sorted(metrics)} but not '{key}', the metric to optimize"
                )
            epoch = trainer.current_epoch
            self.epochs = epoch + 1
            value = metrics[key]
            if not math.isfinite(value):
                # Diverged: the remaining epochs are wasted, stop now and fail the trial.
                self.non_finite = f"{key} is {value} at epoch {epoch}"
                trainer.should_stop = True
                return
            if _is_better(value, self.best, direction):
                self.best, self.best_metrics, self.best_epoch = value, metrics, epoch
                self.best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            if report is not None and report(epoch, value):
                self.pruned = TrialPruned(epoch, value)
                trainer.should_stop = True

    return ReportCallback()


def _lightning_start(
    plugin: ModelPlugin, cfg: Any, dataset: Dataset, trainer_cfg: Any, seed: int
) -> tuple[Any, str, Any]:
    """Seeded module, device and training batches: what a fit and a refit both start from."""
    import pytorch_lightning as pl
    import torch

    from automl.lightning import TensorBatches, make_augment

    _quiet_lightning()
    if trainer_cfg.num_threads:
        torch.set_num_threads(int(trainer_cfg.num_threads))
    pl.seed_everything(seed, workers=False, verbose=False)
    module = resolve(plugin.build)(cfg, dataset.spec)
    device = _device(trainer_cfg)
    batch_size = int(getattr(cfg, "batch_size", 64))
    # Augmentation (if the data asks for it) touches training batches only, never val/test.
    augment = make_augment(dataset.augment, seed)
    train = TensorBatches(
        *_tensors(dataset, "train", device), batch_size, shuffle=True, seed=seed, transform=augment
    )
    return module, device, train


def _fit_lightning(
    plugin: ModelPlugin,
    cfg: Any,
    dataset: Dataset,
    trainer_cfg: Any,
    key: str,
    direction: str,
    report: Report | None,
    seed: int,
) -> tuple[Any, float, dict[str, float], int, int, dict[str, Any]]:
    from automl.lightning import TensorBatches

    module, device, train = _lightning_start(plugin, cfg, dataset, trainer_cfg, seed)
    val = TensorBatches(*_tensors(dataset, "val", device), trainer_cfg.eval_batch_size)
    callback = _make_report_callback(key, direction, report)
    trainer = _trainer(trainer_cfg, [callback])
    trainer.fit(module, train_dataloaders=train, val_dataloaders=val)
    if callback.non_finite:
        raise FloatingPointError(callback.non_finite)
    if callback.pruned is not None:
        raise callback.pruned
    if callback.best_state is None:
        raise RuntimeError("training ended before the first validation epoch")
    module.load_state_dict(callback.best_state)
    n_params = sum(p.numel() for p in module.parameters() if p.requires_grad)
    budget = {"epochs": callback.best_epoch + 1}
    return module, float(callback.best), callback.best_metrics, callback.epochs, n_params, budget


def _fit_estimator(
    plugin: ModelPlugin,
    cfg: Any,
    dataset: Dataset,
    trainer_cfg: Any,
    key: str,
    report: Report | None,
) -> tuple[Any, float, dict[str, float], int, None, dict[str, Any]]:
    model = resolve(plugin.build)(cfg, dataset.spec)
    steps = {"n": 0}

    def counting_report(step: int, value: float) -> bool:
        steps["n"] = step + 1
        return bool(report(step, value)) if report is not None else False

    model.fit((dataset.train.x, dataset.train.y), (dataset.val.x, dataset.val.y), counting_report)
    metrics = _estimator_metrics(model, dataset, "val")
    if key not in metrics:
        raise KeyError(f"estimator metrics {sorted(metrics)} lack '{key}'")
    budget = dict(model.fitted_budget()) if hasattr(model, "fitted_budget") else {}
    return model, metrics[key], metrics, max(steps["n"], 1), None, budget


def _estimator_metrics(model: Any, dataset: Dataset, split: str) -> dict[str, float]:
    part = getattr(dataset, split)
    metrics = task_metrics(dataset.spec.task, part.y, np.asarray(model.predict(part.x)))
    return {f"{split}_{k}": v for k, v in metrics.items()}


def fit(
    plugin: ModelPlugin,
    cfg: Any,
    dataset: Dataset,
    trainer_cfg: Any,
    *,
    report: Report | None = None,
    workdir: str | Path | None = None,
    seed: int = 0,
) -> FitResult:
    """Train one configuration and return its best validation metrics.

    Args:
        plugin: The model plugin.
        cfg: The model config (the plugin's dataclass, sampled values applied).
        dataset: Shared data for this process.
        trainer_cfg: ``TrainerConfig`` (or an equivalent ``DictConfig``).
        report: Called after every validation epoch / boosting step with the objective metric
            (with k-fold data: after every fold, with the running mean); returning ``True``
            stops training and raises ``TrialPruned``.
        workdir: Where to save the trained model (one file, written once at the end).
        seed: Training seed.

    Returns:
        A ``FitResult`` with the trained model, best weights loaded.

    Raises:
        TrialPruned: When ``report`` asked to stop.
        FloatingPointError: When the metric became NaN or infinite.
    """
    if not dataset.folds:
        return _fit_one(
            plugin, cfg, dataset, trainer_cfg, report=report, workdir=workdir, seed=seed
        )
    results: list[FitResult] = []
    for i, fold in enumerate(dataset.folds):
        # Fold 0's model is the trial's model (saved, and exported if the trial wins).
        results.append(
            _fit_one(plugin, cfg, fold, trainer_cfg, workdir=workdir if i == 0 else None, seed=seed)
        )
        mean = float(np.mean([r.value for r in results]))
        if report is not None and report(i, mean):
            raise TrialPruned(i, mean)
    metrics = {
        key: float(np.mean([r.metrics[key] for r in results]))
        for key in results[0].metrics
        if all(key in r.metrics for r in results)
    }
    metric, _ = plugin.objective(dataset.spec.task)
    metrics[f"val_{metric}_std"] = float(np.std([r.value for r in results]))
    first = results[0]
    return FitResult(
        value=float(np.mean([r.value for r in results])),
        metrics=metrics,
        epochs=sum(r.epochs for r in results),
        n_params=first.n_params,
        artifact=first.artifact,
        wall_time=sum(r.wall_time for r in results),
        model=first.model,
        budget=_mean_budget([r.budget for r in results]),
    )


def _mean_budget(budgets: list[dict[str, Any]]) -> dict[str, Any]:
    """The folds' budgets combined: numbers averaged (rounded for integers), others from fold 0."""
    merged: dict[str, Any] = {}
    for key, first in budgets[0].items():
        values = [b.get(key, first) for b in budgets]
        if isinstance(first, bool) or not isinstance(first, int | float):
            merged[key] = first
        else:
            mean = float(np.mean(values))
            # round() of a mean of integers never falls below their minimum: an epoch count
            # stays >= 1 and a switch that every fold set to 0 stays 0.
            merged[key] = round(mean) if isinstance(first, int) else mean
    return merged


def refit(
    plugin: ModelPlugin,
    cfg: Any,
    dataset: Dataset,
    trainer_cfg: Any,
    budget: dict[str, Any],
    *,
    workdir: str | Path | None = None,
    seed: int = 0,
) -> FitResult:
    """Train ``cfg`` on ``dataset.train`` for a fixed budget, without validation data.

    Used after a study to retrain the selected configuration on every non-test row
    (``Dataset.merged``): the selection already chose how long to train, so nothing is
    early-stopped or picked on a validation split here, and the final weights are kept.

    Args:
        plugin: The model plugin.
        cfg: The model config of the selected trial.
        dataset: The data to train on (its validation split is ignored).
        trainer_cfg: ``TrainerConfig`` (or an equivalent ``DictConfig``).
        budget: ``FitResult.budget`` of the selected trial: ``{"epochs": n}`` for torch
            models; config overrides for estimators (applied to ``cfg``).
        workdir: Where to save the model.
        seed: Training seed.

    Returns:
        A ``FitResult`` without validation metrics (``value`` is NaN; ``epochs`` is the
        epochs trained, or 1 for an estimator's single ``fit``).
    """
    plugin.check_data(dataset.spec)
    start = time.perf_counter()
    n_params = None
    if plugin.kind == "lightning":
        model, _, train = _lightning_start(plugin, cfg, dataset, trainer_cfg, seed)
        epochs = int(budget.get("epochs", trainer_cfg.max_epochs))
        _trainer(trainer_cfg, [], max_epochs=epochs, validate=False).fit(
            model, train_dataloaders=train
        )
        model.eval()
        n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    else:
        known = {f.name for f in dataclasses.fields(cfg)}
        unknown = sorted(set(budget) - known)
        if unknown:
            raise ValueError(
                f"{plugin.name}: fitted_budget() names {unknown}, which are not config fields"
            )
        model = resolve(plugin.build)(dataclasses.replace(cfg, **budget), dataset.spec)
        model.fit((dataset.train.x, dataset.train.y), None, None)
        epochs = 1  # one fit call; the budget says how many rounds or trees it grew
    wall = time.perf_counter() - start
    artifact = save_model(plugin, model, workdir) if workdir is not None else None
    return FitResult(float("nan"), {}, epochs, n_params, artifact, wall, model, dict(budget))


def _fit_one(
    plugin: ModelPlugin,
    cfg: Any,
    dataset: Dataset,
    trainer_cfg: Any,
    *,
    report: Report | None = None,
    workdir: str | Path | None = None,
    seed: int = 0,
) -> FitResult:
    """Train on one split (``dataset.train``, validated on ``dataset.val``)."""
    plugin.check_data(dataset.spec)
    metric, direction = plugin.objective(dataset.spec.task)
    key = f"val_{metric}"
    start = time.perf_counter()
    if plugin.kind == "lightning":
        model, value, metrics, epochs, n_params, budget = _fit_lightning(
            plugin, cfg, dataset, trainer_cfg, key, direction, report, seed
        )
    else:
        model, value, metrics, epochs, n_params, budget = _fit_estimator(
            plugin, cfg, dataset, trainer_cfg, key, report
        )
    if not math.isfinite(value):
        raise FloatingPointError(f"{key} is {value}")
    wall = time.perf_counter() - start
    artifact = save_model(plugin, model, workdir) if workdir is not None else None
    return FitResult(value, metrics, epochs, n_params, artifact, wall, model, budget)


def save_model(plugin: ModelPlugin, model: Any, directory: str | Path) -> str:
    """Write a trained model into ``directory``; return the file path."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    if plugin.kind == "lightning":
        import torch

        target = path / MODEL_FILE
        torch.save({k: v.cpu() for k, v in model.state_dict().items()}, target)
        return str(target)
    return str(model.save(str(path)))


def load_model(plugin: ModelPlugin, directory: str | Path, cfg: Any, spec: Any) -> Any:
    """Rebuild a model saved by ``fit`` (weights into a fresh module, or the plugin's loader)."""
    if plugin.kind == "lightning":
        import torch

        module = resolve(plugin.build)(cfg, spec)
        state = torch.load(Path(directory) / MODEL_FILE, map_location="cpu", weights_only=True)
        module.load_state_dict(state)
        module.eval()
        return module
    if plugin.load is None:
        raise ValueError(f"estimator plugin '{plugin.name}' declares no load function")
    return resolve(plugin.load)(str(directory), cfg, spec)


def evaluate(
    plugin: ModelPlugin, model: Any, dataset: Dataset, trainer_cfg: Any, split: str = "test"
) -> dict[str, float]:
    """Metrics of a trained model on one split, keyed ``<split>_<name>``.

    Lightning models are evaluated by their own validation logic (so custom metrics such as
    a GAN's Frechet distance work the same way on the test split).
    """
    if plugin.kind != "lightning":
        return _estimator_metrics(model, dataset, split)
    from automl.lightning import TensorBatches

    _quiet_lightning()
    device = _device(trainer_cfg)
    batches = TensorBatches(*_tensors(dataset, split, device), trainer_cfg.eval_batch_size)
    trainer = _trainer(trainer_cfg, [], max_epochs=1)
    (logged,) = trainer.validate(model, dataloaders=batches, verbose=False)
    return {f"{split}_{k.removeprefix('val_')}": float(v) for k, v in logged.items()}
