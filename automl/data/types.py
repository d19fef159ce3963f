"""Data records shared by data plugins, the splitter and the trainers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from automl.plugin import DataSpec

__all__ = ["DataConfig", "RawData", "Split", "Dataset"]


@dataclass
class DataConfig:
    """Split settings every data config carries (data plugin configs inherit from this).

    Attributes:
        val_fraction: Share of the non-test samples used for validation (model selection).
        test_fraction: Share held out for the final test of the best trial; ignored when the
            source provides its own test split.
        seed: Seed of the split; stratified for classification.
        normalize: Standardize inputs with statistics of the training split only.
    """

    val_fraction: float = 0.2
    test_fraction: float = 0.2
    seed: int = 0
    normalize: bool = True


@dataclass
class RawData:
    """What a data plugin's ``load`` returns: arrays before splitting.

    Attributes:
        x: Inputs, first axis samples.
        y: Class labels (int) or regression targets (float).
        task: ``classification`` or ``regression``.
        feature_names: Column names for tabular data.
        class_names: Label names, index = class id.
        x_test: Optional given test inputs (respected instead of a random test split).
        y_test: Optional given test targets.
    """

    x: np.ndarray
    y: np.ndarray
    task: str
    feature_names: tuple[str, ...] | None = None
    class_names: tuple[str, ...] | None = None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None


@dataclass
class Split:
    """One split of the data: inputs and targets as numpy arrays."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Dataset:
    """A data set ready for training: spec, three splits and the fitted preprocessing."""

    spec: DataSpec
    train: Split
    val: Split
    test: Split
    preprocessing: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    """Per-process derived forms (e.g. device tensors) so trials do not rebuild them."""
