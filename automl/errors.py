"""Public import path for the errors a plugin raises and a user sees (docs/plugins.md).

The code lives in ``automl.core.errors``; this module only re-exports it, so code written against
the documented path keeps working. Nothing inside automl imports this module.
"""

from automl.core.errors import (
    DataError,
    ExportError,
    InputError,
    Interrupted,
    PluginError,
    SpaceError,
    StudyError,
    TrialPruned,
    TrialTimeout,
    UserError,
    reason,
    signal_reason,
)

__all__ = [
    "UserError",
    "PluginError",
    "SpaceError",
    "DataError",
    "StudyError",
    "TrialPruned",
    "TrialTimeout",
    "Interrupted",
    "InputError",
    "ExportError",
    "reason",
    "signal_reason",
]
