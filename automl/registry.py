"""Public import path for plugin discovery (docs/plugins.md).

The code lives in ``automl.core.registry``; this module re-exports every
name of its ``__all__``, so code written against the documented path keeps working.
Nothing inside automl imports it.
"""

from automl.core.registry import *  # noqa: F403
from automl.core.registry import __all__ as __all__
