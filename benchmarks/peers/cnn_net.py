"""The CNN plugin's network and optimizers, copied so peer environments need no automl.

Kept identical to ``automl_plugins.cnn_model.make_net`` and
``automl.backends.supervised.make_optimizer``
(``tests/test_benchmarks_smoke.py`` checks that both build the same layers). Also the shared
search space and the data loading of the peer scripts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

# The CNN plugin's default search space (automl_plugins.cnn.PLUGIN.search_space), in the
# order automl samples it (the order matters to a seeded sampler).
SPACE: dict[str, tuple] = {
    "channels": ("choice", [16, 32, 64]),
    "depth": ("int", 1, 3),
    "kernel_size": ("choice", [3, 5]),
    "dropout": ("float", 0.0, 0.5, False),
    "batch_norm": ("choice", [True, False]),
    "lr": ("float", 1e-4, 3e-2, True),
    "weight_decay": ("float", 1e-6, 1e-2, True),
    "batch_size": ("choice", [32, 64, 128]),
    "optimizer": ("choice", ["adam", "adamw", "sgd"]),
}
DEFAULTS: dict[str, Any] = {
    "channels": 32,
    "depth": 2,
    "kernel_size": 3,
    "dropout": 0.2,
    "batch_norm": True,
    "hidden": 128,
    "lr": 2e-3,
    "weight_decay": 1e-4,
    "batch_size": 64,
    "optimizer": "adam",
}


def suggest(trial: Any) -> dict[str, Any]:
    """Sample ``SPACE`` with an Optuna trial, exactly as automl's objective does."""
    params = {}
    for name, spec in SPACE.items():
        if spec[0] == "choice":
            params[name] = trial.suggest_categorical(name, spec[1])
        elif spec[0] == "int":
            params[name] = trial.suggest_int(name, spec[1], spec[2])
        else:
            params[name] = trial.suggest_float(name, spec[1], spec[2], log=spec[3])
    return {**DEFAULTS, **params}


def make_net(cfg: dict[str, Any], input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """Conv blocks sized to the input, then a small MLP head (as the CNN plugin builds it)."""
    rank = len(input_shape)
    conv, bn, pool = (
        (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d)
        if rank == 3
        else (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d)
    )
    in_ch, size = input_shape[0], min(input_shape[1:])
    layers: list[nn.Module] = []
    width = cfg["channels"]
    for _ in range(cfg["depth"]):
        k = cfg["kernel_size"]
        layers.append(conv(in_ch, width, k, padding=k // 2))
        if cfg["batch_norm"]:
            layers.append(bn(width))
        layers.append(nn.ReLU())
        if size >= 2:
            layers.append(pool(2))
            size //= 2
        in_ch, width = width, width * 2
    adaptive = nn.AdaptiveAvgPool2d(1) if rank == 3 else nn.AdaptiveAvgPool1d(1)
    layers += [
        adaptive,
        nn.Flatten(),
        nn.Dropout(cfg["dropout"]),
        nn.Linear(in_ch, cfg["hidden"]),
        nn.ReLU(),
        nn.Linear(cfg["hidden"], n_classes),
    ]
    return nn.Sequential(*layers)


def make_optimizer(params: Any, name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD (momentum 0.9, Nesterov), as automl builds them."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=lr, weight_decay=weight_decay, momentum=0.9, nesterov=True
        )
    raise ValueError(f"unknown optimizer {name!r}")


def load_split(path: str) -> dict[str, torch.Tensor]:
    """The split the benchmark driver exported from automl (float32 inputs, int64 labels)."""
    data = np.load(path)
    out = {}
    for part in ("train", "val", "test"):
        out[f"x_{part}"] = torch.as_tensor(data[f"x_{part}"], dtype=torch.float32)
        out[f"y_{part}"] = torch.as_tensor(data[f"y_{part}"], dtype=torch.int64)
    return out


def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of ``net`` on one split (eval mode, no gradients)."""
    net.eval()
    with torch.no_grad():
        return float((net(x).argmax(1) == y).float().mean())
