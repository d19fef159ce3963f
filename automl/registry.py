"""Public import path for plugin discovery (docs/plugins.md).

The code lives in ``automl.core.registry``; this module only re-exports it, so code written against
the documented path keeps working. Nothing inside automl imports this module.
"""

from automl.core.registry import (
    AUTOLOAD_ENV,
    BUILTIN_PACKAGE,
    DATA_GROUP,
    MODEL_GROUP,
    PluginFailure,
    PluginInfo,
    Registry,
    autoload_disabled,
    discover,
    discover_data,
    discover_models,
)

__all__ = [
    "AUTOLOAD_ENV",
    "BUILTIN_PACKAGE",
    "autoload_disabled",
    "MODEL_GROUP",
    "DATA_GROUP",
    "PluginInfo",
    "PluginFailure",
    "Registry",
    "discover",
    "discover_models",
    "discover_data",
]
