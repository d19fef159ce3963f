"""Public import path for the errors a plugin raises and a user sees (docs/plugins.md).

The code lives in ``automl.core.errors``; this module re-exports every
name of its ``__all__``, so code written against the documented path keeps working.
Nothing inside automl imports it.
"""

from automl.core.errors import *  # noqa: F403
from automl.core.errors import __all__ as __all__
