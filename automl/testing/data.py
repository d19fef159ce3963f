"""Small data and trainer settings for checking a plugin quickly (no pytest needed)."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np

from automl.core.plugin import ModelPlugin
from automl.data import Dataset, Split, load_dataset
from automl.study.config import TrainerConfig

__all__ = ["tiny_dataset", "tiny_trainer"]


def tiny_dataset(plugin: ModelPlugin, n_train: int = 240, n_eval: int = 120) -> Dataset:
    """The plugin's default data set, cut to a few hundred samples (fast, same spec).

    Args:
        plugin: The model plugin; its ``default_data`` must be installed.
        n_train: Training samples kept.
        n_eval: Validation and test samples kept (each).

    Returns:
        A ``Dataset`` whose ``merged()`` gives what a refit trains on (training and
        validation rows together, an empty validation split).
    """
    from automl.core.registry import discover_data

    data_plugin = discover_data().get(plugin.default_data)
    full = load_dataset(data_plugin, data_plugin.config())
    out = copy.copy(full)
    out.train = Split(full.train.x[:n_train], full.train.y[:n_train])
    out.val = Split(full.val.x[:n_eval], full.val.y[:n_eval])
    out.test = Split(full.test.x[:n_eval], full.test.y[:n_eval])
    out.cache = {}
    out.folds = []

    def merged() -> Dataset:  # what a refit trains on: training and validation rows
        x = np.concatenate([out.train.x, out.val.x])
        y = np.concatenate([out.train.y, out.val.y])
        empty = Split(x[:0], y[:0])
        return dataclasses.replace(out, train=Split(x, y), val=empty, cache={}, merged=None)

    out.merged = merged
    return out


def tiny_trainer(epochs: int = 1) -> TrainerConfig:
    """Trainer settings for a check: CPU, ``epochs`` epochs, seeded."""
    return TrainerConfig(max_epochs=epochs, accelerator="cpu", eval_batch_size=512)
