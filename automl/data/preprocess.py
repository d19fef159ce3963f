"""Preprocessing fitted on the training split and re-applied identically at prediction.

``Dataset.preprocessing`` is plain JSON (written to ``best/preprocessing.json``)::

    {"steps": [{"kind": "tabular", ...}, {"kind": "standardize", "mean": [...], "std": [...]}],
     "classes": ["cat", "dog"]}

Steps run in order on raw inputs: ``tabular`` (CSV cells to numbers), ``image`` (file paths to
pixels), ``layout`` (the stored per-sample shape to the one models see), then ``standardize``.
``classes`` maps class ids back to the labels of the source. An older single-step dict
(``{"kind": "standardize", ...}``) and ``{}`` (identity) are still accepted.

Regression data also records ``"target": {"kind": "standardize", "mean": [m], "std": [s]}``,
the training split's target statistics (also in ``DataSpec.target_mean``/``target_std``).
Targets in the splits stay in their original units; a torch model built on
``automl.backends.supervised.SupervisedModule`` trains on standardized targets and maps its outputs
back
itself (the statistics are buffers saved with its weights), so ``apply_preprocessing`` never
applies ``target``: predictions come out in the original units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "fit_standardizer",
    "fit_target_scaler",
    "standardize_inplace",
    "apply_preprocessing",
    "apply_layout",
    "CHUNK_BYTES",
]

CHUNK_BYTES = 16 * 2**20
"""Rows are processed in blocks of about this size, so no step needs a full-size temporary."""


def _rows_per_chunk(x: np.ndarray) -> int:
    row = max(1, int(np.prod(x.shape[1:], dtype=np.int64)) * 8)  # float64 work copies
    return max(1, CHUNK_BYTES // row)


def fit_standardizer(x: np.ndarray) -> dict[str, Any]:
    """Statistics for standardizing ``x`` (the training split only).

    Tabular samples (rank 1) get per-feature statistics; images, sequences and signals get
    one global mean and standard deviation, which keeps their spatial structure comparable.
    Statistics are accumulated block by block in float64 (Chan's parallel mean/variance
    update), so a large split needs no full-size temporary and loses no precision.
    """
    per_feature = x.ndim == 2
    count, mean, m2 = 0, np.float64(0.0), np.float64(0.0)
    step = _rows_per_chunk(x)
    for start in range(0, len(x), step):
        block = np.asarray(x[start : start + step], dtype=np.float64)
        block = block if per_feature else block.reshape(-1)
        n_b = block.shape[0]
        mean_b = block.mean(axis=0)
        m2_b = ((block - mean_b) ** 2).sum(axis=0)
        total = count + n_b
        delta = mean_b - mean
        mean = mean + delta * (n_b / total)
        m2 = m2 + m2_b + delta**2 * (count * n_b / total)
        count = total
    mean_arr = np.atleast_1d(np.asarray(mean, dtype=np.float64))
    std = np.atleast_1d(np.sqrt(np.asarray(m2, dtype=np.float64) / max(count, 1)))
    std = np.where(std < 1e-8, 1.0, std)  # constant features stay constant, never divide by 0
    return {"kind": "standardize", "mean": mean_arr.tolist(), "std": std.tolist()}


def fit_target_scaler(y: np.ndarray) -> dict[str, Any]:
    """Per-target mean and standard deviation of regression targets (training split only).

    Same form as ``fit_standardizer`` (one entry per target column); a constant target gets
    standard deviation 1.0.
    """
    y = np.asarray(y)
    return fit_standardizer(y.reshape(len(y), -1))


def standardize_inplace(x: np.ndarray, step: dict[str, Any]) -> np.ndarray:
    """Standardize a float32 array in place (block by block) and return it."""
    mean = np.asarray(step["mean"], dtype=np.float32)
    std = np.asarray(step["std"], dtype=np.float32)
    if mean.size == 1:
        mean, std = mean[0], std[0]
    rows = _rows_per_chunk(x)
    for start in range(0, len(x), rows):
        block = x[start : start + rows]
        block -= mean
        block /= std
    return x


def apply_layout(x: np.ndarray, step: dict[str, Any]) -> np.ndarray:
    """Turn samples stored as ``step["stored"]`` into ``step["shape"]`` (a view when possible).

    Inputs already in the model's shape pass through unchanged, unless that shape is also the
    stored one (a square sample transposed: inputs are read as stored).
    """
    stored, shape = tuple(step["stored"]), tuple(step["shape"])
    if tuple(x.shape[1:]) == shape and shape != stored:
        return x
    if tuple(x.shape[1:]) != stored:
        raise ValueError(
            f"inputs have per-sample shape {tuple(x.shape[1:])}; expected {stored} (as stored) "
            f"or {shape} (as the model sees it)"
        )
    if step.get("transpose"):
        x = x.transpose(0, *(1 + a for a in step["transpose"]))
    return x.reshape(len(x), *shape)


def _apply_step(x: Any, step: dict[str, Any]) -> Any:
    kind = step.get("kind")
    if kind == "tabular":
        from automl.data.encode import encode_rows

        return encode_rows(x, step)
    if kind == "image":
        from automl.data.images import read_images_if_paths

        return read_images_if_paths(x, step)
    if kind == "layout":
        return apply_layout(np.asarray(x), step)
    if kind == "standardize":
        return standardize_inplace(x, step)
    raise ValueError(f"unknown preprocessing step {kind!r}; this automl cannot apply it")


def apply_preprocessing(
    x: object, stats: dict[str, Any] | None, *, copy: bool = True
) -> np.ndarray:
    """Apply stored preprocessing to new raw inputs; ``None`` or ``{}`` means identity.

    Args:
        x: Raw inputs as the source stores them: an array, CSV rows (sequences in the
            training column order, or mappings from column name to value) for tabular
            data, or image file paths for image folders.
        stats: ``Dataset.preprocessing`` (or the legacy single standardize step).
        copy: ``False`` lets standardization overwrite a float32 ``x`` in place (the
            splitter uses it on arrays it owns); the caller's data is never changed otherwise.

    Returns:
        Float32 inputs in the shape the model expects.
    """
    if not stats:
        return np.asarray(x, dtype=np.float32)
    steps: Sequence[dict[str, Any]] = stats["steps"] if "steps" in stats else [stats]
    for step in steps:
        if step.get("kind") == "standardize":
            x = np.array(x, dtype=np.float32, copy=True) if copy else _as_float32(x)
            copy = False  # now it is ours
        x = _apply_step(x, step)
    return np.asarray(x, dtype=np.float32)


def _as_float32(x: object) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype != np.float32 or not arr.flags.writeable:
        arr = np.array(arr, dtype=np.float32)
    return arr
