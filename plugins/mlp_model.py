"""MLP builder (imports torch; loaded only when a model is built)."""

from __future__ import annotations

import math

from automl_plugins.mlp import MLPConfig
from torch import nn

from automl.lightning import SupervisedModule
from automl.plugin import DataSpec

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


def make_net(cfg: MLPConfig, spec: DataSpec) -> nn.Module:
    """Flatten, ``layers`` x (Linear, activation, dropout), then the output layer."""
    if cfg.activation not in ACTIVATIONS:
        raise ValueError(f"activation {cfg.activation!r} is not one of {sorted(ACTIVATIONS)}")
    width = math.prod(spec.input_shape)
    layers: list[nn.Module] = [nn.Flatten()]
    for _ in range(cfg.layers):
        layers += [
            nn.Linear(width, cfg.hidden),
            ACTIVATIONS[cfg.activation](),
            nn.Dropout(cfg.dropout),
        ]
        width = cfg.hidden
    out = spec.n_classes if spec.task == "classification" else spec.n_targets
    layers.append(nn.Linear(width, out))
    return nn.Sequential(*layers)


def build(cfg: MLPConfig, spec: DataSpec) -> SupervisedModule:
    """The Lightning module the trainer fits."""
    return SupervisedModule(make_net(cfg, spec), spec, cfg.lr, cfg.weight_decay, cfg.optimizer)
