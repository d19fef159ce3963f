"""CNN plugin spec: convolutional classifier for images (C x H x W) and 1-D signals (C x L)."""

from __future__ import annotations

from dataclasses import dataclass

from automl_plugins.limits import check

from automl import Choice, Float, Int
from automl.plugin import ModelPlugin

__all__ = ["CNNConfig", "PLUGIN"]


@dataclass
class CNNConfig:
    """Hyperparameters of the CNN.

    Attributes:
        channels: Filters of the first conv block; each further block doubles them.
        depth: Conv blocks (conv, optional batch norm, ReLU, 2x pooling while the size allows).
        kernel_size: Convolution kernel size (odd; padded to keep the size).
        dropout: Dropout before the classifier head.
        batch_norm: Batch normalization after each convolution.
        hidden: Units of the hidden layer of the head.
        lr: Learning rate.
        weight_decay: L2 penalty.
        batch_size: Training mini-batch size.
        optimizer: ``adam``, ``adamw``, ``sgd`` or ``rmsprop``.
    """

    channels: int = 32
    depth: int = 2
    kernel_size: int = 3
    dropout: float = 0.2
    batch_norm: bool = True
    hidden: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    optimizer: str = "adam"

    def __post_init__(self) -> None:
        check(
            self,
            channels=">=1",
            depth=">=1",
            kernel_size=">=1",
            dropout="[0,1)",
            hidden=">=1",
            lr=">0",
            weight_decay=">=0",
            batch_size=">=1",
        )


PLUGIN = ModelPlugin(
    name="cnn",
    config=CNNConfig,
    search_space={
        "channels": Choice([16, 32, 64]),
        "depth": Int(1, 3),
        "kernel_size": Choice([3, 5]),
        "dropout": Float(0.0, 0.5),
        "batch_norm": Choice([True, False]),
        "lr": Float(1e-4, 3e-2, log=True),
        "weight_decay": Float(1e-6, 1e-2, log=True),
        "batch_size": Choice([32, 64, 128]),
        "optimizer": Choice(["adam", "adamw", "sgd"]),
    },
    build="automl_plugins.cnn_model:build",
    kind="lightning",
    tasks=("classification",),
    input_ranks=(2, 3),
    layout="signal",  # a rank-2 sample is channels x length (Conv1d)
    default_data="digits",
    description="Conv2d for images (C x H x W), Conv1d for signals (C x L)",
)
