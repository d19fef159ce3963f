"""The TCN plugin spec: light to import (no torch), found through the entry point."""

from dataclasses import dataclass

from automl import Choice, Float, Int, ModelPlugin


@dataclass
class TCNConfig:
    """Hyperparameters of the temporal convolution network."""

    channels: int = 32
    levels: int = 3
    kernel_size: int = 3
    dropout: float = 0.1
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    optimizer: str = "adam"

    def __post_init__(self) -> None:
        # automl builds the config before a study, and at each end of every searched range:
        # a value the network cannot train with is one line before any trial.
        for name in ("channels", "levels", "kernel_size", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout} must be in [0, 1)")
        if not self.lr > 0:
            raise ValueError(f"lr={self.lr} must be > 0")


PLUGIN = ModelPlugin(
    name="tcn",
    config=TCNConfig,
    search_space={
        "channels": Choice([16, 32, 64]),
        "levels": Int(2, 4),
        "kernel_size": Choice([3, 5]),
        "dropout": Float(0.0, 0.4),
        "lr": Float(1e-4, 1e-2, log=True),
    },
    build="automl_example.tcn_model:build",
    kind="lightning",
    tasks=("classification",),
    input_ranks=(2,),
    layout="signal",
    default_data="waves",
    description="Temporal convolution network (dilated residual Conv1d) for C x L signals",
)
