"""The k-nearest-neighbours plugin spec: an estimator (no torch), found through the entry point."""

from dataclasses import dataclass

from automl import Choice, Int, ModelPlugin


@dataclass
class KNNConfig:
    """Hyperparameters of the k-nearest-neighbours classifier."""

    k: int = 5
    weights: str = "distance"


PLUGIN = ModelPlugin(
    name="knn",
    config=KNNConfig,
    search_space={"k": Int(1, 50, log=True), "weights": Choice(["uniform", "distance"])},
    build="automl_example.knn_model:build",
    load="automl_example.knn_model:load",
    kind="estimator",
    tasks=("classification",),
    input_ranks=(1, 2, 3),
    default_data="waves",
    description="k-nearest neighbours (numpy), an estimator plugin; flattens any input",
)
