"""Task metrics computed from predictions with numpy (shared by every model kind)."""

from __future__ import annotations

import numpy as np

__all__ = ["classification_metrics", "regression_metrics", "task_metrics"]


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy and macro-averaged F1, precision and recall."""
    y_true = np.asarray(y_true).astype(np.int64).ravel()
    y_pred = np.asarray(y_pred).astype(np.int64).ravel()
    classes = np.union1d(y_true, y_pred)
    precision, recall, f1 = [], [], []
    for c in classes:
        tp = float(np.sum((y_pred == c) & (y_true == c)))
        fp = float(np.sum((y_pred == c) & (y_true != c)))
        fn = float(np.sum((y_pred != c) & (y_true == c)))
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        precision.append(p)
        recall.append(r)
        f1.append(2 * p * r / (p + r) if p + r else 0.0)
    return {
        "acc": float(np.mean(y_true == y_pred)) if len(y_true) else float("nan"),
        "f1": float(np.mean(f1)),
        "precision": float(np.mean(precision)),
        "recall": float(np.mean(recall)),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Root mean squared error, mean absolute error and R2."""
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    err = y_pred - y_true
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": 1.0 - float(np.sum(err**2)) / ss_tot if ss_tot > 0 else float("nan"),
    }


def task_metrics(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """The metrics of ``task`` (``classification`` or ``regression``)."""
    if task == "classification":
        return classification_metrics(y_true, y_pred)
    if task == "regression":
        return regression_metrics(y_true, y_pred)
    raise ValueError(f"no standard metrics for task {task!r}")
