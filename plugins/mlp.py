"""MLP plugin spec: fully connected network for tabular or flattened inputs."""

from __future__ import annotations

from dataclasses import dataclass

from automl_plugins.limits import check

from automl import Choice, Float, Int
from automl.plugin import ModelPlugin

__all__ = ["MLPConfig", "PLUGIN"]


@dataclass
class MLPConfig:
    """Hyperparameters of the MLP.

    Attributes:
        hidden: Units per hidden layer.
        layers: Hidden layers.
        dropout: Dropout after each hidden layer.
        activation: ``relu``, ``gelu`` or ``tanh``.
        lr: Learning rate.
        weight_decay: L2 penalty.
        batch_size: Training mini-batch size.
        optimizer: ``adam``, ``adamw``, ``sgd`` or ``rmsprop``.
    """

    hidden: int = 128
    layers: int = 2
    dropout: float = 0.1
    activation: str = "relu"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 32
    optimizer: str = "adam"

    def __post_init__(self) -> None:
        check(
            self,
            hidden=">=1",
            layers=">=1",
            dropout="[0,1)",
            lr=">0",
            weight_decay=">=0",
            batch_size=">=1",
        )


PLUGIN = ModelPlugin(
    name="mlp",
    config=MLPConfig,
    search_space={
        "hidden": Int(16, 256, log=True),
        "layers": Int(1, 3),
        "dropout": Float(0.0, 0.5),
        "activation": Choice(["relu", "gelu", "tanh"]),
        "lr": Float(1e-4, 3e-2, log=True),
        "weight_decay": Float(1e-6, 1e-2, log=True),
        "batch_size": Choice([16, 32, 64]),
    },
    build="automl_plugins.mlp_model:build",
    kind="lightning",
    tasks=("classification", "regression"),
    input_ranks=(1, 2, 3),
    default_data="breast_cancer",
    description="Fully connected network; flattens any input",
)
