"""Standardization fitted on the training split and re-applied identically at prediction."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["fit_standardizer", "apply_preprocessing"]


def fit_standardizer(x: np.ndarray) -> dict[str, Any]:
    """Statistics for standardizing ``x`` (the training split only).

    Tabular samples (rank 1) get per-feature statistics; images, sequences and signals get
    one global mean and standard deviation, which keeps their spatial structure comparable.
    """
    if x.ndim == 2:
        mean, std = x.mean(axis=0), x.std(axis=0)
    else:
        mean, std = np.asarray([x.mean()]), np.asarray([x.std()])
    std = np.where(std < 1e-8, 1.0, std)  # constant features stay constant, never divide by 0
    return {"kind": "standardize", "mean": mean.tolist(), "std": std.tolist()}


def apply_preprocessing(x: np.ndarray, stats: dict[str, Any] | None) -> np.ndarray:
    """Apply stored statistics to new inputs; ``None`` or ``{}`` means identity."""
    x = np.asarray(x, dtype=np.float32)
    if not stats:
        return x
    mean = np.asarray(stats["mean"], dtype=np.float32)
    std = np.asarray(stats["std"], dtype=np.float32)
    if mean.size == 1:
        return (x - mean[0]) / std[0]
    return (x - mean) / std
