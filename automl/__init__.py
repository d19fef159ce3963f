"""automl: plugin-based AutoML experiments with Hydra configs, Optuna studies and pruning.

Importing ``automl`` is cheap: torch, Lightning, Optuna and XGBoost load only when a model
is trained or a study runs.
"""

from automl.core.errors import DataError, PluginError, SpaceError, TrialPruned, UserError
from automl.core.plugin import (
    API_VERSION,
    BaseEstimator,
    DataPlugin,
    DataSpec,
    Estimator,
    ModelPlugin,
)
from automl.core.registry import discover_data, discover_models
from automl.core.space import Choice, Float, Int

__version__ = "0.1.0"

__all__ = [
    "API_VERSION",
    "BaseEstimator",
    "Choice",
    "DataError",
    "DataPlugin",
    "DataSpec",
    "Estimator",
    "Float",
    "Int",
    "ModelPlugin",
    "PluginError",
    "SpaceError",
    "TrialPruned",
    "UserError",
    "discover_data",
    "discover_models",
    "__version__",
]
