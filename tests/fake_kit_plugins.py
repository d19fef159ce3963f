"""Plugins with one contract hole each, fed to the contract kit (never installed).

Each ``*_PLUGIN`` value breaks exactly one rule; ``GOOD_ESTIMATOR`` breaks none, so the
checks that catch the others are shown not to fail a correct plugin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from fake_plugins import TinyConfig
from torch import nn
from torch.nn import functional as F

from automl.core.errors import TrialPruned
from automl.core.metrics import task_metrics
from automl.core.plugin import ModelPlugin
from automl.core.space import Choice


@dataclass
class ExplodingConfig(TinyConfig):
    explode: bool = True  # fake_model's module then logs val_acc = NaN


class Centroids:
    """Nearest-centroid classifier / mean regressor grown in stages, reporting after each."""

    stages = 4

    def __init__(self, cfg, spec) -> None:
        self.task = spec.task
        self.centers: np.ndarray | None = None
        self.mean = 0.0

    def _fit_rows(self, x: np.ndarray, y: np.ndarray) -> None:
        x = x.reshape(len(x), -1)
        if self.task == "classification":
            self.centers = np.stack([x[y == c].mean(axis=0) for c in np.unique(y)])
        else:
            self.mean = float(np.mean(y))

    def fit(self, train, val, report) -> None:
        x, y = np.asarray(train[0]), np.asarray(train[1])
        for stage in range(self.stages):
            rows = len(x) * (stage + 1) // self.stages
            self._fit_rows(x[:rows], y[:rows])
            if report is not None and val is not None:
                value = self._value(val)
                if report(stage, value):
                    raise TrialPruned(stage, value)

    def _value(self, val) -> float:
        metrics = task_metrics(self.task, np.asarray(val[1]), self.predict(val[0]))
        return metrics["acc" if self.task == "classification" else "rmse"]

    def predict(self, x) -> np.ndarray:
        x = np.asarray(x).reshape(len(x), -1)
        if self.task != "classification":
            return np.full(len(x), self.mean)
        assert self.centers is not None
        return ((x[:, None, :] - self.centers[None]) ** 2).sum(-1).argmin(axis=1)

    def save(self, path: str) -> str:
        target = Path(path) / "centroids.npz"
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez(target, centers=self.centers if self.centers is not None else [], mean=self.mean)
        return str(target)


class NoSave(Centroids):
    save = None  # type: ignore[assignment]


class IgnoresPruning(Centroids):
    """Swallows what report raises and ignores what it returns: trains on regardless."""

    def fit(self, train, val, report) -> None:
        x, y = np.asarray(train[0]), np.asarray(train[1])
        for stage in range(self.stages):
            self._fit_rows(x, y)
            try:
                report(stage, self._value(val))
            except Exception:
                pass


class Unseeded(Centroids):
    """Regression predictions with noise from an unseeded generator."""

    def predict(self, x) -> np.ndarray:
        return super().predict(x) + np.random.default_rng().normal(0.0, 10.0, len(x))


class ColumnPredictions(Centroids):
    """Predicts a column (n, 1) instead of one class id per sample (n,)."""

    def predict(self, x) -> np.ndarray:
        return super().predict(x)[:, None]


class NanPredictions(Centroids):
    def predict(self, x) -> np.ndarray:
        return np.full(len(x), np.nan)


def build_centroids(cfg, spec):
    return Centroids(cfg, spec)


def build_no_save(cfg, spec):
    return NoSave(cfg, spec)


def build_ignores_pruning(cfg, spec):
    return IgnoresPruning(cfg, spec)


def build_unseeded(cfg, spec):
    return Unseeded(cfg, spec)


def build_column(cfg, spec):
    return ColumnPredictions(cfg, spec)


def build_nan(cfg, spec):
    return NanPredictions(cfg, spec)


def build_plain_module(cfg, spec):
    """A torch network without the LightningModule around it."""
    width = int(np.prod(spec.input_shape))
    return nn.Sequential(nn.Flatten(), nn.Linear(width, spec.n_classes))


class OwnLightning(pl.LightningModule):
    """A LightningModule of its own (not a SupervisedModule): its own steps and logging.

    ``noisy`` keeps dropout on in eval mode, so predictions are random; ``wide`` gives a
    regression two output columns where serving reads one value per sample.
    """

    def __init__(self, spec, hidden: int, noisy: bool = False, wide: bool = False) -> None:
        super().__init__()
        self.task, self.noisy = spec.task, noisy
        n_out = spec.n_classes if spec.task == "classification" else (2 if wide else 1)
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(int(np.prod(spec.input_shape)), hidden), nn.ReLU(),
            nn.Linear(hidden, n_out),
        )  # fmt: skip

    def forward(self, x):
        out = self.net(x)
        return F.dropout(out, 0.5, training=True) if self.noisy else out

    def _loss(self, x, y):
        if self.task == "classification":
            return F.cross_entropy(self(x), y)
        return F.mse_loss(self(x)[:, 0], y)

    def training_step(self, batch, batch_idx):
        return self._loss(*batch)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        if self.task == "classification":
            self.log("val_acc", (self(x).argmax(dim=1) == y).float().mean())
        else:
            self.log("val_rmse", self._loss(x, y).sqrt())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.01)


def build_own(cfg, spec):
    return OwnLightning(spec, cfg.hidden)


def build_noisy(cfg, spec):
    return OwnLightning(spec, cfg.hidden, noisy=True)


def build_wide(cfg, spec):
    return OwnLightning(spec, cfg.hidden, wide=True)


def load_centroids(directory, cfg, spec):
    model = Centroids(cfg, spec)
    with np.load(Path(directory) / "centroids.npz") as saved:
        centers = saved["centers"]
        model.centers = centers if centers.size else None
        model.mean = float(saved["mean"])
    return model


def _estimator(name: str, build: str, task: str = "classification") -> ModelPlugin:
    return ModelPlugin(
        name=name,
        config=TinyConfig,
        search_space={"hidden": Choice([4, 8])},
        build=f"fake_kit_plugins:{build}",
        load="fake_kit_plugins:load_centroids",
        kind="estimator",
        tasks=(task,),  # type: ignore[arg-type]
        default_data="wine" if task == "classification" else "diabetes",
    )


def _lightning(name: str, build: str, task: str = "classification") -> ModelPlugin:
    return ModelPlugin(
        name=name,
        config=TinyConfig,
        search_space={"hidden": Choice([4, 8])},
        build=f"fake_kit_plugins:{build}",
        tasks=(task,),  # type: ignore[arg-type]
        default_data="wine" if task == "classification" else "diabetes",
    )


GOOD_ESTIMATOR = _estimator("good_estimator", "build_centroids")
GOOD_LIGHTNING = _lightning("own_lightning", "build_own")
GOOD_LIGHTNING_REGRESSOR = _lightning("own_lightning_regressor", "build_own", "regression")
NOISY_FORWARD_PLUGIN = _lightning("noisy_forward", "build_noisy")
WIDE_OUTPUT_PLUGIN = _lightning("wide_output", "build_wide", "regression")
GOOD_REGRESSOR = _estimator("good_regressor", "build_centroids", "regression")
BAD_NAME_PLUGIN = ModelPlugin(
    name="my model-x",  # a space: not an entry-point name nor a model= option
    config=TinyConfig,
    search_space={},
    build="fake_model:build",
    default_data="wine",
)
PLAIN_MODULE_PLUGIN = ModelPlugin(
    name="plain_module",
    config=TinyConfig,
    search_space={},
    build="fake_kit_plugins:build_plain_module",
    default_data="wine",
)
NO_SAVE_PLUGIN = _estimator("no_save", "build_no_save")
IGNORES_PRUNING_PLUGIN = _estimator("ignores_pruning", "build_ignores_pruning")
UNSEEDED_PLUGIN = _estimator("unseeded", "build_unseeded", "regression")
NAN_METRIC_PLUGIN = ModelPlugin(
    name="nan_metric",
    config=ExplodingConfig,
    search_space={},
    build="fake_model:build",
    default_data="wine",
)
COLUMN_PREDICTIONS_PLUGIN = _estimator("column_predictions", "build_column")
NAN_PREDICTIONS_PLUGIN = _estimator("nan_predictions", "build_nan", "regression")
