"""Linear builder and loader (imports scikit-learn; loaded only when a model is built).

A fitted model is its coefficients, intercepts and class ids, saved as ``model.npz`` and
loaded with ``allow_pickle=False``: plain arrays, checked against the data's shape. Predictions
are computed from those arrays (``x @ coef.T + intercept``), so a reloaded model predicts
exactly what the trained one did.
"""

from __future__ import annotations

import inspect
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from automl_plugins.linear import LinearConfig

from automl.core.metrics import task_metrics
from automl.errors import TrialPruned, UserError
from automl.plugin import DataSpec

__all__ = ["LinearEstimator", "build", "load", "MODEL_FILE"]

MODEL_FILE = "model.npz"


def _flat(x: Any) -> np.ndarray:
    """One feature vector per sample: images and sequences are flattened."""
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), -1) if x.ndim != 2 else x


def _n_features(spec: DataSpec) -> int:
    return int(np.prod(spec.input_shape))


def _logistic(cfg: LinearConfig) -> Any:
    from sklearn.linear_model import LogisticRegression

    kwargs: dict[str, Any] = {
        "C": 1.0 / cfg.alpha,
        "l1_ratio": cfg.l1_ratio,
        # lbfgs is the fast solver for the pure L2 penalty; only saga takes an L1 part.
        "solver": "lbfgs" if cfg.l1_ratio == 0 else "saga",
        "max_iter": cfg.max_iter,
        "tol": cfg.tol,
        "class_weight": cfg.class_weight,
        "random_state": cfg.seed,
    }
    # scikit-learn 1.8 derives the penalty from l1_ratio and deprecates `penalty`; older
    # versions use l1_ratio only with penalty="elasticnet".
    if inspect.signature(LogisticRegression).parameters["penalty"].default != "deprecated":
        kwargs["penalty"] = "l2" if cfg.l1_ratio == 0 else "elasticnet"
    return LogisticRegression(**kwargs)


def _regressor(cfg: LinearConfig, n_rows: int) -> Any:
    from sklearn.linear_model import ElasticNet, Ridge

    if cfg.l1_ratio == 0:
        return Ridge(alpha=cfg.alpha, tol=cfg.tol)
    # ElasticNet minimizes |y - Xw|^2 / 2n + a*r*|w|_1 + a*(1-r)/2*|w|^2; with a = alpha / n
    # that is ridge's |y - Xw|^2 + alpha*|w|^2 (halved, over n) at r = 0, so alpha means the
    # same on both sides of l1_ratio = 0.
    return ElasticNet(
        alpha=cfg.alpha / max(1, n_rows),
        l1_ratio=cfg.l1_ratio,
        max_iter=cfg.max_iter,
        tol=cfg.tol,
        random_state=cfg.seed,
    )


