"""Forest plugin spec: scikit-learn random forests and extra-trees for tabular data.

The builder lives in ``automl_plugins.forest_model`` (imports scikit-learn, loaded only when a
model is built), so listing plugins stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

from automl_plugins.limits import check

from automl import Choice, Float, Int
from automl.plugin import ModelPlugin

__all__ = ["ForestConfig", "PLUGIN", "ALGORITHMS"]

ALGORITHMS = ("random_forest", "extra_trees")


@dataclass
class ForestConfig:
    """Hyperparameters of the forest.

    Attributes:
        algorithm: ``random_forest`` (bootstrap samples, best split) or ``extra_trees``
            (whole training set, random split thresholds).
        n_estimators: Trees in the final forest.
        max_depth: Maximum tree depth; ``None`` grows until leaves are pure or minimal.
        min_samples_leaf: Minimum training samples in a leaf.
        max_features: Share of the features considered at each split (0 < value <= 1).
        bootstrap: Draw a bootstrap sample per tree (``None``: the algorithm's default, on
            for random forests, off for extra-trees).
        criterion: Split quality measure; ``None`` means ``gini`` (classification) or
            ``squared_error`` (regression).
        stages: Grow the forest in this many equal stages (warm start), reporting the
            validation metric after each so a study can prune a poor forest early.
        n_jobs: Worker threads for fitting and prediction (-1: every core).
        seed: Random seed of the trees.
    """

    algorithm: str = "random_forest"
    n_estimators: int = 200
    max_depth: int | None = None
    min_samples_leaf: int = 1
    max_features: float = 0.5
    bootstrap: bool | None = None
    criterion: str | None = None
    stages: int = 4
    n_jobs: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        check(
            self,
            n_estimators=">=1",
            max_depth=">=1",
            min_samples_leaf=">=1",
            max_features="(0,1]",
            stages=">=1",
        )


PLUGIN = ModelPlugin(
    name="forest",
    config=ForestConfig,
    search_space={
        "algorithm": Choice(list(ALGORITHMS)),
        "n_estimators": Int(50, 400, step=50),
        "max_depth": Choice([None, 4, 8, 16]),
        "min_samples_leaf": Int(1, 10),
        "max_features": Float(0.1, 1.0),
    },
    build="automl_plugins.forest_model:build",
    load="automl_plugins.forest_model:load",
    kind="estimator",
    tasks=("classification", "regression"),
    # Tabular by design; sequences and images are flattened to one feature vector per sample.
    input_ranks=(1, 2, 3),
    default_data="breast_cancer",
    description="scikit-learn random forest / extra-trees, grown in stages; flattens any input",
)
