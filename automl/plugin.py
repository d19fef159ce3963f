"""Public import path for the plugin contracts (docs/plugins.md).

The code lives in ``automl.core.plugin``; this module only re-exports it, so code written against
the documented path keeps working. Nothing inside automl imports this module.
"""

from automl.core.plugin import (
    API_VERSION,
    DIRECTIONS,
    KINDS,
    NAME_PATTERN,
    SUPPORTED_API_VERSIONS,
    TASK_METRIC_NAMES,
    TASK_METRICS,
    TASKS,
    BaseEstimator,
    DataPlugin,
    DataSpec,
    Direction,
    Estimator,
    Kind,
    ModelPlugin,
    Report,
    Task,
    check_name,
    resolve,
)

__all__ = [
    "API_VERSION",
    "SUPPORTED_API_VERSIONS",
    "Kind",
    "Task",
    "Direction",
    "TASKS",
    "KINDS",
    "DIRECTIONS",
    "TASK_METRICS",
    "TASK_METRIC_NAMES",
    "NAME_PATTERN",
    "check_name",
    "DataSpec",
    "ModelPlugin",
    "DataPlugin",
    "Estimator",
    "BaseEstimator",
    "Report",
    "resolve",
]
