"""RNN plugin spec: LSTM or GRU over sequences (per-sample ``length x features``)."""

from __future__ import annotations

from dataclasses import dataclass

from automl_plugins.limits import check

from automl import Choice, Float, Int
from automl.plugin import ModelPlugin

__all__ = ["RNNConfig", "PLUGIN", "CELLS", "POOLINGS"]

CELLS = ("lstm", "gru")
POOLINGS = ("last", "mean")


@dataclass
class RNNConfig:
    """Hyperparameters of the recurrent network.

    Attributes:
        cell: ``lstm`` or ``gru``.
        layers: Stacked recurrent layers.
        hidden: Hidden units per direction.
        bidirectional: Read the sequence both ways and join the two summaries.
        dropout: Dropout between stacked layers and before the output layer.
        pooling: ``last`` uses the final hidden state (both directions' when bidirectional);
            ``mean`` averages the outputs over all steps.
        lr: Learning rate.
        weight_decay: L2 penalty.
        batch_size: Training mini-batch size.
        optimizer: ``adam``, ``adamw``, ``sgd`` or ``rmsprop``.
    """

    cell: str = "lstm"
    layers: int = 1
    hidden: int = 64
    bidirectional: bool = False
    dropout: float = 0.1
    pooling: str = "last"
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    optimizer: str = "adam"

    def __post_init__(self) -> None:
        check(
            self,
            layers=">=1",
            hidden=">=1",
            dropout="[0,1)",
            lr=">0",
            weight_decay=">=0",
            batch_size=">=1",
        )


PLUGIN = ModelPlugin(
    name="rnn",
    config=RNNConfig,
    search_space={
        "cell": Choice(list(CELLS)),
        "layers": Int(1, 3),
        "hidden": Choice([32, 64, 128]),
        "bidirectional": Choice([True, False]),
        "dropout": Float(0.0, 0.5),
        "pooling": Choice(list(POOLINGS)),
        "lr": Float(3e-4, 3e-2, log=True),
        "weight_decay": Float(1e-6, 1e-2, log=True),
        "batch_size": Choice([32, 64, 128]),
        "optimizer": Choice(["adam", "adamw", "rmsprop"]),
    },
    build="automl_plugins.rnn_model:build",
    kind="lightning",
    tasks=("classification", "regression"),
    input_ranks=(2,),
    layout="sequence",  # a sample is steps x features
    default_data="digits_seq",
    description="LSTM/GRU over sequences (length x features)",
)
