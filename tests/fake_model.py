"""Builder of the fake plugins: a linear model whose config can make it fail on purpose."""

from __future__ import annotations

import math

import torch
from torch import nn

from automl.backends.supervised import SupervisedModule


class FlakyModule(SupervisedModule):
    def __init__(self, net, spec, cfg):
        super().__init__(net, spec, cfg.lr, cfg.weight_decay, cfg.optimizer)
        self.explode = cfg.explode
        self.diverge = cfg.diverge

    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        return loss * math.nan if self.diverge else loss

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        if self.explode:
            self.log("val_acc", math.nan)


def build(cfg, spec):
    if cfg.crash:
        raise RuntimeError("crash requested by config")
    width = math.prod(spec.input_shape)
    out = spec.n_classes if spec.task == "classification" else 1
    net = nn.Sequential(
        nn.Flatten(), nn.Linear(width, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, out)
    )
    torch.manual_seed(0)
    return FlakyModule(net, spec, cfg)


def build_plain(cfg, spec):
    return nn.Linear(math.prod(spec.input_shape), spec.n_classes)


def build_refusing(cfg, spec):
    from automl.core.errors import UserError

    raise UserError("model.device=tpu is not available on this machine; use model.device=cpu")
