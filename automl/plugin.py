"""Public import path for the plugin contracts (docs/plugins.md).

The code lives in ``automl.core.plugin``; this module re-exports every
name of its ``__all__``, so code written against the documented path keeps working.
Nothing inside automl imports it.
"""

from automl.core.plugin import *  # noqa: F403
from automl.core.plugin import __all__ as __all__
