"""Seeded, stratified train/validation/test splitting."""

from __future__ import annotations

import numpy as np

from automl.data.preprocess import apply_preprocessing, fit_standardizer
from automl.data.types import DataConfig, Dataset, RawData, Split
from automl.errors import DataError
from automl.plugin import DataSpec

__all__ = ["make_dataset"]


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise DataError(f"data.{name}={value} must be strictly between 0 and 1")


def make_dataset(name: str, raw: RawData, cfg: DataConfig) -> Dataset:
    """Split ``raw`` and fit preprocessing on the training split.

    Args:
        name: Data plugin name (goes into the spec).
        raw: Arrays from the data plugin.
        cfg: Split settings.

    Returns:
        The ``Dataset`` every trial of this process shares.

    Raises:
        DataError: For unusable fractions, mismatched lengths or too few samples per class.
    """
    from sklearn.model_selection import train_test_split

    x, y = np.asarray(raw.x), np.asarray(raw.y)
    if len(x) != len(y):
        raise DataError(f"data '{name}': x has {len(x)} samples but y has {len(y)}")
    _check_fraction("val_fraction", cfg.val_fraction)
    classify = raw.task == "classification"
    y = y.astype(np.int64) if classify else y.astype(np.float32)

    def split(a: np.ndarray, b: np.ndarray, frac: float, what: str):
        try:
            return train_test_split(
                a, b, test_size=frac, random_state=cfg.seed, stratify=b if classify else None
            )
        except ValueError as exc:
            raise DataError(
                f"data '{name}': cannot split off the {what} set ({exc}); "
                "lower the fraction or provide more samples per class"
            ) from None

    if raw.x_test is not None and raw.y_test is not None:
        x_rest, y_rest = x, y
        x_test = np.asarray(raw.x_test)
        y_test = np.asarray(raw.y_test).astype(y.dtype)
    else:
        _check_fraction("test_fraction", cfg.test_fraction)
        x_rest, x_test, y_rest, y_test = split(x, y, cfg.test_fraction, "test")
    x_train, x_val, y_train, y_val = split(x_rest, y_rest, cfg.val_fraction, "validation")

    x_train = x_train.astype(np.float32)
    stats = fit_standardizer(x_train) if cfg.normalize else {}
    spec = DataSpec(
        name=name,
        task=raw.task,
        input_shape=tuple(int(d) for d in x.shape[1:]),
        n_classes=int(max(y.max(), y_test.max()) + 1) if classify else None,
        n_targets=1,
        feature_names=raw.feature_names,
    )
    return Dataset(
        spec=spec,
        train=Split(apply_preprocessing(x_train, stats), y_train),
        val=Split(apply_preprocessing(x_val, stats), y_val),
        test=Split(apply_preprocessing(x_test, stats), y_test),
        preprocessing=stats,
    )
