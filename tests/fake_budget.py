"""Test plugins for the time budget and the thread count (installed by ``tests/test_budget.py``).

- ``threads_probe``: an MLP (a real SupervisedModule) whose training steps write what torch
  reports (``torch.get_num_threads()``) to ``$AUTOML_TEST_PROBE`` whenever it changes.
- ``silent``: an estimator that never reports and trains (in Python) for ``seconds``, like
  third-party code that reports rarely or never.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from automl import Float
from automl.core.metrics import classification_metrics
from automl.plugin import ModelPlugin

_PROBED: list[int] = []


@dataclass
class ProbeConfig:
    hidden: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    batch_size: int = 64


@dataclass
class SilentConfig:
    seconds: float = 1000.0
    lr: float = 0.1


def build_probe(cfg: ProbeConfig, spec):
    import torch
    from torch import nn

    from automl.lightning import SupervisedModule

    class Probe(SupervisedModule):
        def training_step(self, batch, batch_idx):
            # Training only (not the latency measure, which runs on one thread on purpose);
            # the preflight's step is overwritten by the trial's.
            threads = torch.get_num_threads()
            if _PROBED[-1:] != [threads]:
                _PROBED.append(threads)
                Path(os.environ["AUTOML_TEST_PROBE"]).write_text(str(threads))
            return super().training_step(batch, batch_idx)

    width = math.prod(spec.input_shape)
    net = nn.Sequential(
        nn.Flatten(), nn.Linear(width, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, spec.n_classes)
    )
    return Probe(net, spec, cfg.lr, cfg.weight_decay, cfg.optimizer)


class Silent:
    """Trains for ``seconds`` without a report, then predicts the majority class."""

    def __init__(self, cfg: SilentConfig, spec) -> None:
        self.cfg = cfg
        self.label = 0

    def fit(self, train, val, report) -> None:
        end = time.monotonic() + self.cfg.seconds
        while time.monotonic() < end:  # Python steps: the budget's alarm can cut it
            time.sleep(0.05)
        self.label = int(np.bincount(np.asarray(train[1])).argmax())

    def predict(self, x) -> np.ndarray:
        return np.full(len(x), self.label)

    def evaluate(self, x, y, task) -> dict:
        return classification_metrics(np.asarray(y), self.predict(x))

    def save(self, path: str) -> str:
        target = Path(path) / "label.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(str(self.label))
        return str(target)


def build_silent(cfg: SilentConfig, spec) -> Silent:
    return Silent(cfg, spec)


def load_silent(directory: str, cfg: SilentConfig, spec) -> Silent:
    model = Silent(cfg, spec)
    model.label = int((Path(directory) / "label.txt").read_text())
    return model


THREADS_PROBE = ModelPlugin(
    name="threads_probe",
    config=ProbeConfig,
    search_space={"lr": Float(1e-4, 1e-2, log=True)},
    build="fake_budget:build_probe",
    tasks=("classification",),
    default_data="digits",
)

SILENT = ModelPlugin(
    name="silent",
    config=SilentConfig,
    search_space={"lr": Float(0.01, 0.1, log=True)},
    build="fake_budget:build_silent",
    load="fake_budget:load_silent",
    kind="estimator",
    tasks=("classification",),
    default_data="wine",
)
