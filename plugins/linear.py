"""Linear plugin spec: scikit-learn logistic regression (classification) and ridge regression.

The linear baseline that often wins on small tabular data. The builder lives in
``automl_plugins.linear_model`` (imports scikit-learn, loaded only when a model is built), so
listing plugins stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

from automl_plugins.limits import check, one_of

from automl import Float
from automl.plugin import ModelPlugin

__all__ = ["LinearConfig", "PLUGIN", "CLASS_WEIGHTS"]

CLASS_WEIGHTS = (None, "balanced")


@dataclass
class LinearConfig:
    """Hyperparameters of the linear model.

    Attributes:
        alpha: Regularization strength (larger: simpler model). Ridge's ``alpha``; logistic
            regression's ``C`` is ``1 / alpha``.
        l1_ratio: Share of the L1 (lasso) penalty in the elastic-net mix: 0 is pure L2 (ridge,
            L2 logistic regression), 1 pure L1. Above 0, classification uses the ``saga``
            solver and regression ``ElasticNet`` with the penalty scaled to match ridge's at 0.
        max_iter: Iterations of the solver.
        tol: Solver tolerance.
        class_weight: ``None`` or ``balanced`` (classification: weigh classes inversely to
            their frequency).
        seed: Seed of the ``saga`` and coordinate-descent solvers' shuffling.
    """

    alpha: float = 1.0
    l1_ratio: float = 0.0
    max_iter: int = 1000
    tol: float = 1e-4
    class_weight: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        # alpha: the regularization strength; l1_ratio: 0 is L2, 1 is L1.
        check(self, alpha=">0", l1_ratio="[0,1]", max_iter=">=1", tol=">0")
        one_of(self, "class_weight", CLASS_WEIGHTS)


PLUGIN = ModelPlugin(
    name="linear",
    config=LinearConfig,
    search_space={
        "alpha": Float(1e-4, 1e3, log=True),
        "l1_ratio": Float(0.0, 1.0),
    },
    build="automl_plugins.linear_model:build",
    load="automl_plugins.linear_model:load",
    kind="estimator",
    tasks=("classification", "regression"),
    # Tabular by design; sequences and images are flattened to one feature vector per sample.
    input_ranks=(1, 2, 3),
    default_data="breast_cancer",
    description="scikit-learn logistic regression / ridge (elastic net); saved without pickle",
)
