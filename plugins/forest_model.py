"""Forest builder and loader (imports scikit-learn; loaded only when a model is built).

Forests are saved with ``skops`` (``model.skops``), whose loader builds only the types it is
told to trust and runs no code from the file; ``LOAD_TYPES`` is that list beyond skops's own
defaults (scikit-learn estimators and numpy arrays). A pickle (``model.joblib``, as automl
wrote before) is refused, never opened: pickle runs whatever code the file names.
docs/serving.md says why skops and not ONNX.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from automl_plugins.forest import ALGORITHMS, ForestConfig
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from automl.core.metrics import task_metrics
from automl.errors import ExportError, TrialPruned, UserError
from automl.plugin import BaseEstimator, DataSpec

__all__ = ["ForestEstimator", "build", "load", "stage_sizes", "MODEL_FILE", "LOAD_TYPES"]

MODEL_FILE = "model.skops"
PICKLE_FILES = ("model.joblib", "model.pkl", "model.pickle")
LOAD_TYPES = ("sklearn.tree._tree.Tree",)
"""Types beyond skops's defaults that a forest file may hold: the trees' Cython state."""

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
        self._resumed = False  # fit grows on from the forest resume() loaded

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

        The reported value is the study metric (accuracy or RMSE from ``automl.core.metrics``);
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
        sizes = stage_sizes(self.cfg.n_estimators, self.cfg.stages)
        if not self._resumed:
            self.model, self.trees = self._new_model(), 0
        for step, size in enumerate(sizes):
            if size <= self.trees:  # grown before the checkpoint this fit resumed from
                continue
            self.model.set_params(n_estimators=size)
            self.model.fit(x_train, y_train)
            self.trees = size
            if report is None:
                continue
            value = task_metrics(self.spec.task, y_val, self.model.predict(x_val))[key]
            if report(step, value):
                raise TrialPruned(step, value)

    def checkpoint(self, directory: str) -> bool:
        """Write the trees grown so far (``model.skops``); ``fit`` grows on from them after
        ``resume`` (scikit-learn's ``warm_start`` draws the same seeds for the new trees)."""
        if self.model is None or self.trees >= self.cfg.n_estimators:
            return False  # nothing grown yet, or nothing left to grow
        self.save(directory)
        return True

    def resume(self, directory: str) -> None:
        """Continue from the trees ``checkpoint`` wrote (loaded as ``load`` does: only
        forest types are trusted).

        Raises:
            ExportError: The file is not a forest's.
            ValueError: Its size is not one of this config's stages.
        """
        forest = load(directory, self.cfg, self.spec)
        if forest.trees not in stage_sizes(self.cfg.n_estimators, self.cfg.stages):
            raise ValueError(f"a forest of {forest.trees} trees is not a stage of this config")
        self.model, self.trees, self._resumed = forest.model, forest.trees, True

    def _fitted(self) -> Any:
        if self.model is None:
            raise RuntimeError("the forest is not fitted; call fit() or load() first")
        return self.model

    def n_params(self) -> int:
        """Nodes of every tree (split thresholds and leaf values)."""
        return int(sum(tree.tree_.node_count for tree in self._fitted().estimators_))

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
        """Write ``<path>/model.skops`` atomically (temporary file, then rename)."""
        import os

        import skops.io

        target = Path(path) / MODEL_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{MODEL_FILE}.{os.getpid()}.tmp")
        try:
            skops.io.dump(self._fitted(), partial)
            os.replace(partial, target)
        finally:  # a full disk: the half-written file would hold the space that ran out
            partial.unlink(missing_ok=True)
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
    """Reload a forest written by ``ForestEstimator.save``, trusting only forest types.

    Raises:
        ExportError: The folder holds a pickle instead (refused unopened, with how to
            re-export), no model file, a file skops cannot read, or a file naming a type that
            is not part of a forest.
    """
    import skops.io

    folder = Path(directory)
    path = folder / MODEL_FILE
    if not path.is_file():
        pickled = [name for name in PICKLE_FILES if (folder / name).exists()]
        if pickled:
            raise ExportError(
                f"{folder / pickled[0]} is a pickle file, which automl does not load (loading "
                "a pickle can run any code); re-export the forest with this automl: rerun "
                "its study command with sweep.refit=true (retrains the best configuration "
                "and saves model.skops) or under a new sweep.study_name"
            )
        raise ExportError(f"{folder} has no {MODEL_FILE}; re-export the model")
    try:
        untrusted = skops.io.get_untrusted_types(file=path)
    except Exception as exc:  # a truncated or foreign file: say so in one line
        raise ExportError(f"{path} is not a readable skops file ({exc}); re-export it") from None
    foreign = sorted(set(untrusted) - set(LOAD_TYPES))
    if foreign:
        raise ExportError(
            f"{path} names type(s) {', '.join(foreign)} that a forest does not contain; "
            "refusing to load it (re-export the model)"
        )
    try:
        model = skops.io.load(path, trusted=list(untrusted))
    except Exception as exc:
        raise ExportError(f"{path} could not be loaded ({exc}); re-export the model") from None
    if type(model) not in _CLASSES.values():
        raise ExportError(
            f"{path} holds a {type(model).__name__}, not a random forest or extra-trees "
            "model; re-export the model"
        )
    estimator = ForestEstimator(cfg, spec)
    estimator.model = model
    estimator.trees = len(model.estimators_)
    return estimator
