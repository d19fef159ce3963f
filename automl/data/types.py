"""Data records shared by data plugins, the splitter and the trainers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from automl.core.plugin import DataSpec

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
        folds: k-fold cross-validation of the non-test samples when >= 2: every trial trains
            ``folds`` times (fold i validates, the others train) and its value is the mean;
            ``val_fraction`` is then unused. 0 (default) keeps one validation split.
    """

    val_fraction: float = 0.2
    test_fraction: float = 0.2
    seed: int = 0
    normalize: bool = True
    folds: int = 0


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
        source: Where the data came from (a file or folder), named in error messages.
        encoder: Optional ``fit(x_train) -> step``: for raw inputs that are not numbers yet
            (CSV cells). It is called on the training split only and returns a JSON-serializable
            preprocessing step that ``automl.data.preprocess.apply_preprocessing`` re-applies
            to every split and, at prediction time, to new raw inputs.
        input_step: Optional JSON-serializable preprocessing step that turns inputs as the user
            has them into ``x``'s per-sample form: image file paths to pixels (``image``), or
            the stored shape to the model's (``layout``, e.g. ``H x W`` to ``1 x H x W``).
            ``x`` is already converted; the step is saved so prediction accepts raw inputs.
        augment: Training-only augmentation settings (``{"flip": True, "crop_padding": 4}``),
            applied per training batch by the trainer; empty means none.
        layout: What the axes of one sample of ``x`` are: ``flat``, ``sequence`` (steps x
            features), ``signal`` (channels x length) or ``image`` (channels x height x
            width). Rank-2 data should say (models read rank 2 differently: docs/data.md);
            ``None`` lets automl name rank 1 ``flat`` and rank 3 ``image``.
        summary: What the source held and what was done to it, as JSON (rows, columns
            and their types, missing cells and what filled them, columns left out): the
            study prints one line of it and writes it to ``best/data_summary.json``.
        notes: Lines the study prints before it starts (e.g. a column left out).
    """

    x: np.ndarray
    y: np.ndarray
    task: str
    feature_names: tuple[str, ...] | None = None
    class_names: tuple[str, ...] | None = None
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    source: str | None = None
    encoder: Callable[[np.ndarray], dict[str, Any]] | None = None
    input_step: dict[str, Any] | None = None
    augment: dict[str, Any] = field(default_factory=dict)
    layout: str | None = None
    summary: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()


@dataclass
class Split:
    """One split of the data: inputs and targets as numpy arrays."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class Dataset:
    """A data set ready for training: spec, three splits and the fitted preprocessing.

    Attributes:
        spec: What models may know about the data.
        train: Training split (preprocessed).
        val: Validation split (model selection).
        test: Test split (touched once, for the best trial).
        preprocessing: JSON-serializable steps fitted on the training split; written to
            ``best/preprocessing.json`` and re-applied to raw inputs at prediction time.
        augment: Training-only batch augmentation settings (see ``RawData.augment``).
        cache: Per-process derived forms (e.g. device tensors) so trials do not rebuild them.
        folds: With k-fold cross-validation, one ``Dataset`` per fold (this object is fold 0:
            its model is the one a trial saves and, without refit, the best trial exports);
            empty otherwise.
        merged: Builds the data a refit trains on: every non-test row (training and
            validation, or all folds) as the training split, statistics and encoders fitted
            on those rows, an empty validation split and the same test split. ``None`` when
            the data cannot be merged.
        digest: Content digest of the loaded data (``automl.data.digest``): part of a
            study's identity.
        source: Where the data came from (a file or folder), if it is files.
        summary: The source's summary (``RawData.summary``) with the feature count and the
            split sizes; ``None`` when the data plugin gives none.
        notes: The data plugin's notes (``RawData.notes``).
    """

    spec: DataSpec
    train: Split
    val: Split
    test: Split
    preprocessing: dict[str, Any] = field(default_factory=dict)
    augment: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    folds: list[Dataset] = field(default_factory=list)
    merged: Callable[[], Dataset] | None = field(default=None, repr=False)
    digest: str = ""
    source: str | None = None
    summary: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()
