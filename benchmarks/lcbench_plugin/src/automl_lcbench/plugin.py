"""The ``lcbench`` model and data plugins (specs only: importing this module stays cheap).

A trial of ``model=lcbench`` "trains" a funnel-shaped MLP of LCBench's space on one of its 34
OpenML tasks (``model.task``) by asking YAHPO Gym's surrogate for the whole learning curve in
one batched call, then reports the validation accuracy of every epoch through automl's
``report``: the study's sampler, pruner, storage and leaderboard treat it as any trial. No
time passes: the curve's simulated training time is part of the trial's metrics
(``val_time``, seconds), so budgets are counted in simulated epochs or seconds.

``data=lcbench`` is a placeholder table (the surrogate needs no rows): 30 rows whose only
column says which split a row is in, so the model can tell validation from test when automl
evaluates it.
"""

from __future__ import annotations

from dataclasses import dataclass

from automl import DataPlugin, Float, Int, ModelPlugin
from automl.data import DataConfig

__all__ = ["LCBenchConfig", "LCBenchDataConfig", "MODEL", "DATA"]


@dataclass
class LCBenchConfig:
    """One LCBench configuration, the task it trains on and how long.

    Attributes:
        task: The OpenML task id (one of the surrogate's 34).
        batch_size: Mini-batch size (16-512).
        learning_rate: SGD learning rate (1e-4 to 0.1).
        momentum: SGD momentum (0.1-0.99).
        weight_decay: Weight decay (1e-5 to 0.1).
        num_layers: Layers of the funnel-shaped MLP (1-5).
        max_units: Units of its first layer (64-1024).
        max_dropout: Dropout of its last layer (0-1).
        epochs: Epochs to train (1-52; LCBench's curves end at 52).
        surrogate: Folder with YAHPO Gym's lcbench ``model.onnx`` and ``encoding.json``;
            empty: the copy shipped with this package.
    """

    task: str = "3945"
    # YAHPO Gym's defaults (the centre of each range, on the log scale where it is one).
    batch_size: int = 91
    learning_rate: float = 0.0031622777
    momentum: float = 0.545
    weight_decay: float = 0.050005
    num_layers: int = 3
    max_units: int = 256
    max_dropout: float = 0.5
    epochs: int = 52
    surrogate: str = ""


@dataclass
class LCBenchDataConfig(DataConfig):
    """The placeholder data's split settings: no normalization (its column is a marker)."""

    normalize: bool = False


MODEL = ModelPlugin(
    name="lcbench",
    config=LCBenchConfig,
    search_space={
        "batch_size": Int(16, 512, log=True),
        "learning_rate": Float(1e-4, 1e-1, log=True),
        "momentum": Float(0.1, 0.99),
        "weight_decay": Float(1e-5, 1e-1),
        "num_layers": Int(1, 5),
        "max_units": Int(64, 1024, log=True),
        "max_dropout": Float(0.0, 1.0),
    },
    build="automl_lcbench.model:build",
    load="automl_lcbench.model:load",
    kind="estimator",
    tasks=("classification",),
    input_ranks=(1,),
    metric="accuracy",
    direction="maximize",
    default_data="lcbench",
    description="LCBench (YAHPO Gym surrogate): an MLP learning curve a trial, one query an epoch",
)

DATA = DataPlugin(
    name="lcbench",
    config=LCBenchDataConfig,
    load="automl_lcbench.model:placeholder_data",
    description="placeholder rows for model=lcbench (the surrogate needs no data)",
)
