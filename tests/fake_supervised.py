"""SupervisedModule as plugin authors extend it: a subclass with its own validation lists, and
an extra metric given by argument (no subclass). Installed by tests through entry points."""

from __future__ import annotations

import math

import numpy as np
import torch
from fake_plugins import TinyConfig
from torch import nn

from automl.backends.supervised import SupervisedModule
from automl.core.plugin import ModelPlugin
from automl.core.space import Choice


def _net(spec, hidden: int) -> nn.Module:
    width = math.prod(spec.input_shape)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, spec.n_classes)
    )


class SeenTargets(SupervisedModule):
    """Logs how many classes the validation epoch saw, from a list of its own named
    ``_targets``. The base class used that name too, so the two lists were one: every
    validation epoch failed with ``Expected input batch_size (n) to match target batch_size
    (2n)``."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._targets: list[torch.Tensor] = []

    def validation_step(self, batch, batch_idx):
        self._targets.append(batch[1])
        return super().validation_step(batch, batch_idx)

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self.log("val_classes_seen", float(len(torch.unique(torch.cat(self._targets)))))
        self._targets.clear()


class OwnAccuracy(SeenTargets):
    """Also keeps its predicted class ids in ``_outputs`` and logs its own accuracy (the base
    class's ``_outputs`` held logits: concatenating the shared list failed)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._outputs: list[torch.Tensor] = []

    def validation_step(self, batch, batch_idx):
        self._outputs.append(self(batch[0]).argmax(dim=1))
        return super().validation_step(batch, batch_idx)

    def on_validation_epoch_end(self) -> None:
        right = torch.cat(self._outputs) == torch.cat(self._targets)
        self.log("val_own_acc", float(right.float().mean()))
        self._outputs.clear()
        super().on_validation_epoch_end()


def balanced_acc(preds: np.ndarray, targets: np.ndarray) -> float:
    """The mean of each class's recall."""
    return float(np.mean([np.mean(preds[targets == c] == c) for c in np.unique(targets)]))


def build_seen_targets(cfg, spec):
    return SeenTargets(_net(spec, cfg.hidden), spec, cfg.lr)


def build_own_accuracy(cfg, spec):
    return OwnAccuracy(_net(spec, cfg.hidden), spec, cfg.lr)


def build_balanced(cfg, spec):
    return SupervisedModule(
        _net(spec, cfg.hidden), spec, cfg.lr, metrics={"balanced_acc": balanced_acc}
    )


def _plugin(name: str, build: str) -> ModelPlugin:
    return ModelPlugin(
        name=name,
        config=TinyConfig,
        search_space={"hidden": Choice([8, 16])},
        build=f"fake_supervised:{build}",
        tasks=("classification",),
        default_data="wine",
    )


SEEN_TARGETS = _plugin("seen_targets", "build_seen_targets")
OWN_ACCURACY = _plugin("own_accuracy", "build_own_accuracy")
BALANCED = _plugin("balanced", "build_balanced")
