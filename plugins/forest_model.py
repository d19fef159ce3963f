"""Forest builder and loader (imports scikit-learn; loaded only when a model is built).

Models are saved with ``joblib``, which is a pickle format: load only files you trust, with the
scikit-learn version that wrote them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from automl_plugins.forest import ALGORITHMS, ForestConfig
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from automl.errors import TrialPruned, UserError
from automl.metrics import task_metrics
from automl.plugin import BaseEstimator, DataSpec

__all__ = ["ForestEstimator", "build", "load", "stage_sizes", "MODEL_FILE"]

MODEL_FILE = "model.joblib"

_CLASSES = {
    ("random_forest", "classification"): RandomForestClassifier,
    ("random_forest", "regression"): RandomForestRegressor,
    ("extra_trees", "classification"): ExtraTreesClassifier,
    ("extra_trees", "regression"): ExtraTreesRegressor,
}


def stage_sizes(n_estimators: int, stages: int) -> list[int]:
    """Forest sizes after each warm-start stage, e.g. ``(200, 4) -> [50, 100, 150, 200]``."""
    stages = max(1, min(int(stages), int(n_estimators)))
    sizes = [math.ceil(n_estimators * (i + 1) / stages) for i in range(stages)]
    return sorted(set(sizes))


def _flat(x: Any) -> np.ndarray:
    """One feature vector per sample: images and sequences are flattened."""
    x = np.asarray(x, dtype=np.float32)
    return x.reshape(len(x), -1) if x.ndim != 2 else x


class ForestEstimator(BaseEstimator):
    """An ``automl.plugin.BaseEstimator`` around scikit-learn's random forest / extra-trees.

    Bootstrap samples and feature draws are seeded with ``cfg.seed`` + the trial's seed.

    Args:
        cfg: The model config.
        spec: The data description.
    """

    def __init__(self, cfg: ForestConfig, spec: DataSpec) -> None:
        self.cfg = cfg
        self.spec = spec
        self.model: Any = None
        self.trees = 0

    def _new_model(self) -> Any:
        cfg = self.cfg
        cls = _CLASSES[(cfg.algorithm, self.spec.task)]
        params: dict[str, Any] = {
            "n_estimators": cfg.n_estimators,
            "max_depth": cfg.max_depth,
            "min_samples_leaf": cfg.min_samples_leaf,
            "max_features": cfg.max_features,
            "n_jobs": cfg.n_jobs,
            "random_state": (cfg.seed + self.seed) % 2**31,
            # Grow the same forest in stages; sklearn advances the seed stream so the staged
            # forest equals one fitted in a single call.
            "warm_start": True,
        }
        if cfg.bootstrap is not None:
            params["bootstrap"] = cfg.bootstrap
        if cfg.criterion is not None:
            params["criterion"] = cfg.criterion
        return cls(**params)

    def fit(
        self,
        train: tuple[Any, Any],
        val: tuple[Any, Any],
        report: Callable[[int, float], bool] | None,
    ) -> None:
        """Grow the forest in ``stages`` stages, reporting the validation metric after each.

        The reported value is the study metric (accuracy or RMSE from ``automl.metrics``);
        the step is the stage index, so trials of different sizes compare at equal shares
        of their budget.

        Raises:
            TrialPruned: When ``report`` returned ``True`` (no further trees are grown).
        """
        x_train, y_train = _flat(train[0]), np.asarray(train[1])
        if val is None:  # a refit: the whole forest at once, nothing to report
            self.model = self._new_model()
            self.model.fit(x_train, y_train)
            self.trees = self.cfg.n_estimators
            return
        x_val, y_val = _flat(val[0]), np.asarray(val[1])
        key = "acc" if self.spec.task == "classification" else "rmse"
        self.model = self._new_model()
        for step, size in enumerate(stage_sizes(self.cfg.n_estimators, self.cfg.stages)):
            self.model.set_params(n_estimators=size)
            self.model.fit(x_train, y_train)
            self.trees = size
            if report is None:
                continue
            value = task_metrics(self.spec.task, y_val, self.model.predict(x_val))[key]
            if report(step, value):
                raise TrialPruned(step, value)

    def _fitted(self) -> Any:
        if self.model is None:
            raise RuntimeError("the forest is not fitted; call fit() or load() first")
        return self.model

    def predict(self, x: Any) -> np.ndarray:
        """Class ids (majority of tree probabilities) or mean tree values."""
        return np.asarray(self._fitted().predict(_flat(x)))

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities (classification only)."""
        model = self._fitted()
        if not hasattr(model, "predict_proba"):
            raise TypeError("predict_proba needs a classification model")
        return np.asarray(model.predict_proba(_flat(x)))

    def save(self, path: str) -> str:
        """Write ``<path>/model.joblib`` (a pickle: load only trusted files)."""
        target = Path(path) / MODEL_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump(self._fitted(), target)
        return str(target)


def build(cfg: ForestConfig, spec: DataSpec) -> ForestEstimator:
    """An unfitted forest for ``spec``'s task.

    Raises:
        UserError: For an unknown ``algorithm`` or a ``max_features`` outside (0, 1].
    """
    if cfg.algorithm not in ALGORITHMS:
        raise UserError(
            f"model.algorithm={cfg.algorithm!r} is not one of {', '.join(ALGORITHMS)}; "
            "set model.algorithm=random_forest or extra_trees"
        )
    if not 0.0 < cfg.max_features <= 1.0:
        raise UserError(
            f"model.max_features={cfg.max_features} must be a share of the features in (0, 1]"
        )
    return ForestEstimator(cfg, spec)


def load(directory: str, cfg: ForestConfig, spec: DataSpec) -> ForestEstimator:
    """Reload a forest written by ``ForestEstimator.save`` (joblib, i.e. pickle)."""
    estimator = ForestEstimator(cfg, spec)
    estimator.model = joblib.load(Path(directory) / MODEL_FILE)
    estimator.trees = len(estimator.model.estimators_)
    return estimator
