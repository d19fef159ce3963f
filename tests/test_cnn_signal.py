"""The cnn plugin on 1-D signals (per-sample C x L): Conv1d is chosen and it learns."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from automl.backends.lightning import LightningBackend
from automl.core.registry import discover_models
from automl.data import DataConfig, RawData
from automl.data.split import make_dataset
from automl.study import train
from automl.study.config import TrainerConfig

TRAINER = TrainerConfig(max_epochs=8, accelerator="cpu", num_threads=1)


def signals(n: int = 600, length: int = 32, seed: int = 0) -> RawData:
    """Three classes of noisy 2-channel signals with random phase.

    Class 0: slow sine, class 1: fast sine, class 2: square wave; channel 1 is pure noise,
    so the model has to find the channel that matters.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    t = np.arange(length) / length
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    slow = np.sin(2 * np.pi * 2 * t + phase)
    fast = np.sin(2 * np.pi * 6 * t + phase)
    square = np.sign(np.sin(2 * np.pi * 3 * t + phase))
    wave = np.where(y[:, None] == 0, slow, np.where(y[:, None] == 1, fast, square))
    x = np.stack([wave, np.zeros_like(wave)], axis=1) + rng.normal(0, 0.3, size=(n, 2, length))
    return RawData(x=x.astype("float32"), y=y, task="classification")


@pytest.fixture(scope="module")
def dataset():
    return make_dataset("signals", signals(), DataConfig())


def test_cnn_uses_conv1d_and_learns_signals(dataset, tmp_path):
    plugin = discover_models().get("cnn")
    assert dataset.spec.input_shape == (2, 32)
    plugin.check_data(dataset.spec)
    result = train.fit(plugin, plugin.config(), dataset, TRAINER, workdir=tmp_path)
    convs = [m for m in result.model.modules() if isinstance(m, torch.nn.Conv1d)]
    assert len(convs) == plugin.config().depth
    assert not any(isinstance(m, torch.nn.Conv2d) for m in result.model.modules())
    assert math.isfinite(result.value)
    assert result.value > 0.95  # chance is 1/3; measured 1.0 for seeds 0-3
    test = train.evaluate(plugin, result.model, dataset, TRAINER)
    assert test["test_acc"] > 0.95
    loaded = train.load_model(plugin, tmp_path, plugin.config(), dataset.spec)
    backend = LightningBackend(TRAINER)
    np.testing.assert_array_equal(
        backend.predict(loaded, dataset.test.x, "classification"),
        backend.predict(result.model, dataset.test.x, "classification"),
    )
