"""The best model's test predictions: ``<run dir>/best/test_predictions.csv``, read and scored.

The export writes one row per test sample, ``y_true,y_pred`` (class ids for classification),
and the class names, when the data has them, under ``classes`` in ``best/preprocessing.json``.
Both files are read as plain text and numbers; nothing in them is executed.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = ["Predictions", "load_predictions", "PREDICTIONS_FILE"]

PREDICTIONS_FILE = "test_predictions.csv"

# Metrics that name the task when the export does not say it.
_CLASSIFICATION = {"acc", "accuracy", "f1", "precision", "recall", "auc", "roc_auc"}
_REGRESSION = {"rmse", "mse", "mae", "r2", "mape"}


@dataclass
class Predictions:
    """Test-split targets and predictions of the exported model.

    Attributes:
        y_true: True targets (class ids for classification).
        y_pred: Predictions.
        task: ``classification`` or ``regression``.
        classes: Class names by id, when known.
    """

    y_true: np.ndarray
    y_pred: np.ndarray
    task: Literal["classification", "regression"]
    classes: list[str] = field(default_factory=list)

    def label_ids(self) -> list[int]:
        """The class ids shown: every named class, plus any id seen without a name."""
        seen = set(np.unique(np.concatenate([self.y_true, self.y_pred])).astype(int).tolist())
        return sorted(seen | set(range(len(self.classes))))

    def labels(self) -> list[str]:
        """Display names of ``label_ids`` (the id itself where there is no name)."""
        return [self.classes[i] if 0 <= i < len(self.classes) else str(i) for i in self.label_ids()]

    def confusion(self) -> np.ndarray:
        """Counts: rows true class, columns predicted class, in ``label_ids`` order."""
        ids = self.label_ids()
        index = {c: i for i, c in enumerate(ids)}
        matrix = np.zeros((len(ids), len(ids)), dtype=int)
        for t, p in zip(self.y_true.astype(int), self.y_pred.astype(int), strict=True):
            matrix[index[t], index[p]] += 1
        return matrix

    def accuracy(self) -> float:
        return float(np.mean(self.y_true.astype(int) == self.y_pred.astype(int)))

    def per_class(self) -> list[dict[str, Any]]:
        """Precision, recall, F1 and support per class, then their macro average."""
        matrix = self.confusion()
        rows = []
        for i, name in enumerate(self.labels()):
            tp = float(matrix[i, i])
            predicted, actual = float(matrix[:, i].sum()), float(matrix[i, :].sum())
            precision = tp / predicted if predicted else 0.0
            recall = tp / actual if actual else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            rows.append(
                {
                    "class": name,
                    "support": int(actual),
                    "precision": precision,
                    "recall": recall,
                    "f1": f1,
                }
            )
        macro = {
            k: float(np.mean([r[k] for r in rows])) if rows else 0.0
            for k in ("precision", "recall", "f1")
        }
        rows.append({"class": "macro avg", "support": int(matrix.sum()), **macro})
        return rows

    def regression_scores(self) -> dict[str, float]:
        err = self.y_pred - self.y_true
        ss_tot = float(np.sum((self.y_true - self.y_true.mean()) ** 2))
        return {
            "rmse": float(np.sqrt(np.mean(err**2))),
            "mae": float(np.mean(np.abs(err))),
            "r2": 1.0 - float(np.sum(err**2)) / ss_tot if ss_tot > 0 else float("nan"),
        }


def _task(preprocessing: dict[str, Any], metric: str | None, y_true, y_pred) -> str:
    task = preprocessing.get("task")
    if task in ("classification", "regression"):
        return task
    if preprocessing.get("classes"):
        return "classification"
    base = (metric or "").removeprefix("val_").removeprefix("test_")
    if base in _CLASSIFICATION:
        return "classification"
    if base in _REGRESSION:
        return "regression"
    integral = np.all(np.mod(y_true, 1) == 0) and np.all(np.mod(y_pred, 1) == 0)
    return "classification" if integral else "regression"


def load_predictions(
    run_dir: Path | None, metric: str | None = None
) -> tuple[Predictions | None, str | None]:
    """Read the exported test predictions.

    Args:
        run_dir: The run directory (``None``: no files to read).
        metric: The study's objective metric, which tells classification from regression
            when the export does not say.

    Returns:
        ``(predictions, None)``, or ``(None, why)`` when there are none to show.
    """
    if run_dir is None:
        return None, "no run directory: test predictions are read from <run dir>/best/"
    path = run_dir / "best" / PREDICTIONS_FILE
    if not path.is_file():
        return None, f"no {path.relative_to(run_dir)} (the export writes it with the best model)"
    y_true, y_pred = [], []
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            if not {"y_true", "y_pred"} <= set(reader.fieldnames or ()):
                return None, f"{path.name}: expected the columns y_true,y_pred"
            for row in reader:
                t, p = float(row["y_true"]), float(row["y_pred"])
                if math.isfinite(t) and math.isfinite(p):
                    y_true.append(t)
                    y_pred.append(p)
    except (ValueError, TypeError, csv.Error) as exc:
        return None, f"{path.name}: not readable as numbers ({exc})"
    if not y_true:
        return None, f"{path.name} holds no predictions"
    preprocessing: dict[str, Any] = {}
    prep_path = run_dir / "best" / "preprocessing.json"
    if prep_path.is_file():
        try:
            loaded = json.loads(prep_path.read_text())
            preprocessing = loaded if isinstance(loaded, dict) else {}
        except (ValueError, OSError):
            preprocessing = {}
    classes = preprocessing.get("classes") or []
    classes = [str(c) for c in classes] if isinstance(classes, list) else []
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    task = _task(preprocessing, metric, yt, yp)
    return Predictions(yt, yp, task, classes), None  # type: ignore[arg-type]
