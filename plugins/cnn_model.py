"""CNN builder (imports torch; loaded only when a model is built)."""

from __future__ import annotations

from automl_plugins.cnn import CNNConfig
from torch import nn

from automl.lightning import SupervisedModule
from automl.plugin import DataSpec


def make_net(cfg: CNNConfig, spec: DataSpec) -> nn.Module:
    """Conv blocks sized to the input, then a small MLP head."""
    if spec.rank not in (2, 3):
        raise ValueError(f"cnn needs C x L or C x H x W samples, got shape {spec.input_shape}")
    conv, bn, pool = (
        (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d)
        if spec.rank == 3
        else (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d)
    )
    in_ch, size = spec.input_shape[0], min(spec.input_shape[1:])
    layers: list[nn.Module] = []
    width = cfg.channels
    for _ in range(cfg.depth):
        layers.append(conv(in_ch, width, cfg.kernel_size, padding=cfg.kernel_size // 2))
        if cfg.batch_norm:
            layers.append(bn(width))
        layers.append(nn.ReLU())
        if size >= 2:
            layers.append(pool(2))
            size //= 2
        in_ch, width = width, width * 2
    adaptive = nn.AdaptiveAvgPool2d(1) if spec.rank == 3 else nn.AdaptiveAvgPool1d(1)
    layers += [
        adaptive,
        nn.Flatten(),
        nn.Dropout(cfg.dropout),
        nn.Linear(in_ch, cfg.hidden),
        nn.ReLU(),
        nn.Linear(cfg.hidden, spec.n_classes or 1),
    ]
    return nn.Sequential(*layers)


def build(cfg: CNNConfig, spec: DataSpec) -> SupervisedModule:
    """The Lightning module the trainer fits."""
    return SupervisedModule(make_net(cfg, spec), spec, cfg.lr, cfg.weight_decay, cfg.optimizer)
