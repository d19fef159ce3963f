"""Built-in data sets from scikit-learn (shipped with the package, nothing downloaded).

Registered through the ``automl.data`` entry-point group like any third-party data plugin.
"""

from __future__ import annotations

from dataclasses import dataclass

from automl.core.errors import DataError
from automl.core.plugin import DataPlugin
from automl.data.types import DataConfig, RawData

__all__ = [
    "DigitsConfig",
    "DigitsSeqConfig",
    "TabularConfig",
    "DIGITS",
    "DIGITS_SEQ",
    "BREAST_CANCER",
    "WINE",
    "DIABETES",
]

DIGIT_VIEWS = ("image", "sequence", "flat")


@dataclass
class DigitsConfig(DataConfig):
    """scikit-learn's 8x8 handwritten digits (1,797 samples, 10 classes).

    Attributes:
        view: ``image`` (1x8x8), ``sequence`` (8 steps of 8 features, read row by row)
            or ``flat`` (64 features).
    """

    view: str = "image"


@dataclass
class DigitsSeqConfig(DigitsConfig):
    """The digits read row by row: 8 steps of 8 features (what sequence models expect).

    Attributes:
        view: ``sequence`` by default; the other views of ``DigitsConfig`` stay selectable.
    """

    view: str = "sequence"


@dataclass
class TabularConfig(DataConfig):
    """A built-in tabular set; only the split settings apply."""


def load_digits(cfg: DigitsConfig) -> RawData:
    """Load digits in the requested view."""
    from sklearn.datasets import load_digits as sk_load

    if cfg.view not in DIGIT_VIEWS:
        raise DataError(f"data.view={cfg.view!r} is not one of {', '.join(DIGIT_VIEWS)}")
    bunch = sk_load()
    images = bunch.images.astype("float32")
    x = {"image": images[:, None], "sequence": images, "flat": images.reshape(len(images), -1)}
    return RawData(
        x=x[cfg.view],
        y=bunch.target,
        task="classification",
        class_names=tuple(str(c) for c in bunch.target_names),
        layout=cfg.view,  # image, sequence (8 rows as steps of 8 pixels) or flat
    )


def _tabular(loader_name: str):
    def load(cfg: TabularConfig) -> RawData:
        from sklearn import datasets

        bunch = getattr(datasets, loader_name)()
        return RawData(
            x=bunch.data.astype("float32"),
            y=bunch.target,
            task="classification",
            # str(): scikit-learn gives numpy strings, which OmegaConf cannot save in best/.
            feature_names=tuple(str(n) for n in bunch.feature_names),
            class_names=tuple(str(c) for c in bunch.target_names),
        )

    return load


load_breast_cancer = _tabular("load_breast_cancer")
load_wine = _tabular("load_wine")


def load_diabetes(cfg: TabularConfig) -> RawData:
    """scikit-learn's diabetes regression set: disease progression one year after baseline.

    The 10 features come already mean-centred and scaled by scikit-learn; the target is the
    raw progression score (25 to 346), so RMSE is in those units.
    """
    from sklearn.datasets import load_diabetes as sk_load

    bunch = sk_load()
    return RawData(
        x=bunch.data.astype("float32"),
        y=bunch.target.astype("float32"),
        task="regression",
        feature_names=tuple(str(n) for n in bunch.feature_names),
    )


DIGITS = DataPlugin(
    name="digits",
    config=DigitsConfig,
    load="automl.data.builtin:load_digits",
    description="8x8 grey digit images, 10 classes (scikit-learn)",
)
DIGITS_SEQ = DataPlugin(
    name="digits_seq",
    config=DigitsSeqConfig,
    load="automl.data.builtin:load_digits",
    description="8x8 digits as sequences: 8 steps of 8 features, 10 classes (scikit-learn)",
)
BREAST_CANCER = DataPlugin(
    name="breast_cancer",
    config=TabularConfig,
    load="automl.data.builtin:load_breast_cancer",
    description="30 tabular features, 2 classes (scikit-learn)",
)
WINE = DataPlugin(
    name="wine",
    config=TabularConfig,
    load="automl.data.builtin:load_wine",
    description="13 tabular features, 3 classes (scikit-learn)",
)
DIABETES = DataPlugin(
    name="diabetes",
    config=TabularConfig,
    load="automl.data.builtin:load_diabetes",
    description="10 tabular features, 442 samples, regression target (scikit-learn)",
)
