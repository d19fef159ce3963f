"""Helpers shared by the user-file data plugins (npz, csv, images): paths, options, targets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from automl.core.errors import DataError

__all__ = [
    "TASK_OPTIONS",
    "MAX_INFERRED_CLASSES",
    "resolve_path",
    "check_choice",
    "infer_task",
    "encode_target",
]

TASK_OPTIONS = ("auto", "classification", "regression")

MAX_INFERRED_CLASSES = 50
"""``data.task=auto`` calls integer targets classes only up to this many distinct values."""


def resolve_path(path: str, example: str) -> Path:
    """The configured ``data.path``, checked to exist.

    Args:
        path: ``data.path`` as given (``~`` expanded; relative to the working directory).
        example: What to suggest when it is unset, e.g. ``my.csv``.

    Raises:
        DataError: Unset or missing, with the absolute path that was tried.
    """
    if not path:
        raise DataError(f"data.path is not set; add data.path={example} to the command")
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(
            f"data.path={path}: no such file or folder ({p.absolute()}); check the path "
            "(relative paths start from the directory you run automl in)"
        )
    return p


def check_choice(field: str, value: str, options: Sequence[str]) -> None:
    """Raise ``DataError`` unless ``data.<field>`` is one of ``options``."""
    if value not in options:
        raise DataError(f"data.{field}={value!r} is not one of {', '.join(options)}")


def _as_numbers(values: np.ndarray) -> np.ndarray | None:
    """``values`` as float64 if every one is a number (text cells parsed), else ``None``."""
    if values.dtype.kind in "biuf":
        return values.astype(np.float64)
    if values.dtype.kind not in "USO":
        return None
    try:
        return np.asarray([float(str(v).strip()) for v in values.ravel()], dtype=np.float64)
    except ValueError:
        return None


def infer_task(values: np.ndarray) -> str:
    """``classification`` for text or few distinct integers, else ``regression``.

    Integer-valued targets are classes when there are at most ``MAX_INFERRED_CLASSES``
    distinct values and at most one per five samples (so an integer quantity such as an age
    on a small table stays a regression); ``data.task`` overrides the guess.
    """
    nums = _as_numbers(values)
    if nums is None:
        return "classification"
    if not np.isfinite(nums).all() or not np.all(nums == np.round(nums)):
        return "regression"
    distinct = len(np.unique(nums))
    limit = min(MAX_INFERRED_CLASSES, max(2, len(nums) // 5))
    return "classification" if distinct <= limit else "regression"


def _label(v: object) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v).strip() if isinstance(v, str) else str(v)


def encode_target(
    y: object, y_test: object, task: str, where: str
) -> tuple[str, np.ndarray, np.ndarray | None, tuple[str, ...] | None]:
    """Decide the task and turn targets into class ids or float values.

    Args:
        y: Training targets (numbers, or text such as CSV cells).
        y_test: Given test targets, or ``None``.
        task: ``data.task`` (``auto``, ``classification`` or ``regression``).
        where: The source, for messages.

    Returns:
        ``(task, y, y_test, class_names)``; class ids follow the sorted labels.

    Raises:
        DataError: Text targets for regression, a target that is not one value per sample,
            or test labels the training data never shows.
    """
    check_choice("task", task, TASK_OPTIONS)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(
            f"{where}: y has shape {y.shape}; it must hold one label or value per sample"
        )
    yt = None if y_test is None else np.asarray(y_test).reshape(-1)
    if task == "auto":
        task = infer_task(y)
    nums = _as_numbers(y)
    if task == "regression":
        if nums is None:
            raise DataError(
                f"{where}: data.task=regression needs numeric targets, but y holds text "
                f"such as {str(y[0])!r}; use data.task=classification"
            )
        test_nums = None
        if yt is not None:
            test_nums = _as_numbers(yt)
            if test_nums is None:
                raise DataError(f"{where}: y_test holds text; regression needs numbers")
            test_nums = test_nums.astype(np.float32)
        return task, nums.astype(np.float32), test_nums, None
    if nums is not None:
        classes = np.unique(nums)
        codes = np.searchsorted(classes, nums)
        names = tuple(_label(c) for c in classes)
    else:
        keys = np.asarray([str(v).strip() for v in y])
        classes = np.unique(keys)
        codes = np.searchsorted(classes, keys)
        names = tuple(str(c) for c in classes)
    test_codes = None
    if yt is not None:
        tkeys = _as_numbers(yt) if nums is not None else np.asarray([str(v).strip() for v in yt])
        if tkeys is None:
            raise DataError(f"{where}: y is numeric but y_test holds text; use the same labels")
        unseen = np.setdiff1d(tkeys, classes)
        if len(unseen):
            raise DataError(
                f"{where}: the test targets have label(s) {', '.join(map(_label, unseen[:5]))} "
                f"that the training data never shows (labels: {', '.join(names[:20])}); "
                "add training samples of them or remove them from the test set"
            )
        test_codes = np.searchsorted(classes, tkeys).astype(np.int64)
    return task, codes.astype(np.int64), test_codes, names