class LinearEstimator:
    """An ``automl.plugin.Estimator``: logistic regression or ridge / elastic net.

    Fitting is one call (milliseconds on tabular data), so there is one report, at step 0,
    after the fit: nothing is left to save by stopping a linear fit early, and a pruner
    with warm-up steps never prunes it.

    Args:
        cfg: The model config.
        spec: The data description.
    """

    def __init__(self, cfg: LinearConfig, spec: DataSpec) -> None:
        self.cfg = cfg
        self.spec = spec
        self.classify = spec.task == "classification"
        self.coef: np.ndarray | None = None  # (outputs, features)
        self.intercept: np.ndarray | None = None  # (outputs,)
        self.classes: np.ndarray | None = None  # class ids the model was trained on
        self.converged = True

    def fit(
        self,
        train: tuple[Any, Any],
        val: tuple[Any, Any] | None,
        report: Callable[[int, float], bool] | None,
    ) -> None:
        """Fit once, then report the validation metric at step 0.

        Raises:
            TrialPruned: When ``report`` returned ``True``.
        """
        from sklearn.exceptions import ConvergenceWarning

        x, y = _flat(train[0]), np.asarray(train[1])
        model = _logistic(self.cfg) if self.classify else _regressor(self.cfg, len(x))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(x, y)
        self.converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
        coef = np.asarray(model.coef_, dtype=np.float64)
        self.coef = coef.reshape(1, -1) if coef.ndim == 1 else coef
        self.intercept = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))
        if self.classify:
            self.classes = np.asarray(model.classes_, dtype=np.int64)
        if val is None or report is None:
            return
        key = "acc" if self.classify else "rmse"
        value = task_metrics(self.spec.task, np.asarray(val[1]), self.predict(val[0]))[key]
        if report(0, value):
            raise TrialPruned(0, value)

    def fitted_budget(self) -> dict[str, Any]:
        """Nothing is early-stopped: a refit repeats the same fit on more rows."""
        return {}

    def n_params(self) -> int:
        """Coefficients and intercepts."""
        if self.coef is None or self.intercept is None:
            raise RuntimeError("the linear model is not fitted; call fit() or load() first")
        return int(self.coef.size + self.intercept.size)

    def _decision(self, x: Any) -> np.ndarray:
        if self.coef is None or self.intercept is None:
            raise RuntimeError("the linear model is not fitted; call fit() or load() first")
        return _flat(x) @ self.coef.T + self.intercept

    def predict(self, x: Any) -> np.ndarray:
        """Class ids (classification) or values (regression)."""
        scores = self._decision(x)
        if not self.classify:
            return scores[:, 0] if scores.shape[1] == 1 else scores
        assert self.classes is not None
        if len(self.classes) == 2:  # one score column: class 1 when it is positive
            return self.classes[(scores[:, 0] > 0).astype(np.int64)]
        return self.classes[np.argmax(scores, axis=1)]

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities, one column per class id of the data (classification only)."""
        if not self.classify:
            raise TypeError("predict_proba needs a classification model")
        scores = self._decision(x)
        assert self.classes is not None
        if len(self.classes) == 2:
            p1 = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            known = np.stack([1.0 - p1, p1], axis=1)
        else:
            shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
            known = shifted / shifted.sum(axis=1, keepdims=True)
        # A class missing from the training rows gets probability 0.
        out = np.zeros((len(known), self.spec.n_classes or len(self.classes)))
        out[:, self.classes] = known
        return out

    def save(self, path: str) -> str:
        """Write ``<path>/model.npz`` (plain arrays, no pickle) atomically."""
        if self.coef is None or self.intercept is None:
            raise RuntimeError("the linear model is not fitted; call fit() before save()")
        arrays = {"coef": self.coef, "intercept": self.intercept}
        if self.classes is not None:
            arrays["classes"] = self.classes
        target = Path(path) / MODEL_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".model-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return str(target)


def build(cfg: LinearConfig, spec: DataSpec) -> LinearEstimator:
    """An unfitted linear model for ``spec``'s task (``LinearConfig`` checked its values)."""
    return LinearEstimator(cfg, spec)


def _bad(file: Path, what: str) -> UserError:
    return UserError(f"{file}: {what}; it was not written by this linear model for this data")


def load(directory: str, cfg: LinearConfig, spec: DataSpec) -> LinearEstimator:
    """Reload ``model.npz`` (no pickle), checking every array against the data's shape.

    Raises:
        UserError: A missing array, a wrong shape or dtype, or a non-finite value.
    """
    file = Path(directory) / MODEL_FILE
    try:
        with np.load(file, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (ValueError, OSError) as exc:  # object arrays (pickles) are refused, not loaded
        raise _bad(file, f"cannot be read as plain arrays ({exc})") from None
    estimator = LinearEstimator(cfg, spec)
    needed = {"coef", "intercept"} | ({"classes"} if estimator.classify else set())
    if set(arrays) != needed:
        raise _bad(file, f"holds {sorted(arrays)}, expected {sorted(needed)}")
    coef, intercept = arrays["coef"], arrays["intercept"]
    for name in ("coef", "intercept"):
        if arrays[name].dtype.kind != "f" or not np.all(np.isfinite(arrays[name])):
            raise _bad(file, f"{name} must hold finite floats")
    n_features = _n_features(spec)
    if estimator.classify:
        classes = arrays["classes"]
        n_classes = spec.n_classes or 0
        if (
            classes.dtype.kind not in "iu"
            or classes.ndim != 1
            or not 2 <= len(classes) <= max(n_classes, 2)
            or len(np.unique(classes)) != len(classes)
            or classes.min() < 0
            or classes.max() >= max(n_classes, 2)
        ):
            ids = classes.tolist()
            raise _bad(file, f"classes {ids} are not distinct ids of {n_classes} classes")
        outputs = 1 if len(classes) == 2 else len(classes)
        estimator.classes = classes.astype(np.int64)
    else:
        outputs = spec.n_targets
    if coef.shape != (outputs, n_features) or intercept.shape != (outputs,):
        raise _bad(
            file,
            f"coef {coef.shape} and intercept {intercept.shape} do not fit "
            f"{outputs} outputs x {n_features} features",
        )
    estimator.coef = coef.astype(np.float64)
    estimator.intercept = intercept.astype(np.float64)
    return estimator
