"""RNN builder (imports torch; loaded only when a model is built)."""

from __future__ import annotations

import torch
from automl_plugins.rnn import CELLS, POOLINGS, RNNConfig
from torch import nn

from automl.lightning import SupervisedModule
from automl.plugin import DataSpec

__all__ = ["SequenceNet", "make_net", "build"]


class SequenceNet(nn.Module):
    """A recurrent encoder and a linear head: ``(batch, length, features)`` -> outputs.

    Args:
        cfg: The plugin config.
        n_features: Features per step.
        n_out: Output columns (classes, or regression targets).
    """

    def __init__(self, cfg: RNNConfig, n_features: int, n_out: int) -> None:
        super().__init__()
        if cfg.cell not in CELLS:
            raise ValueError(f"cell {cfg.cell!r} is not one of {', '.join(CELLS)}")
        if cfg.pooling not in POOLINGS:
            raise ValueError(f"pooling {cfg.pooling!r} is not one of {', '.join(POOLINGS)}")
        rnn = nn.LSTM if cfg.cell == "lstm" else nn.GRU
        self.rnn = rnn(
            input_size=n_features,
            hidden_size=cfg.hidden,
            num_layers=cfg.layers,
            batch_first=True,
            # torch warns (and ignores it) when there is no second layer to drop into.
            dropout=cfg.dropout if cfg.layers > 1 else 0.0,
            bidirectional=cfg.bidirectional,
        )
        self.pooling = cfg.pooling
        self.directions = 2 if cfg.bidirectional else 1
        self.head = nn.Sequential(
            nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden * self.directions, n_out)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, state = self.rnn(x)
        if self.pooling == "mean":
            summary = outputs.mean(dim=1)
        else:
            h_n = state[0] if isinstance(state, tuple) else state  # LSTM returns (h, c)
            # h_n is (layers * directions, batch, hidden); the last layer's directions come last.
            summary = torch.cat(list(h_n[-self.directions :]), dim=1)
        return self.head(summary)


def make_net(cfg: RNNConfig, spec: DataSpec) -> nn.Module:
    """The network for samples of shape ``(length, features)``."""
    if spec.rank != 2:
        raise ValueError(f"rnn needs length x features samples, got shape {spec.input_shape}")
    n_out = spec.n_classes if spec.task == "classification" else spec.n_targets
    return SequenceNet(cfg, spec.input_shape[1], int(n_out or 1))


def build(cfg: RNNConfig, spec: DataSpec) -> SupervisedModule:
    """The Lightning module the trainer fits."""
    return SupervisedModule(make_net(cfg, spec), spec, cfg.lr, cfg.weight_decay, cfg.optimizer)
