"""The ``lcbench`` estimator: a learning curve from the surrogate, reported epoch by epoch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from automl import BaseEstimator
from automl.data import RawData
from automl_lcbench.surrogate import MAX_EPOCH, OUTPUTS, PARAMS, surrogate

__all__ = ["LCBenchModel", "build", "load", "placeholder_data", "MODEL_FILE"]

MODEL_FILE = "lcbench.json"
_COL = {name: i for i, name in enumerate(OUTPUTS)}
_TEST_MARK = 1.0  # the placeholder's test rows carry 1.0 in their column, the others 0.0


class LCBenchModel(BaseEstimator):
    """One configuration of LCBench's space, "trained" by the surrogate.

    ``fit`` asks for epochs 1..``cfg.epochs`` in one batched call (a query is ~0.5 ms, a
    52-epoch curve ~2.5 ms) and reports each epoch's validation accuracy (a fraction) at step
    epoch - 1; when the pruner stops the trial, ``report`` raises and the later epochs count
    as never trained. Like automl's torch trials, the model keeps its best epoch: its
    validation metrics are that epoch's, and ``time`` is the simulated seconds of the epochs
    it trained.
    """

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        self.curve: np.ndarray | None = None
        self.trained = 0

    def _params(self) -> dict[str, float]:
        return {p: float(getattr(self.cfg, p)) for p in PARAMS}

    def fit(self, train: Any, val: Any, report: Any) -> None:
        epochs = int(self.cfg.epochs)
        if not 1 <= epochs <= MAX_EPOCH:
            raise ValueError(f"model.epochs={epochs}: LCBench's curves run 1..{MAX_EPOCH}")
        self.curve = surrogate(self.cfg.surrogate).curve(self.cfg.task, self._params(), epochs)
        self.trained = 0
        accuracy = self.curve[:, _COL["val_accuracy"]]
        for step in range(epochs):
            self.trained = step + 1
            if report is not None:
                report(step, float(accuracy[step]) / 100.0)

    def best_epoch(self) -> int:
        """The 0-based epoch of the best validation accuracy among those trained."""
        assert self.curve is not None, "fit first"
        return int(np.argmax(self.curve[: self.trained, _COL["val_accuracy"]]))

    def evaluate(self, x: Any, y: Any, task: str) -> dict[str, float]:
        assert self.curve is not None, "fit first"
        row = self.curve[self.best_epoch()]
        if len(x) and float(np.asarray(x).reshape(len(x), -1)[0, 0]) == _TEST_MARK:
            # The surrogate predicts no test accuracy; these are LCBench's test metrics.
            return {
                "balanced_accuracy": float(row[_COL["test_balanced_accuracy"]]),
                "cross_entropy": float(row[_COL["test_cross_entropy"]]),
            }
        return {
            "accuracy": float(row[_COL["val_accuracy"]]) / 100.0,
            "balanced_accuracy": float(row[_COL["val_balanced_accuracy"]]),
            "cross_entropy": float(row[_COL["val_cross_entropy"]]),
            "time": float(self.curve[self.trained - 1, _COL["time"]]),
        }

    def fitted_budget(self) -> dict[str, Any]:
        return {"epochs": self.best_epoch() + 1}

    def predict(self, x: Any) -> Any:
        # A surrogate has learning curves, not a classifier: every row gets class 0.
        return np.zeros(len(x), dtype=np.int64)

    def save(self, directory: str) -> str:
        target = Path(directory) / MODEL_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        state = {"task": str(self.cfg.task), "params": self._params(), "trained": self.trained}
        target.write_text(json.dumps(state))
        return str(target)


def build(cfg: Any, spec: Any) -> LCBenchModel:
    return LCBenchModel(cfg)


def load(directory: str, cfg: Any, spec: Any) -> LCBenchModel:
    state = json.loads((Path(directory) / MODEL_FILE).read_text())
    model = LCBenchModel(cfg)
    model.curve = surrogate(cfg.surrogate).curve(state["task"], state["params"], MAX_EPOCH)
    model.trained = int(state["trained"])
    return model


def placeholder_data(cfg: Any) -> RawData:
    """30 training/validation rows (0.0) and 10 test rows (1.0), two balanced classes."""
    y = np.arange(30) % 2
    y_test = np.arange(10) % 2
    return RawData(
        x=np.zeros((30, 1), np.float32),
        y=y.astype(np.int64),
        task="classification",
        feature_names=("split_marker",),
        x_test=np.full((10, 1), _TEST_MARK, np.float32),
        y_test=y_test.astype(np.int64),
        source="automl_lcbench placeholder",
    )
